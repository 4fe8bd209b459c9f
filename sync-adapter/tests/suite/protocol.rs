//! The protocol as a client sees it on the sync adapter: hello, replies, pushes, errors,
//! authentication and the endpoint path.

use std::net::TcpListener;

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::config::Limits;
use chanbind_sync::ServerConfig;
use serde_json::{json, Value};
use tungstenite::Message;

use crate::common::{self, close_code, connect, next, request, start, start_with, try_connect};

#[test]
fn hello_comes_first_and_requests_are_answered() {
    let srv = start();
    let mut ws = common::try_connect(srv.addr(), "/", None).unwrap();
    let hello = next(&mut ws);
    assert_eq!(hello["event"], "hello");
    assert_eq!(hello["data"]["protocol"], 1);
    assert_eq!(hello["data"]["user"], Value::Null);
    assert_eq!(hello["data"]["limits"]["max_message_bytes"], 1048576);
    let reply = request(
        &mut ws,
        json!({"event": "todo.Task.create#c", "data": {"title": "t"}}),
    );
    assert_eq!(
        reply,
        json!({"event": "todo.Task.create#c", "data": {"success": true, "id": 1,
            "object": {"id": 1, "title": "t", "done": false, "priority": 0}}})
    );
    srv.server.shutdown();
}

#[test]
fn an_update_on_one_connection_pushes_to_a_retrieve_on_another() {
    let srv = start();
    let mut writer = connect(srv.addr());
    let created = request(
        &mut writer,
        json!({"event": "auth.User.create", "data": {"username": "admin"}}),
    );
    assert_eq!(created["data"]["id"], 1, "{created}");
    let mut reader = connect(srv.addr());
    let row = request(
        &mut reader,
        json!({"event": "auth.User.retrieve", "data": {"id": 1}}),
    );
    assert_eq!(row["data"]["username"], "admin", "{row}");
    let reply = request(
        &mut writer,
        json!({"event": "auth.User.update", "data": {"id": 1, "username": "Changed Username"}}),
    );
    assert_eq!(reply["data"]["success"], true, "{reply}");
    let push = next(&mut reader);
    assert_eq!(push["event"], "auth.User.retrieve");
    assert_eq!(push["data"]["username"], "Changed Username");
    srv.server.shutdown();
}

#[test]
fn a_live_search_is_pushed_fresh_results() {
    let srv = start();
    let mut reader = connect(srv.addr());
    let mut writer = connect(srv.addr());
    let first = request(
        &mut reader,
        json!({"event": "todo.Task.search#open", "data": {"filters": {"done": false}, "order": "-priority"}}),
    );
    assert_eq!(first["data"]["count"], 0, "{first}");
    request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "low", "priority": 1}}),
    );
    let push = next(&mut reader);
    assert_eq!(push["event"], "todo.Task.search#open");
    assert_eq!(push["data"]["count"], 1, "{push}");
    request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "high", "priority": 4}}),
    );
    // Pushes are coalesced: read until the latest state shows.
    let mut push = next(&mut reader);
    while push["data"]["count"] != 2 {
        push = next(&mut reader);
    }
    let titles: Vec<&str> = push["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect();
    assert_eq!(titles, ["high", "low"]);
    srv.server.shutdown();
}

#[test]
fn bad_input_is_answered_and_the_connection_stays_open() {
    let srv = start();
    let mut ws = connect(srv.addr());
    ws.send(Message::text("this is not json")).unwrap();
    let reply = next(&mut ws);
    assert_eq!(reply["event"], "error");
    assert_eq!(reply["error"]["code"], "bad_request");
    ws.send(Message::binary(b"{\"event\":\"todo.Task.list\"}".to_vec()))
        .unwrap();
    let reply = next(&mut ws);
    assert_eq!(reply["event"], "error");
    assert_eq!(reply["error"]["code"], "bad_request");
    let reply = request(
        &mut ws,
        json!({"event": "nope.Thing.retrieve#x", "data": {"id": 1}}),
    );
    assert_eq!(reply["event"], "nope.Thing.retrieve#x");
    assert_eq!(reply["error"]["code"], "unknown_event");
    let reply = request(&mut ws, json!({"event": "todo.Task.list"}));
    assert_eq!(reply["data"]["count"], 0, "still serving: {reply}");
    srv.server.shutdown();
}

#[test]
fn a_frame_too_large_is_answered_then_closed_with_1009() {
    let limits = Limits {
        max_message_bytes: 1024,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut ws = connect(srv.addr());
    let big = format!(
        "{{\"event\":\"todo.Task.create\",\"data\":{{\"title\":\"{}\"}}}}",
        "x".repeat(64 * 1024)
    );
    ws.send(Message::text(big)).unwrap();
    let reply = next(&mut ws);
    assert_eq!(reply["event"], "error");
    assert_eq!(reply["error"]["code"], "too_large");
    assert_eq!(close_code(&mut ws), 1009);
    // The server goes on.
    let mut other = connect(srv.addr());
    assert_eq!(
        request(&mut other, json!({"event": "todo.Task.list"}))["data"]["count"],
        0
    );
    srv.server.shutdown();
}

#[test]
fn anonymous_clients_get_401_when_not_allowed() {
    let tokens = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
    let builder = common::builder(Limits::default())
        .authenticator(tokens)
        .allow_anonymous(false);
    let srv = start_with(builder, ServerConfig::default());
    match try_connect(srv.addr(), "/", None) {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 401);
            assert_eq!(resp.headers()["www-authenticate"], "Bearer");
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "unauthenticated", "{body}");
        }
        Err(e) => panic!("expected a 401, got {e}"),
        Ok(_) => panic!("expected a 401, got a WebSocket"),
    }
    let mut ws = try_connect(srv.addr(), "/", Some("s3cret")).unwrap();
    let hello = next(&mut ws);
    assert_eq!(hello["data"]["user"], json!({"id": 7, "name": "alice"}));
    srv.server.shutdown();
}

#[test]
fn other_paths_are_not_websocket_endpoints() {
    let srv = start();
    match try_connect(srv.addr(), "/elsewhere", None) {
        Err(tungstenite::Error::Http(resp)) => {
            assert_eq!(resp.status(), 404);
            let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
            assert_eq!(body["code"], "not_found", "{body}");
        }
        Err(e) => panic!("expected a 404, got {e}"),
        Ok(_) => panic!("expected a 404, got a WebSocket"),
    }
    srv.server.shutdown();
}

#[test]
fn custom_paths_are_served() {
    let config = ServerConfig::default().path("/ws");
    let srv = start_with(common::builder(Limits::default()), config);
    assert!(try_connect(srv.addr(), "/", None).is_err());
    let mut ws = try_connect(srv.addr(), "/ws", None).unwrap();
    assert_eq!(next(&mut ws)["event"], "hello");
    srv.server.shutdown();
}

#[test]
fn an_accepted_stream_is_served_and_closed_with_1001() {
    let runtime = chanbind_sync::EngineRuntime::start(common::builder(Limits::default())).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let (replied, reply) = std::sync::mpsc::channel();
    let client = std::thread::spawn(move || {
        let mut ws = connect(addr);
        replied
            .send(request(
                &mut ws,
                json!({"event": "todo.Task.create#a", "data": {"title": "t"}}),
            ))
            .unwrap();
        close_code(&mut ws)
    });
    let (stream, _) = listener.accept().unwrap();
    let config = ServerConfig::default().runtime(runtime.handle().clone());
    let conn = chanbind_sync::serve_stream(stream, runtime.engine(), &config).unwrap();
    let reply = reply.recv_timeout(common::WAIT).unwrap();
    assert_eq!(reply["data"]["success"], true, "{reply}");
    assert!(!conn.is_finished());
    assert!(conn.close(), "the thread was joined");
    let code = client.join().unwrap();
    assert_eq!(code, 1001);
}
