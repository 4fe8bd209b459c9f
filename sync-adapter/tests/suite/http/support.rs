//! The HTTP tests' server (users, tasks with a foreign key, custom events, on the in-memory
//! store, with the async adapter's test configuration) and a small blocking HTTP/1.1 client
//! that reads responses with httparse, plus raw bytes for what a client would refuse to send.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{
    CustomBinding, EventContext, Field, HandlerResult, ModelBinding, OnDelete, Registry,
};
use chanbind_engine::http::Cors;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::{Engine, EngineBuilder};
use chanbind_sync::ServerConfig;
use serde_json::{json, Value};

use crate::common::{self, TestServer};

/// The largest body the test server takes, small so 413 is cheap to provoke.
pub const MAX_BODY: usize = 4096;

/// How long the client waits for a response.
const WAIT: Duration = Duration::from_secs(5);

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

/// An engine builder over the in-memory store.
pub fn builder() -> EngineBuilder {
    let registry = registry();
    let store = Arc::new(MemoryStore::new(&registry));
    Engine::builder(registry, store).allow_anonymous(true)
}

/// A server with the token `s3cret` (user 7) that leaves `allow_anonymous` at its default.
pub fn start_authenticated() -> TestServer {
    let registry = registry();
    let store = Arc::new(MemoryStore::new(&registry));
    let tokens = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
    let builder = Engine::builder(registry, store).authenticator(tokens);
    common::start_with(builder, config())
}

/// A server on 127.0.0.1:0 with the test config.
pub fn start() -> TestServer {
    common::start_with(builder(), config())
}

/// A server that refuses anonymous requests and knows the token `s3cret` (user 7).
pub fn start_private() -> TestServer {
    let tokens = TokenAuthenticator::new().token("s3cret", User::new(7, "alice"));
    let builder = builder().authenticator(tokens).allow_anonymous(false);
    common::start_with(builder, config())
}

/// One response: status, headers (names in lower case, in order) and the body as JSON
/// (`Null` when empty).
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub raw: Vec<u8>,
    pub body: Value,
}

impl Reply {
    /// The first value of header `name`.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A keep-alive HTTP/1.1 connection.
pub struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    /// Connects to the server.
    pub fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(WAIT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// Sends a request with an optional JSON body and extra headers, and reads the answer.
    pub fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, &str)],
    ) -> Reply {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut head = format!("{method} {path} HTTP/1.1\r\nHost: test\r\n");
        if !body.is_empty() {
            head += &format!(
                "Content-Type: application/json\r\nContent-Length: {}\r\n",
                body.len()
            );
        }
        for (name, value) in headers {
            head += &format!("{name}: {value}\r\n");
        }
        head += "\r\n";
        self.stream.write_all(head.as_bytes()).unwrap();
        self.stream.write_all(body.as_bytes()).unwrap();
        self.read_reply(method == "HEAD")
    }

    /// Writes raw bytes on the connection.
    pub fn write(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).unwrap();
    }

    /// Reads the next response; `head` for the answer to a HEAD request, which has no body.
    pub fn read_reply(&mut self, head: bool) -> Reply {
        loop {
            let mut headers = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut headers);
            if let httparse::Status::Complete(len) = response.parse(&self.buf).unwrap() {
                let status = response.code.unwrap();
                let headers: Vec<(String, String)> = response
                    .headers
                    .iter()
                    .map(|h| {
                        let value = String::from_utf8_lossy(h.value).into_owned();
                        (h.name.to_ascii_lowercase(), value)
                    })
                    .collect();
                let length = headers
                    .iter()
                    .find(|(n, _)| n == "content-length")
                    .map_or(0, |(_, v)| v.parse().unwrap());
                let length = if head || status == 204 || status < 200 {
                    0
                } else {
                    length
                };
                self.fill_to(len + length);
                let raw = self.buf[len..len + length].to_vec();
                self.buf.drain(..len + length);
                let body = if raw.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&raw).unwrap()
                };
                return Reply {
                    status,
                    headers,
                    raw,
                    body,
                };
            }
            let want = self.buf.len() + 1;
            self.fill_to(want);
        }
    }

    /// Whether the server closed the connection within `within`, sending nothing more.
    pub fn closed_within(&mut self, within: Duration) -> bool {
        self.stream.set_read_timeout(Some(within)).unwrap();
        let mut byte = [0u8; 1];
        match self.stream.read(&mut byte) {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ),
        }
    }

    fn fill_to(&mut self, len: usize) {
        let mut chunk = [0u8; 16 * 1024];
        while self.buf.len() < len {
            let n = self.stream.read(&mut chunk).expect("a response");
            assert!(n > 0, "the server closed the connection mid-response");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

/// One request on a fresh connection.
pub fn call(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> Reply {
    Client::connect(addr).send(method, path, body.as_ref(), &[])
}

/// `GET path`.
pub fn get(addr: SocketAddr, path: &str) -> Reply {
    call(addr, "GET", path, None)
}

/// Writes raw bytes and reads the answer until the server closes or `wait` passes.
pub fn raw_within(addr: SocketAddr, request: &[u8], wait: Duration) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(request).unwrap();
    let deadline = Instant::now() + wait;
    let mut out = Vec::new();
    let mut chunk = [0u8; 16 * 1024];
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        stream
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&chunk[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Writes raw bytes and reads the answer until the server closes or a second passes.
pub fn raw(addr: SocketAddr, request: &[u8]) -> String {
    raw_within(addr, request, Duration::from_secs(1))
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
pub fn seed(addr: SocketAddr) {
    for name in ["admin", "bob"] {
        let user = json!({"username": name, "email": format!("{name}@example.com")});
        assert_eq!(
            call(addr, "POST", "/api/auth.User/", Some(user)).status,
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
            call(addr, "POST", "/api/todo.Task/", Some(task)).status,
            201
        );
    }
}

/// The ids of a search reply's rows.
pub fn ids(reply: &Reply) -> Vec<i64> {
    reply.body["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows in {}", reply.body))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}
