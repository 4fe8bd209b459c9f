//! The service as a plain hyper server's own service, told its mount point by `mount_path`.

use std::net::SocketAddr;

use chanbind_async::{ChanbindService, ServerConfig};
use hyper::server::conn::http1;
use hyper::Method;
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::net::TcpListener;

use crate::support::{call, close_code, connect, engine, next_json, send, MAX_MESSAGE};

/// A hyper server on 127.0.0.1:0 that hands every request to `service`.
async fn host(service: ChanbindService) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let Ok((socket, _)) = listener.accept().await else {
                return;
            };
            let service = service.clone();
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(socket), service)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

async fn mounted() -> (SocketAddr, ChanbindService) {
    let engine = engine(|b| b.allow_anonymous(true)).await;
    let service = chanbind_async::service(engine, ServerConfig::default().mount_path("/realtime"));
    (host(service.clone()).await, service)
}

#[tokio::test]
async fn the_api_and_the_426_are_served_below_the_mount_path() {
    let (addr, _service) = mounted().await;
    let created = call(
        addr,
        Method::POST,
        "/realtime/api/todo.Task/",
        Some(json!({"title": "mounted"})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201, "{:?}", created.body);
    assert_eq!(
        created.headers["location"], "/realtime/api/todo.Task/1",
        "the Location names the mount"
    );
    let listed = call(addr, Method::GET, "/realtime/api/todo.Task/", None, &[]).await;
    assert_eq!(listed.body["count"], 1, "{:?}", listed.body);

    let plain = call(addr, Method::GET, "/realtime/", None, &[]).await;
    assert_eq!(plain.status, 426);
    assert_eq!(
        plain.body["message"],
        "this is the WebSocket endpoint; the HTTP API is under /realtime/api/"
    );
    let openapi = call(addr, Method::GET, "/realtime/api/openapi.json", None, &[]).await;
    assert_eq!(openapi.body["servers"], json!([{"url": "/realtime"}]));
    assert!(openapi.body["paths"]["/api/todo.Task/"].is_object());
}

#[tokio::test]
async fn a_websocket_of_the_mount_sees_pushes_and_closes_with_1009_over_the_limit() {
    let (addr, service) = mounted().await;
    let mut ws = connect(&format!("ws://{addr}/realtime/"), &[])
        .await
        .unwrap();
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    assert_eq!(service.websockets(), 1);
    send(
        &mut ws,
        json!({"event": "todo.Task.search#all", "data": {}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["data"]["count"], 0);
    let created = call(
        addr,
        Method::POST,
        "/realtime/api/todo.Task/",
        Some(json!({"title": "pushed"})),
        &[],
    )
    .await;
    assert_eq!(created.status, 201);
    let push = next_json(&mut ws).await;
    assert_eq!(
        (push["event"].as_str(), &push["data"]["count"]),
        (Some("todo.Task.search#all"), &json!(1))
    );

    let big = "x".repeat(MAX_MESSAGE + 1);
    send(
        &mut ws,
        json!({"event": "todo.Task.create", "data": {"title": big}}),
    )
    .await;
    assert_eq!(next_json(&mut ws).await["error"]["code"], "too_large");
    assert_eq!(close_code(&mut ws).await, Some(1009));
}

#[tokio::test]
async fn off_the_endpoint_an_upgrade_is_404() {
    let (addr, _service) = mounted().await;
    match connect(&format!("ws://{addr}/realtime/api/"), &[]).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            assert_eq!(response.status(), 404)
        }
        other => panic!("expected a 404, got {:?}", other.map(|_| ())),
    }
}
