//! Changes from outside the engine: rows written straight into the store, then published the
//! way a capture listener does ([`Batch`] and `publish_captured`), with no old row; and
//! `refresh_all` after changes that were never published at all.

use std::sync::Arc;

use chanbind_engine::capture::{Batch, Notice};
use chanbind_engine::change::ChangeKind;
use chanbind_engine::config::Limits;
use chanbind_engine::filter::Filter;
use chanbind_engine::store::{MemoryStore, Store, StoreOp};
use chanbind_engine::Engine;
use serde_json::{json, Map, Value};

use crate::support::{send, tasks, Collect};

/// An engine over a store the test can also write behind its back.
async fn engine_and_store() -> (Engine, Arc<MemoryStore>) {
    let registry = tasks();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = Engine::start(registry, store.clone(), Limits::default())
        .await
        .unwrap();
    (engine, store)
}

/// Writes `values` on row `pk` without telling the engine, as psql would.
async fn write_behind(engine: &Engine, store: &MemoryStore, pk: i64, values: Value) {
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    let values: Map<String, Value> = serde_json::from_value(values).unwrap();
    store
        .execute(StoreOp::Update {
            binding,
            pk: pk.into(),
            values,
            scope: Filter::everything(),
        })
        .await
        .unwrap();
}

/// What the listener hears for an outside write to row `pk`.
fn heard(pk: i64, kind: ChangeKind) -> Batch {
    let mut batch = Batch::new("app", "this-node");
    batch.push(Notice {
        table: "todo_task".into(),
        schema: "app".into(),
        pk: pk.into(),
        kind,
        tx: 1,
        origin: None,
    });
    batch
}

fn events(frames: &[Value]) -> Vec<&str> {
    let mut events: Vec<&str> = frames
        .iter()
        .map(|f| f["event"].as_str().unwrap())
        .collect();
    events.sort();
    events
}

#[tokio::test]
async fn an_outside_update_without_the_old_row_reaches_queries_feeds_and_rows() {
    let (engine, store) = engine_and_store().await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "a", "done": true}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.subscribe#feed", "data": {"filters": {"done": true}}}),
    )
    .await;

    // The row leaves the query's filter; without the old row only "touch every query" and
    // "an update may have been in the feed" can tell.
    write_behind(&engine, &store, 1, json!({"done": false})).await;
    assert_eq!(
        engine.publish_captured(heard(1, ChangeKind::Updated)).await,
        1
    );
    let frames = watch.take(3).await;
    assert_eq!(
        events(&frames),
        [
            "todo.Task.deleted#feed",
            "todo.Task.retrieve",
            "todo.Task.search#done"
        ],
        "{frames:?}"
    );
    let search = frames
        .iter()
        .find(|f| f["event"] == "todo.Task.search#done")
        .unwrap();
    assert_eq!(search["data"]["count"], 0);

    // Gone before the listener read it: a delete.
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    store
        .execute(StoreOp::Delete {
            binding,
            pk: 1.into(),
            scope: Filter::everything(),
            referrers: Vec::new(),
        })
        .await
        .unwrap();
    engine.publish_captured(heard(1, ChangeKind::Updated)).await;
    let frames = watch.take(1).await;
    assert_eq!(
        frames[0],
        json!({"event": "todo.Task.delete", "data": {"id": 1, "deleted": true}})
    );
}

#[tokio::test]
async fn refresh_all_catches_up_with_changes_never_published() {
    let (engine, store) = engine_and_store().await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}}}),
    )
    .await;

    write_behind(&engine, &store, 1, json!({"title": "b", "done": true})).await;
    engine.refresh_all();
    let frames = watch.take(2).await;
    assert_eq!(
        events(&frames),
        ["todo.Task.retrieve", "todo.Task.search#done"],
        "{frames:?}"
    );
    let row = frames
        .iter()
        .find(|f| f["event"] == "todo.Task.retrieve")
        .unwrap();
    assert_eq!(row["data"]["title"], "b");
    let search = frames
        .iter()
        .find(|f| f["event"] == "todo.Task.search#done")
        .unwrap();
    assert_eq!(search["data"]["count"], 1);
}

#[tokio::test]
async fn a_bulk_batch_read_in_chunks_publishes_every_row() {
    let (engine, store) = engine_and_store().await;
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    for n in 0..1200 {
        let values: Map<String, Value> =
            serde_json::from_value(json!({"title": format!("t{n}"), "done": false})).unwrap();
        store
            .execute(StoreOp::Insert {
                binding: Arc::clone(&binding),
                values,
            })
            .await
            .unwrap();
    }
    let watch = Arc::new(Collect::default());
    let mut w = engine.open_session(None, watch.clone());
    for id in [1, 700, 1100] {
        send(
            &mut w,
            &watch,
            json!({"event": format!("todo.Task.retrieve#r{id}"), "data": {"id": id}}),
        )
        .await;
    }
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#done", "data": {"filters": {"done": true}, "limit": 1}}),
    )
    .await;

    // A bulk update behind the engine's back, and row 700 deleted before the listener reads.
    for pk in 1..=1200 {
        write_behind(&engine, &store, pk, json!({"done": true})).await;
    }
    store
        .execute(StoreOp::Delete {
            binding,
            pk: 700.into(),
            scope: Filter::everything(),
            referrers: Vec::new(),
        })
        .await
        .unwrap();
    let mut batch = Batch::new("app", "this-node");
    for pk in 1..=1200 {
        batch.push_row("todo_task".into(), pk.into(), false);
        if pk == 600 {
            // Another table in the middle splits the run; it is dropped, the rest is not.
            batch.push_row("nope".into(), 1.into(), false);
        }
    }
    assert_eq!(engine.publish_captured(batch).await, 1200);
    let frames = watch.take(4).await;
    assert_eq!(
        events(&frames),
        [
            "todo.Task.delete#r700",
            "todo.Task.retrieve#r1",
            "todo.Task.retrieve#r1100",
            "todo.Task.search#done",
        ],
        "{frames:?}"
    );
    for frame in &frames {
        match frame["event"].as_str().unwrap() {
            "todo.Task.search#done" => assert_eq!(frame["data"]["count"], 1199),
            "todo.Task.delete#r700" => assert_eq!(frame["data"]["deleted"], true),
            _ => assert_eq!(frame["data"]["done"], true, "{frame}"),
        }
    }
}

#[tokio::test]
async fn streams_no_one_watches_publish_nothing_and_watchers_count_from_their_request() {
    let (engine, store) = engine_and_store().await;
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    let values: Map<String, Value> = serde_json::from_value(json!({"title": "a"})).unwrap();
    store
        .execute(StoreOp::Insert { binding, values })
        .await
        .unwrap();
    assert!(!engine.is_watched("todo.Task"));
    assert_eq!(
        engine.publish_captured(heard(1, ChangeKind::Updated)).await,
        0,
        "no one to tell"
    );

    // Each kind of subscription counts from its request on, until it goes.
    for request in [
        json!({"event": "todo.Task.retrieve", "data": {"id": 1}}),
        json!({"event": "todo.Task.search", "data": {}}),
        json!({"event": "todo.Task.subscribe", "data": {}}),
    ] {
        let out = Arc::new(Collect::default());
        let mut session = engine.open_session(None, out.clone());
        send(&mut session, &out, request.clone()).await;
        assert!(engine.is_watched("todo.Task"), "{request}");
        assert_eq!(
            engine.publish_captured(heard(1, ChangeKind::Updated)).await,
            1,
            "{request}"
        );
        drop(session);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while engine.is_watched("todo.Task") {
            assert!(
                std::time::Instant::now() < deadline,
                "{request} never ended"
            );
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    }
}
