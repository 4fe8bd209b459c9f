//! Computed fields on the blocking adapter: a WebSocket reply and a push, each computed for
//! its reader.

use std::sync::Arc;

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{Computed, Field, FieldKind, ModelBinding, Registry};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use chanbind_sync::ServerConfig;
use serde_json::{json, Value};

use crate::common::{next, request, send, start_with, try_connect, Client};

/// Tasks with `is_mine`, computed for the reader from `owner_id`.
fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required())
                .field(Field::integer("owner_id"))
                .computed(
                    Computed::new("is_mine", FieldKind::Boolean, |row, user| {
                        json!(user.is_some_and(|u| row.get("owner_id") == Some(&json!(u.id))))
                    })
                    .depends_on(["owner_id"]),
                ),
        )
        .unwrap()
}

fn connect(addr: std::net::SocketAddr, token: &str) -> Client {
    let mut ws = try_connect(addr, "/", Some(token)).unwrap();
    assert_eq!(next(&mut ws)["event"], "hello");
    ws
}

#[test]
fn a_reply_and_a_push_carry_each_readers_value() {
    let registry = registry();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(&registry));
    let tokens = TokenAuthenticator::new()
        .token("alice", User::new(2, "alice"))
        .token("bob", User::new(4, "bob"));
    let builder = Engine::builder(registry, store).authenticator(tokens);
    let server = start_with(builder, ServerConfig::default());
    let (mut alice, mut bob) = (
        connect(server.addr(), "alice"),
        connect(server.addr(), "bob"),
    );
    let made = request(
        &mut alice,
        json!({"event": "todo.Task.create", "data": {"title": "t", "owner_id": 2}}),
    );
    assert_eq!(
        made["data"]["object"],
        json!({"id": 1, "title": "t", "owner_id": 2, "is_mine": true})
    );
    let watch = json!({"event": "todo.Task.retrieve", "data": {"id": 1}});
    assert_eq!(request(&mut alice, watch.clone())["data"]["is_mine"], true);
    assert_eq!(request(&mut bob, watch)["data"]["is_mine"], false);
    // Bob takes the task: his push says it is his now.
    send(
        &mut bob,
        json!({"event": "todo.Task.update#take", "data": {"id": 1, "owner_id": 4}}),
    );
    let mut frames: Vec<Value> = vec![next(&mut bob), next(&mut bob)];
    frames.sort_by_key(|f| f["event"].as_str().map(str::to_owned));
    assert_eq!(
        frames[0],
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "title": "t", "owner_id": 4, "is_mine": true}})
    );
    assert_eq!(frames[1]["data"]["object"]["is_mine"], true);
    // The same change, pushed to alice: not hers any more.
    assert_eq!(
        next(&mut alice),
        json!({"event": "todo.Task.retrieve", "data": {"id": 1, "title": "t", "owner_id": 4, "is_mine": false}})
    );
    server.server.shutdown();
}
