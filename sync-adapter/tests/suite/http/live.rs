//! Where HTTP meets the rest: WebSocket subscribers seeing HTTP writes, custom events and
//! `/api/events`, authentication on both transports, the OpenAPI document, and shutdown.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use chanbind_sync::Stopped;
use serde_json::{json, Value};

use super::support::{call, get, seed, start, start_private, Client};
use crate::common::{connect, eventually, next, request, try_connect};

#[test]
fn a_websocket_subscriber_sees_http_writes() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
    let mut ws = connect(addr);
    let row = request(
        &mut ws,
        json!({"event": "todo.Task.retrieve#w", "data": {"id": 2}}),
    );
    assert_eq!(row["data"]["title"], "Bind a table");
    let open = request(
        &mut ws,
        json!({"event": "todo.Task.search#open", "data": {"filters": {"done": false}}}),
    );
    assert_eq!(open["data"]["count"], 3);

    let patched = call(
        addr,
        "PATCH",
        "/api/todo.Task/2",
        Some(json!({"title": "Bound over HTTP", "done": true})),
    );
    assert_eq!(patched.status, 200);
    let seen = [next(&mut ws), next(&mut ws)];
    let row = seen
        .iter()
        .find(|f| f["event"] == "todo.Task.retrieve#w")
        .expect("a row push");
    assert_eq!(
        (row["data"]["title"].as_str(), row["data"]["done"].as_bool()),
        (Some("Bound over HTTP"), Some(true))
    );
    let query = seen
        .iter()
        .find(|f| f["event"] == "todo.Task.search#open")
        .expect("a query push");
    assert_eq!(query["data"]["count"], 2);

    assert_eq!(call(addr, "DELETE", "/api/todo.Task/2", None).status, 200);
    assert_eq!(
        next(&mut ws),
        json!({"event": "todo.Task.delete#w", "data": {"id": 2, "deleted": true}})
    );
    srv.server.shutdown();
}

#[test]
fn custom_events_reply_or_answer_204_and_reach_the_group() {
    let srv = start();
    let addr = srv.addr();
    let mut ws = connect(addr);
    // Joins custom_stream's group.
    let reflected = request(
        &mut ws,
        json!({"event": "custom_stream.echo#j", "data": {}}),
    );
    assert_eq!(reflected["event"], "custom_stream.echoed#j");
    assert_eq!(next(&mut ws)["event"], "custom_stream.echo#j");

    let echo = call(
        addr,
        "POST",
        "/api/custom_stream/echo",
        Some(json!({"n": 1})),
    );
    assert_eq!(
        (echo.status, echo.body.clone()),
        (200, json!({"echo": {"n": 1}, "user": null}))
    );
    let bare = call(addr, "POST", "/api/custom_stream/echo", None);
    assert_eq!(bare.body["echo"], json!({}), "an empty body is {{}}");

    let notify = call(
        addr,
        "POST",
        "/api/custom_stream/notify",
        Some(json!({"msg": "hi"})),
    );
    assert_eq!((notify.status, notify.raw.is_empty()), (204, true));
    assert_eq!(
        next(&mut ws),
        json!({"event": "custom_stream.notified", "data": {"msg": "hi"}})
    );

    let events = call(
        addr,
        "POST",
        "/api/events",
        Some(json!({"event": "custom_stream.echo", "data": {"n": 2}})),
    );
    assert_eq!(events.status, 200);
    assert_eq!(
        events.body,
        json!([
            {"event": "custom_stream.echoed", "data": {"seen": true}},
            {"event": "custom_stream.echo", "data": {"echo": {"n": 2}, "user": null}},
        ])
    );
    let hashed = call(
        addr,
        "POST",
        "/api/events",
        Some(json!({"event": "custom_stream.notify#h", "data": {"msg": "yo"}})),
    );
    assert_eq!(
        (hashed.status, hashed.body.clone()),
        (200, json!([])),
        "group sends are not the request's frames"
    );
    assert_eq!(next(&mut ws)["data"]["msg"], "yo");
    srv.server.shutdown();
}

#[test]
fn events_runs_any_envelope() {
    let srv = start();
    let addr = srv.addr();
    seed(addr);
    let envelope = |event: &str, data: Value| Some(json!({"event": event, "data": data}));
    let retrieve = call(
        addr,
        "POST",
        "/api/events",
        envelope("todo.Task.retrieve#r", json!({"id": 1})),
    );
    assert_eq!(retrieve.body[0]["event"], "todo.Task.retrieve#r");
    assert_eq!(retrieve.body[0]["data"]["title"], "Read the README");
    let list = call(
        addr,
        "POST",
        "/api/events",
        envelope("todo.Task.list", json!({"filters": {"done": true}})),
    );
    assert_eq!(
        list.body,
        json!([{"event": "todo.Task.list", "data": {"count": 1, "rows": [
        {"id": 1, "title": "Read the README", "done": true, "priority": 1, "owner_id": 1}]}}])
    );
    let missing = call(
        addr,
        "POST",
        "/api/events",
        envelope("todo.Task.retrieve", json!({"id": 99})),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body[0]["error"]["code"], "not_found");
    let unknown = call(
        addr,
        "POST",
        "/api/events",
        envelope("nope.Thing.list", json!({})),
    );
    assert_eq!(
        (unknown.status, unknown.body[0]["error"]["code"].as_str()),
        (404, Some("unknown_event"))
    );
    let no_event = call(addr, "POST", "/api/events", Some(json!({"data": {}})));
    assert_eq!(
        (no_event.status, no_event.body["code"].as_str()),
        (400, Some("bad_request"))
    );
    srv.server.shutdown();
}

#[test]
fn authentication_guards_both_transports() {
    let srv = start_private();
    let addr = srv.addr();
    let anonymous = get(addr, "/api/todo.Task/");
    assert_eq!(
        (anonymous.status, anonymous.body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(anonymous.header("www-authenticate"), Some("Bearer"));
    assert_eq!(
        get(addr, "/api/nope.Thing/").status,
        401,
        "routes are not probed anonymously"
    );
    assert_eq!(get(addr, "/api/openapi.json").status, 401);

    let mut client = Client::connect(addr);
    let bearer = [("Authorization", "Bearer s3cret")];
    assert_eq!(
        client.send("GET", "/api/todo.Task/", None, &bearer).status,
        200
    );
    let echo = client.send("POST", "/api/custom_stream/echo", Some(&json!({})), &bearer);
    assert_eq!(
        echo.body["user"], 7,
        "the handler sees the HTTP request's user"
    );
    let wrong = [("Authorization", "Bearer wrong")];
    assert_eq!(
        client.send("GET", "/api/todo.Task/", None, &wrong).status,
        401
    );
    assert_eq!(get(addr, "/api/todo.Task/?token=s3cret").status, 200);

    match try_connect(addr, "/", None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }
    let mut ws = try_connect(addr, "/?token=s3cret", None).unwrap();
    assert_eq!(
        next(&mut ws)["data"]["user"],
        json!({"id": 7, "name": "alice"})
    );
    srv.server.shutdown();
}

#[test]
fn the_openapi_document_describes_every_route() {
    let srv = start();
    let reply = get(srv.addr(), "/api/openapi.json");
    assert_eq!(reply.status, 200);
    let doc = reply.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let paths: BTreeSet<&str> = doc["paths"]
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    for stream in ["todo.Task", "auth.User"] {
        for route in ["/", "/{id}", "/form", "/{id}/form"] {
            assert!(
                paths.contains(format!("/api/{stream}{route}").as_str()),
                "{stream}{route}"
            );
        }
    }
    for action in ["echo", "notify", "slow"] {
        assert!(
            paths.contains(format!("/api/custom_stream/{action}").as_str()),
            "{action}"
        );
    }
    assert!(paths.contains("/api/events") && paths.contains("/api/openapi.json"));
    let task = &doc["components"]["schemas"]["todo.Task"]["properties"];
    assert_eq!(task["priority"]["maximum"], 5);
    assert_eq!(task["owner_id"]["x-chanbind-stream"], "auth.User");
    srv.server.shutdown();
}

#[test]
fn shutdown_finishes_requests_in_flight_and_closes_idle_connections() {
    let srv = start();
    let addr = srv.addr();
    let mut idle = Client::connect(addr);
    assert_eq!(idle.send("GET", "/api/todo.Task/", None, &[]).status, 200);
    let in_flight =
        std::thread::spawn(move || call(addr, "POST", "/api/custom_stream/slow", Some(json!({}))));
    eventually("the slow request to be in flight", || {
        srv.server.connection_threads() == 2
    });
    std::thread::sleep(Duration::from_millis(100));
    let started = Instant::now();
    let stopped = srv.server.shutdown();
    assert_eq!(
        stopped,
        Stopped {
            joined: 2,
            abandoned: 0
        }
    );
    assert!(started.elapsed() < Duration::from_secs(3));
    let reply = in_flight.join().unwrap();
    assert_eq!(
        (reply.status, reply.body.clone(), reply.header("connection")),
        (200, json!({"done": true}), Some("close"))
    );
    assert!(idle.closed_within(Duration::from_secs(1)));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
}
