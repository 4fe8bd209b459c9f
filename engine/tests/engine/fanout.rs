//! Fan-out: one change reaches many subscribers with one encode per distinct event, and
//! identical live queries are re-read once.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::config::Limits;
use serde_json::json;

use crate::support::{engine, send, Collect};

#[tokio::test]
async fn one_change_is_encoded_once_per_distinct_event() {
    let engine = engine(Limits::default()).await;
    let writer = Arc::new(Collect::default());
    let mut w = engine.open_session(None, writer.clone());
    send(
        &mut w,
        &writer,
        json!({"event": "todo.Task.create", "data": {"title": "x"}}),
    )
    .await;

    let mut sessions = Vec::new();
    let mut outs = Vec::new();
    for i in 0..100 {
        let out = Arc::new(Collect::default());
        let mut s = engine.open_session(None, out.clone());
        send(
            &mut s,
            &out,
            json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
        )
        .await;
        send(
            &mut s,
            &out,
            json!({"event": "todo.Task.search", "data": {"filters": {"done": false}}}),
        )
        .await;
        // Ten of them watch the row under their own hash, which is a different event.
        if i < 10 {
            send(
                &mut s,
                &out,
                json!({"event": format!("todo.Task.retrieve#w{i}"), "data": {"id": 1}}),
            )
            .await;
        }
        sessions.push(s);
        outs.push(out);
    }
    let before = engine.stats();
    send(
        &mut w,
        &writer,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "y"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let after = engine.stats();

    // 1 retrieve event without hash + 10 hashed ones + 1 search result = 12 encodes,
    // for 100 + 10 + 100 deliveries.
    assert_eq!(after.pushes_encoded - before.pushes_encoded, 12);
    assert_eq!(after.pushes_delivered - before.pushes_delivered, 210);
    for (i, out) in outs.iter().enumerate() {
        let frames = out.take(if i < 10 { 3 } else { 2 }).await;
        assert_eq!(
            frames.len(),
            if i < 10 { 3 } else { 2 },
            "connection {i}: {frames:?}"
        );
        assert!(frames.iter().any(|f| f == &json!({"event": "todo.Task.retrieve", "data": {"id": 1, "title": "y", "done": false}})));
    }
}
