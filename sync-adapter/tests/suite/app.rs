//! The typed application API from blocking code, through `EngineRuntime::block_on`, and the
//! hooks around writes on the sync adapter: an application's write reaches a WebSocket
//! subscriber, a before-write hook (sleeping on tokio's timer) changes the values of a
//! client's write, and its refusal reaches the client as `invalid`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::app::Ctx;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::protocol::{ApiError, ErrorCode};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use chanbind_sync::{EngineRuntime, ServerConfig};
use serde_json::{json, Value};

use crate::common::{connect, next, request};

/// Tasks whose titles a before-write hook upper-cases, after a nap on tokio's timer; "later"
/// is refused.
fn runtime() -> EngineRuntime {
    let registry = Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required())
                .before_write(|mut call| async move {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    let title = call.values["title"].as_str().unwrap_or_default().to_owned();
                    if title == "later" {
                        let why = vec!["do it now".to_owned()];
                        return Err(ApiError::invalid(BTreeMap::from([("title".into(), why)])));
                    }
                    call.values
                        .insert("title".into(), json!(title.to_uppercase()));
                    Ok(call.values)
                }),
        )
        .unwrap();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(&registry));
    EngineRuntime::start(Engine::builder(registry, store).allow_anonymous(true)).unwrap()
}

#[test]
fn blocking_code_writes_through_the_engine_runtime_and_subscribers_are_pushed() {
    let runtime = runtime();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let mut ws = connect(server.local_addr());
    let listed = request(&mut ws, json!({"event": "todo.Task.list#l"}));
    assert_eq!(listed["data"]["count"], 0, "{listed}");

    let tasks = runtime.engine().model("todo.Task");
    let created = runtime
        .block_on(tasks.create_as::<Value>(&Ctx::system(), json!({"title": "from a thread"})))
        .unwrap();
    assert_eq!(created, json!({"id": 1, "title": "FROM A THREAD"}));
    let pushed = next(&mut ws);
    assert_eq!(pushed["event"], "todo.Task.list#l");
    assert_eq!(
        pushed["data"]["rows"][0]["title"], "FROM A THREAD",
        "{pushed}"
    );

    let row = runtime
        .block_on(tasks.retrieve(&Ctx::anonymous(), 1))
        .unwrap();
    assert_eq!(row["title"], "FROM A THREAD");
    let refused = runtime
        .block_on(tasks.update(&Ctx::system(), 1, json!({"title": "later"})))
        .unwrap_err();
    assert_eq!(refused.code(), ErrorCode::Invalid);
    server.shutdown();
    drop(runtime);
}

#[test]
fn hooks_run_for_a_websocket_client_of_the_sync_adapter() {
    let runtime = runtime();
    let server = runtime
        .bind("127.0.0.1:0", ServerConfig::default())
        .unwrap();
    let mut ws = connect(server.local_addr());
    let created = request(
        &mut ws,
        json!({"event": "todo.Task.create#c", "data": {"title": "quiet"}}),
    );
    assert_eq!(created["data"]["object"]["title"], "QUIET", "{created}");
    let refused = request(
        &mut ws,
        json!({"event": "todo.Task.create#r", "data": {"title": "later"}}),
    );
    assert_eq!(refused["event"], "todo.Task.create#r");
    assert_eq!(refused["error"]["code"], "invalid", "{refused}");
    assert_eq!(refused["error"]["fields"]["title"], json!(["do it now"]));
    server.shutdown();
    drop(runtime);
}
