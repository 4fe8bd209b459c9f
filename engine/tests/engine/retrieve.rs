//! `retrieve` subscriptions, the writer's reply order and subscription limits.

use std::sync::Arc;

use chanbind_engine::config::Limits;
use chanbind_engine::session::Step;
use serde_json::json;

use crate::support::{engine, send, Collect};

#[tokio::test]
async fn a_retrieving_connection_sees_another_connections_update_and_delete() {
    let engine = engine(Limits::default()).await;
    let (out_a, out_b) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut a = engine.open_session(None, out_a.clone());
    let mut b = engine.open_session(None, out_b.clone());

    let created = send(
        &mut b,
        &out_b,
        json!({"event": "todo.Task.create", "data": {"title": "write"}}),
    )
    .await;
    assert_eq!(created["data"]["success"], true);
    assert_eq!(
        created["data"]["object"],
        json!({"id": 1, "title": "write", "done": false})
    );

    let got = send(
        &mut a,
        &out_a,
        json!({"event": "todo.Task.retrieve#w", "data": {"id": 1}}),
    )
    .await;
    assert_eq!(
        got,
        json!({"event": "todo.Task.retrieve#w", "data": {"id": 1, "title": "write", "done": false}})
    );

    let updated = send(
        &mut b,
        &out_b,
        json!({"event": "todo.Task.update", "data": {"id": 1, "done": true}}),
    )
    .await;
    assert_eq!(updated["data"]["object"]["done"], true);
    let pushes = out_a.take(1).await;
    assert_eq!(
        pushes,
        [
            json!({"event": "todo.Task.retrieve#w", "data": {"id": 1, "title": "write", "done": true}})
        ]
    );

    send(
        &mut b,
        &out_b,
        json!({"event": "todo.Task.delete", "data": {"id": 1}}),
    )
    .await;
    let pushes = out_a.take(1).await;
    assert_eq!(
        pushes,
        [json!({"event": "todo.Task.delete#w", "data": {"id": 1, "deleted": true}})]
    );
}

#[tokio::test]
async fn the_writer_gets_its_reply_before_its_own_push() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut a = engine.open_session(None, out.clone());
    send(
        &mut a,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "x"}}),
    )
    .await;
    send(
        &mut a,
        &out,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
    )
    .await;
    let Step::Run(job) = a.handle_text(
        &json!({"event": "todo.Task.update", "data": {"id": 1, "title": "y"}}).to_string(),
    ) else {
        panic!("a job")
    };
    job.run().await;
    let frames = out.take(2).await;
    assert_eq!(frames[0]["event"], "todo.Task.update");
    assert_eq!(
        frames[1],
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "title": "y", "done": false}})
    );
}

#[tokio::test]
async fn unsubscribe_and_missing_rows_release_subscriptions() {
    let engine = engine(Limits {
        max_subscriptions: 1,
        ..Limits::default()
    })
    .await;
    let out = Arc::new(Collect::default());
    let mut a = engine.open_session(None, out.clone());
    send(
        &mut a,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "x"}}),
    )
    .await;
    send(
        &mut a,
        &out,
        json!({"event": "todo.Task.create", "data": {"title": "y"}}),
    )
    .await;
    let missing = send(
        &mut a,
        &out,
        json!({"event": "todo.Task.retrieve", "data": {"id": 99}}),
    )
    .await;
    assert_eq!(missing["error"]["code"], "not_found");
    // The failed retrieve did not keep its slot, so one subscription still fits.
    let ok = send(
        &mut a,
        &out,
        json!({"event": "todo.Task.retrieve#a", "data": {"id": 1}}),
    )
    .await;
    assert_eq!(ok["data"]["id"], 1);
    let full = send(
        &mut a,
        &out,
        json!({"event": "todo.Task.retrieve#b", "data": {"id": 2}}),
    )
    .await;
    assert_eq!(full["error"]["code"], "limit_exceeded");
    let gone = send(&mut a, &out, json!({"event": "todo.Task.unsubscribe#a"})).await;
    assert_eq!(gone["data"], json!({"success": true, "removed": 1}));
    let ok = send(
        &mut a,
        &out,
        json!({"event": "todo.Task.retrieve#b", "data": {"id": 2}}),
    )
    .await;
    assert_eq!(ok["data"]["id"], 2);
}
