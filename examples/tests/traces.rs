//! The spans a host application's subscriber sees (README, "Traces"), on both adapters over
//! real sockets: a WebSocket's requests are children of its `connection` span and carry
//! their stream, action, hash, user, outcome, duration and rows; an HTTP request has the
//! same `request` span with its method and route; a store call is a child of its request;
//! and a write's fan-out is a child of the write's request.
//!
//! ```text
//! cargo test -p chanbind-examples --test traces
//! ```

#[path = "traces/spans.rs"]
mod spans;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::auth::{TokenAuthenticator, User};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::store::{MemoryStore, Store};
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use spans::SpanRecord;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

const ADAPTERS: [&str; 2] = ["async", "sync"];

/// A server of one adapter over an in-memory engine with one stream of its own, so that
/// tests running at once tell their spans apart by stream. The token `alice` is user 2.
enum Server {
    Async(chanbind_async::ServerHandle),
    Sync(chanbind_sync::ServerHandle),
}

/// The registry of a test's own stream, in a table named after it.
fn registry(stream: &str) -> Registry {
    Registry::new()
        .model(
            ModelBinding::new(&table(stream))
                .stream_name(stream)
                .field(Field::string("title").required()),
        )
        .unwrap()
}

fn table(stream: &str) -> String {
    stream.replace('.', "_").to_lowercase()
}

impl Server {
    /// A server on the in-memory store.
    async fn start(adapter: &str, stream: &str) -> Server {
        let store = Arc::new(MemoryStore::new(&registry(stream)));
        Server::start_on(adapter, stream, store).await
    }

    async fn start_on(adapter: &str, stream: &str, store: Arc<dyn Store>) -> Server {
        spans::install();
        let registry = registry(stream);
        let engine = Engine::builder(registry, store)
            .authenticator(TokenAuthenticator::new().token("alice", User::new(2, "alice")))
            .start()
            .await
            .unwrap();
        match adapter {
            "async" => Server::Async(
                chanbind_async::bind("127.0.0.1:0", engine, Default::default())
                    .await
                    .unwrap(),
            ),
            _ => Server::Sync(
                chanbind_sync::bind("127.0.0.1:0", engine, Default::default()).unwrap(),
            ),
        }
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Server::Async(server) => server.local_addr(),
            Server::Sync(server) => server.local_addr(),
        }
    }

    async fn stop(self) {
        match self {
            Server::Async(server) => server.shutdown().await,
            Server::Sync(server) => {
                tokio::task::spawn_blocking(move || server.shutdown())
                    .await
                    .unwrap();
            }
        }
    }
}

type Ws = WebSocketStream<TcpStream>;

/// A WebSocket as `alice`, past its `hello`, and the client's own address: the connection
/// span's `peer`.
async fn connect(server: &Server) -> (Ws, SocketAddr) {
    let tcp = TcpStream::connect(server.addr()).await.unwrap();
    let local = tcp.local_addr().unwrap();
    let url = format!("ws://{}/?token=alice", server.addr());
    let (mut ws, _) = tokio_tungstenite::client_async(url, tcp).await.unwrap();
    assert_eq!(next(&mut ws).await["event"], "hello");
    (ws, local)
}

async fn next(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame within 10s")
        .unwrap()
        .unwrap();
    serde_json::from_str(msg.to_text().unwrap()).unwrap()
}

async fn ask(ws: &mut Ws, event: &str, data: Value) -> Value {
    let frame = json!({"event": event, "data": data});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    next(ws).await
}

/// One HTTP/1.1 request as `alice`; the status.
async fn http(server: &Server, method: &str, path: &str, body: &str) -> u16 {
    let mut tcp = TcpStream::connect(server.addr()).await.unwrap();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer alice\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    tcp.write_all(head.as_bytes()).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut answer))
        .await
        .expect("an answer within 10s")
        .unwrap();
    let answer = String::from_utf8_lossy(&answer);
    answer
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP answer: {answer}"))
}

/// The finished `request` span of `stream` that `pick` selects.
async fn request(what: &str, stream: &str, pick: impl Fn(&SpanRecord) -> bool) -> SpanRecord {
    spans::wait_for(what, |all| {
        all.iter()
            .find(|s| {
                s.name == "request" && s.closed && s.field("stream") == Some(stream) && pick(s)
            })
            .cloned()
    })
    .await
}

/// The child of `parent` named `name`.
fn child<'a>(all: &'a [SpanRecord], parent: &SpanRecord, name: &str) -> Option<&'a SpanRecord> {
    all.iter()
        .find(|s| s.name == name && s.parent == Some(parent.seq))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_request_span_is_a_child_of_its_connection_span() {
    for adapter in ADAPTERS {
        let stream = format!("ws{adapter}.Task");
        let server = Server::start(adapter, &stream).await;
        let (mut ws, local) = connect(&server).await;
        let made = ask(
            &mut ws,
            &format!("{stream}.create#made"),
            json!({"title": "a"}),
        )
        .await;
        assert_eq!(made["data"]["success"], true, "{made}");
        let id = made["data"]["id"].clone();
        let read = ask(
            &mut ws,
            &format!("{stream}.retrieve#read"),
            json!({"id": id}),
        )
        .await;
        assert_eq!(read["data"]["title"], "a", "{read}");
        let missing = ask(
            &mut ws,
            &format!("{stream}.retrieve#gone"),
            json!({"id": 999}),
        )
        .await;
        assert_eq!(missing["error"]["code"], "not_found", "{missing}");
        ws.close(None).await.unwrap();
        while ws.next().await.is_some() {}

        let peer = local.to_string();
        let conn = spans::wait_for("connection span", |all| {
            all.iter()
                .find(|s| {
                    s.name == "connection"
                        && s.field("peer") == Some(peer.as_str())
                        && s.field("close_reason").is_some()
                })
                .cloned()
        })
        .await;
        assert_eq!(conn.field("adapter"), Some(adapter), "{conn:?}");
        assert_eq!(conn.field("user_id"), Some("2"), "{conn:?}");
        assert!(conn.field("conn_id").is_some(), "{conn:?}");
        assert_eq!(conn.field("close_reason"), Some("closed by the client"));

        let create = request("the create", &stream, |s| s.field("hash") == Some("made")).await;
        assert_eq!(create.parent, Some(conn.seq), "{adapter}: {create:?}");
        assert_eq!(create.field("action"), Some("create"));
        assert_eq!(create.field("user_id"), Some("2"));
        assert_eq!(create.field("outcome"), Some("ok"));
        assert_eq!(create.field("rows"), Some("1"));
        let ms: f64 = create
            .field("duration_ms")
            .expect("a duration")
            .parse()
            .unwrap();
        assert!(ms >= 0.0);
        let all = spans::all();
        let insert = child(&all, &create, "store.insert").expect("an insert under the create");
        assert_eq!(
            insert.field("table"),
            Some(stream.replace('.', "_").to_lowercase().as_str())
        );
        assert_eq!(insert.field("store"), Some("memory"));

        let retrieve = request("the retrieve", &stream, |s| s.field("hash") == Some("read")).await;
        assert_eq!(retrieve.parent, Some(conn.seq));
        assert_eq!(retrieve.field("action"), Some("retrieve"));
        assert_eq!(retrieve.field("outcome"), Some("ok"));
        assert_eq!(retrieve.field("rows"), Some("1"));
        assert!(child(&spans::all(), &retrieve, "store.get").is_some());

        let gone = request("the failed retrieve", &stream, |s| {
            s.field("hash") == Some("gone")
        })
        .await;
        assert_eq!(gone.parent, Some(conn.seq));
        assert_eq!(
            gone.field("outcome"),
            Some("not_found"),
            "{adapter}: {gone:?}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_request_has_the_request_span_with_its_method_and_route() {
    for adapter in ADAPTERS {
        let stream = format!("http{adapter}.Task");
        let server = Server::start(adapter, &stream).await;
        let made = http(
            &server,
            "POST",
            &format!("/api/{stream}/"),
            r#"{"title": "a"}"#,
        )
        .await;
        assert_eq!(made, 201);
        let missing = http(&server, "GET", &format!("/api/{stream}/999"), "").await;
        assert_eq!(missing, 404);

        let create = request("the HTTP create", &stream, |s| {
            s.field("method") == Some("POST")
        })
        .await;
        assert_eq!(create.parent, None, "{adapter}: {create:?}");
        assert_eq!(create.field("route"), Some("/api/{stream}/"));
        assert_eq!(create.field("action"), Some("create"));
        assert_eq!(create.field("user_id"), Some("2"));
        assert_eq!(create.field("outcome"), Some("ok"));
        assert_eq!(create.field("rows"), Some("1"));
        assert!(create.field("duration_ms").is_some());
        assert!(child(&spans::all(), &create, "store.insert").is_some());

        let get = request("the HTTP retrieve", &stream, |s| {
            s.field("method") == Some("GET")
        })
        .await;
        assert_eq!(get.field("route"), Some("/api/{stream}/{id}"));
        assert_eq!(get.field("action"), Some("retrieve"));
        assert_eq!(
            get.field("outcome"),
            Some("not_found"),
            "{adapter}: {get:?}"
        );
        server.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writes_fanout_span_is_a_child_of_the_writes_request_span() {
    for adapter in ADAPTERS {
        let stream = format!("fanout{adapter}.Task");
        let server = Server::start(adapter, &stream).await;
        let (mut reader, _) = connect(&server).await;
        let (mut writer, _) = connect(&server).await;
        let made = ask(
            &mut writer,
            &format!("{stream}.create#made"),
            json!({"title": "a"}),
        )
        .await;
        let id = made["data"]["id"].clone();
        let read = ask(
            &mut reader,
            &format!("{stream}.retrieve#watch"),
            json!({"id": id}),
        )
        .await;
        assert_eq!(read["data"]["title"], "a", "{read}");
        let live = ask(&mut reader, &format!("{stream}.search#live"), json!({})).await;
        assert_eq!(live["data"]["rows"][0]["title"], "a", "{live}");
        let data = json!({"id": id, "title": "b"});
        let updated = ask(&mut writer, &format!("{stream}.update#change"), data).await;
        assert_eq!(updated["data"]["success"], true, "{updated}");
        // The row's push, and the live search's once it is re-read, in either order.
        let mut pushed = Vec::new();
        for _ in 0..2 {
            pushed.push(
                next(&mut reader).await["event"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
            );
        }
        pushed.sort();
        assert_eq!(
            pushed,
            [
                format!("{stream}.retrieve#watch"),
                format!("{stream}.search#live")
            ]
        );

        let update = request("the update", &stream, |s| s.field("hash") == Some("change")).await;
        let fanout = spans::wait_for("the update's fan-out", |all| {
            all.iter()
                .find(|s| s.name == "fanout" && s.parent == Some(update.seq) && s.closed)
                .cloned()
        })
        .await;
        assert_eq!(fanout.field("stream"), Some(stream.as_str()), "{fanout:?}");
        // The watched row and the live search; the row's push leaves at once.
        assert_eq!(fanout.field("subscribers"), Some("2"), "{fanout:?}");
        assert_eq!(fanout.field("pushes"), Some("1"), "{fanout:?}");
        assert_eq!(fanout.field("queries_touched"), Some("1"), "{fanout:?}");
        assert!(child(&spans::all(), &update, "store.update").is_some());
        let refresh = spans::wait_for("the live search's re-read", |all| {
            all.iter()
                .find(|s| s.name == "refresh" && s.follows.contains(&fanout.seq))
                .cloned()
        })
        .await;
        assert_eq!(refresh.field("stream"), Some(stream.as_str()));
        assert!(child(&spans::all(), &refresh, "store.search").is_some());
        server.stop().await;
    }
}

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("traces: DATABASE_URL is not set; skipping the PostgreSQL stores");
            None
        }
    }
}

/// Either adapter's PostgreSQL store.
enum Pg {
    Async(Arc<chanbind_async::postgres::PgStore>),
    Sync(Arc<chanbind_sync::postgres::PgStore>),
}

/// Each adapter's PostgreSQL store, in a schema of the test's own, dropped after.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_store_call_is_a_child_of_its_request() {
    let Some(url) = database_url() else { return };
    for adapter in ADAPTERS {
        let stream = format!("pg{adapter}.Task");
        let schema = format!("xtraces_{}_{adapter}", std::process::id());
        let config = chanbind_async::postgres::PgConfig {
            url: url.clone(),
            schema: Some(schema),
            pool_size: 2,
            ..Default::default()
        };
        let registry = registry(&stream);
        let pg = match adapter {
            "async" => {
                let store = chanbind_async::postgres::PgStore::connect(config)
                    .await
                    .unwrap();
                store.migrate(&registry).await.unwrap();
                Pg::Async(Arc::new(store))
            }
            _ => {
                let registry = registry.clone();
                let store = tokio::task::spawn_blocking(move || {
                    let store = chanbind_sync::postgres::PgStore::connect(config).unwrap();
                    store.migrate(&registry).unwrap();
                    store
                })
                .await
                .unwrap();
                Pg::Sync(Arc::new(store))
            }
        };
        let store: Arc<dyn Store> = match &pg {
            Pg::Async(store) => store.clone(),
            Pg::Sync(store) => store.clone(),
        };
        let server = Server::start_on(adapter, &stream, store).await;
        let (mut ws, _) = connect(&server).await;
        let made = ask(
            &mut ws,
            &format!("{stream}.create#made"),
            json!({"title": "a"}),
        )
        .await;
        assert_eq!(made["data"]["success"], true, "{made}");
        let found = ask(&mut ws, &format!("{stream}.search#find"), json!({})).await;
        assert_eq!(found["data"]["rows"][0]["title"], "a", "{found}");

        let create = request("the create", &stream, |s| s.field("hash") == Some("made")).await;
        let all = spans::all();
        let insert = child(&all, &create, "store.insert").expect("an insert under the create");
        assert_eq!(
            insert.field("store"),
            Some("postgres"),
            "{adapter}: {insert:?}"
        );
        assert_eq!(insert.field("table"), Some(table(&stream).as_str()));
        assert_eq!(insert.field("transaction"), Some("false"));
        let search = request("the search", &stream, |s| s.field("hash") == Some("find")).await;
        assert_eq!(search.field("rows"), Some("1"), "{adapter}: {search:?}");
        let read = child(&spans::all(), &search, "store.search").cloned();
        assert_eq!(
            read.expect("a search under the search").field("store"),
            Some("postgres")
        );
        drop(ws);
        server.stop().await;
        match pg {
            Pg::Async(store) => store.drop_schema().await.unwrap(),
            Pg::Sync(store) => tokio::task::spawn_blocking(move || store.drop_schema())
                .await
                .unwrap()
                .unwrap(),
        }
    }
}
