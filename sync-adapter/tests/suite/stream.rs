//! A blocking program with an accept loop of its own: it reads the first bytes of each
//! connection itself (to route it), answers its own path, and hands every other connection to
//! chanbind with [`chanbind_sync::serve_stream_with`] and the bytes it read.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::thread::JoinHandle;

use chanbind_sync::{ConnectionHandle, EngineRuntime, ServerConfig};
use serde_json::{json, Value};
use tungstenite::protocol::frame::coding::{Data, OpCode};
use tungstenite::protocol::frame::Frame;
use tungstenite::protocol::Role;
use tungstenite::WebSocket;

use crate::common::{connect, next, request, WAIT};
use crate::runtime::napping;

/// How much of a connection the program reads before routing it.
#[derive(Clone, Copy)]
enum Peek {
    /// The request line only, a byte at a time: the head is handed over in part.
    RequestLine,
    /// Until the head's end, in reads of 4 KiB: whatever followed it (a body, frames) is
    /// handed over too.
    WholeHead,
}

/// The program's accept loop on its own thread: `GET /own` it answers itself, anything else
/// goes to chanbind. Serves `connections` connections, then returns their handles.
fn accept_loop(
    runtime: &EngineRuntime,
    peek: Peek,
    connections: usize,
) -> (SocketAddr, JoinHandle<Vec<ConnectionHandle>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let engine = runtime.engine();
    let thread = std::thread::spawn(move || {
        let mut handed = Vec::new();
        for _ in 0..connections {
            let (mut stream, _) = listener.accept().unwrap();
            stream.set_read_timeout(Some(WAIT)).unwrap();
            let read = match peek {
                Peek::RequestLine => read_until(&mut stream, b"\r\n", 1),
                Peek::WholeHead => read_until(&mut stream, b"\r\n\r\n", 4096),
            };
            if read.starts_with(b"GET /own ") {
                // The rest of its head, so closing does not reset the connection.
                if !read.ends_with(b"\r\n\r\n") {
                    read_until(&mut stream, b"\r\n\r\n", 1);
                }
                let body = "the program's own";
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                stream.write_all(response.as_bytes()).unwrap();
                continue;
            }
            let config = ServerConfig::default();
            handed.push(
                chanbind_sync::serve_stream_with(stream, &read, engine.clone(), &config).unwrap(),
            );
        }
        handed
    });
    (addr, thread)
}

/// Reads in pieces of `step` bytes until `end` has been read, keeping all of it.
fn read_until(stream: &mut TcpStream, end: &[u8], step: usize) -> Vec<u8> {
    let mut read = Vec::new();
    let mut buf = vec![0; step];
    while !read.windows(end.len()).any(|w| w == end) {
        let n = stream.read(&mut buf).unwrap();
        assert!(n > 0, "the client left early");
        read.extend_from_slice(&buf[..n]);
    }
    read
}

/// Sends raw bytes and reads the whole response (the server closes), as text.
fn raw_exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(bytes).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// The JSON body of a response.
fn body(response: &str) -> Value {
    let start = response.find("\r\n\r\n").expect("a whole response") + 4;
    serde_json::from_str(&response[start..]).unwrap()
}

#[test]
fn the_programs_own_path_and_a_websocket_handed_over_after_its_request_line() {
    let runtime = EngineRuntime::start(napping()).unwrap();
    let (addr, accept) = accept_loop(&runtime, Peek::RequestLine, 2);
    let own = raw_exchange(addr, b"GET /own HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(own.ends_with("the program's own"), "{own}");
    // The program read `GET / HTTP/1.1\r\n`; chanbind reads the rest of the head.
    let mut ws = connect(addr);
    let reply = request(&mut ws, json!({"event": "util.nap#1"}));
    assert_eq!(
        reply,
        json!({"event": "util.nap#1", "data": {"slept": true}}),
        "a handler sleeping on tokio's timer answers on the handed-over connection"
    );
    drop(ws);
    for conn in accept.join().unwrap() {
        assert!(conn.close());
    }
}

#[test]
fn an_api_request_handed_over_with_its_body_already_read() {
    let runtime = EngineRuntime::start(napping()).unwrap();
    let (addr, accept) = accept_loop(&runtime, Peek::WholeHead, 1);
    let task = r#"{"title":"handed over"}"#;
    let raw = format!(
        "POST /api/todo.Task/ HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{task}",
        task.len()
    );
    // One write: the program's first read takes the head and the body with it.
    let response = raw_exchange(addr, raw.as_bytes());
    assert!(
        response.starts_with("HTTP/1.1 201 Created\r\n"),
        "{response}"
    );
    assert_eq!(body(&response)["object"]["title"], "handed over");
    let conn = accept.join().unwrap().pop().unwrap();
    conn.join();
}

#[test]
fn frames_read_along_with_the_handshake_are_handled() {
    let runtime = EngineRuntime::start(napping()).unwrap();
    let (addr, accept) = accept_loop(&runtime, Peek::WholeHead, 1);
    let mut bytes = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: upgrade\r\nupgrade: websocket\r\n\
        sec-websocket-version: 13\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        .to_vec();
    let text = json!({"event": "util.nap#7"}).to_string().into_bytes();
    let mut frame = Frame::message(text, OpCode::Data(Data::Text), true);
    frame.header_mut().mask = Some([0; 4]);
    frame.format(&mut bytes).unwrap();
    // The handshake and the first frame in one write: the program's read takes both.
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    stream.write_all(&bytes).unwrap();
    let head = read_until(&mut stream, b"\r\n\r\n", 1);
    assert!(head.starts_with(b"HTTP/1.1 101 "), "{head:?}");
    let mut ws = WebSocket::from_raw_socket(stream, Role::Client, None);
    assert_eq!(next(&mut ws)["event"], "hello");
    assert_eq!(
        next(&mut ws),
        json!({"event": "util.nap#7", "data": {"slept": true}})
    );
    drop(ws);
    assert!(accept.join().unwrap().pop().unwrap().close());
}
