//! A WebSocket client that keeps every frame a node sends it, errors included, and a bare
//! HTTP/1.1 GET: what a user of the demo sees.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// What a client has seen.
#[derive(Debug, Default)]
pub struct Seen {
    /// The latest frame of each event.
    pub latest: HashMap<String, Value>,
    /// How many frames of each event.
    pub count: HashMap<String, usize>,
}

impl Seen {
    /// The `data` of the latest frame of `event`, or null.
    pub fn data(&self, event: &str) -> &Value {
        self.latest.get(event).map_or(&Value::Null, |f| &f["data"])
    }
}

/// One connection to a node.
pub struct Client {
    seen: Arc<Mutex<Seen>>,
    tx: SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
    calls: u64,
}

impl Client {
    /// Connects and waits for the node's hello.
    pub async fn connect(addr: SocketAddr) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/"))
            .await
            .expect("the node takes connections");
        let (tx, mut rx) = ws.split();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = rx.next().await {
                let Ok(text) = msg.to_text() else { continue };
                let frame: Value = serde_json::from_str(text).expect("frames are JSON");
                let event = frame["event"].as_str().unwrap_or_default().to_owned();
                let mut seen = recorder.lock().unwrap();
                *seen.count.entry(event.clone()).or_default() += 1;
                seen.latest.insert(event, frame);
            }
        });
        let client = Client { seen, tx, calls: 0 };
        client
            .eventually("the hello", |s| s.latest.contains_key("hello"))
            .await;
        client
    }

    /// Sends a request without waiting for its reply.
    pub async fn send(&mut self, event: &str, data: Value) {
        self.tx
            .send(Message::text(
                json!({"event": event, "data": data}).to_string(),
            ))
            .await
            .expect("the node reads");
    }

    /// Sends `event` with a hash of its own and returns the whole frame answering it (a reply
    /// or an error).
    pub async fn call(&mut self, event: &str, data: Value) -> Value {
        self.calls += 1;
        let event = format!("{event}#call{}", self.calls);
        self.send(&event, data).await;
        self.eventually(&format!("the answer to {event}"), |s| {
            s.latest.contains_key(&event)
        })
        .await;
        self.seen.lock().unwrap().latest[&event].clone()
    }

    /// Sends the subscriptions, retrieves and searches, in `requests` (`(event, data)`) and
    /// waits until each was answered without error.
    pub async fn watch(&mut self, requests: &[(&str, Value)]) {
        for (event, data) in requests {
            self.send(event, data.clone()).await;
        }
        for (event, _) in requests {
            self.eventually(&format!("the reply to {event}"), |s| {
                s.latest.contains_key(*event)
            })
            .await;
            let frame = self.seen.lock().unwrap().latest[*event].clone();
            assert!(frame.get("error").is_none(), "{event} failed: {frame}");
        }
    }

    /// The `data` of the latest frame of `event`.
    pub fn data(&self, event: &str) -> Value {
        self.seen.lock().unwrap().data(event).clone()
    }

    /// How many frames of `event` arrived.
    pub fn count(&self, event: &str) -> usize {
        self.seen
            .lock()
            .unwrap()
            .count
            .get(event)
            .copied()
            .unwrap_or(0)
    }

    /// Waits until `check` holds of what the client saw; panics with `what` after 20 s.
    pub async fn eventually(&self, what: &str, check: impl Fn(&Seen) -> bool) {
        self.eventually_or(
            || {
                let seen = self.seen.lock().unwrap();
                format!("{what}; latest: {:#?}", seen.latest)
            },
            check,
        )
        .await;
    }

    /// Waits until `check` holds; panics with what `explain` says after 20 s.
    pub async fn eventually_or(
        &self,
        explain: impl FnOnce() -> String,
        check: impl Fn(&Seen) -> bool,
    ) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            if check(&self.seen.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("timed out waiting for {}", explain());
    }

    /// Runs `f` on what the client saw.
    pub fn inspect<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap())
    }
}

/// `GET path` over a connection of its own; the status code.
pub async fn http_status(addr: SocketAddr, path: &str) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("the node takes HTTP");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    parsed.parse(&response).expect("an HTTP response");
    parsed.code.expect("a status code")
}
