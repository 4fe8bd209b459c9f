//! Batches on the in-memory store: several writes across bindings in one transaction, with
//! `$ref`s to earlier steps' rows, all applied or none, each row pushed once after commit in
//! its final state, every step through its binding's validation and hooks, and bad batches
//! refused with the failing step's index while the connection goes on.

use std::sync::{Arc, Mutex};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use serde_json::{json, Value};

use crate::support::{engine_with, send, Collect};

/// `shop.Order` and its `shop.Line`s; titles are upper-cased by a before-write hook, and
/// every committed line is noted by an after-commit hook.
fn shop(noted: Arc<Mutex<Vec<Value>>>) -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("shop_order")
                .field(Field::string("title").required().max_length(20))
                .before_write(|mut call| async move {
                    if let Some(t) = call.values.get("title").and_then(Value::as_str) {
                        let upper = t.to_uppercase();
                        call.values.insert("title".into(), json!(upper));
                    }
                    Ok(call.values)
                }),
        )
        .unwrap()
        .model(
            ModelBinding::new("shop_line")
                .field(Field::foreign_key("order_id", "shop.Order"))
                .field(Field::integer("qty").required())
                .after_commit(move |done| {
                    let noted = Arc::clone(&noted);
                    async move {
                        noted.lock().unwrap().push(json!(done.row));
                        Ok(())
                    }
                }),
        )
        .unwrap()
}

fn order_with_lines(lines: usize) -> Value {
    let mut steps = vec![json!({"event": "shop.Order.create", "data": {"title": "first"}})];
    for qty in 1..=lines {
        steps.push(json!({"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": qty}}));
    }
    json!({"event": "batch#b", "data": {"steps": steps}})
}

#[tokio::test]
async fn an_order_and_its_lines_commit_together_and_push_once_each() {
    let noted = Arc::new(Mutex::new(Vec::new()));
    let engine = engine_with(shop(Arc::clone(&noted)), Limits::default()).await;
    let (watcher, writer) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut watching = engine.open_session(None, watcher.clone());
    let mut writing = engine.open_session(None, writer.clone());
    for stream in ["shop.Order", "shop.Line"] {
        let sub = json!({"event": format!("{stream}.subscribe"), "data": {}});
        assert_eq!(
            send(&mut watching, &watcher, sub).await["data"]["success"],
            true
        );
    }
    let reply = send(&mut writing, &writer, order_with_lines(3)).await;
    assert_eq!(reply["event"], "batch#b", "{reply}");
    let results = reply["data"]["results"].as_array().expect("results");
    assert_eq!(results.len(), 4, "{reply}");
    let order = &results[0]["object"];
    assert_eq!(
        order["title"], "FIRST",
        "the before-write hook ran: {reply}"
    );
    for (qty, line) in results[1..].iter().enumerate() {
        assert_eq!(line["success"], true);
        assert_eq!(line["object"]["order_id"], order["id"], "{reply}");
        assert_eq!(line["object"]["qty"], qty + 1);
    }
    let pushes = watcher.take(4).await;
    assert_eq!(pushes.len(), 4, "{pushes:?}");
    assert_eq!(
        noted.lock().unwrap().len(),
        3,
        "after-commit hooks ran once per line"
    );
}

#[tokio::test]
async fn a_batch_whose_third_step_is_invalid_writes_nothing() {
    let noted = Arc::new(Mutex::new(Vec::new()));
    let engine = engine_with(shop(Arc::clone(&noted)), Limits::default()).await;
    let (watcher, writer) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut watching = engine.open_session(None, watcher.clone());
    let mut writing = engine.open_session(None, writer.clone());
    let reply = send(&mut writing, &writer, order_with_lines(1)).await;
    assert_eq!(reply["data"]["success"], true, "{reply}");
    for stream in ["shop.Order", "shop.Line"] {
        let sub = json!({"event": format!("{stream}.list#{}", &stream[5..]), "data": {}});
        assert_eq!(send(&mut watching, &watcher, sub).await["data"]["count"], 1);
    }
    // An update, a delete, then a line without its required qty.
    let bad = json!({"event": "batch", "data": {"steps": [
        {"event": "shop.Order.update", "data": {"id": 1, "title": "changed"}},
        {"event": "shop.Line.delete", "data": {"id": 1}},
        {"event": "shop.Line.create", "data": {"order_id": 1}},
    ]}});
    let reply = send(&mut writing, &writer, bad).await;
    assert_eq!(reply["error"]["code"], "invalid", "{reply}");
    assert_eq!(reply["error"]["step"], 2, "{reply}");
    assert!(reply["error"]["fields"]["qty"].is_array(), "{reply}");
    for (stream, title) in [("shop.Order", Some("FIRST")), ("shop.Line", None)] {
        let list = json!({"event": format!("{stream}.list"), "data": {"subscribe": false}});
        let rows = send(&mut writing, &writer, list).await;
        assert_eq!(rows["data"]["count"], 1, "nothing written: {rows}");
        if let Some(title) = title {
            assert_eq!(rows["data"]["rows"][0]["title"], title, "{rows}");
        }
    }
    assert!(watcher.take(1).await.is_empty(), "nothing pushed");
    assert_eq!(
        noted.lock().unwrap().len(),
        1,
        "only the first batch's line"
    );
}

#[tokio::test]
async fn a_row_created_then_updated_in_a_batch_is_pushed_once_in_its_final_state() {
    let engine = engine_with(shop(Arc::default()), Limits::default()).await;
    let (watcher, writer) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut watching = engine.open_session(None, watcher.clone());
    let mut writing = engine.open_session(None, writer.clone());
    let sub = json!({"event": "shop.Order.list#l", "data": {}});
    assert_eq!(send(&mut watching, &watcher, sub).await["data"]["count"], 0);
    let batch = json!({"event": "batch", "data": {"steps": [
        {"event": "shop.Order.create", "data": {"title": "draft"}},
        {"event": "shop.Order.update", "data": {"id": {"$ref": "0.id"}, "title": "final"}},
    ]}});
    let reply = send(&mut writing, &writer, batch).await;
    assert_eq!(
        reply["data"]["results"][1]["object"]["title"], "FINAL",
        "{reply}"
    );
    let pushes = watcher.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["data"]["rows"][0]["title"], "FINAL", "{pushes:?}");
    assert!(watcher.take(1).await.is_empty(), "one push only");
}

#[tokio::test]
async fn bad_batches_name_their_step_write_nothing_and_the_connection_goes_on() {
    let limits = Limits {
        max_batch_steps: 3,
        ..Limits::default()
    };
    let engine = engine_with(shop(Arc::default()), limits).await;
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(None, out.clone());
    let hello: Value = serde_json::from_str(session.hello().as_str()).unwrap();
    assert_eq!(hello["data"]["limits"]["max_batch_steps"], 3);
    let order = json!({"event": "shop.Order.create", "data": {"title": "t"}});
    let cases = [
        (json!([]), "bad_request", None),
        (json!([order, order, order, order]), "limit_exceeded", None),
        (
            json!([order, {"event": "shop.Nope.create", "data": {}}]),
            "unknown_event",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Order.fly", "data": {}}]),
            "unknown_event",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Order.search", "data": {}}]),
            "bad_request",
            Some(1),
        ),
        (
            json!([{"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 1}}]),
            "bad_request",
            Some(0),
        ),
        (
            json!([order, {"event": "shop.Line.create", "data": {"order_id": {"$ref": "2.id"}, "qty": 1}}, order]),
            "bad_request",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.nope"}, "qty": 1}}]),
            "bad_request",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Line.create", "data": {"order_id": {"$ref": 0}, "qty": 1}}]),
            "bad_request",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Order.update", "data": {"id": "x"}}]),
            "invalid",
            Some(1),
        ),
        (
            json!([order, {"event": "shop.Order.delete", "data": {"id": 99}}]),
            "not_found",
            Some(1),
        ),
    ];
    for (steps, code, step) in cases {
        let frame = json!({"event": "batch#x", "data": {"steps": steps}});
        let reply = send(&mut session, &out, frame.clone()).await;
        assert_eq!(reply["event"], "batch#x", "{reply}");
        assert_eq!(reply["error"]["code"], code, "{frame} -> {reply}");
        assert_eq!(
            reply["error"].get("step").and_then(Value::as_u64),
            step.map(|s: u64| s),
            "{frame} -> {reply}"
        );
    }
    let list = json!({"event": "shop.Order.list", "data": {"subscribe": false}});
    assert_eq!(
        send(&mut session, &out, list).await["data"]["count"],
        0,
        "nothing written"
    );
    let reply = send(
        &mut session,
        &out,
        json!({"event": "batch", "data": {"steps": [order]}}),
    )
    .await;
    assert_eq!(
        reply["data"]["results"][0]["object"]["title"], "T",
        "{reply}"
    );
}

#[tokio::test]
async fn a_wrapper_runs_around_its_step_and_a_refusal_after_next_fails_the_batch() {
    let registry = Registry::new()
        .model(
            ModelBinding::new("shop_order")
                .field(Field::string("title").required().max_length(20))
                .wrap("create", |mut call, next| async move {
                    let title = call.values["title"].as_str().unwrap_or_default().to_owned();
                    call.values
                        .insert("title".into(), json!(format!("{title}!")));
                    let written = next.run(call.values).await?;
                    match title.as_str() {
                        "undo" => Err(chanbind_engine::protocol::ApiError::bad_request("no")),
                        _ => Ok(written),
                    }
                }),
        )
        .unwrap();
    let engine = engine_with(registry, Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(None, out.clone());
    let create = |title: &str| json!({"event": "shop.Order.create", "data": {"title": title}});
    let batch = json!({"event": "batch", "data": {"steps": [create("a"), create("b")]}});
    let reply = send(&mut session, &out, batch).await;
    assert_eq!(
        reply["data"]["results"][1]["object"]["title"], "b!",
        "{reply}"
    );
    // In a batch nothing has committed when the wrapper fails after `next`, so the batch fails.
    let batch = json!({"event": "batch", "data": {"steps": [create("c"), create("undo")]}});
    let reply = send(&mut session, &out, batch).await;
    assert_eq!(
        (&reply["error"]["code"], &reply["error"]["step"]),
        (&json!("bad_request"), &json!(1)),
        "{reply}"
    );
    let list = json!({"event": "shop.Order.list", "data": {"subscribe": false}});
    assert_eq!(send(&mut session, &out, list).await["data"]["count"], 2);
}

/// A before-write hook that reads through the engine. Alone it works; inside a batch it would
/// run outside the batch's transaction (and wait on the in-memory store's gate for the batch it
/// is part of), so it is refused instead of hanging.
#[tokio::test]
async fn a_hook_calling_the_engine_inside_a_batch_is_refused_rather_than_hanging() {
    use chanbind_engine::app::Ctx;
    use chanbind_engine::protocol::ApiError;
    use chanbind_engine::Engine;

    let slot: Arc<std::sync::OnceLock<Engine>> = Arc::default();
    let hook_engine = Arc::clone(&slot);
    let registry = Registry::new()
        .model(
            ModelBinding::new("shop_order")
                .field(Field::string("title").required().max_length(20))
                .before_write(move |call| {
                    let engine = hook_engine.get().cloned();
                    async move {
                        let engine = engine.expect("set after start");
                        // Counts the orders so far, through the engine.
                        let page = engine
                            .model("shop.Order")
                            .search(&Ctx::system(), json!({}))
                            .await
                            .map_err(|e| e.to_api())?;
                        let mut values = call.values;
                        values.insert("title".into(), json!(format!("order {}", page.count + 1)));
                        Ok::<_, ApiError>(values)
                    }
                }),
        )
        .unwrap();
    let engine = engine_with(registry, Limits::default()).await;
    slot.set(engine.clone()).ok();
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(None, out.clone());

    let single = send(
        &mut session,
        &out,
        json!({"event": "shop.Order.create", "data": {"title": "x"}}),
    )
    .await;
    assert_eq!(single["data"]["object"]["title"], "order 1", "{single}");

    let batch = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        send(
            &mut session,
            &out,
            json!({"event": "batch", "data": {"steps": [
                {"event": "shop.Order.create", "data": {"title": "y"}},
            ]}}),
        ),
    )
    .await
    .expect("the batch answers instead of hanging");
    assert_eq!(batch["error"]["code"], "internal", "{batch}");
    assert_eq!(batch["error"]["step"], 0, "{batch}");
    let count = engine
        .model("shop.Order")
        .search(&Ctx::system(), json!({}))
        .await
        .unwrap()
        .count;
    assert_eq!(count, 1, "nothing of the batch was written");
}
