//! What every test shares: the bindings, a server on `127.0.0.1:0`, and a blocking tungstenite
//! client with a read timeout.

use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::{Engine, EngineBuilder};
use chanbind_sync::{EngineRuntime, ServerConfig, ServerHandle};
use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// How long a test waits for any one frame.
pub const WAIT: Duration = Duration::from_secs(10);

/// A client connection.
pub type Client = WebSocket<TcpStream>;

/// `auth.User` and `todo.Task`, as the README's examples use them.
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
                .field(Field::string("title").required())
                .field(Field::boolean("done").default(false))
                .field(Field::integer("priority").min(0).max(5).default(0))
                .search(["title"]),
        )
        .unwrap()
}

/// An engine builder over the in-memory store.
pub fn builder(limits: Limits) -> EngineBuilder {
    let registry = registry();
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new(&registry));
    Engine::builder(registry, store)
        .limits(limits)
        .allow_anonymous(true)
}

/// A server on its own engine runtime. Drop order matters: the server is shut down by the
/// test, the runtime goes last.
pub struct TestServer {
    /// The server.
    pub server: ServerHandle,
    /// The engine's runtime.
    pub runtime: EngineRuntime,
}

impl TestServer {
    /// The server's address.
    pub fn addr(&self) -> SocketAddr {
        self.server.local_addr()
    }

    /// The engine.
    pub fn engine(&self) -> Engine {
        self.runtime.engine()
    }
}

/// Starts a server with default limits and configuration.
pub fn start() -> TestServer {
    start_with(builder(Limits::default()), ServerConfig::default())
}

/// Starts a server over `builder`'s engine.
pub fn start_with(builder: EngineBuilder, config: ServerConfig) -> TestServer {
    let runtime = EngineRuntime::start(builder).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let server = runtime.serve(listener, config).unwrap();
    TestServer { server, runtime }
}

/// Opens a WebSocket to `/` and checks its `hello`.
pub fn connect(addr: SocketAddr) -> Client {
    let mut ws = try_connect(addr, "/", None).unwrap_or_else(|e| panic!("connect to {addr}: {e}"));
    let hello = next(&mut ws);
    assert_eq!(hello["event"], "hello", "{hello}");
    ws
}

/// Opens a WebSocket to `path`, with a bearer token if given.
pub fn try_connect(
    addr: SocketAddr,
    path: &str,
    bearer: Option<&str>,
) -> Result<Client, tungstenite::Error> {
    let stream = TcpStream::connect(addr)?;
    stream.set_read_timeout(Some(WAIT))?;
    stream.set_nodelay(true)?;
    let mut request = format!("ws://{addr}{path}").into_client_request()?;
    if let Some(token) = bearer {
        request
            .headers_mut()
            .insert("authorization", format!("Bearer {token}").parse().unwrap());
    }
    match tungstenite::client(request, stream) {
        Ok((ws, _)) => Ok(ws),
        Err(tungstenite::HandshakeError::Failure(e)) => Err(e),
        Err(tungstenite::HandshakeError::Interrupted(_)) => unreachable!("blocking socket"),
    }
}

/// Sends a JSON frame.
pub fn send(ws: &mut Client, frame: Value) {
    ws.send(Message::text(frame.to_string())).unwrap();
}

/// The next text frame, as JSON; panics on anything else.
pub fn next(ws: &mut Client) -> Value {
    loop {
        match ws.read().unwrap_or_else(|e| panic!("reading a frame: {e}")) {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

/// Sends a frame and returns the next one.
pub fn request(ws: &mut Client, frame: Value) -> Value {
    send(ws, frame);
    next(ws)
}

/// Reads until a close frame arrives (skipping text frames) and returns its code; completes
/// the close handshake.
pub fn close_code(ws: &mut Client) -> u16 {
    loop {
        match ws.read() {
            Ok(Message::Close(Some(frame))) => {
                let code = u16::from(frame.code);
                while ws.read().is_ok() {}
                return code;
            }
            Ok(Message::Close(None)) => panic!("a close frame without a code"),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    }
}

/// Waits until `check` holds, for `WAIT` at most.
pub fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + WAIT;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}
