//! The demo's `--metrics`, as an operator scrapes it: after requests over the WebSocket,
//! `GET /metrics` shows them by stream, action and code, on both adapters; without the flag
//! the path is 404.
//!
//! ```text
//! cargo test -p chanbind-examples --test demo_metrics
//! ```

#[path = "cluster/node.rs"]
mod node;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use node::DemoNode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out))
        .await
        .expect("an answer in time")
        .unwrap();
    let text = String::from_utf8_lossy(&out).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, text)
}

async fn scraped_after_requests(adapter: &'static str) {
    let mut node = DemoNode::spawn_with(adapter, &["--metrics"]);
    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.addr))
        .await
        .unwrap();
    for _ in 0..4 {
        let retrieve =
            json!({"event": "auth.User.retrieve", "data": {"id": 1, "subscribe": false}});
        ws.send(Message::text(retrieve.to_string())).await.unwrap();
    }
    let mut replies = 0;
    while replies < 5 {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .unwrap()
            .unwrap();
        let frame: Value = serde_json::from_str(msg.to_text().unwrap()).unwrap();
        assert!(frame.get("error").is_none(), "{frame}");
        replies += 1; // the hello, then four replies
    }
    let (status, text) = get(node.addr, "/metrics").await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.contains(
            r#"chanbind_requests_total{stream="auth.User",action="retrieve",code="ok"} 4"#
        ),
        "{text}"
    );
    let gauge = format!(r#"chanbind_connections{{adapter="{adapter}"}} 1"#);
    assert!(text.contains(&gauge), "{text}");
    node.terminate();
}

#[tokio::test]
async fn async_demo_serves_metrics_with_the_flag() {
    scraped_after_requests("async").await;
}

#[tokio::test]
async fn sync_demo_serves_metrics_with_the_flag() {
    scraped_after_requests("sync").await;
}

#[tokio::test]
async fn the_demo_serves_no_metrics_without_the_flag() {
    let mut node = DemoNode::spawn_with("async", &[]);
    assert_eq!(get(node.addr, "/metrics").await.0, 404);
    node.terminate();
}
