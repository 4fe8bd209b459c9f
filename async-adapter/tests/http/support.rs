//! The test server (users, tasks with a foreign key, custom events, on the in-memory store)
//! and two small HTTP clients: hyper's, and raw bytes for what hyper would refuse to send.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chanbind_async::{ServerConfig, ServerHandle};
use chanbind_engine::auth::TokenAuthenticator;
use chanbind_engine::binding::{
    CustomBinding, EventContext, Field, HandlerResult, ModelBinding, OnDelete, Registry,
};
use chanbind_engine::http::Cors;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::{Engine, EngineBuilder};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A WebSocket handshake request, with extra header lines (each ending in `\r\n`).
pub fn handshake(extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{extra}\r\n"
    )
}

/// The largest body the test server takes, small so 413 is cheap to provoke.
pub const MAX_BODY: usize = 4096;

/// `auth.User`, `todo.Task` (owner is a foreign key to users) and `custom_stream`.
pub fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("auth_user")
                .field(
                    Field::string("username")
                        .required()
                        .max_length(150)
                        .unique(),
                )
                .field(Field::email("email").max_length(254))
                .search(["username", "email"]),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(200))
                .field(Field::boolean("done").default(false))
                .field(Field::integer("priority").min(0).max(5).default(0))
                .field(Field::foreign_key("owner_id", "auth.User").on_delete(OnDelete::SetNull))
                .search(["title"]),
        )
        .unwrap()
        .custom(
            CustomBinding::new("custom_stream")
                .on("echo", echo)
                .on("notify", notify)
                .on("slow", slow),
        )
        .unwrap()
}

/// Reflects `echoed`, then replies with the data and the caller's user id.
async fn echo(ctx: EventContext) -> HandlerResult {
    ctx.reflect("echoed", &json!({"seen": true}));
    let user = ctx.user().map(|u| u.id);
    Ok(Some(json!({"echo": ctx.data(), "user": user})))
}

/// Dispatches to the stream's group and sends no reply.
async fn notify(ctx: EventContext) -> HandlerResult {
    ctx.dispatch("notified", &json!({"msg": ctx.data().get("msg")}));
    Ok(None)
}

/// Takes a while, to be in flight when the server shuts down.
async fn slow(_ctx: EventContext) -> HandlerResult {
    tokio::time::sleep(Duration::from_millis(400)).await;
    Ok(Some(json!({"done": true})))
}

/// The test server's config: small bodies, short timeouts, CORS for one origin.
pub fn config() -> ServerConfig {
    let mut config = ServerConfig::default();
    config.http.max_body_bytes = Some(MAX_BODY);
    config.http.cors = Cors::origins(["https://app.test"]);
    config.header_read_timeout = Duration::from_millis(600);
    config.body_read_timeout = Duration::from_millis(600);
    config.max_header_bytes = 16 * 1024;
    config
}

/// A server on 127.0.0.1:0 with the default engine.
pub async fn start() -> ServerHandle {
    start_with(|b| b, config()).await
}

/// A server whose engine the caller finishes building.
pub async fn start_with(
    build: impl FnOnce(EngineBuilder) -> EngineBuilder,
    config: ServerConfig,
) -> ServerHandle {
    let registry = registry();
    let store = Arc::new(MemoryStore::new(&registry));
    let engine = build(Engine::builder(registry, store).allow_anonymous(true))
        .start()
        .await
        .unwrap();
    chanbind_async::bind("127.0.0.1:0", engine, config)
        .await
        .unwrap()
}

/// A server with the token `s3cret` (user 7) that leaves `allow_anonymous` at its default.
pub async fn start_authenticated() -> ServerHandle {
    let registry = registry();
    let store = Arc::new(MemoryStore::new(&registry));
    let tokens =
        TokenAuthenticator::new().token("s3cret", chanbind_engine::auth::User::new(7, "alice"));
    let engine = Engine::builder(registry, store)
        .authenticator(tokens)
        .start()
        .await
        .unwrap();
    chanbind_async::bind("127.0.0.1:0", engine, config())
        .await
        .unwrap()
}

/// A server that refuses anonymous requests and knows the token `s3cret` (user 7).
pub async fn start_private() -> ServerHandle {
    let tokens =
        TokenAuthenticator::new().token("s3cret", chanbind_engine::auth::User::new(7, "alice"));
    start_with(|b| b.authenticator(tokens).allow_anonymous(false), config()).await
}

/// One response: status, headers and the body as JSON (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub raw: Bytes,
    pub body: Value,
}

/// A keep-alive HTTP/1.1 connection.
pub struct Client {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Client {
    /// Connects to the server.
    pub async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        Client { addr, sender }
    }

    /// Sends a request with optional JSON body and extra headers.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let mut builder = Request::builder()
            .method(method)
            .uri(path)
            .header(HOST, self.addr.to_string());
        if body.is_some() {
            builder = builder.header(CONTENT_TYPE, "application/json");
        }
        for (name, value) in headers {
            builder = builder.header(*name, HeaderValue::from_str(value).unwrap());
        }
        let bytes = body.map(|b| Bytes::from(b.to_string())).unwrap_or_default();
        let request = builder.body(Full::new(bytes)).unwrap();
        let response =
            tokio::time::timeout(Duration::from_secs(5), self.sender.send_request(request))
                .await
                .unwrap()
                .unwrap();
        let (parts, body) = response.into_parts();
        let raw = body.collect().await.unwrap().to_bytes();
        let body = if raw.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&raw).unwrap()
        };
        Reply {
            status: parts.status,
            headers: parts.headers,
            raw,
            body,
        }
    }
}

/// One request on a fresh connection.
pub async fn call(addr: SocketAddr, method: Method, path: &str, body: Option<Value>) -> Reply {
    Client::connect(addr)
        .await
        .send(method, path, body.as_ref(), &[])
        .await
}

/// `GET path`.
pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, Method::GET, path, None).await
}

/// Writes raw bytes and reads the answer until the server closes or a second passes.
pub async fn raw(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// The status code of a raw HTTP/1.1 response.
pub fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

/// Creates the seed rows over HTTP: two users and four tasks.
pub async fn seed(addr: SocketAddr) {
    for name in ["admin", "bob"] {
        let user = json!({"username": name, "email": format!("{name}@example.com")});
        assert_eq!(
            call(addr, Method::POST, "/api/auth.User/", Some(user))
                .await
                .status,
            201
        );
    }
    let tasks = [
        ("Read the README", true, 1, 1),
        ("Bind a table", false, 3, 1),
        ("Open two browsers", false, 2, 2),
        ("Write a handler", false, 0, 2),
    ];
    for (title, done, priority, owner) in tasks {
        let task = json!({"title": title, "done": done, "priority": priority, "owner_id": owner});
        assert_eq!(
            call(addr, Method::POST, "/api/todo.Task/", Some(task))
                .await
                .status,
            201
        );
    }
}

/// The ids of a search reply's rows.
pub fn ids(reply: &Reply) -> Vec<i64> {
    reply.body["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}
