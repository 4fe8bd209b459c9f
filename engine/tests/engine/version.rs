//! Version checks: `if_version` on update, save, delete and form submits; `conflict` carries
//! the row as it is now.

use std::sync::Arc;

use chanbind_engine::binding::{Field, ModelBinding, Registry, RegistryError};
use chanbind_engine::config::Limits;
use serde_json::{json, Value};

use crate::support::{engine_with, send, Collect};

fn versioned() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(20))
                .field(Field::integer("version"))
                .version("version"),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_note")
                .field(Field::string("body"))
                .field(Field::datetime("updated_at"))
                .version("updated_at"),
        )
        .unwrap()
}

async fn open() -> (chanbind_engine::session::Session, Arc<Collect>) {
    let engine = engine_with(versioned(), Limits::default()).await;
    let out = Arc::new(Collect::default());
    (engine.open_session(None, out.clone()), out)
}

#[tokio::test]
async fn a_stale_update_is_a_conflict_with_the_current_row_and_writes_nothing() {
    let (mut s, out) = open().await;
    let made = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "a", "version": 9}}),
    )
    .await;
    assert_eq!(
        made["data"]["object"],
        json!({"id": 1, "title": "a", "version": 1}),
        "the client cannot set it"
    );

    let first = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b", "if_version": 1}}),
    )
    .await;
    assert_eq!(
        first["data"]["object"],
        json!({"id": 1, "title": "b", "version": 2})
    );

    let stale = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "c", "if_version": 1}}),
    )
    .await;
    assert_eq!(stale["error"]["code"], "conflict");
    assert_eq!(
        stale["error"]["object"],
        json!({"id": 1, "title": "b", "version": 2})
    );
    assert_eq!(stale["error"]["fields"], json!({"version": ["is now 2"]}));

    let unchecked = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.save", "data": {"id": 1, "title": "d"}}),
    )
    .await;
    assert_eq!(
        unchecked["data"]["object"],
        json!({"id": 1, "title": "d", "version": 3}),
        "a write without if_version still moves the version"
    );

    let saved = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.save", "data": {"id": 1, "title": "e", "if_version": 3}}),
    )
    .await;
    assert_eq!(saved["data"]["object"]["version"], 4);

    let stale_delete = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.delete", "data": {"id": 1, "if_version": 3}}),
    )
    .await;
    assert_eq!(stale_delete["error"]["code"], "conflict");
    assert_eq!(stale_delete["error"]["object"]["title"], "e");
    let deleted = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.delete", "data": {"id": 1, "if_version": 4}}),
    )
    .await;
    assert_eq!(deleted["data"], json!({"success": true, "id": 1}));
    let gone = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "f", "if_version": 4}}),
    )
    .await;
    assert_eq!(gone["error"]["code"], "not_found");
}

#[tokio::test]
async fn a_form_submit_checks_the_version_it_was_loaded_with() {
    let (mut s, out) = open().await;
    send(
        &mut s,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    let form = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.form", "data": {"id": 1}}),
    )
    .await;
    let loaded = form["data"]["object"]["version"].clone();
    assert_eq!(loaded, 1);
    let field = &form["data"]["fields"][1];
    assert_eq!(
        (&field["name"], &field["read_only"], &field["version"]),
        (&json!("version"), &json!(true), &json!(true))
    );
    assert_eq!(form["data"]["fields"][0].get("version"), None);
    send(
        &mut s,
        &out,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "theirs"}}),
    )
    .await;
    let mine = send(&mut s, &out, json!({"event": "todo.Task.form", "data": {"id": 1, "if_version": loaded, "submit": {"title": "mine"}}})).await;
    assert_eq!(mine["error"]["code"], "conflict");
    assert_eq!(mine["error"]["object"]["title"], "theirs");
    let retry = send(&mut s, &out, json!({"event": "todo.Task.form", "data": {"id": 1, "if_version": 2, "submit": {"title": "mine"}}})).await;
    assert_eq!(
        retry["data"]["object"],
        json!({"id": 1, "title": "mine", "version": 3})
    );
}

#[tokio::test]
async fn a_timestamp_version_is_set_on_every_write_and_checked_exactly() {
    let (mut s, out) = open().await;
    let made = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.create", "data": {"body": "x"}}),
    )
    .await;
    let first = made["data"]["object"]["updated_at"].clone();
    assert!(first.is_string(), "{made}");
    // The same instant written another way is the same version.
    let offset = chrono::DateTime::parse_from_rfc3339(first.as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::FixedOffset::east_opt(3600).unwrap())
        .to_rfc3339();
    let updated = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.update", "data": {"id": 1, "body": "y", "if_version": offset}}),
    )
    .await;
    let second = updated["data"]["object"]["updated_at"].clone();
    assert_ne!(second, first, "{updated}");
    let stale = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.update", "data": {"id": 1, "body": "z", "if_version": first}}),
    )
    .await;
    assert_eq!(stale["error"]["code"], "conflict");
    assert_eq!(
        stale["error"]["object"],
        json!({"id": 1, "body": "y", "updated_at": second})
    );
}

#[tokio::test]
async fn a_bad_if_version_is_a_bad_request_and_writes_nothing() {
    let (mut s, out) = open().await;
    send(
        &mut s,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    for (data, why) in [
        (
            json!({"id": 1, "title": "b", "if_version": "one"}),
            "a string for a counter",
        ),
        (
            json!({"id": 1, "title": "b", "if_version": 1.5}),
            "a fraction",
        ),
        (
            json!({"id": 1, "title": "b", "if_version": [1]}),
            "an array",
        ),
    ] {
        let reply = send(
            &mut s,
            &out,
            json!({"event": "todo.Task.update", "data": data}),
        )
        .await;
        assert_eq!(reply["error"]["code"], "bad_request", "{why}: {reply}");
    }
    let note = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.create", "data": {"body": "x"}}),
    )
    .await;
    assert_eq!(note["data"]["success"], true);
    let reply = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.update", "data": {"id": 1, "if_version": "yesterday"}}),
    )
    .await;
    assert_eq!(reply["error"]["code"], "bad_request");
    let reply = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "c", "if_version": 1}}),
    )
    .await;
    assert_eq!(
        reply["error"]["code"], "bad_request",
        "a create has no version to expect"
    );
    let reply = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.save", "data": {"id": 1, "title": "d", "if_version": 1, "on_conflict": "title"}}),
    )
    .await;
    assert_eq!(reply["error"]["code"], "bad_request");
    assert!(
        reply["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("if_version does not apply to an upsert")),
        "an upsert may create: {reply}"
    );
    let row = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "subscribe": false}}),
    )
    .await;
    assert_eq!(row["data"], json!({"id": 1, "title": "a", "version": 1}));
}

#[tokio::test]
async fn if_version_on_a_binding_without_a_version_field_is_a_bad_request() {
    let engine = crate::support::engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    send(
        &mut s,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    let reply = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b", "if_version": 1}}),
    )
    .await;
    assert_eq!(reply["error"]["code"], "bad_request");
    assert!(reply["error"]["message"]
        .as_str()
        .unwrap()
        .contains("no version field"));
}

#[test]
fn the_registry_refuses_a_version_field_it_cannot_move() {
    for (binding, why) in [
        (
            ModelBinding::new("a_b")
                .field(Field::string("v"))
                .version("v"),
            "a string",
        ),
        (ModelBinding::new("a_b").version("missing"), "no such field"),
        (ModelBinding::new("a_b").version("id"), "the key"),
    ] {
        let refused = Registry::new().model(binding).map(|_| ()).unwrap_err();
        assert!(
            matches!(refused, RegistryError::BadVersion { .. }),
            "{why}: {refused}"
        );
    }
    let later = ModelBinding::new("a_b")
        .version("v")
        .field(Field::integer("v"));
    let registry = Registry::new().model(later).unwrap();
    let v: &Value = &json!(registry
        .get("a.B")
        .unwrap()
        .get("v")
        .unwrap()
        .is_read_only());
    assert_eq!(v, &json!(true), "declared after version(), still read-only");
}

#[tokio::test]
async fn a_batch_checks_each_steps_version_and_stamps_timestamps() {
    let (mut s, out) = open().await;
    for data in [json!({"title": "a"})] {
        send(
            &mut s,
            &out,
            json!({"event": "todo.Task.create", "data": data}),
        )
        .await;
    }
    send(
        &mut s,
        &out,
        json!({"event": "todo.Note.create", "data": {"body": "n"}}),
    )
    .await;
    // The second step expects the version the first step moved on: the batch fails there,
    // and the first step's write is rolled back with it.
    let reply = send(
        &mut s,
        &out,
        json!({"event": "batch", "data": {"steps": [
            {"event": "todo.Task.update", "data": {"id": 1, "title": "b", "if_version": 1}},
            {"event": "todo.Task.update", "data": {"id": 1, "title": "c", "if_version": 1}},
        ]}}),
    )
    .await;
    assert_eq!(reply["error"]["code"], "conflict", "{reply}");
    assert_eq!(reply["error"]["step"], 1, "{reply}");
    assert_eq!(
        reply["error"]["object"]["version"], 2,
        "the row inside the batch: {reply}"
    );
    let row = send(
        &mut s,
        &out,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "subscribe": false}}),
    )
    .await;
    assert_eq!(row["data"], json!({"id": 1, "title": "a", "version": 1}));

    // A timestamp version is stamped by a batch step as by a single write.
    let before = send(
        &mut s,
        &out,
        json!({"event": "todo.Note.retrieve", "data": {"id": 1, "subscribe": false}}),
    )
    .await;
    let reply = send(
        &mut s,
        &out,
        json!({"event": "batch", "data": {"steps": [
            {"event": "todo.Note.update", "data": {"id": 1, "body": "m", "if_version": before["data"]["updated_at"]}},
        ]}}),
    )
    .await;
    assert_eq!(reply["data"]["success"], true, "{reply}");
    let after = &reply["data"]["results"][0]["object"]["updated_at"];
    assert!(
        after.is_string() && *after != before["data"]["updated_at"],
        "{reply}"
    );
}
