//! The demo process as an operator runs it: its limit flags reach `hello` and the wire, a
//! page from an origin it was not told about is refused, and SIGTERM (what systemd, Docker
//! and Kubernetes send) closes every WebSocket with 1001 and exits cleanly, on both adapters.
//!
//! ```text
//! cargo test -p chanbind-examples --test demo
//! ```

#[path = "cluster/node.rs"]
mod node;

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use node::DemoNode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::{Error, Message};

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a readable frame");
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

/// The handshake's answer with `Origin: origin`: the WebSocket, or the refusal's status.
async fn connect_from(node: &DemoNode, origin: Option<&str>) -> Result<Ws, u16> {
    let mut request = format!("ws://{}/", node.addr)
        .into_client_request()
        .unwrap();
    if let Some(origin) = origin {
        request
            .headers_mut()
            .insert("origin", origin.parse().unwrap());
    }
    match tokio_tungstenite::connect_async(request).await {
        Ok((ws, _)) => Ok(ws),
        Err(Error::Http(response)) => Err(response.status().as_u16()),
        Err(e) => panic!("the handshake failed: {e}"),
    }
}

async fn flags_origins_and_sigterm(adapter: &'static str) {
    let mut node = DemoNode::spawn_with(
        adapter,
        &[
            "--max-connections",
            "50",
            "--rate-limit",
            "5",
            "--allow-origin",
            "https://app.test",
        ],
    );
    let mut ws = connect_from(&node, None).await.expect("a WebSocket");
    let hello = next_json(&mut ws).await;
    let limits = &hello["data"]["limits"];
    assert_eq!(limits["max_connections"], 50, "{hello}");
    assert_eq!(limits["requests_per_second"], 5, "{hello}");
    assert_eq!(limits["request_burst"], 10, "{hello}");

    for _ in 0..30 {
        let list = json!({"event": "todo.Task.list", "data": {}});
        ws.send(Message::text(list.to_string())).await.unwrap();
    }
    let mut limited = 0;
    for _ in 0..30 {
        if next_json(&mut ws).await["error"]["code"] == "rate_limited" {
            limited += 1;
        }
    }
    assert!(limited >= 15, "--rate-limit 5: {limited} of 30 refused");

    assert_eq!(
        connect_from(&node, Some("https://evil.test")).await.err(),
        Some(403)
    );
    let mut listed = connect_from(&node, Some("https://app.test"))
        .await
        .expect("--allow-origin lets this page in");
    next_json(&mut listed).await;

    let status = node.terminate();
    for ws in [&mut ws, &mut listed] {
        let code = loop {
            match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
                Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
                Ok(Some(Ok(_))) => {}
                other => panic!("expected a close frame after SIGTERM, got {other:?}"),
            }
        };
        assert_eq!(code, Some(1001), "going away");
    }
    assert!(
        status.success(),
        "the {adapter} demo exits cleanly on SIGTERM: {status}"
    );
    assert!(node.log().contains("SIGTERM"), "{}", node.log());
}

#[tokio::test]
async fn async_demo_flags_origins_and_sigterm() {
    flags_origins_and_sigterm("async").await;
}

#[tokio::test]
async fn sync_demo_flags_origins_and_sigterm() {
    flags_origins_and_sigterm("sync").await;
}
