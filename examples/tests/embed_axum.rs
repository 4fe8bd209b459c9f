//! The `embed_axum` example as a user runs it: the application's own page and login, its
//! session deciding the user a WebSocket of `/realtime/` sees and what the HTTP API of
//! `/realtime/api/` shows, a write in the application's own handler pushed to the socket,
//! the 426 naming the mounted API, and SIGTERM closing the WebSocket with 1001.
//!
//! ```text
//! cargo test -p chanbind-examples --test embed_axum
//! ```

#[path = "cluster/node.rs"]
mod node;

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use node::DemoNode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One answer: status, headers (names lowercased) and body.
struct Reply {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Reply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

/// One HTTP/1.1 request (`line` is the method and path) with extra header lines, on a
/// connection of its own, read until the server closes it.
async fn request(addr: SocketAddr, line: &str, extra: &[&str], body: Option<Value>) -> Reply {
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let extra: String = extra.iter().map(|h| format!("{h}\r\n")).collect();
    let text = format!(
        "{line} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n{extra}\r\n{body}",
        body.len()
    );
    stream.write_all(text.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut raw))
        .await
        .unwrap()
        .unwrap();
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(len) = response.parse(&raw).unwrap() else {
        panic!("an incomplete response")
    };
    Reply {
        status: response.code.unwrap(),
        headers: response
            .headers
            .iter()
            .map(|h| {
                (
                    h.name.to_ascii_lowercase(),
                    String::from_utf8_lossy(h.value).into_owned(),
                )
            })
            .collect(),
        body: String::from_utf8_lossy(&raw[len..]).into_owned(),
    }
}

async fn next_json(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a readable frame");
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

#[tokio::test]
async fn the_applications_login_decides_who_chanbind_sees_under_realtime() {
    let mut node = DemoNode::spawn_bare(env!("CARGO_BIN_EXE_embed_axum"), &[]);
    let addr = node.addr;

    let page = request(addr, "GET /", &[], None).await;
    assert_eq!(page.status, 200, "the application's own page");
    let login = request(addr, "POST /login", &[], Some(json!({"username": "alice"}))).await;
    assert_eq!(login.status, 200, "{}", login.body);
    let token = login.json()["token"].as_str().unwrap().to_owned();
    let cookie = login.header("set-cookie").expect("a session cookie");
    assert!(cookie.starts_with(&format!("session={token};")), "{cookie}");

    // A browser's WebSocket carries the cookie, and its page's origin.
    let mut handshake = format!("ws://{addr}/realtime/")
        .into_client_request()
        .unwrap();
    let headers = handshake.headers_mut();
    headers.insert("cookie", format!("session={token}").parse().unwrap());
    headers.insert("origin", format!("http://{addr}").parse().unwrap());
    let (mut ws, _) = tokio_tungstenite::connect_async(handshake).await.unwrap();
    let hello = next_json(&mut ws).await;
    assert_eq!(hello["data"]["user"]["name"], "alice", "{hello}");
    let create = json!({"event": "todo.Task.create#mine", "data": {"title": "alice's"}});
    ws.send(Message::text(create.to_string())).await.unwrap();
    let created = next_json(&mut ws).await;
    assert_eq!(created["data"]["success"], true, "{created}");

    // The bearer token works for the HTTP API; the policy shows alice only her own task.
    let bearer = format!("Authorization: Bearer {token}");
    let mine = request(addr, "GET /realtime/api/todo.Task/", &[&bearer], None).await;
    assert_eq!(mine.status, 200, "{}", mine.body);
    let tasks = mine.json();
    assert_eq!(tasks["count"], 1, "{tasks}");
    assert_eq!(tasks["rows"][0]["title"], "alice's", "{tasks}");

    // A write made by the application's own handler (the typed API) is pushed to the socket.
    let search = json!({"event": "todo.Task.search#board", "data": {}});
    ws.send(Message::text(search.to_string())).await.unwrap();
    assert_eq!(next_json(&mut ws).await["data"]["count"], 1);
    let posted = request(
        addr,
        "POST /tasks",
        &[&bearer],
        Some(json!({"title": "from axum"})),
    )
    .await;
    assert_eq!(posted.status, 201, "{}", posted.body);
    let push = next_json(&mut ws).await;
    assert_eq!(push["event"], "todo.Task.search#board", "{push}");
    assert_eq!(push["data"]["count"], 2, "{push}");
    let anonymous = request(addr, "POST /tasks", &[], Some(json!({"title": "x"}))).await;
    assert_eq!(anonymous.status, 401);

    let plain = request(addr, "GET /realtime/", &[], None).await;
    assert_eq!(plain.status, 426);
    assert!(
        plain.json()["message"]
            .as_str()
            .unwrap()
            .ends_with("the HTTP API is under /realtime/api/"),
        "{}",
        plain.body
    );

    let status = node.terminate();
    let code = loop {
        match tokio::time::timeout(Duration::from_secs(10), ws.next()).await {
            Ok(Some(Ok(Message::Close(frame)))) => break frame.map(|f| u16::from(f.code)),
            Ok(Some(Ok(_))) => {}
            other => panic!("expected a close frame after SIGTERM, got {other:?}"),
        }
    };
    assert_eq!(code, Some(1001), "going away");
    assert!(status.success(), "embed_axum exits cleanly: {status}");
}
