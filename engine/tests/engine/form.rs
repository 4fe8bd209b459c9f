//! `form`: the schema, current values, and submits that fail or save.

use std::sync::Arc;

use chanbind_engine::config::Limits;
use serde_json::json;

use crate::support::{engine, send, Collect};

#[tokio::test]
async fn a_form_describes_the_fields_and_a_submit_validates_then_saves() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());

    let blank = send(&mut s, &out, json!({"event": "todo.Task.form#new"})).await;
    assert_eq!(
        blank["data"],
        json!({"id": null, "object": null, "fields": [
            {"name": "title", "label": "Title", "type": "string", "required": true, "read_only": false, "value": null, "max_length": 20},
            {"name": "done", "label": "Done", "type": "boolean", "required": false, "read_only": false, "value": false, "default": false},
        ]})
    );

    let bad = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form#new", "data": {"submit": {"title": "", "done": "no"}}}),
    )
    .await;
    assert_eq!(bad["error"]["code"], "invalid");
    assert_eq!(
        bad["error"]["fields"],
        json!({"title": ["this field may not be blank"], "done": ["must be true or false"]})
    );

    let saved = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form#new", "data": {"submit": {"title": "plan"}}}),
    )
    .await;
    assert_eq!(saved["data"]["success"], true);
    assert_eq!(saved["data"]["id"], 1);
    assert_eq!(
        saved["data"]["object"],
        json!({"id": 1, "title": "plan", "done": false})
    );
    assert_eq!(saved["data"]["fields"][0]["value"], "plan");

    let edit = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form", "data": {"id": 1}}),
    )
    .await;
    assert_eq!(
        edit["data"]["object"],
        json!({"id": 1, "title": "plan", "done": false})
    );
    let edited = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form", "data": {"id": 1, "submit": {"done": true}}}),
    )
    .await;
    assert_eq!(
        edited["data"]["object"],
        json!({"id": 1, "title": "plan", "done": true})
    );

    let missing = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form", "data": {"id": 9}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], "not_found");
}
