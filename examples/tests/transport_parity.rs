//! The two adapters agree on the transport: the same raw bytes (a WebSocket frame that breaks
//! the protocol, a request head too large, a chunked body with a size that cannot be) get the
//! same close code or HTTP status from the async and the sync adapter.
//!
//! ```text
//! cargo test -p chanbind-examples --test transport_parity
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::http::{HttpConfig, ServerSettings};
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// The largest request head both servers accept; not a power of two, as hyper's read buffer
/// grows by powers of two past it.
const MAX_HEADER_BYTES: usize = 10_000;
/// The largest request body both servers accept.
const MAX_BODY: usize = 4096;

/// How long a probe waits for an answer.
const WAIT: Duration = Duration::from_secs(5);

/// One server of each adapter over the same kind of engine and configuration.
struct Servers {
    async_server: chanbind_async::ServerHandle,
    sync_server: chanbind_sync::ServerHandle,
}

impl Servers {
    async fn start() -> Servers {
        let http = HttpConfig {
            max_body_bytes: Some(MAX_BODY),
            ..HttpConfig::default()
        };
        // One set of shared settings, embedded by both configurations.
        let settings = ServerSettings::default()
            .http(http)
            .max_header_bytes(MAX_HEADER_BYTES)
            .body_read_timeout(Duration::from_secs(2));
        let async_config = chanbind_async::ServerConfig::new(settings.clone());
        let sync_config = chanbind_sync::ServerConfig::new(settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let async_server = chanbind_async::serve(listener, engine().await, async_config).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sync_server = chanbind_sync::serve(listener, engine().await, sync_config).unwrap();
        Servers {
            async_server,
            sync_server,
        }
    }

    /// Both addresses, named.
    fn addrs(&self) -> [(&'static str, SocketAddr); 2] {
        [
            ("async", self.async_server.local_addr()),
            ("sync", self.sync_server.local_addr()),
        ]
    }

    async fn stop(self) {
        self.async_server.shutdown().await;
        let sync_server = self.sync_server;
        tokio::task::spawn_blocking(move || sync_server.shutdown())
            .await
            .unwrap();
    }
}

async fn engine() -> Engine {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .unwrap();
    let store = Arc::new(MemoryStore::new(&registry));
    Engine::builder(registry, store)
        .limits(Limits::default())
        .allow_anonymous(true)
        .start()
        .await
        .unwrap()
}

/// Sends `request` on a connection of its own; the status of the first response.
async fn status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    // A server that answers before reading it all may refuse the rest.
    let _ = stream.write_all(request).await;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let read = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
            if out.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(WAIT, read).await;
    let head = String::from_utf8_lossy(&out);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line in {head:?}"))
}

/// Opens a WebSocket by hand, reads `hello`, sends `bytes` raw; the code of the server's close
/// frame (`None` when the connection ended without one).
async fn close_code(addr: SocketAddr, bytes: &[u8]) -> Option<u16> {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
        )
        .await
        .unwrap();
    let mut frames = Frames {
        stream,
        buf: Vec::new(),
    };
    let head_end = frames.fill_until(|buf| find(buf, b"\r\n\r\n")).await?;
    assert!(frames.buf.starts_with(b"HTTP/1.1 101"), "not upgraded");
    frames.buf.drain(..head_end + 4);
    let (opcode, hello) = frames.next().await?;
    assert_eq!(opcode, 1, "hello is a text frame");
    assert!(hello.starts_with(b"{\"event\":\"hello\""));
    frames.stream.write_all(bytes).await.unwrap();
    loop {
        let (opcode, payload) = frames.next().await?;
        if opcode == 8 {
            return payload
                .get(..2)
                .map(|code| u16::from_be_bytes([code[0], code[1]]));
        }
    }
}

fn find(buf: &[u8], needle: &[u8]) -> Option<usize> {
    buf.windows(needle.len()).position(|w| w == needle)
}

/// Server frames (never masked) off a raw socket.
struct Frames {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Frames {
    /// Reads until `done` finds what it wants in the buffer; `None` at the end of the stream.
    async fn fill_until<T>(&mut self, done: impl Fn(&[u8]) -> Option<T>) -> Option<T> {
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(found) = done(&self.buf) {
                return Some(found);
            }
            let n = tokio::time::timeout(WAIT, self.stream.read(&mut chunk))
                .await
                .expect("the server answers in time")
                .ok()?;
            if n == 0 {
                return None;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    /// The next frame: its opcode and payload.
    async fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        let (header, len) = self.fill_until(frame_size).await?;
        let frame: Vec<u8> = self.buf.drain(..header + len).collect();
        Some((frame[0] & 0x0F, frame[header..].to_vec()))
    }
}

/// The header and payload length of the complete frame at the start of `buf`.
fn frame_size(buf: &[u8]) -> Option<(usize, usize)> {
    let (header, len) = match *buf.get(1)? & 0x7F {
        126 => (4, u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    (buf.len() >= header + len).then_some((header, len))
}

/// `payload` as a masked client frame (mask 0, so the payload goes as is) with this first byte.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    assert!(payload.len() < 126);
    let mut frame = vec![first, 0x80 | payload.len() as u8, 0, 0, 0, 0];
    frame.extend_from_slice(payload);
    frame
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protocol_violations_close_with_1002_and_bad_utf8_with_1007() {
    let servers = Servers::start().await;
    let cases: [(&str, Vec<u8>, u16); 5] = [
        (
            "an unmasked client frame",
            vec![0x81, 0x02, b'h', b'i'],
            1002,
        ),
        ("a reserved opcode", masked(0x83, b"hi"), 1002),
        ("a fragmented ping", masked(0x09, b"hi"), 1002),
        (
            "a continuation with nothing to continue",
            masked(0x80, b"hi"),
            1002,
        ),
        (
            "a text frame that is not UTF-8",
            masked(0x81, &[0xFF, 0xFE]),
            1007,
        ),
    ];
    for (name, addr) in servers.addrs() {
        for (case, bytes, code) in &cases {
            assert_eq!(
                close_code(addr, bytes).await,
                Some(*code),
                "{case} on the {name} adapter"
            );
        }
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heads_and_chunked_bodies_get_the_same_status() {
    let servers = Servers::start().await;
    let big_header = |bytes: usize| {
        format!(
            "GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(bytes)
        )
        .into_bytes()
    };
    let chunked = |body: &str| {
        format!(
            "POST /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n\
             Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n{body}"
        )
        .into_bytes()
    };
    let cases: Vec<(&str, Vec<u8>, u16)> = vec![
        (
            "a head just under the limit",
            big_header(MAX_HEADER_BYTES - 100),
            200,
        ),
        (
            "a head just over the limit",
            big_header(MAX_HEADER_BYTES + 100),
            431,
        ),
        (
            "a head a quarter over the limit",
            big_header(MAX_HEADER_BYTES * 5 / 4),
            431,
        ),
        (
            "a head half over the limit",
            big_header(MAX_HEADER_BYTES * 3 / 2),
            431,
        ),
        (
            "a head far over the limit",
            big_header(4 * MAX_HEADER_BYTES),
            431,
        ),
        (
            "a chunked body",
            chunked("e\r\n{\"title\":\"ok\"}\r\n0\r\n\r\n"),
            201,
        ),
        (
            "a chunk larger than the body limit, sent",
            chunked(&format!("1400\r\n{}\r\n0\r\n\r\n", "a".repeat(0x1400))),
            413,
        ),
        (
            "a chunk larger than the body limit, announced and never sent",
            chunked("ffff\r\nabc"),
            408,
        ),
        (
            "a chunk size past 64 bits",
            chunked("fffffffffffffffffffff\r\nabc"),
            400,
        ),
        ("a chunk size that is not hex", chunked("zz\r\nabc"), 400),
    ];
    for (name, addr) in servers.addrs() {
        for (case, bytes, code) in &cases {
            assert_eq!(
                status(addr, bytes).await,
                *code,
                "{case} on the {name} adapter"
            );
        }
    }
    servers.stop().await;
}
