//! Playing a scenario's steps over real WebSocket connections.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use chanbind_engine::config::Limits;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::pattern::{self, Captures};
use crate::scenario::{self, Action, Scenario, Step};

/// How long an `expect` waits for its frame.
const EXPECT_TIMEOUT: Duration = Duration::from_secs(5);

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// What arrived on a connection.
enum Incoming {
    Text(String),
    Binary(usize),
    Close(Option<u16>),
    /// The stream ended without a close frame.
    Ended,
    Error(String),
}

impl Incoming {
    fn describe(&self) -> String {
        match self {
            Incoming::Text(text) => format!("the frame {}", clip(text)),
            Incoming::Binary(n) => format!("a binary frame of {n} bytes"),
            Incoming::Close(Some(code)) => format!("a close frame with code {code}"),
            Incoming::Close(None) => "a close frame without a code".to_owned(),
            Incoming::Ended => "the end of the connection (no close frame)".to_owned(),
            Incoming::Error(e) => format!("a read error ({e})"),
        }
    }
}

struct Conn {
    ws: Ws,
    /// Set once a close was received or sent; the name cannot be used again.
    closed: bool,
}

/// Plays one scenario against a server.
pub struct Player {
    addr: SocketAddr,
    conns: HashMap<String, Conn>,
    caps: Captures,
}

impl Player {
    /// A player for the server at `addr`.
    pub fn new(addr: SocketAddr) -> Player {
        Player {
            addr,
            conns: HashMap::new(),
            caps: Captures::new(),
        }
    }

    /// Runs every step; the error names the failing step and says what was expected and seen.
    pub async fn play(&mut self, scenario: &Scenario) -> Result<(), String> {
        for (i, step) in scenario.steps.iter().enumerate() {
            if let Err(e) = self.step(step).await {
                let mut msg = format!("step {} on connection {:?} failed: {e}", i + 1, step.conn);
                if let Some(note) = &step.note {
                    let _ = write!(msg, "\n  note: {note}");
                }
                let _ = write!(msg, "\n  step: {}", describe_step(step));
                let _ = write!(msg, "\n  scenario: {}", scenario.description);
                return Err(msg);
            }
        }
        Ok(())
    }

    /// Closes what is still open, politely.
    pub async fn finish(&mut self) {
        for conn in self.conns.values_mut().filter(|c| !c.closed) {
            let _ = tokio::time::timeout(Duration::from_secs(1), conn.ws.close(None)).await;
        }
        self.conns.clear();
    }

    async fn step(&mut self, step: &Step) -> Result<(), String> {
        let conn = open(&mut self.conns, self.addr, &step.conn).await?;
        match &step.action {
            Action::Send(value) => {
                let value = pattern::substitute(value, &self.caps)?;
                send(conn, Message::text(value.to_string())).await
            }
            Action::SendRaw(text) => send(conn, Message::text(text.as_str())).await,
            Action::SendBinary(text) => send(conn, Message::binary(text.as_bytes().to_vec())).await,
            Action::SendLarge { bytes, frame } => {
                let frame = frame
                    .as_ref()
                    .map(|f| pattern::substitute(f, &self.caps))
                    .transpose()?;
                let text = scenario::large_frame(*bytes, frame.as_ref())?;
                send(conn, Message::text(text)).await
            }
            Action::Expect(pattern) => {
                let pattern = pattern::substitute(pattern, &self.caps)?;
                let frame = next_json(conn, EXPECT_TIMEOUT).await?;
                pattern::matches(&pattern, &frame, &mut self.caps).map_err(|e| {
                    format!(
                        "{e}\n  expected: {pattern}\n  received: {}",
                        clip(&frame.to_string())
                    )
                })
            }
            Action::ExpectUnordered(patterns) => {
                let patterns = patterns
                    .iter()
                    .map(|p| pattern::substitute(p, &self.caps))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut frames = Vec::with_capacity(patterns.len());
                for n in 0..patterns.len() {
                    let frame = next_json(conn, EXPECT_TIMEOUT)
                        .await
                        .map_err(|e| format!("frame {} of {}: {e}", n + 1, patterns.len()))?;
                    frames.push(frame);
                }
                let mut used = vec![false; frames.len()];
                if assign(&patterns, &frames, &mut used, &mut self.caps) {
                    Ok(())
                } else {
                    let mut msg = String::from("the frames do not match the patterns in any order");
                    for (i, p) in patterns.iter().enumerate() {
                        let _ = write!(msg, "\n  pattern {}: {p}", i + 1);
                        for (j, f) in frames.iter().enumerate() {
                            if let Err(e) = pattern::matches(p, f, &mut self.caps.clone()) {
                                let _ = write!(msg, "\n    vs frame {}: {e}", j + 1);
                            }
                        }
                    }
                    for (j, f) in frames.iter().enumerate() {
                        let _ = write!(msg, "\n  frame {}: {}", j + 1, clip(&f.to_string()));
                    }
                    Err(msg)
                }
            }
            Action::ExpectClose(code) => {
                let incoming = next(conn, EXPECT_TIMEOUT).await?;
                conn.closed = true;
                match incoming {
                    Incoming::Close(Some(got)) if got == *code => Ok(()),
                    other => Err(format!(
                        "expected a close frame with code {code}, got {}",
                        other.describe()
                    )),
                }
            }
            Action::ExpectSilence(ms) => match next(conn, Duration::from_millis(*ms)).await {
                Err(_) => Ok(()),
                Ok(incoming) => Err(format!(
                    "expected nothing for {ms} ms, got {}",
                    incoming.describe()
                )),
            },
            Action::Close => {
                conn.closed = true;
                conn.ws
                    .close(None)
                    .await
                    .map_err(|e| format!("close failed: {e}"))?;
                // Read up to the server's close reply so the close handshake completes.
                let drain = async { while let Some(Ok(_)) = conn.ws.next().await {} };
                let _ = tokio::time::timeout(EXPECT_TIMEOUT, drain).await;
                Ok(())
            }
        }
    }
}

/// The named connection, opened (and its `hello` checked) on first use.
async fn open<'a>(
    conns: &'a mut HashMap<String, Conn>,
    addr: SocketAddr,
    name: &str,
) -> Result<&'a mut Conn, String> {
    if !conns.contains_key(name) {
        let url = format!("ws://{addr}/");
        let (ws, _) = tokio::time::timeout(
            EXPECT_TIMEOUT,
            tokio_tungstenite::connect_async(url.as_str()),
        )
        .await
        .map_err(|_| format!("connecting to {url} timed out"))?
        .map_err(|e| format!("cannot connect to {url}: {e}"))?;
        let mut conn = Conn { ws, closed: false };
        let hello = next_json(&mut conn, EXPECT_TIMEOUT)
            .await
            .map_err(|e| format!("waiting for hello: {e}"))?;
        pattern::matches(&hello_pattern(), &hello, &mut Captures::new())
            .map_err(|e| format!("the hello frame is wrong: {e}\n  received: {hello}"))?;
        conns.insert(name.to_owned(), conn);
    }
    let conn = conns.get_mut(name).ok_or("connection vanished")?;
    if conn.closed {
        return Err(format!(
            "connection {name:?} is closed; open a new one under another name"
        ));
    }
    Ok(conn)
}

/// What every connection must see first (PROTOCOL.md section 1), with the default limits the
/// targets run with.
fn hello_pattern() -> Value {
    let limits = Limits::default();
    json!({
        "event": "hello",
        "data": {
            "protocol": 1,
            "server": "$string",
            "user": null,
            "limits": {
                "max_message_bytes": limits.max_message_bytes,
                "page_size": limits.page_size,
                "max_page_size": limits.max_page_size,
                "max_subscriptions": limits.max_subscriptions,
            },
        },
    })
}

/// Finds an assignment of frames to patterns (backtracking; the lists are short).
fn assign(patterns: &[Value], frames: &[Value], used: &mut [bool], caps: &mut Captures) -> bool {
    let Some((pattern, rest)) = patterns.split_first() else {
        return true;
    };
    for j in 0..frames.len() {
        if used[j] {
            continue;
        }
        let mut trial = caps.clone();
        if pattern::matches(pattern, &frames[j], &mut trial).is_ok() {
            used[j] = true;
            if assign(rest, frames, used, &mut trial) {
                *caps = trial;
                return true;
            }
            used[j] = false;
        }
    }
    false
}

async fn send(conn: &mut Conn, message: Message) -> Result<(), String> {
    conn.ws
        .send(message)
        .await
        .map_err(|e| format!("send failed: {e}"))
}

/// The next frame, skipping pings and pongs; `Err` only when nothing came in time.
async fn next(conn: &mut Conn, wait: Duration) -> Result<Incoming, String> {
    let read = async {
        loop {
            return match conn.ws.next().await {
                Some(Ok(Message::Text(text))) => Incoming::Text(text.as_str().to_owned()),
                Some(Ok(Message::Binary(bytes))) => Incoming::Binary(bytes.len()),
                Some(Ok(Message::Close(frame))) => {
                    Incoming::Close(frame.map(|f| u16::from(f.code)))
                }
                Some(Ok(_)) => continue,
                Some(Err(e)) => Incoming::Error(e.to_string()),
                None => Incoming::Ended,
            };
        }
    };
    tokio::time::timeout(wait, read)
        .await
        .map_err(|_| format!("no frame within {} ms", wait.as_millis()))
}

/// The next frame, which must be a JSON text frame.
async fn next_json(conn: &mut Conn, wait: Duration) -> Result<Value, String> {
    match next(conn, wait).await? {
        Incoming::Text(text) => serde_json::from_str(&text).map_err(|e| {
            format!(
                "the server sent text that is not JSON ({e}): {}",
                clip(&text)
            )
        }),
        other => {
            if matches!(
                other,
                Incoming::Close(_) | Incoming::Ended | Incoming::Error(_)
            ) {
                conn.closed = true;
            }
            Err(format!(
                "expected a JSON text frame, got {}",
                other.describe()
            ))
        }
    }
}

fn describe_step(step: &Step) -> String {
    match &step.action {
        Action::Send(v) => format!("send {}", clip(&v.to_string())),
        Action::SendRaw(t) => format!("send_raw {}", clip(&format!("{t:?}"))),
        Action::SendBinary(t) => format!("send_binary {}", clip(&format!("{t:?}"))),
        Action::SendLarge { bytes, .. } => format!("send_large {bytes} bytes"),
        Action::Expect(p) => format!("expect {}", clip(&p.to_string())),
        Action::ExpectUnordered(ps) => format!("expect_unordered {} patterns", ps.len()),
        Action::ExpectClose(code) => format!("expect_close {code}"),
        Action::ExpectSilence(ms) => format!("expect_silence_ms {ms}"),
        Action::Close => "close".to_owned(),
    }
}

/// Long frames are cut in messages so a failure stays readable.
fn clip(text: &str) -> String {
    const MAX: usize = 4000;
    if text.len() <= MAX {
        return text.to_owned();
    }
    let mut end = MAX;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}... ({} bytes)", &text[..end], text.len())
}
