//! Version checks on the sync adapter over PostgreSQL's blocking store: `if_version` over the
//! WebSocket, `ETag`, `If-Match` and 412 over HTTP.
//!
//! Needs `DATABASE_URL`; without it the test prints a notice and passes, except under
//! `CI=true`, where it fails.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::store::Store;
use chanbind_engine::Engine;
use chanbind_sync::postgres::{PgConfig, PgStore};
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::json;

use crate::common::{connect, request};
use crate::http::support::Client;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::text("title").not_null())
                .field(Field::integer("version"))
                .version("version"),
        )
        .unwrap()
}

#[test]
fn on_postgresql_versions_are_checked_over_websocket_and_http() {
    let url = match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ if std::env::var("CI").as_deref() == Ok("true") => {
            panic!("DATABASE_URL is not set under CI")
        }
        _ => return eprintln!("NOTICE: version skipped: DATABASE_URL is not set"),
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let store = PgStore::connect(PgConfig {
        url,
        schema: Some(format!("sync_version_{}_{nanos}", std::process::id())),
        pool_size: 2,
        ..Default::default()
    })
    .unwrap();
    store.migrate(&registry()).unwrap();
    let store = Arc::new(store);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let shared: Arc<dyn Store> = Arc::clone(&store) as Arc<dyn Store>;
        let runtime =
            EngineRuntime::start(Engine::builder(registry(), shared).allow_anonymous(true))
                .unwrap();
        let server = runtime
            .bind("127.0.0.1:0", ServerConfig::default())
            .unwrap();
        let addr = server.local_addr();
        let mut ws = connect(addr);
        let made = request(
            &mut ws,
            json!({"event": "todo.Task.create", "data": {"title": "a"}}),
        );
        assert_eq!(
            made["data"]["object"],
            json!({"id": 1, "title": "a", "version": 1})
        );
        let moved = request(
            &mut ws,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b", "if_version": 1}}),
        );
        assert_eq!(moved["data"]["object"]["version"], 2, "{moved}");
        let stale = request(
            &mut ws,
            json!({"event": "todo.Task.delete", "data": {"id": 1, "if_version": 1}}),
        );
        assert_eq!(stale["error"]["code"], "conflict");
        assert_eq!(
            stale["error"]["object"],
            json!({"id": 1, "title": "b", "version": 2})
        );

        let read = Client::connect(addr).send("GET", "/api/todo.Task/1", None, &[]);
        assert_eq!((read.status, read.header("etag")), (200, Some("\"2\"")));
        let body = json!({"title": "c"});
        let fresh = Client::connect(addr).send(
            "PUT",
            "/api/todo.Task/1",
            Some(&body),
            &[("If-Match", "\"2\"")],
        );
        assert_eq!(
            (fresh.status, fresh.header("etag")),
            (200, Some("\"3\"")),
            "{:?}",
            fresh.body
        );
        let stale = Client::connect(addr).send(
            "PATCH",
            "/api/todo.Task/1",
            Some(&body),
            &[("If-Match", "\"2\"")],
        );
        assert_eq!(stale.status, 412);
        assert_eq!(
            stale.body["object"],
            json!({"id": 1, "title": "c", "version": 3})
        );
        server.shutdown();
        drop(runtime);
    }));
    if let Err(e) = store.drop_schema() {
        eprintln!("cannot drop the test schema: {e}");
    }
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}
