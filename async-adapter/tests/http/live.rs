//! Where HTTP meets the rest: WebSocket subscribers seeing HTTP writes, custom events and
//! `/api/events`, authentication on both transports, the OpenAPI document, and shutdown.

use std::collections::BTreeSet;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use hyper::header::WWW_AUTHENTICATE;
use hyper::Method;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};

use crate::support::{call, get, seed, start, start_private, Client};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(5), ws.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

async fn send(ws: &mut Ws, frame: Value) {
    ws.send(Message::text(frame.to_string())).await.unwrap();
}

#[tokio::test]
async fn a_websocket_subscriber_sees_http_writes() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    send(
        &mut ws,
        json!({"event": "todo.Task.retrieve#w", "data": {"id": 2}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["data"]["title"], "Bind a table");
    send(
        &mut ws,
        json!({"event": "todo.Task.search#open", "data": {"filters": {"done": false}}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["data"]["count"], 3);

    let patched = call(
        addr,
        Method::PATCH,
        "/api/todo.Task/2",
        Some(json!({"title": "Bound over HTTP", "done": true})),
    )
    .await;
    assert_eq!(patched.status, 200);
    let mut seen = Vec::new();
    for _ in 0..2 {
        seen.push(next_json(&mut ws).await);
    }
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

    assert_eq!(
        call(addr, Method::DELETE, "/api/todo.Task/2", None)
            .await
            .status,
        200
    );
    let gone = next_json(&mut ws).await;
    assert_eq!(
        gone,
        json!({"event": "todo.Task.delete#w", "data": {"id": 2, "deleted": true}})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn custom_events_reply_or_answer_204_and_reach_the_group() {
    let server = start().await;
    let addr = server.local_addr();
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
        .await
        .unwrap();
    next_json(&mut ws).await;
    // Joins custom_stream's group.
    send(
        &mut ws,
        json!({"event": "custom_stream.echo#j", "data": {}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["event"], "custom_stream.echoed#j");
    assert_eq!(next_json(&mut ws).await["event"], "custom_stream.echo#j");

    let echo = call(
        addr,
        Method::POST,
        "/api/custom_stream/echo",
        Some(json!({"n": 1})),
    )
    .await;
    assert_eq!(
        (echo.status.as_u16(), echo.body.clone()),
        (200, json!({"echo": {"n": 1}, "user": null}))
    );
    let bare = Client::connect(addr)
        .await
        .send(Method::POST, "/api/custom_stream/echo", None, &[])
        .await;
    assert_eq!(bare.body["echo"], json!({}), "an empty body is {{}}");

    let notify = call(
        addr,
        Method::POST,
        "/api/custom_stream/notify",
        Some(json!({"msg": "hi"})),
    )
    .await;
    assert_eq!((notify.status.as_u16(), notify.raw.is_empty()), (204, true));
    assert_eq!(
        next_json(&mut ws).await,
        json!({"event": "custom_stream.notified", "data": {"msg": "hi"}})
    );

    let events = call(
        addr,
        Method::POST,
        "/api/events",
        Some(json!({"event": "custom_stream.echo", "data": {"n": 2}})),
    )
    .await;
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
        Method::POST,
        "/api/events",
        Some(json!({"event": "custom_stream.notify#h", "data": {"msg": "yo"}})),
    )
    .await;
    assert_eq!(
        (hashed.status.as_u16(), hashed.body.clone()),
        (200, json!([])),
        "group sends are not the request's frames"
    );
    assert_eq!(next_json(&mut ws).await["data"]["msg"], "yo");
    server.shutdown().await;
}

#[tokio::test]
async fn events_runs_any_envelope() {
    let server = start().await;
    let addr = server.local_addr();
    seed(addr).await;
    let envelope = |event: &str, data: Value| Some(json!({"event": event, "data": data}));
    let retrieve = call(
        addr,
        Method::POST,
        "/api/events",
        envelope("todo.Task.retrieve#r", json!({"id": 1})),
    )
    .await;
    assert_eq!(retrieve.body[0]["event"], "todo.Task.retrieve#r");
    assert_eq!(retrieve.body[0]["data"]["title"], "Read the README");
    let list = call(
        addr,
        Method::POST,
        "/api/events",
        envelope("todo.Task.list", json!({"filters": {"done": true}})),
    )
    .await;
    assert_eq!(
        list.body,
        json!([{"event": "todo.Task.list", "data": {"count": 1, "rows": [
        {"id": 1, "title": "Read the README", "done": true, "priority": 1, "owner_id": 1}]}}])
    );
    let missing = call(
        addr,
        Method::POST,
        "/api/events",
        envelope("todo.Task.retrieve", json!({"id": 99})),
    )
    .await;
    assert_eq!(missing.status, 404);
    assert_eq!(missing.body[0]["error"]["code"], "not_found");
    let unknown = call(
        addr,
        Method::POST,
        "/api/events",
        envelope("nope.Thing.list", json!({})),
    )
    .await;
    assert_eq!(
        (
            unknown.status.as_u16(),
            unknown.body[0]["error"]["code"].as_str()
        ),
        (404, Some("unknown_event"))
    );
    let no_event = call(addr, Method::POST, "/api/events", Some(json!({"data": {}}))).await;
    assert_eq!(
        (no_event.status.as_u16(), no_event.body["code"].as_str()),
        (400, Some("bad_request"))
    );
    server.shutdown().await;
}

#[tokio::test]
async fn authentication_guards_both_transports() {
    let server = start_private().await;
    let addr = server.local_addr();
    let anonymous = get(addr, "/api/todo.Task/").await;
    assert_eq!(
        (anonymous.status.as_u16(), anonymous.body["code"].as_str()),
        (401, Some("unauthenticated"))
    );
    assert_eq!(anonymous.headers[WWW_AUTHENTICATE], "Bearer");
    assert_eq!(
        get(addr, "/api/nope.Thing/").await.status,
        401,
        "routes are not probed anonymously"
    );
    assert_eq!(get(addr, "/api/openapi.json").await.status, 401);

    let mut client = Client::connect(addr).await;
    let bearer = [("authorization", "Bearer s3cret")];
    assert_eq!(
        client
            .send(Method::GET, "/api/todo.Task/", None, &bearer)
            .await
            .status,
        200
    );
    let echo = client
        .send(
            Method::POST,
            "/api/custom_stream/echo",
            Some(&json!({})),
            &bearer,
        )
        .await;
    assert_eq!(
        echo.body["user"], 7,
        "the handler sees the HTTP request's user"
    );
    let wrong = client
        .send(
            Method::GET,
            "/api/todo.Task/",
            None,
            &[("authorization", "Bearer wrong")],
        )
        .await;
    assert_eq!(wrong.status, 401);
    assert_eq!(get(addr, "/api/todo.Task/?token=s3cret").await.status, 200);

    match tokio_tungstenite::connect_async(format!("ws://{addr}/")).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 401),
        other => panic!("expected a 401, got {:?}", other.map(|_| ())),
    }
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/?token=s3cret"))
        .await
        .unwrap();
    assert_eq!(
        next_json(&mut ws).await["data"]["user"],
        json!({"id": 7, "name": "alice"})
    );
    server.shutdown().await;
}

#[tokio::test]
async fn the_openapi_document_describes_every_route() {
    let server = start().await;
    let addr = server.local_addr();
    let reply = get(addr, "/api/openapi.json").await;
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
        let collection = &doc["paths"][format!("/api/{stream}/")];
        assert!(collection["get"].is_object() && collection["post"].is_object());
        let item = &doc["paths"][format!("/api/{stream}/{{id}}")];
        for method in ["get", "put", "patch", "delete"] {
            assert!(item[method].is_object(), "{stream} {method}");
        }
    }
    for action in ["echo", "notify", "slow"] {
        assert!(
            paths.contains(format!("/api/custom_stream/{action}").as_str()),
            "{action}"
        );
    }
    assert!(paths.contains("/api/events") && paths.contains("/api/openapi.json"));
    let params: Vec<&str> = doc["paths"]["/api/todo.Task/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    for name in [
        "page",
        "limit",
        "order",
        "query",
        "done",
        "id__in",
        "priority__gte",
        "owner_id__isnull",
        "title__icontains",
        "filters",
        "owner__username",
        "owner__username__icontains",
        "owner__id__in",
        "expand",
    ] {
        assert!(params.contains(&name), "{name}");
    }
    let through = doc["paths"]["/api/todo.Task/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "owner__username__icontains")
        .unwrap();
    assert_eq!(through["schema"]["type"], "string");
    assert!(
        through["description"]
            .as_str()
            .unwrap()
            .contains("relation owner to auth.User"),
        "{through}"
    );
    // Relations: `expand` on both routes that read, `include` on the user's side, and the
    // related rows in the row schemas.
    let retrieve = &doc["paths"]["/api/todo.Task/{id}"]["get"]["parameters"];
    assert_eq!(retrieve[0]["name"], "expand");
    let include = &doc["paths"]["/api/auth.User/"]["get"]["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "include")
        .expect("users include their tasks")["schema"];
    assert_eq!(include["items"]["enum"], json!(["tasks"]));
    let task = &doc["components"]["schemas"]["todo.Task"]["properties"];
    assert_eq!(
        task["owner"]["allOf"][0]["$ref"],
        "#/components/schemas/auth.User"
    );
    assert_eq!(task["owner"]["nullable"], true);
    let user = &doc["components"]["schemas"]["auth.User"]["properties"];
    assert_eq!(
        user["tasks"]["items"]["$ref"],
        "#/components/schemas/todo.Task"
    );
    let groups = &doc["components"]["schemas"]["Filters"]["properties"];
    assert_eq!(groups["or"]["minItems"], 1);
    assert_eq!(groups["not"]["$ref"], "#/components/schemas/Filters");
    let task = &doc["components"]["schemas"]["todo.Task"]["properties"];
    assert_eq!(task["priority"]["maximum"], 5);
    assert_eq!(task["owner_id"]["x-chanbind-stream"], "auth.User");
    assert_eq!(
        doc["components"]["schemas"]["todo.Task.create"]["required"],
        json!(["title"])
    );
    // Every reference resolves, and every operation has its own id.
    let text = doc.to_string();
    for reference in text
        .split("\"$ref\":\"#/")
        .skip(1)
        .map(|r| &r[..r.find('"').unwrap()])
    {
        let target = reference.split('/').fold(&doc, |node, key| {
            &node[key.replace("~1", "/").replace("~0", "~")]
        });
        assert!(!target.is_null(), "dangling $ref {reference}");
    }
    let mut ids = BTreeSet::new();
    for item in doc["paths"].as_object().unwrap().values() {
        for (method, op) in item.as_object().unwrap() {
            if method != "parameters" {
                assert!(
                    ids.insert(op["operationId"].as_str().unwrap().to_owned()),
                    "duplicate operationId"
                );
            }
        }
    }
    server.shutdown().await;
}

#[tokio::test]
async fn shutdown_finishes_requests_in_flight() {
    let server = start().await;
    let addr = server.local_addr();
    let in_flight = tokio::spawn(async move {
        call(
            addr,
            Method::POST,
            "/api/custom_stream/slow",
            Some(json!({})),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(100)).await;
    tokio::time::timeout(Duration::from_secs(5), server.shutdown())
        .await
        .expect("shutdown finishes");
    let reply = in_flight.await.unwrap();
    assert_eq!(
        (reply.status.as_u16(), reply.body.clone()),
        (200, json!({"done": true}))
    );
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "nothing listens any more"
    );
}
