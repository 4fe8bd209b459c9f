//! Where the engine's actors run: on the adapter's own runtime ([`EngineRuntime`]), or on the
//! application's tokio runtime with the server started from async code, as the demo does.

use std::time::Duration;

use chanbind_engine::config::Limits;
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::json;

use crate::common::{self, connect, next, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_started_on_the_applications_runtime_is_served_from_async_code() {
    let engine = common::builder(Limits::default()).start().await.unwrap();
    // `bind` only spawns threads: calling it on a worker does not block or panic.
    let server = chanbind_sync::bind("127.0.0.1:0", engine, ServerConfig::default()).unwrap();
    let addr = server.local_addr();
    let client = tokio::task::spawn_blocking(move || {
        let mut a = connect(addr);
        let mut b = connect(addr);
        request(&mut a, json!({"event": "todo.Task.search#all"}));
        request(
            &mut b,
            json!({"event": "todo.Task.create", "data": {"title": "x"}}),
        );
        next(&mut a)
    });
    let push = tokio::time::timeout(Duration::from_secs(10), client)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(push["event"], "todo.Task.search#all");
    assert_eq!(push["data"]["count"], 1);
    let stopped = tokio::task::spawn_blocking(move || server.shutdown())
        .await
        .unwrap();
    assert_eq!(stopped.abandoned, 0);
}

#[test]
fn a_custom_handler_using_tokio_runs_on_connection_threads() {
    // A handler that sleeps on tokio's timer needs the runtime's context on the connection
    // thread, which the adapter enters for it.
    let runtime = EngineRuntime::start(napping()).unwrap();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let mut ws = connect(server.local_addr());
    let reply = request(&mut ws, json!({"event": "util.nap#1"}));
    assert_eq!(
        reply,
        json!({"event": "util.nap#1", "data": {"slept": true}})
    );
    server.shutdown();
    drop(runtime);
}

#[test]
fn bind_from_a_plain_thread_enters_the_runtime_the_engine_was_started_on() {
    // An application that started the engine on its own runtime, then serves it with the
    // plain `bind` from a thread outside that runtime (not `EngineRuntime::bind`).
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let engine = runtime.block_on(napping().start()).unwrap();
    assert!(engine.runtime().is_some());
    let server = std::thread::spawn(move || {
        chanbind_sync::bind("127.0.0.1:0", engine, ServerConfig::default()).unwrap()
    })
    .join()
    .unwrap();
    let mut ws = connect(server.local_addr());
    let reply = request(&mut ws, json!({"event": "util.nap#1"}));
    assert_eq!(
        reply,
        json!({"event": "util.nap#1", "data": {"slept": true}}),
        "the handler's tokio timer works on the connection thread"
    );
    server.shutdown();
    drop(runtime);
}

#[test]
fn an_engine_runtime_starts_and_stops_from_a_plain_thread() {
    let runtime = EngineRuntime::with_workers(common::builder(Limits::default()), 1).unwrap();
    let engine = runtime.engine();
    assert_eq!(engine.store_kind(), "memory");
    let answer = runtime.block_on(async {
        tokio::time::sleep(Duration::from_millis(1)).await;
        42
    });
    assert_eq!(answer, 42);
    drop(runtime);
    // The actors are stopped: publishing goes nowhere, and nothing panics.
    engine.broadcast("todo.Task", "ping", &json!({}));
}

/// The test bindings plus `util.nap`, a custom event whose handler sleeps on tokio's timer
/// and replies `{"slept": true}`, open to anonymous connections.
pub fn napping() -> chanbind_engine::EngineBuilder {
    use chanbind_engine::binding::{CustomBinding, EventContext, HandlerResult};

    async fn nap(_ctx: EventContext) -> HandlerResult {
        tokio::time::sleep(Duration::from_millis(10)).await;
        Ok(Some(json!({"slept": true})))
    }
    let registry = common::registry()
        .custom(CustomBinding::new("util").on("nap", nap))
        .unwrap();
    let store = std::sync::Arc::new(chanbind_engine::store::MemoryStore::new(&registry));
    chanbind_engine::Engine::builder(registry, store).allow_anonymous(true)
}
