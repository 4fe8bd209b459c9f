//! The `embed_blocking` example as its user runs it: the built binary on a free port. Its own
//! route answers, the connections it hands to chanbind serve the WebSocket (with a handler
//! that sleeps on tokio's timer, in a program without tokio of its own) and the HTTP API, and
//! SIGTERM closes the WebSocket with 1001 and exits cleanly.
//!
//! ```text
//! cargo test -p chanbind-examples --test embed_blocking
//! ```

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::{self, Message};

/// How long any one answer may take.
const WAIT: Duration = Duration::from_secs(10);

/// The running example; killed when dropped, its log printed when a test fails.
struct Program {
    addr: SocketAddr,
    child: Child,
    log: Arc<Mutex<Vec<String>>>,
}

impl Program {
    /// Starts the binary on a free port, on the in-memory store, and waits for its
    /// "listening on" line.
    fn start() -> Program {
        let mut child = Command::new(env!("CARGO_BIN_EXE_embed_blocking"))
            .args(["--listen", "127.0.0.1:0"])
            .env_remove("DATABASE_URL")
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the example starts");
        let log = Arc::new(Mutex::new(Vec::new()));
        let (found, addr) = mpsc::channel();
        for output in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (log, found) = (Arc::clone(&log), found.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(output).lines() {
                    let Ok(line) = line else { break };
                    if let Some(addr) = listening_address(&line) {
                        let _ = found.send(addr);
                    }
                    log.lock().unwrap().push(line);
                }
            });
        }
        let mut program = Program {
            addr: SocketAddr::from(([127, 0, 0, 1], 0)),
            child,
            log,
        };
        program.addr = addr
            .recv_timeout(Duration::from_secs(60))
            .expect("the example listens");
        program
    }

    /// Sends SIGTERM and waits for the exit.
    fn terminate(&mut self) -> ExitStatus {
        let kill = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(kill.success());
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "no exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Program {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!(
                "--- embed_blocking's log ---\n{}",
                self.log.lock().unwrap().join("\n")
            );
        }
    }
}

/// The address in the "listening on http://ADDR/ ..." line.
fn listening_address(line: &str) -> Option<SocketAddr> {
    let rest = &line[line.find("listening on http://")? + "listening on http://".len()..];
    rest[..rest.find('/')?].parse().ok()
}

/// Sends one request (with `Connection: close`) and returns the status and the JSON body.
fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\ncontent-type: application/json\r\n\
         content-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    let status = response[9..12].parse().unwrap();
    let start = response.find("\r\n\r\n").unwrap() + 4;
    (status, serde_json::from_str(&response[start..]).unwrap())
}

type Ws = tungstenite::WebSocket<TcpStream>;

fn connect(addr: SocketAddr) -> Ws {
    let stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let (ws, _) = tungstenite::client(format!("ws://{addr}/"), stream).expect("a WebSocket");
    ws
}

fn next(ws: &mut Ws) -> Value {
    loop {
        match ws.read().expect("a frame") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).unwrap(),
            Message::Ping(_) | Message::Pong(_) => {}
            other => panic!("expected a text frame, got {other:?}"),
        }
    }
}

fn request(ws: &mut Ws, frame: Value) -> Value {
    ws.send(Message::text(frame.to_string())).unwrap();
    next(ws)
}

#[test]
fn its_own_route_the_websocket_the_api_and_sigterm() {
    let mut program = Program::start();
    let addr = program.addr;

    let (status, body) = http(addr, "GET", "/status", None);
    assert_eq!(status, 200);
    assert_eq!(
        body["served_by"], "embed_blocking",
        "the program's own answer"
    );

    let mut ws = connect(addr);
    assert_eq!(next(&mut ws)["event"], "hello");
    let nap = request(&mut ws, json!({"event": "util.nap#n", "data": {"ms": 20}}));
    assert_eq!(
        nap,
        json!({"event": "util.nap#n", "data": {"slept_ms": 20}}),
        "a handler sleeping on tokio's timer answers"
    );
    let watched = request(&mut ws, json!({"event": "todo.Task.search#all"}));
    let before = watched["data"]["count"].as_u64().expect("a count");

    // An HTTP API request handed over with its body already read by the program: its write
    // reaches the WebSocket's live query.
    let (status, created) = http(
        addr,
        "POST",
        "/api/todo.Task/",
        Some(json!({"title": "from the blocking program"})),
    );
    assert_eq!(status, 201, "{created}");
    let push = next(&mut ws);
    assert_eq!(push["event"], "todo.Task.search#all", "{push}");
    assert_eq!(push["data"]["count"], before + 1, "{push}");

    let (_, status_after) = http(addr, "GET", "/status", None);
    assert!(status_after["handed_to_chanbind"].as_u64() >= Some(2));

    let exit = program.terminate();
    let code = loop {
        match ws.read() {
            Ok(Message::Close(frame)) => break frame.map(|f| u16::from(f.code)),
            Ok(_) => {}
            Err(e) => panic!("expected a close frame after SIGTERM, got {e}"),
        }
    };
    assert_eq!(code, Some(1001), "going away");
    assert!(exit.success(), "exits cleanly on SIGTERM: {exit}");
}
