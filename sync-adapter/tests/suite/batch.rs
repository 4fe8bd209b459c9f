//! Batches on the sync server and its blocking PostgreSQL store: an order with three lines
//! saved in one batch reaches a WebSocket subscriber as four pushes, a batch whose third step
//! fails (in validation, or in PostgreSQL inside the transaction) writes nothing, and
//! `POST /api/batch` answers alike.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::Store;
use chanbind_engine::Engine;
use chanbind_sync::postgres::{PgConfig, PgStore};
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::{json, Value};

use crate::common::{connect, next, request, Client as Ws};
use crate::http::support::Client;

fn registry() -> Registry {
    Registry::new()
        .model(ModelBinding::new("shop_order").field(Field::string("title").required()))
        .unwrap()
        .model(
            ModelBinding::new("shop_line")
                .field(Field::foreign_key("order_id", "shop.Order"))
                .field(Field::integer("qty").required().min(1)),
        )
        .unwrap()
}

/// A server on a store in a schema of its own; the schema is dropped at the end.
fn with_server(test: &str, run: impl FnOnce(std::net::SocketAddr)) {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("DATABASE_URL is not set under CI")
        }
        _ => return eprintln!("NOTICE: {test} skipped: DATABASE_URL is not set"),
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(format!("sync_batch_{test}_{}_{nanos}", std::process::id())),
        pool_size: 2,
        ..Default::default()
    })
    .unwrap();
    store.migrate(&registry()).unwrap();
    let store = Arc::new(store);
    let runtime = EngineRuntime::start(
        Engine::builder(registry(), Arc::clone(&store) as Arc<dyn Store>)
            .limits(Limits::default())
            .allow_anonymous(true),
    )
    .unwrap();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let outcome =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(server.local_addr())));
    server.shutdown();
    drop(runtime);
    store.drop_schema().unwrap();
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn order_with_lines(third: Value) -> Value {
    json!({"steps": [
        {"event": "shop.Order.create", "data": {"title": "o"}},
        {"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 1}},
        third,
        {"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 3}},
    ]})
}

fn good_third() -> Value {
    json!({"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 2}})
}

fn count(ws: &mut Ws, stream: &str) -> Value {
    let list = json!({"event": format!("{stream}.list"), "data": {"subscribe": false}});
    request(ws, list)["data"]["count"].clone()
}

#[test]
fn an_order_with_three_lines_is_four_pushes_and_a_failing_batch_writes_nothing() {
    with_server("ws", |addr| {
        let mut watcher = connect(addr);
        for stream in ["shop.Order", "shop.Line"] {
            let sub = json!({"event": format!("{stream}.subscribe"), "data": {}});
            assert_eq!(request(&mut watcher, sub)["data"]["success"], true);
        }
        let mut writer = connect(addr);
        let invalid =
            json!({"event": "shop.Line.create", "data": {"order_id": {"$ref": "0.id"}, "qty": 0}});
        let missing = json!({"event": "shop.Line.create", "data": {"order_id": 999, "qty": 2}});
        for (third, code) in [(invalid, "invalid"), (missing, "conflict")] {
            let batch = json!({"event": "batch", "data": order_with_lines(third)});
            let reply = request(&mut writer, batch);
            assert_eq!(
                (&reply["error"]["code"], &reply["error"]["step"]),
                (&json!(code), &json!(2)),
                "{reply}"
            );
            assert_eq!(count(&mut writer, "shop.Line"), 0, "nothing written");
        }
        let batch = json!({"event": "batch#o", "data": order_with_lines(good_third())});
        let reply = request(&mut writer, batch);
        assert_eq!(
            reply["data"]["results"].as_array().map(Vec::len),
            Some(4),
            "{reply}"
        );
        let pushed: Vec<Value> = (0..4).map(|_| next(&mut watcher)).collect();
        let created = |event: &str| pushed.iter().filter(|p| p["event"] == event).count();
        assert_eq!(
            (created("shop.Order.created"), created("shop.Line.created")),
            (1, 3),
            "{pushed:?}"
        );
        assert_eq!(count(&mut writer, "shop.Line"), 3);
    });
}

#[test]
fn post_api_batch_answers_results_or_the_failing_step() {
    with_server("http", |addr| {
        let mut client = Client::connect(addr);
        let missing = json!({"event": "shop.Line.create", "data": {"order_id": 999, "qty": 2}});
        let failed = client.send("POST", "/api/batch", Some(&order_with_lines(missing)), &[]);
        assert_eq!(
            (failed.status, &failed.body["step"]),
            (409, &json!(2)),
            "{:?}",
            failed.body
        );
        let done = client.send(
            "POST",
            "/api/batch",
            Some(&order_with_lines(good_third())),
            &[],
        );
        assert_eq!(done.status, 200, "{:?}", done.body);
        assert_eq!(
            done.body["results"][3]["object"]["qty"], 3,
            "{:?}",
            done.body
        );
        let mut ws = connect(addr);
        assert_eq!(count(&mut ws, "shop.Order"), 1);
    });
}
