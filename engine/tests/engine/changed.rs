//! `Engine::changed` and its batch forms on the in-memory store: rows written straight into
//! the store, as the application's own SQL would, reach subscribers once the application
//! says which rows changed; a row gone is pushed as a delete, a new one reaches change feeds
//! as `created`; an unknown table or a key of the wrong kind is an error and pushes nothing.

use std::sync::Arc;

use chanbind_engine::config::Limits;
use chanbind_engine::filter::Filter;
use chanbind_engine::store::{MemoryStore, Store, StoreOp, StoreOutput};
use chanbind_engine::{ChangeSet, ChangedError, Engine};
use serde_json::{json, Map, Value};

use crate::support::{send, tasks, Collect};

/// An engine over a store the test also writes behind its back.
async fn engine_and_store() -> (Engine, Arc<MemoryStore>) {
    let registry = tasks();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = Engine::start(registry, store.clone(), Limits::default())
        .await
        .unwrap();
    (engine, store)
}

fn values(v: Value) -> Map<String, Value> {
    serde_json::from_value(v).unwrap()
}

/// Inserts a row without telling the engine; its id.
async fn insert_behind(engine: &Engine, store: &MemoryStore, v: Value) -> i64 {
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    let out = store
        .execute(StoreOp::Insert {
            binding,
            values: values(v),
        })
        .await
        .unwrap();
    let StoreOutput::Changed(Some(change)) = out else {
        panic!("{out:?}")
    };
    change.pk.as_i64().unwrap()
}

async fn update_behind(engine: &Engine, store: &MemoryStore, pk: i64, v: Value) {
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    store
        .execute(StoreOp::Update {
            binding,
            pk: pk.into(),
            values: values(v),
            scope: Filter::everything(),
        })
        .await
        .unwrap();
}

async fn delete_behind(engine: &Engine, store: &MemoryStore, pk: i64) {
    let binding = Arc::clone(engine.registry().get("todo.Task").unwrap());
    store
        .execute(StoreOp::Delete {
            binding,
            pk: pk.into(),
            scope: Filter::everything(),
            referrers: Vec::new(),
        })
        .await
        .unwrap();
}

fn by_event<'a>(frames: &'a [Value], event: &str) -> &'a Value {
    frames
        .iter()
        .find(|f| f["event"] == event)
        .unwrap_or_else(|| panic!("no {event} in {frames:?}"))
}

#[tokio::test]
async fn a_row_written_behind_the_engine_is_pushed_once_the_application_says_so() {
    let (engine, store) = engine_and_store().await;
    let id = insert_behind(&engine, &store, json!({"title": "a"})).await;
    let watch = Arc::new(Collect::default());
    let mut w = engine.open_session(None, watch.clone());
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.retrieve", "data": {"id": id}}),
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
        json!({"event": "todo.Task.subscribe#feed", "data": {}}),
    )
    .await;

    update_behind(&engine, &store, id, json!({"title": "b", "done": true})).await;
    assert!(
        watch.take(1).await.is_empty(),
        "nothing is pushed before the engine is told"
    );
    assert_eq!(engine.changed("todo_task", id).await.unwrap(), 1);
    let frames = watch.take(3).await;
    assert_eq!(frames.len(), 3, "{frames:?}");
    assert_eq!(
        by_event(&frames, "todo.Task.retrieve")["data"]["title"],
        "b"
    );
    assert_eq!(
        by_event(&frames, "todo.Task.search#done")["data"]["count"],
        1
    );
    assert_eq!(
        by_event(&frames, "todo.Task.updated#feed")["data"]["id"],
        id
    );

    // A new row, told as created: the feed shows a creation. Named by its stream this time.
    let new = insert_behind(&engine, &store, json!({"title": "c", "done": true})).await;
    assert_eq!(engine.created("todo.Task", new).await.unwrap(), 1);
    let frames = watch.take(2).await;
    assert_eq!(
        by_event(&frames, "todo.Task.created#feed")["data"]["title"],
        "c"
    );
    assert_eq!(
        by_event(&frames, "todo.Task.search#done")["data"]["count"],
        2
    );

    // Gone: a delete, whatever the caller said.
    delete_behind(&engine, &store, id).await;
    engine.changed("todo_task", id).await.unwrap();
    let frames = watch.take(3).await;
    assert_eq!(
        by_event(&frames, "todo.Task.delete")["data"],
        json!({"id": id, "deleted": true})
    );
    assert_eq!(
        by_event(&frames, "todo.Task.deleted#feed")["data"]["id"],
        id
    );
    assert_eq!(
        by_event(&frames, "todo.Task.search#done")["data"]["count"],
        1
    );
}

#[tokio::test]
async fn a_batch_reads_each_row_once_and_refuses_as_a_whole() {
    let (engine, store) = engine_and_store().await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(insert_behind(&engine, &store, json!({"title": format!("t{n}")})).await);
    }
    let watch = Arc::new(Collect::default());
    let mut w = engine.open_session(None, watch.clone());
    for id in &ids {
        send(
            &mut w,
            &watch,
            json!({"event": format!("todo.Task.retrieve#r{id}"), "data": {"id": id}}),
        )
        .await;
    }
    for id in &ids {
        update_behind(&engine, &store, *id, json!({"done": true})).await;
    }

    // One bad entry: nothing is read, nothing pushed.
    let refused = engine
        .publish_changed(
            ChangeSet::new()
                .changed_many("todo_task", ids.clone())
                .changed("nope", 1),
        )
        .await;
    assert!(
        matches!(&refused, Err(ChangedError::UnknownTable(t)) if t == "nope"),
        "{refused:?}"
    );
    let refused = engine.changed_many("todo_task", ["one", "two"]).await;
    assert!(
        matches!(&refused, Err(ChangedError::BadKey { reason, .. }) if reason == "must be an integer"),
        "{refused:?}"
    );
    assert!(watch.take(1).await.is_empty(), "{refused:?}");

    let twice = ids.iter().chain(&ids).copied();
    assert_eq!(engine.changed_many("todo_task", twice).await.unwrap(), 3);
    let frames = watch.take(3).await;
    assert_eq!(frames.len(), 3, "each row once: {frames:?}");
    for id in &ids {
        assert_eq!(
            by_event(&frames, &format!("todo.Task.retrieve#r{id}"))["data"]["done"],
            true
        );
    }
}

#[tokio::test]
async fn a_stream_no_one_watches_is_not_read() {
    let (engine, store) = engine_and_store().await;
    let id = insert_behind(&engine, &store, json!({"title": "a"})).await;
    assert_eq!(engine.changed("todo_task", id).await.unwrap(), 0);
    let e = engine.changed("todo_tasks", id).await.unwrap_err();
    assert_eq!(e.to_string(), "no binding serves the table \"todo_tasks\"");
}
