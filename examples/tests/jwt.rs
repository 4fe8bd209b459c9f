//! JWTs over real connections, on both adapters: the demo with `--jwt-secret` or `--jwks`
//! (a file, or a URL this test serves) takes a valid token's `sub` as the `auth.User` it
//! is, on the WebSocket handshake and on HTTP requests, and answers an expired, forged or
//! unknown-key token with 401, and a JWKS URL it cannot fetch with 503 (docs/protocol.md
//! section 4). The keys are the test-only
//! ones in `engine/tests/fixtures/jwt`.
//!
//! ```text
//! cargo test -p chanbind-examples --test jwt
//! ```

#[path = "cluster/node.rs"]
mod node;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};
use node::DemoNode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Error;

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../engine/tests/fixtures/jwt");
const RSA_A: &str = include_str!("../../engine/tests/fixtures/jwt/rsa-a.pem");
const RSA_B: &str = include_str!("../../engine/tests/fixtures/jwt/rsa-b.pem");
const EC_A: &str = include_str!("../../engine/tests/fixtures/jwt/ec-a.pem");
const JWKS: &str = include_str!("../../engine/tests/fixtures/jwt/jwks.json");

const ADAPTERS: [&str; 2] = ["async", "sync"];

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The claims of `auth.User` `id` (the demo seeds `admin` as 1, `user001` as 2, ...),
/// expiring in `ttl` seconds (negative: expired that long ago).
fn claims(id: i64, name: &str, ttl: i64) -> Value {
    json!({"sub": id.to_string(), "name": name, "exp": now() as i64 + ttl})
}

fn hs256(secret: &str, claims: &Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn signed(alg: Algorithm, pem: &str, kid: &str, claims: &Value) -> String {
    let key = match alg {
        Algorithm::ES256 => EncodingKey::from_ec_pem(pem.as_bytes()),
        _ => EncodingKey::from_rsa_pem(pem.as_bytes()),
    }
    .unwrap();
    let mut header = Header::new(alg);
    header.kid = Some(kid.to_owned());
    encode(&header, claims, &key).unwrap()
}

/// The user `hello` names for a handshake with `Authorization: Bearer <token>`, or the
/// handshake's refusal status.
async fn hello_user(addr: SocketAddr, token: &str) -> Result<Value, u16> {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let connect = tokio_tungstenite::connect_async(request);
    let mut ws = match tokio::time::timeout(Duration::from_secs(20), connect)
        .await
        .expect("a handshake answer in time")
    {
        Ok((ws, _)) => ws,
        Err(Error::Http(response)) => return Err(response.status().as_u16()),
        Err(e) => panic!("the handshake failed: {e}"),
    };
    use futures_util::StreamExt;
    let frame = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("hello in time")
        .expect("a frame")
        .expect("a readable frame");
    let hello: Value = serde_json::from_str(frame.to_text().unwrap()).unwrap();
    assert_eq!(hello["event"], "hello", "{hello}");
    Ok(hello["data"]["user"].clone())
}

/// The status and JSON body of one HTTP/1.1 request, on a connection of its own.
async fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: {addr}\r\nauthorization: Bearer {token}\r\n\
         content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    let exchange = async {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        stream.read_to_end(&mut response).await.unwrap();
        response
    };
    let response = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("an HTTP answer in time");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(at) = parsed.parse(&response).expect("an HTTP response") else {
        panic!("a partial response");
    };
    let status = parsed.code.expect("a status");
    let chunked = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value).contains("chunked")
    });
    let raw = &response[at..];
    let text = if chunked { dechunk(raw) } else { raw.to_vec() };
    (status, serde_json::from_slice(&text).unwrap_or(Value::Null))
}

/// The payload of a chunked body.
fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(end) = raw.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&raw[..end])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok())
            .unwrap_or(0);
        if size == 0 {
            break;
        }
        out.extend_from_slice(&raw[end + 2..end + 2 + size]);
        raw = &raw[end + 4 + size..];
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_hs256_jwt_is_its_user_on_the_handshake_and_over_http() {
    for adapter in ADAPTERS {
        let node = DemoNode::spawn_with(adapter, &["--jwt-secret", "demo-secret"]);
        let user001 = hs256("demo-secret", &claims(2, "user001", 3600));
        assert_eq!(
            hello_user(node.addr, &user001).await,
            Ok(json!({"id": 2, "name": "user001"})),
            "{adapter}"
        );

        // Over HTTP the JWT's user owns what it creates and sees only its own tasks.
        let create = json!({"title": "written with a JWT"});
        let (status, task) =
            http(node.addr, "POST", "/api/todo.Task/", &user001, Some(create)).await;
        assert_eq!(status, 201, "{adapter}: {task}");
        assert_eq!(task["object"]["owner_id"], 2, "{adapter}: {task}");
        let user002 = hs256("demo-secret", &claims(3, "user002", 3600));
        let (status, page) = http(node.addr, "GET", "/api/todo.Task/", &user002, None).await;
        assert_eq!(status, 200, "{adapter}: {page}");
        let rows = page["rows"].as_array().expect("rows");
        assert!(
            rows.iter().all(|r| r["owner_id"] == 3),
            "{adapter}: user002 sees only its tasks: {page}"
        );
        assert!(!rows.iter().any(|r| r["id"] == task["id"]), "{adapter}");

        // Expired, signed with another secret, or not yet valid: 401, never anonymous.
        let expired = hs256("demo-secret", &claims(2, "user001", -3600));
        let forged = hs256("another-secret", &claims(2, "user001", 3600));
        for token in [&expired, &forged] {
            assert_eq!(hello_user(node.addr, token).await, Err(401), "{adapter}");
            let (status, _) = http(node.addr, "GET", "/api/todo.Task/", token, None).await;
            assert_eq!(status, 401, "{adapter}");
        }
        // Without a token the demo is anonymous (and its policy enforced).
        let (status, _) = http(node.addr, "GET", "/api/todo.Task/", "", None).await;
        assert_eq!(
            status, 401,
            "{adapter}: anonymous callers may not list tasks"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_jwts_verify_with_a_jwks_file() {
    let file = format!("{FIXTURES}/jwks.json");
    for adapter in ADAPTERS {
        let node = DemoNode::spawn_with(
            adapter,
            &["--jwks", &file, "--jwt-issuer", "https://idp.test"],
        );
        let mut c = claims(1, "admin", 3600);
        c["iss"] = json!("https://idp.test");
        let rs = signed(Algorithm::RS256, RSA_A, "rsa-a", &c);
        let es = signed(Algorithm::ES256, EC_A, "ec-a", &c);
        for token in [&rs, &es] {
            assert_eq!(
                hello_user(node.addr, token).await,
                Ok(json!({"id": 1, "name": "admin"})),
                "{adapter}"
            );
            let (status, row) = http(node.addr, "GET", "/api/auth.User/1", token, None).await;
            assert_eq!(
                (status, &row["username"]),
                (200, &json!("admin")),
                "{adapter}"
            );
        }
        // A key the set does not have, and the wrong issuer.
        let unknown = signed(Algorithm::RS256, RSA_B, "rsa-b", &c);
        let forged = signed(Algorithm::RS256, RSA_B, "rsa-a", &c);
        c["iss"] = json!("https://evil.test");
        let wrong_iss = signed(Algorithm::RS256, RSA_A, "rsa-a", &c);
        for token in [&unknown, &forged, &wrong_iss] {
            assert_eq!(hello_user(node.addr, token).await, Err(401), "{adapter}");
        }
    }
}

/// Serves `JWKS` at `http://127.0.0.1:<port>/jwks.json`, counting requests.
async fn jwks_server() -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", listener.local_addr().unwrap());
    let hits = Arc::new(AtomicUsize::new(0));
    let count = Arc::clone(&hits);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let count = Arc::clone(&count);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                count.fetch_add(1, Ordering::SeqCst);
                let response = format!(
                    "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{JWKS}",
                    JWKS.len()
                );
                let _ = socket.write_all(response.as_bytes()).await;
                let _ = socket.shutdown().await;
            });
        }
    });
    (url, hits)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rs256_and_es256_jwts_verify_with_keys_fetched_from_a_jwks_url() {
    let (url, hits) = jwks_server().await;
    for adapter in ADAPTERS {
        let node = DemoNode::spawn_with(adapter, &["--jwks", &url]);
        let c = claims(2, "user001", 3600);
        let rs = signed(Algorithm::RS256, RSA_A, "rsa-a", &c);
        let es = signed(Algorithm::ES256, EC_A, "ec-a", &c);
        for token in [&rs, &es] {
            assert_eq!(
                hello_user(node.addr, token).await,
                Ok(json!({"id": 2, "name": "user001"})),
                "{adapter}"
            );
            let (status, _) = http(node.addr, "GET", "/api/todo.Task/", token, None).await;
            assert_eq!(status, 200, "{adapter}");
        }
        // Made-up kids are refused without fetching the document again and again.
        let before = hits.load(Ordering::SeqCst);
        for i in 0..20 {
            let token = signed(Algorithm::ES256, EC_A, &format!("made-up-{i}"), &c);
            assert_eq!(hello_user(node.addr, &token).await, Err(401), "{adapter}");
        }
        assert!(
            hits.load(Ordering::SeqCst) <= before + 1,
            "{adapter}: {} fetches for 20 unknown kids",
            hits.load(Ordering::SeqCst) - before
        );
    }
    assert!(
        hits.load(Ordering::SeqCst) >= 2,
        "each demo fetched the keys"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_url_that_cannot_be_fetched_is_503_not_401() {
    // Nothing listens there: the demo starts (with a warning) and answers JWTs with 503, so
    // a client retries instead of throwing its token away.
    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks.json", closed.local_addr().unwrap());
    drop(closed);
    let token = signed(
        Algorithm::RS256,
        RSA_A,
        "rsa-a",
        &claims(2, "user001", 3600),
    );
    for adapter in ADAPTERS {
        let node = DemoNode::spawn_with(adapter, &["--jwks", &url]);
        assert_eq!(hello_user(node.addr, &token).await, Err(503), "{adapter}");
        let (status, _) = http(node.addr, "GET", "/api/todo.Task/", &token, None).await;
        assert_eq!(status, 503, "{adapter}");
        assert!(node.log().contains("JWKS not loaded yet"), "{adapter}");
    }
}

/// A WebSocket with `Authorization: Bearer <token>`, past its `hello`.
async fn connect(
    addr: SocketAddr,
    token: &str,
) -> tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>> {
    let mut request = format!("ws://{addr}/").into_client_request().unwrap();
    request
        .headers_mut()
        .insert("authorization", format!("Bearer {token}").parse().unwrap());
    let (mut ws, _) = tokio::time::timeout(
        Duration::from_secs(20),
        tokio_tungstenite::connect_async(request),
    )
    .await
    .expect("a handshake answer in time")
    .expect("the handshake");
    let hello = next_event(&mut ws, "hello").await;
    assert_eq!(hello["data"]["user"]["id"], 2, "{hello}");
    ws
}

/// The next frame whose event is `event` (pushes before it are skipped); panics on a close.
async fn next_event<S>(ws: &mut S, event: &str) -> Value
where
    S: futures_util::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, Error>> + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .unwrap_or_else(|_| panic!("{event} in time"))
            .expect("a frame")
            .expect("a readable frame");
        let text = match frame {
            tokio_tungstenite::tungstenite::Message::Text(text) => text,
            tokio_tungstenite::tungstenite::Message::Close(close) => {
                panic!("closed ({close:?}) while waiting for {event}")
            }
            _ => continue,
        };
        let value: Value = serde_json::from_str(&text).unwrap();
        if value["event"] == event {
            return value;
        }
    }
}

/// The close code the server ends the WebSocket with (frames before it are skipped).
async fn close_code<S>(ws: &mut S) -> u16
where
    S: futures_util::Stream<Item = Result<tokio_tungstenite::tungstenite::Message, Error>> + Unpin,
{
    use futures_util::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("a close in time")
            .expect("a frame")
            .expect("a readable frame");
        if let tokio_tungstenite::tungstenite::Message::Close(close) = frame {
            return close.map_or(1005, |c| c.code.into());
        }
    }
}

/// The operator's trial: a JWT that expires in 5 seconds is warned with `auth.expiring`; the
/// connection that sends a fresh JWT in-band with `auth.refresh` stays connected and keeps
/// being answered past the old expiry, and the one that does not is closed with 4001
/// (docs/protocol.md section 4, "Expiry, refresh and revocation").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_five_second_jwt_is_warned_then_refreshed_in_band_or_closed_with_4001() {
    use futures_util::SinkExt;
    use tokio_tungstenite::tungstenite::Message;
    for adapter in ADAPTERS {
        let node = DemoNode::spawn_with(adapter, &["--jwt-secret", "demo-secret"]);
        let short = hs256("demo-secret", &claims(2, "user001", 5));
        let mut kept = connect(node.addr, &short).await;
        let mut left = connect(node.addr, &short).await;

        for ws in [&mut kept, &mut left] {
            let warning = next_event(ws, "auth.expiring").await;
            let within = warning["data"]["expires_in_ms"]
                .as_u64()
                .expect("expires_in_ms");
            assert!(within <= 5_000, "{adapter}: {warning}");
            assert!(
                warning["data"]["expires_at"].is_string(),
                "{adapter}: {warning}"
            );
        }

        let fresh = hs256("demo-secret", &claims(2, "user001", 3600));
        let refresh = json!({"event": "auth.refresh#r", "data": {"token": fresh}});
        kept.send(Message::text(refresh.to_string())).await.unwrap();
        let reply = next_event(&mut kept, "auth.refresh#r").await;
        assert_eq!(reply["data"]["success"], true, "{adapter}: {reply}");
        assert_eq!(reply["data"]["user"]["id"], 2, "{adapter}: {reply}");

        // The connection that did not refresh is closed when its token expires...
        assert_eq!(close_code(&mut left).await, 4001, "{adapter}");
        // ...and by then the refreshed one is past the old expiry and still answered.
        let search = json!({"event": "todo.Task.search#s", "data": {}});
        kept.send(Message::text(search.to_string())).await.unwrap();
        let answer = next_event(&mut kept, "todo.Task.search#s").await;
        assert!(answer["error"].is_null(), "{adapter}: {answer}");
    }
}
