//! Live `search` and `list`, hashed subscriptions and change feeds.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::config::Limits;
use serde_json::{json, Value};

use crate::support::{engine, send, Collect};

fn titles(frame: &Value) -> Vec<&str> {
    frame["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect()
}

/// The frames of `frames` under `event`, in arrival order.
fn under<'a>(frames: &'a [Value], event: &str) -> Vec<&'a Value> {
    frames.iter().filter(|f| f["event"] == event).collect()
}

#[tokio::test]
async fn two_hashed_searches_each_see_only_their_own_rows_move() {
    let engine = engine(Limits::default()).await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());

    let open = send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#open", "data": {"filters": {"done": false}}}),
    )
    .await;
    assert_eq!(open["data"]["count"], 0);
    let done = send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.list#done", "data": {"filters": {"done": true}}}),
    )
    .await;
    assert_eq!(done["data"], json!({"count": 0, "rows": []}));

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    let pushes = watch.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["event"], "todo.Task.search#open");
    assert_eq!(titles(&pushes[0]), ["a"]);
    assert_eq!(pushes[0]["data"]["count"], 1);

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.update", "data": {"id": 1, "done": true}}),
    )
    .await;
    let pushes = watch.take(2).await;
    assert_eq!(pushes.len(), 2, "{pushes:?}");
    assert_eq!(
        titles(under(&pushes, "todo.Task.search#open")[0]),
        Vec::<&str>::new()
    );
    assert_eq!(titles(under(&pushes, "todo.Task.list#done")[0]), ["a"]);

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.delete", "data": {"id": 1}}),
    )
    .await;
    let pushes = watch.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(
        pushes[0],
        json!({"event": "todo.Task.list#done", "data": {"count": 0, "rows": []}})
    );
}

#[tokio::test]
async fn a_change_outside_the_filter_costs_the_query_nothing() {
    let engine = engine(Limits::default()).await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search", "data": {"filters": {"title__startswith": "x"}}}),
    )
    .await;
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "y"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(watch.take(0).await.is_empty());
}

#[tokio::test]
async fn a_burst_coalesces_and_the_last_push_is_the_final_state() {
    let engine = engine(Limits::default()).await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "t0"}}),
    )
    .await;
    send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#s", "data": {}}),
    )
    .await;
    for i in 1..=200 {
        send(
            &mut b,
            &write,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("t{i}")}}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let pushes = watch.take(1).await;
    assert!(
        !pushes.is_empty() && pushes.len() <= 200,
        "{} pushes",
        pushes.len()
    );
    assert_eq!(titles(pushes.last().unwrap()), ["t200"]);
}

#[tokio::test]
async fn the_change_feed_follows_set_membership() {
    let engine = engine(Limits::default()).await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    let ok = send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.subscribe#f", "data": {"filters": {"done": false}}}),
    )
    .await;
    assert_eq!(
        ok,
        json!({"event": "todo.Task.subscribe#f", "data": {"success": true}})
    );

    let steps = [
        (
            json!({"event": "todo.Task.create", "data": {"title": "a"}}),
            "created",
            json!({"id": 1, "title": "a", "done": false}),
        ),
        (
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b"}}),
            "updated",
            json!({"id": 1, "title": "b", "done": false}),
        ),
        (
            json!({"event": "todo.Task.update", "data": {"id": 1, "done": true}}),
            "deleted",
            json!({"id": 1}),
        ),
        (
            json!({"event": "todo.Task.update", "data": {"id": 1, "done": false}}),
            "created",
            json!({"id": 1, "title": "b", "done": false}),
        ),
        (
            json!({"event": "todo.Task.delete", "data": {"id": 1}}),
            "deleted",
            json!({"id": 1}),
        ),
    ];
    for (request, kind, data) in steps {
        send(&mut b, &write, request).await;
        let pushes = watch.take(1).await;
        assert_eq!(
            pushes,
            [json!({"event": format!("todo.Task.{kind}#f"), "data": data})]
        );
    }
    // Rows outside the filter never show up.
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "c", "done": true}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(watch.take(0).await.is_empty());

    let gone = send(&mut w, &watch, json!({"event": "todo.Task.unsubscribe#f"})).await;
    assert_eq!(gone["data"], json!({"success": true, "removed": 1}));
    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "d"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(watch.take(0).await.is_empty());
}

#[tokio::test]
async fn live_queries_follow_or_and_not_groups() {
    let engine = engine(Limits::default()).await;
    let (watch, write) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut w = engine.open_session(None, watch.clone());
    let mut b = engine.open_session(None, write.clone());
    // Done tasks, and open tasks whose title does not start with "x".
    let filters = json!({"or": [{"done": true}, {"not": {"title__startswith": "x"}}]});
    let first = send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.search#g", "data": {"filters": filters}}),
    )
    .await;
    assert_eq!(first["data"]["count"], 0);
    let feed = send(
        &mut w,
        &watch,
        json!({"event": "todo.Task.subscribe#f", "data": {"filters": {"not": {"done": true}}}}),
    )
    .await;
    assert_eq!(feed["data"], json!({"success": true}));

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "a"}}),
    )
    .await;
    let pushes = watch.take(2).await;
    assert_eq!(titles(under(&pushes, "todo.Task.search#g")[0]), ["a"]);
    assert_eq!(
        under(&pushes, "todo.Task.created#f")[0]["data"]["title"],
        "a"
    );

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.create", "data": {"title": "xb"}}),
    )
    .await;
    let pushes = watch.take(1).await;
    assert_eq!(
        under(&pushes, "todo.Task.created#f").len(),
        1,
        "only the feed: xb is outside the search {pushes:?}"
    );
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(watch.take(0).await.is_empty());

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.update", "data": {"id": 2, "done": true}}),
    )
    .await;
    let pushes = watch.take(2).await;
    assert_eq!(
        titles(under(&pushes, "todo.Task.search#g")[0]),
        ["a", "xb"],
        "xb enters through the or's other member"
    );
    assert_eq!(
        under(&pushes, "todo.Task.deleted#f")[0]["data"],
        json!({"id": 2}),
        "and leaves the feed of not done"
    );

    send(
        &mut b,
        &write,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "xa"}}),
    )
    .await;
    let pushes = watch.take(2).await;
    assert_eq!(
        titles(under(&pushes, "todo.Task.search#g")[0]),
        ["xb"],
        "a leaves once its title starts with x"
    );
    assert_eq!(
        under(&pushes, "todo.Task.updated#f")[0]["data"]["title"],
        "xa"
    );
}
