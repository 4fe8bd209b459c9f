//! Playing a scenario's steps over real WebSocket connections.

use std::collections::{HashMap, HashSet};
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::time::Duration;

use chanbind_engine::config::Limits;
use chanbind_engine::protocol::limits_json;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::handshake::client::Request;
use tokio_tungstenite::tungstenite::http::header::{AUTHORIZATION, COOKIE, ORIGIN};
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

use crate::pattern::{self, Captures};
use crate::scenario::{self, Action, AuthSetup, Credentials, Scenario, Step, Via};

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
    /// The limits the server runs with, which every `hello` must announce.
    limits: Limits,
    /// The scenario's token table, to know which user a token names.
    auth: Option<AuthSetup>,
    conns: HashMap<String, Conn>,
    /// Names whose handshake was refused; they cannot be used again.
    refused: HashSet<String>,
    caps: Captures,
}

impl Player {
    /// A player for the server at `addr`, which runs with `limits` and, with `auth`, the
    /// scenario's tokens.
    pub fn new(addr: SocketAddr, limits: Limits, auth: Option<AuthSetup>) -> Player {
        Player {
            addr,
            limits,
            auth,
            conns: HashMap::new(),
            refused: HashSet::new(),
            caps: Captures::new(),
        }
    }

    /// Runs every step; the error names the failing step and says what was expected and seen.
    pub async fn play(&mut self, scenario: &Scenario) -> Result<(), String> {
        for (i, step) in scenario.steps.iter().enumerate() {
            if let Err(e) = self.step(step).await {
                let mut msg = match &step.action {
                    Action::Http(_) => format!("step {} (http) failed: {e}", i + 1),
                    _ => format!("step {} on connection {:?} failed: {e}", i + 1, step.conn),
                };
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
        if let Action::Http(request) = &step.action {
            return crate::http::play(self.addr, request, &mut self.caps).await;
        }
        if self.refused.contains(&step.conn) {
            return Err(format!(
                "connection {:?} was refused; use another name",
                step.conn
            ));
        }
        if let Action::ExpectRefused(status) = &step.action {
            if self.conns.contains_key(&step.conn) {
                return Err(format!(
                    "expect_refused on {:?}, which is already open; use a new name",
                    step.conn
                ));
            }
            self.refused.insert(step.conn.clone());
            return refused(self.addr, step.credentials.as_ref(), *status).await;
        }
        if !self.conns.contains_key(&step.conn) {
            let user = self.expected_user(step)?;
            let conn = open(self.addr, step.credentials.as_ref(), &self.limits, user).await?;
            self.conns.insert(step.conn.clone(), conn);
        } else if step.credentials.is_some() || step.hello.is_some() {
            return Err(format!(
                "\"token\" and \"hello\" belong on the step that opens {:?}, which is already open",
                step.conn
            ));
        }
        let conn = self
            .conns
            .get_mut(&step.conn)
            .ok_or("connection vanished")?;
        if conn.closed {
            return Err(format!(
                "connection {:?} is closed; open a new one under another name",
                step.conn
            ));
        }
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
            // tungstenite answers a ping only as it reads: not reading is not answering.
            Action::Stall(ms) => {
                tokio::time::sleep(Duration::from_millis(*ms)).await;
                Ok(())
            }
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
            Action::ExpectRefused(_) => unreachable!("handled before opening"),
            Action::Http(_) => unreachable!("handled before any connection"),
        }
    }

    /// The pattern for the `hello` frame's `user` on the step that opens a connection: the
    /// step's `"hello"` if given; else the token's user for a token of the table sent as a
    /// bearer, query parameter or cookie; else `null`.
    fn expected_user(&self, step: &Step) -> Result<Value, String> {
        if let Some(hello) = &step.hello {
            return pattern::substitute(hello, &self.caps);
        }
        let name = match (&step.credentials, &self.auth) {
            (Some(creds), Some(auth)) if creds.via != Via::Authorization => {
                auth.user_of(&creds.token)
            }
            _ => None,
        };
        Ok(match name {
            Some(name) => json!({"$exact": {"id": "$integer", "name": name}}),
            None => Value::Null,
        })
    }
}

/// The handshake request for `addr`, carrying `credentials` where they say.
fn request(addr: SocketAddr, credentials: Option<&Credentials>) -> Result<Request, String> {
    let mut url = format!("ws://{addr}/");
    if let Some(Credentials {
        token,
        via: Via::Query,
    }) = credentials
    {
        url.push_str("?token=");
        url.push_str(&percent_encode(token));
    }
    let mut request = url
        .as_str()
        .into_client_request()
        .map_err(|e| format!("bad handshake request for {}: {e}", clip(&url)))?;
    let header = match credentials {
        Some(Credentials { token, via }) => match via {
            Via::Header => Some((AUTHORIZATION, format!("Bearer {token}"))),
            Via::Authorization => Some((AUTHORIZATION, token.clone())),
            Via::Cookie => {
                // As a browser sends it: the cookie from a page of the server's own origin.
                let origin = HeaderValue::from_str(&format!("http://{addr}"))
                    .map_err(|e| format!("bad origin: {e}"))?;
                request.headers_mut().insert(ORIGIN, origin);
                Some((COOKIE, format!("token={token}")))
            }
            Via::Query => None,
        },
        None => None,
    };
    if let Some((name, value)) = header {
        let value = HeaderValue::from_str(&value)
            .map_err(|e| format!("the token cannot go in a header ({e}): {}", clip(&value)))?;
        request.headers_mut().insert(name, value);
    }
    Ok(request)
}

/// Opens a connection and checks its `hello` frame: the server's limits and `user` matching
/// the pattern `user`.
async fn open(
    addr: SocketAddr,
    credentials: Option<&Credentials>,
    limits: &Limits,
    user: Value,
) -> Result<Conn, String> {
    let request = request(addr, credentials)?;
    let (ws, _) = tokio::time::timeout(EXPECT_TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?
        .map_err(|e| format!("cannot connect to {addr}: {}", describe_connect_error(e)))?;
    let mut conn = Conn { ws, closed: false };
    let hello = next_json(&mut conn, EXPECT_TIMEOUT)
        .await
        .map_err(|e| format!("waiting for hello: {e}"))?;
    pattern::matches(&hello_pattern(limits, user), &hello, &mut Captures::new())
        .map_err(|e| format!("the hello frame is wrong: {e}\n  received: {hello}"))?;
    Ok(conn)
}

/// Tries a handshake that must be refused with `status` and no WebSocket.
async fn refused(
    addr: SocketAddr,
    credentials: Option<&Credentials>,
    status: u16,
) -> Result<(), String> {
    use tokio_tungstenite::tungstenite::Error;
    let request = request(addr, credentials)?;
    let result = tokio::time::timeout(EXPECT_TIMEOUT, tokio_tungstenite::connect_async(request))
        .await
        .map_err(|_| format!("connecting to {addr} timed out"))?;
    match result {
        Err(Error::Http(response)) if response.status().as_u16() == status => Ok(()),
        Err(Error::Http(response)) => Err(format!(
            "expected the handshake refused with HTTP {status}, got HTTP {}{}",
            response.status(),
            body_text(response.body())
        )),
        Err(e) => Err(format!(
            "expected the handshake refused with HTTP {status}, got {e}"
        )),
        Ok((mut ws, _)) => {
            let first = match tokio::time::timeout(Duration::from_millis(500), ws.next()).await {
                Ok(Some(Ok(Message::Text(text)))) => format!(", and then {}", clip(&text)),
                _ => String::new(),
            };
            let _ = ws.close(None).await;
            Err(format!(
                "expected the handshake refused with HTTP {status}, but the WebSocket opened{first}"
            ))
        }
    }
}

fn describe_connect_error(e: tokio_tungstenite::tungstenite::Error) -> String {
    match e {
        tokio_tungstenite::tungstenite::Error::Http(response) => format!(
            "the handshake was refused with HTTP {}{}",
            response.status(),
            body_text(response.body())
        ),
        other => other.to_string(),
    }
}

fn body_text(body: &Option<Vec<u8>>) -> String {
    match body {
        Some(bytes) if !bytes.is_empty() => format!(": {}", clip(&String::from_utf8_lossy(bytes))),
        _ => String::new(),
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986.
pub(crate) fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            out.push(byte as char);
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
    out
}

/// What every connection must see first (docs/protocol.md section 1): the limits the target runs
/// with and the connection's user.
fn hello_pattern(limits: &Limits, user: Value) -> Value {
    json!({
        "event": "hello",
        "data": {
            "protocol": 1,
            "server": "$string",
            "user": user,
            "limits": limits_json(limits),
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
    let action = describe_action(step);
    match &step.credentials {
        Some(creds) => format!(
            "{action} (token of {} bytes via {:?})",
            creds.token.len(),
            creds.via
        ),
        None => action,
    }
}

fn describe_action(step: &Step) -> String {
    match &step.action {
        Action::Send(v) => format!("send {}", clip(&v.to_string())),
        Action::SendRaw(t) => format!("send_raw {}", clip(&format!("{t:?}"))),
        Action::SendBinary(t) => format!("send_binary {}", clip(&format!("{t:?}"))),
        Action::SendLarge { bytes, .. } => format!("send_large {bytes} bytes"),
        Action::Expect(p) => format!("expect {}", clip(&p.to_string())),
        Action::ExpectUnordered(ps) => format!("expect_unordered {} patterns", ps.len()),
        Action::ExpectClose(code) => format!("expect_close {code}"),
        Action::ExpectSilence(ms) => format!("expect_silence_ms {ms}"),
        Action::Stall(ms) => format!("stall_ms {ms}"),
        Action::Close => "close".to_owned(),
        Action::ExpectRefused(status) => format!("expect_refused {status}"),
        Action::Http(request) => crate::http::describe(request),
    }
}

/// Long frames are cut in messages so a failure stays readable.
pub(crate) fn clip(text: &str) -> String {
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
