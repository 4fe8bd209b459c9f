//! Credentials on live connections (docs/protocol.md section 4), over real WebSockets on both
//! adapters: a connection whose user's credential expires is warned with `auth.expiring` and
//! closed with 4001 unless it sends `auth.refresh`; a refresh keeps the connection and
//! re-checks its subscriptions against the new user; the application disconnects a user
//! (4003) or re-checks them after a change of roles.
//!
//! The users come from a small authenticator of this file that maps tokens to users, some
//! expiring a few seconds after they authenticate (what a JWT's `exp` gives).
//!
//! ```text
//! cargo test -p chanbind-examples --test live_auth
//! ```

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use chanbind_engine::auth::{AuthError, AuthFuture, Authenticator, RequestHead, User};
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::Permission;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Map, Value};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long a waited-for frame or close may take; generous, the machine is shared.
const WAIT: Duration = Duration::from_secs(20);

/// How long after the engine starts the `alice-fixed` token expires.
const FIXED: Duration = Duration::from_secs(6);

/// The user ids.
const ALICE: i64 = 1;
const BOB: i64 = 2;

/// Tokens to users; a user with a lifetime expires that long after each authentication.
struct Tokens(HashMap<&'static str, (User, Option<Duration>)>);

impl Authenticator for Tokens {
    fn authenticate<'a>(&'a self, head: &'a RequestHead) -> AuthFuture<'a> {
        let found = head.token().map(|token| match self.0.get(token.as_str()) {
            Some((user, None)) => Ok(user.clone()),
            Some((user, Some(ttl))) => Ok(user.clone().expiring_at(SystemTime::now() + *ttl)),
            None => Err(AuthError::Rejected),
        });
        Box::pin(async move { found.transpose() })
    }
}

fn alice(admin: bool) -> User {
    User::new(ALICE, "alice").with_claim("admin", admin)
}

fn tokens() -> Tokens {
    let secs = |n| Some(Duration::from_secs(n));
    Tokens(HashMap::from([
        ("alice", (alice(true), None)),
        ("alice-short", (alice(true), secs(2))),
        ("alice-long", (alice(true), secs(120))),
        ("alice-plain", (alice(false), None)),
        ("bob", (User::new(BOB, "bob"), None)),
        (
            "root",
            (User::new(9, "root").with_claim("admin", true), None),
        ),
        // One expiry for every authentication, as a JWT's `exp` is.
        (
            "alice-fixed",
            (alice(true).expiring_at(SystemTime::now() + FIXED), None),
        ),
    ]))
}

/// Admins see every task; others their own.
struct OwnTasks;

impl Permission for OwnTasks {
    fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
        match user {
            Some(user) if user.has("admin") => None,
            user => json!({"owner_id": user.map_or(-1, |u| u.id)})
                .as_object()
                .cloned(),
        }
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required())
                .field(Field::integer("owner_id"))
                .permission(OwnTasks),
        )
        .unwrap()
}

fn limits() -> Limits {
    Limits {
        auth_expiry_warning: Duration::from_secs(1),
        max_token_bytes: 64,
        ..Limits::default()
    }
}

/// Creates Alice's task 1 and Bob's task 2 through `addr`.
async fn seed(addr: SocketAddr) {
    let mut admin = Client::connect(addr, "root").await;
    for (title, owner) in [("alice's", ALICE), ("bob's", BOB)] {
        let reply = admin
            .call(
                "todo.Task.create",
                json!({"title": title, "owner_id": owner}),
            )
            .await;
        assert_eq!(reply["data"]["success"], true, "{reply}");
    }
}

/// One engine served by both adapters.
struct Servers {
    engine: Engine,
    async_server: chanbind_async::ServerHandle,
    sync_server: chanbind_sync::ServerHandle,
}

impl Servers {
    async fn start() -> Servers {
        Servers::start_with(limits()).await
    }

    async fn start_with(limits: Limits) -> Servers {
        let registry = registry();
        let store = Arc::new(MemoryStore::new(&registry));
        let engine = Engine::builder(registry, store)
            .limits(limits)
            .authenticator(tokens())
            .start()
            .await
            .unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let async_server =
            chanbind_async::serve(listener, engine.clone(), Default::default()).unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let sync_server =
            chanbind_sync::serve(listener, engine.clone(), Default::default()).unwrap();
        let servers = Servers {
            engine,
            async_server,
            sync_server,
        };
        seed(servers.addr("async")).await;
        servers
    }

    fn addr(&self, adapter: &str) -> SocketAddr {
        match adapter {
            "async" => self.async_server.local_addr(),
            _ => self.sync_server.local_addr(),
        }
    }

    async fn stop(self) {
        self.async_server.shutdown().await;
        let sync_server = self.sync_server;
        tokio::task::spawn_blocking(move || sync_server.shutdown())
            .await
            .unwrap();
    }
}

/// What a connection received: every frame in order, and the close code once closed.
#[derive(Debug, Default)]
struct Seen {
    frames: Vec<Value>,
    close: Option<u16>,
}

/// One WebSocket connection, as a client sees it.
struct Client {
    seen: Arc<Mutex<Seen>>,
    tx: SplitSink<WebSocketStream<MaybeTlsStream<TcpStream>>, Message>,
    calls: u64,
}

impl Client {
    async fn connect(addr: SocketAddr, token: &str) -> Client {
        let (ws, _) = tokio_tungstenite::connect_async(format!("ws://{addr}/?token={token}"))
            .await
            .expect("the server takes the token");
        let (tx, mut rx) = ws.split();
        let seen = Arc::new(Mutex::new(Seen::default()));
        let recorder = Arc::clone(&seen);
        tokio::spawn(async move {
            while let Some(Ok(msg)) = rx.next().await {
                let mut seen = recorder.lock().unwrap();
                match msg {
                    Message::Text(text) => seen.frames.push(serde_json::from_str(&text).unwrap()),
                    Message::Close(frame) => {
                        seen.close = Some(frame.map_or(1005, |f| u16::from(f.code)));
                    }
                    _ => {}
                }
            }
        });
        let client = Client { seen, tx, calls: 0 };
        client.frame("hello").await;
        client
    }

    async fn send(&mut self, event: &str, data: Value) {
        let text = json!({"event": event, "data": data}).to_string();
        self.tx.send(Message::text(text)).await.expect("sent");
    }

    /// Sends `event` under a hash of its own; the frame answering it.
    async fn call(&mut self, event: &str, data: Value) -> Value {
        self.calls += 1;
        let event = format!("{event}#c{}", self.calls);
        self.send(&event, data).await;
        self.frame(&event).await
    }

    /// Waits for a frame that `pick` accepts (among all received so far).
    async fn wait_for(&self, what: &str, pick: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(frame) = self.seen.lock().unwrap().frames.iter().find(|f| pick(f)) {
                return frame.clone();
            }
            assert!(
                Instant::now() < deadline,
                "no {what}; got {:#?}",
                self.seen.lock().unwrap()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first frame of `event`.
    async fn frame(&self, event: &str) -> Value {
        self.wait_for(event, |f| f["event"] == event).await
    }

    /// The number of frames of `event` received so far.
    fn count(&self, event: &str) -> usize {
        let seen = self.seen.lock().unwrap();
        seen.frames.iter().filter(|f| f["event"] == event).count()
    }

    /// Waits for the server's close; its code.
    async fn closed(&self) -> u16 {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(code) = self.seen.lock().unwrap().close {
                return code;
            }
            assert!(Instant::now() < deadline, "not closed: {:#?}", self.seen);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn close_code(&self) -> Option<u16> {
        self.seen.lock().unwrap().close
    }

    /// Subscribes to task `id` under `hash`; the reply.
    async fn watch_task(&mut self, id: i64, hash: &str) -> Value {
        let event = format!("todo.Task.retrieve#{hash}");
        self.send(&event, json!({"id": id})).await;
        self.frame(&event).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_credential_is_warned_then_closed_with_4001() {
    let servers = Servers::start().await;
    for adapter in ["async", "sync"] {
        let client = Client::connect(servers.addr(adapter), "alice-short").await;
        let hello = client.frame("hello").await;
        assert_eq!(hello["data"]["limits"]["auth_expiry_warning_ms"], 1000);
        let warning = client.frame("auth.expiring").await;
        assert_eq!(
            client.close_code(),
            None,
            "{adapter}: warned before the close"
        );
        let left = warning["data"]["expires_in_ms"].as_u64().unwrap();
        assert!(left <= 1000, "{adapter}: {warning}");
        let at = warning["data"]["expires_at"].as_str().unwrap();
        assert!(chrono::DateTime::parse_from_rfc3339(at).is_ok(), "{at}");
        assert_eq!(client.closed().await, 4001, "{adapter}");
        assert_eq!(client.count("auth.expiring"), 1, "{adapter}: warned once");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_in_band_keeps_the_connection_and_its_subscriptions() {
    let servers = Servers::start().await;
    for adapter in ["async", "sync"] {
        let mut client = Client::connect(servers.addr(adapter), "alice-short").await;
        let row = client.watch_task(1, "t1").await;
        assert_eq!(row["data"]["title"], "alice's", "{row}");
        client.frame("auth.expiring").await;
        let reply = client
            .call("auth.refresh", json!({"token": "alice-long"}))
            .await;
        assert_eq!(reply["data"]["success"], true, "{adapter}: {reply}");
        assert_eq!(reply["data"]["user"], json!({"id": 1, "name": "alice"}));
        assert!(reply["data"]["expires_at"].is_string(), "{reply}");
        // Past the first credential's expiry: still open, still served, still pushed to.
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_eq!(
            client.close_code(),
            None,
            "{adapter}: refreshed, not closed"
        );
        let update = client
            .call("todo.Task.update", json!({"id": 1, "title": "renamed"}))
            .await;
        assert_eq!(update["data"]["success"], true, "{adapter}: {update}");
        client
            .wait_for("the push of the renamed row", |f| {
                f["event"] == "todo.Task.retrieve#t1" && f["data"]["title"] == "renamed"
            })
            .await;
        client
            .call("todo.Task.update", json!({"id": 1, "title": "alice's"}))
            .await;
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_to_the_same_expiry_is_not_warned_again() {
    let servers = Servers::start().await;
    let mut clients = Vec::new();
    for adapter in ["async", "sync"] {
        clients.push(Client::connect(servers.addr(adapter), "alice-fixed").await);
    }
    for client in &mut clients {
        client.frame("auth.expiring").await;
        let reply = client
            .call("auth.refresh", json!({"token": "alice-fixed"}))
            .await;
        assert_eq!(reply["data"]["success"], true, "{reply}");
    }
    for client in &clients {
        assert_eq!(client.closed().await, 4001);
        assert_eq!(client.count("auth.expiring"), 1, "warned once");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_keeps_the_old_identity_and_its_expiry() {
    let servers = Servers::start().await;
    for adapter in ["async", "sync"] {
        let mut client = Client::connect(servers.addr(adapter), "alice-short").await;
        let other = client.call("auth.refresh", json!({"token": "bob"})).await;
        assert_eq!(
            other["error"]["code"], "permission_denied",
            "{adapter}: {other}"
        );
        let wrong = client.call("auth.refresh", json!({"token": "nope"})).await;
        assert_eq!(
            wrong["error"]["code"], "unauthenticated",
            "{adapter}: {wrong}"
        );
        let long = client
            .call("auth.refresh", json!({"token": "a".repeat(65)}))
            .await;
        assert_eq!(long["error"]["code"], "bad_request", "{adapter}: {long}");
        let none = client.call("auth.refresh", json!({})).await;
        assert_eq!(none["error"]["code"], "bad_request", "{adapter}: {none}");
        // Still Alice, an admin: Bob's task is visible.
        let row = client.watch_task(2, "t2").await;
        assert_eq!(row["data"]["title"], "bob's", "{adapter}: {row}");
        // And the old credential's expiry still closes it.
        assert_eq!(client.closed().await, 4001, "{adapter}");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refreshes_count_against_the_rate_limit() {
    let servers = Servers::start_with(Limits {
        requests_per_second: 1,
        request_burst: 3,
        ..limits()
    })
    .await;
    for adapter in ["async", "sync"] {
        let mut client = Client::connect(servers.addr(adapter), "alice-long").await;
        let mut codes = Vec::new();
        for _ in 0..5 {
            let answer = client
                .call("auth.refresh", json!({"token": "alice-long"}))
                .await;
            codes.push(answer["error"]["code"].as_str().unwrap_or("ok").to_owned());
        }
        assert!(
            codes.iter().any(|c| c == "rate_limited"),
            "{adapter}: {codes:?}"
        );
        assert_eq!(codes[0], "ok", "{adapter}: {codes:?}");
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refresh_that_lowers_rights_ends_what_the_user_no_longer_sees() {
    let servers = Servers::start().await;
    for adapter in ["async", "sync"] {
        let mut client = Client::connect(servers.addr(adapter), "alice").await;
        client.watch_task(1, "mine").await;
        client.watch_task(2, "theirs").await;
        client.send("todo.Task.list#all", json!({})).await;
        let all = client.frame("todo.Task.list#all").await;
        assert_eq!(all["data"]["rows"].as_array().unwrap().len(), 2, "{all}");
        let reply = client
            .call("auth.refresh", json!({"token": "alice-plain"}))
            .await;
        assert_eq!(reply["data"]["success"], true, "{adapter}: {reply}");
        assert_eq!(reply["data"]["expires_at"], Value::Null);
        // Bob's row: the subscription ends with the error the request gets now.
        let ended = client
            .wait_for("the end of the subscription to Bob's task", |f| {
                f["event"] == "todo.Task.retrieve#theirs" && f.get("error").is_some()
            })
            .await;
        assert_eq!(ended["error"]["code"], "not_found", "{adapter}: {ended}");
        // The live list is re-read at once with the new rights.
        client
            .wait_for("the list without Bob's task", |f| {
                f["event"] == "todo.Task.list#all"
                    && f["data"]["rows"].as_array().is_some_and(|r| r.len() == 1)
            })
            .await;
        // A change to Bob's task is no longer pushed; Alice's own still is.
        let before = client.count("todo.Task.retrieve#theirs");
        let mut admin = Client::connect(servers.addr(adapter), "root").await;
        admin
            .call("todo.Task.update", json!({"id": 2, "title": "bob's!"}))
            .await;
        admin
            .call("todo.Task.update", json!({"id": 1, "title": "alice's!"}))
            .await;
        client
            .wait_for("the push of Alice's task", |f| {
                f["event"] == "todo.Task.retrieve#mine" && f["data"]["title"] == "alice's!"
            })
            .await;
        assert_eq!(
            client.count("todo.Task.retrieve#theirs"),
            before,
            "{adapter}"
        );
        for (id, title) in [(1, "alice's"), (2, "bob's")] {
            admin
                .call("todo.Task.update", json!({"id": id, "title": title}))
                .await;
        }
    }
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_user_closes_every_socket_of_the_user_with_4003() {
    let servers = Servers::start().await;
    let on_async = Client::connect(servers.addr("async"), "alice").await;
    let on_sync = Client::connect(servers.addr("sync"), "alice-long").await;
    let mut bob = Client::connect(servers.addr("sync"), "bob").await;
    assert_eq!(servers.engine.disconnect_user(ALICE), 2);
    assert_eq!(on_async.closed().await, 4003);
    assert_eq!(on_sync.closed().await, 4003);
    let reply = bob.call("todo.Task.list", json!({})).await;
    assert_eq!(
        reply["data"]["rows"].as_array().unwrap().len(),
        1,
        "{reply}"
    );
    assert_eq!(bob.close_code(), None, "other users stay");
    assert_eq!(servers.engine.disconnect_user(ALICE), 0, "nobody left");
    servers.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recheck_user_applies_a_change_of_roles_to_open_connections() {
    let servers = Servers::start().await;
    let mut clients = Vec::new();
    for adapter in ["async", "sync"] {
        let mut client = Client::connect(servers.addr(adapter), "alice").await;
        client.watch_task(2, "theirs").await;
        clients.push(client);
    }
    let mut bob = Client::connect(servers.addr("async"), "bob").await;
    bob.watch_task(2, "own").await;
    assert_eq!(servers.engine.recheck_user(alice(false)), 2);
    for client in &mut clients {
        let ended = client
            .wait_for("the end of the subscription", |f| {
                f["event"] == "todo.Task.retrieve#theirs" && f.get("error").is_some()
            })
            .await;
        assert_eq!(ended["error"]["code"], "not_found", "{ended}");
        // New requests run with the new rights too.
        let list = client.call("todo.Task.list", json!({})).await;
        assert_eq!(list["data"]["rows"].as_array().unwrap().len(), 1, "{list}");
    }
    assert_eq!(
        bob.count("todo.Task.retrieve#own"),
        1,
        "other users are left alone"
    );
    servers.stop().await;
}

/// The database of the cluster test: `DATABASE_URL`; without it the test passes with a
/// notice, except under `CI=true`, where it fails.
fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("live_auth: DATABASE_URL is not set; skipping the cluster test");
            None
        }
    }
}

/// A node of a two-node cluster on PostgreSQL: its engine, with the PostgreSQL channel
/// layer and its listener, served by the async adapter (`sync: false`) or the sync one.
struct Node {
    engine: Engine,
    store: Arc<chanbind_async::postgres::PgStore>,
    _listener: chanbind_async::postgres::CaptureListener,
    server: Result<chanbind_async::ServerHandle, chanbind_sync::ServerHandle>,
}

impl Node {
    async fn start(url: &str, schema: &str, sync: bool) -> Node {
        let registry = registry();
        let config = chanbind_async::postgres::PgConfig {
            url: url.to_owned(),
            schema: Some(schema.to_owned()),
            pool_size: 2,
            ..Default::default()
        };
        let store = chanbind_async::postgres::PgStore::connect(config)
            .await
            .expect("connect");
        store.migrate(&registry).await.expect("migrate");
        let store = Arc::new(store);
        let engine = Engine::builder(registry, store.clone())
            .limits(limits())
            .authenticator(tokens())
            .layer(store.layer())
            .start()
            .await
            .unwrap();
        let listener = store.listen(engine.clone());
        assert!(listener.wait_listening(1, WAIT).await, "the node listens");
        let server = if sync {
            let tcp = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            Err(chanbind_sync::serve(tcp, engine.clone(), Default::default()).unwrap())
        } else {
            let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            Ok(chanbind_async::serve(tcp, engine.clone(), Default::default()).unwrap())
        };
        Node {
            engine,
            store,
            _listener: listener,
            server,
        }
    }

    fn addr(&self) -> SocketAddr {
        match &self.server {
            Ok(server) => server.local_addr(),
            Err(server) => server.local_addr(),
        }
    }

    async fn stop(self) {
        match self.server {
            Ok(server) => server.shutdown().await,
            Err(server) => {
                tokio::task::spawn_blocking(move || server.shutdown())
                    .await
                    .unwrap();
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_and_recheck_reach_the_users_connections_on_other_nodes() {
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("live_auth_{}_{nanos}", std::process::id());
    let a = Node::start(&url, &schema, false).await;
    let b = Node::start(&url, &schema, true).await;
    seed(a.addr()).await;
    let mut alice_on_b = Client::connect(b.addr(), "alice").await;
    alice_on_b.watch_task(2, "theirs").await;
    let mut bob_on_b = Client::connect(b.addr(), "bob").await;
    // Node A holds none of Alice's connections; the layer carries both to node B.
    assert_eq!(a.engine.recheck_user(alice(false)), 0);
    let ended = alice_on_b
        .wait_for("the end of the subscription on the other node", |f| {
            f["event"] == "todo.Task.retrieve#theirs" && f.get("error").is_some()
        })
        .await;
    assert_eq!(ended["error"]["code"], "not_found", "{ended}");
    assert_eq!(a.engine.disconnect_user(ALICE), 0);
    assert_eq!(alice_on_b.closed().await, 4003);
    let reply = bob_on_b.call("todo.Task.list", json!({})).await;
    assert_eq!(
        reply["data"]["rows"].as_array().unwrap().len(),
        1,
        "{reply}"
    );
    assert_eq!(bob_on_b.close_code(), None, "other users stay");
    let store = Arc::clone(&a.store);
    a.stop().await;
    b.stop().await;
    store.drop_schema().await.expect("drop schema");
}
