//! `serve-tables` as a new user runs it on a schema written by someone else: it binds the
//! named tables by introspection, prints each stream with its key and relations, warns that
//! everything is open, and answers over WebSocket and HTTP on both adapters. A declared
//! binding (the demo's) over a table of another shape stops its program naming the column.
//!
//! Needs `DATABASE_URL`; without it each test prints a notice and passes, except under
//! `CI=true`, where it fails. Each test works in a schema of its own, dropped afterwards.
//!
//! ```text
//! cargo test -p chanbind-examples --test serve_tables
//! ```

#[path = "cluster/node.rs"]
mod node;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use node::DemoNode;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("serve_tables: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// Runs SQL through `psql`, a writer chanbind knows nothing about.
fn psql(url: &str, sql: &str) -> String {
    let out = std::process::Command::new("psql")
        .args([url, "-v", "ON_ERROR_STOP=1", "-Atq", "-c", sql])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "psql failed on {sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A schema of the test's own, and `url` with it alone on the `search_path` (libpq's
/// `options`), so unqualified table names find its tables; dropped when dropped.
struct Schema {
    url: String,
    scoped: String,
    name: String,
}

impl Schema {
    fn new(url: &str, sql: &str) -> Schema {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let name = format!(
            "serve_tables_{}_{nanos}_{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::SeqCst)
        );
        psql(
            url,
            &format!("CREATE SCHEMA {name}; SET search_path = {name}; {sql}"),
        );
        let sep = if url.contains('?') { '&' } else { '?' };
        let scoped = format!("{url}{sep}options=-c%20search_path%3D{name}");
        Schema {
            url: url.to_owned(),
            scoped,
            name,
        }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        psql(&self.url, &format!("DROP SCHEMA {} CASCADE", self.name));
    }
}

/// Someone else's schema: authors keyed by a generated UUID, books keyed by the ISBN the
/// client gives, reviews keyed by identity referring to both (a cascade from books), with
/// defaults, an enum, a generated column, a column of a type chanbind has no kind for, and a
/// mixed-case table reached through its schema.
const LIBRARY: &str = r#"
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE author (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    name text NOT NULL UNIQUE
);
CREATE TABLE book (
    isbn text PRIMARY KEY,
    title varchar(200) NOT NULL,
    price numeric(10,2) NOT NULL DEFAULT 0,
    author_id uuid REFERENCES author ON DELETE SET NULL
);
CREATE TABLE review (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    book_isbn text NOT NULL REFERENCES book ON DELETE CASCADE,
    author_id uuid REFERENCES author,
    mood mood NOT NULL DEFAULT 'ok',
    stars smallint NOT NULL CHECK (stars BETWEEN 1 AND 5),
    body text,
    body_length integer GENERATED ALWAYS AS (length(body)) STORED,
    created_at timestamptz NOT NULL DEFAULT now(),
    photo bytea
);
CREATE TABLE "Order" (
    "Id" serial PRIMARY KEY,
    "createdAt" timestamptz NOT NULL DEFAULT now(),
    "Total" numeric(8,2)
);
"#;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn next_json(ws: &mut Ws) -> Value {
    let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
        .await
        .expect("a frame in time")
        .expect("a frame")
        .expect("a readable frame");
    serde_json::from_str(msg.to_text().expect("text")).expect("JSON")
}

/// Sends `event` with `data` under a hash of its own and returns the reply (pushes of
/// earlier requests skipped).
async fn call(ws: &mut Ws, event: &str, data: Value) -> Value {
    static HASH: AtomicU32 = AtomicU32::new(0);
    let event = format!("{event}#c{}", HASH.fetch_add(1, Ordering::SeqCst));
    let frame = json!({"event": event, "data": data});
    ws.send(Message::text(frame.to_string())).await.unwrap();
    loop {
        let frame = next_json(ws).await;
        if frame["event"] == event.as_str() {
            return frame;
        }
    }
}

/// One HTTP/1.1 request; the status and the JSON body (null when empty).
async fn http(addr: SocketAddr, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut stream = TcpStream::connect(addr).await.expect("HTTP");
    let body = body.map(|b| b.to_string()).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Type: \
         application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("read");
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut parsed = httparse::Response::new(&mut headers);
    let httparse::Status::Complete(start) = parsed.parse(&response).expect("HTTP") else {
        panic!("a partial response");
    };
    let chunked = parsed.headers.iter().any(|h| {
        h.name.eq_ignore_ascii_case("transfer-encoding")
            && String::from_utf8_lossy(h.value).contains("chunked")
    });
    let mut body = response[start..].to_vec();
    if chunked {
        body = dechunk(&body);
    }
    let json = if body.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(&body).expect("a JSON body")
    };
    (parsed.code.expect("a status"), json)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let Ok(httparse::Status::Complete((used, size))) = httparse::parse_chunk_size(raw) else {
            return out;
        };
        let size = usize::try_from(size).expect("a chunk size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[used..used + size]);
        raw = &raw[used + size + 2..];
    }
}

async fn library_over_both_transports(adapter: &'static str) {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(&url, LIBRARY);
    let order = format!("{}.Order", schema.name);
    let node = DemoNode::spawn_program(
        env!("CARGO_BIN_EXE_serve-tables"),
        adapter,
        &[
            "--database-url",
            &schema.scoped,
            "--capture",
            "author",
            "book",
            "review",
            &order,
        ],
    );
    let log = node.log();
    for line in [
        "stream author (table author): key id (uuid, given by the database unless the client gives it); to one: none; to many: books = book.author_id, reviews = review.author_id",
        "stream book (table book): key isbn (string, given by the client); to one: author = author_id -> author (on delete set null); to many: reviews = review.book_isbn",
        "stream review (table review): key id (integer, given by the database); to one: book = book_isbn -> book (on delete cascade), author = author_id -> author (on delete restrict); to many: none",
        &format!("stream {order} (table {order}): key Id (integer, given by the database); to one: none; to many: none"),
        "EVERY ACTION IS OPEN TO EVERYONE",
        ".review.photo left out",
    ] {
        assert!(log.contains(line), "{line:?} in\n{log}");
    }

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.addr))
        .await
        .expect("a WebSocket");
    next_json(&mut ws).await;
    // A UUID the database generates.
    let ann = call(&mut ws, "author.create", json!({"name": "Ann"})).await;
    let ann_id = ann["data"]["id"].as_str().expect("a UUID key").to_owned();
    assert_eq!(ann_id.len(), 36, "{ann}");
    // A text key the client gives; the price takes its default, as the reply shows.
    let book = call(
        &mut ws,
        "book.create",
        json!({"isbn": "978-3-16-148410-0", "title": "Tea", "author_id": ann_id}),
    )
    .await;
    assert_eq!(
        book["data"]["object"],
        json!({"id": "978-3-16-148410-0", "isbn": "978-3-16-148410-0", "title": "Tea",
               "price": "0.00", "author_id": ann_id}),
        "{book}"
    );
    let keyless = call(&mut ws, "book.create", json!({"title": "No key"})).await;
    assert_eq!(
        keyless["error"]["fields"]["id"][0], "this field is required",
        "{keyless}"
    );
    // An identity key; the enum and the timestamp take their defaults, the generated column
    // is computed.
    let review = call(
        &mut ws,
        "review.create",
        json!({"book_isbn": "978-3-16-148410-0", "author_id": ann_id, "stars": 4, "body": "Good"}),
    )
    .await;
    let object = &review["data"]["object"];
    assert_eq!(
        (&object["id"], &object["mood"], &object["body_length"]),
        (&json!(1), &json!("ok"), &json!(4)),
        "{review}"
    );
    assert!(
        object["created_at"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{review}"
    );
    for (data, field, why) in [
        // The CHECK constraint is the database's: refused on its field, without SQL.
        (
            json!({"book_isbn": "978-3-16-148410-0", "stars": 9}),
            "stars",
            "refused by the database's check",
        ),
        (
            json!({"book_isbn": "978-3-16-148410-0", "stars": 3, "mood": "glad"}),
            "mood",
            "must be one of",
        ),
        (json!({"stars": 3}), "book_isbn", "this field is required"),
    ] {
        let bad = call(&mut ws, "review.create", data.clone()).await;
        assert_eq!(bad["error"]["code"], "invalid", "{data}: {bad}");
        let message = bad["error"]["fields"][field][0]
            .as_str()
            .unwrap_or_default();
        assert!(message.contains(why), "{data}: {bad}");
    }
    let missing = call(
        &mut ws,
        "review.create",
        json!({"book_isbn": "nope", "stars": 3}),
    )
    .await;
    assert_eq!(missing["error"]["code"], "conflict", "{missing}");

    // Retrieve (watching), update, save: the subscriber sees the update.
    let watched = call(&mut ws, "book.retrieve", json!({"id": "978-3-16-148410-0"})).await;
    assert_eq!(watched["data"]["title"], "Tea", "{watched}");
    let updated = call(
        &mut ws,
        "book.update",
        json!({"id": "978-3-16-148410-0", "price": "12.5"}),
    )
    .await;
    assert_eq!(updated["data"]["object"]["price"], "12.50", "{updated}");
    let saved = call(
        &mut ws,
        "review.save",
        json!({"id": 1, "book_isbn": "978-3-16-148410-0", "stars": 5, "mood": "happy"}),
    )
    .await;
    assert_eq!(
        saved["data"]["object"]["body_length"],
        Value::Null,
        "{saved}"
    );

    // A write by psql reaches the subscriber through the capture triggers.
    let event = watched["event"].as_str().expect("an event").to_owned();
    psql(
        &schema.scoped,
        "UPDATE book SET title = 'Tea, again' WHERE isbn = '978-3-16-148410-0'",
    );
    let pushed = loop {
        let frame = next_json(&mut ws).await;
        if frame["event"] == event.as_str() && frame["data"]["title"] == "Tea, again" {
            break frame;
        }
    };
    assert_eq!(pushed["data"]["price"], "12.50", "{pushed}");

    // Relations among the introspected tables: a filter and an order through them, `or`, and
    // the related rows expanded and included; a psql write to the related author reaches
    // the live search that shows it.
    let shown = call(
        &mut ws,
        "review.search",
        json!({
            "filters": {"or": [{"book__title__icontains": "TEA"}, {"author__name": "nobody"}]},
            "order": "-book__price",
            "expand": ["book", "author", "book.author"],
        }),
    )
    .await;
    let row = &shown["data"]["rows"][0];
    assert_eq!(shown["data"]["count"], 1, "{shown}");
    // The review's own author went with the save above (a full replacement): null.
    assert_eq!(
        (
            &row["book"]["title"],
            &row["author"],
            &row["book"]["author"]["name"]
        ),
        (&json!("Tea, again"), &Value::Null, &json!("Ann")),
        "{shown}"
    );
    let live = shown["event"].as_str().expect("an event").to_owned();
    let with_reviews = call(
        &mut ws,
        "book.retrieve",
        json!({"id": "978-3-16-148410-0", "include": {"reviews": {"limit": 5}}, "subscribe": false}),
    )
    .await;
    assert_eq!(
        with_reviews["data"]["reviews"][0]["stars"], 5,
        "{with_reviews}"
    );
    psql(&schema.scoped, "UPDATE author SET name = 'Ann B.'");
    let pushed = loop {
        let frame = next_json(&mut ws).await;
        if frame["event"] == live.as_str() {
            break frame;
        }
    };
    assert_eq!(
        pushed["data"]["rows"][0]["book"]["author"]["name"], "Ann B.",
        "{pushed}"
    );
    let (status, page) = http(
        node.addr,
        "GET",
        "/api/review/?book__title__icontains=tea&expand=book&include=",
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        page["rows"][0]["book"]["isbn"], "978-3-16-148410-0",
        "{page}"
    );
    let (status, bad) = http(node.addr, "GET", "/api/review/?expand=nope", None).await;
    assert_eq!(
        (status, &bad["code"]),
        (400, &json!("invalid_filter")),
        "{bad}"
    );

    // Over HTTP: the text key in the path and in Location, a search with an or group.
    let (status, other) = http(
        node.addr,
        "POST",
        "/api/book/",
        Some(json!({"isbn": "a b/c", "title": "Odd key"})),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    let (status, read) = http(node.addr, "GET", "/api/book/a%20b%2Fc", None).await;
    assert_eq!((status, &read["title"]), (200, &json!("Odd key")), "{read}");
    let filters = "%7B%22or%22%3A%5B%7B%22title%22%3A%22Odd%20key%22%7D%2C%7B%22price__gt%22%3A%2210%22%7D%5D%7D";
    let (status, page) = http(
        node.addr,
        "GET",
        &format!("/api/book/?filters={filters}&order=-title"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["count"], 2, "{page}");
    let (status, bad) = http(node.addr, "GET", "/api/author/not-a-uuid", None).await;
    assert_eq!(status, 400, "{bad}");
    let (status, page) = http(node.addr, "GET", "/api/review/?mood=happy&query=", None).await;
    assert_eq!((status, &page["count"]), (200, &json!(1)), "{page}");
    let (status, created) = http(
        node.addr,
        "POST",
        &format!("/api/{order}/"),
        Some(json!({"Total": "3.5"})),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (
            &created["object"]["id"],
            &created["object"]["Id"],
            &created["object"]["Total"]
        ),
        (&json!(1), &json!(1), &json!("3.50")),
        "{created}"
    );

    // Deleting the book cascades to its review, as the foreign key says.
    let gone = call(&mut ws, "book.delete", json!({"id": "978-3-16-148410-0"})).await;
    assert_eq!(gone["data"]["success"], true, "{gone}");
    assert_eq!(psql(&schema.scoped, "SELECT count(*) FROM review"), "0");
    let search = call(&mut ws, "review.search", json!({})).await;
    assert_eq!(search["data"]["count"], 0, "{search}");
    drop(node);
}

#[tokio::test]
async fn async_serve_tables_binds_and_serves_someone_elses_schema() {
    library_over_both_transports("async").await;
}

#[tokio::test]
async fn sync_serve_tables_binds_and_serves_someone_elses_schema() {
    library_over_both_transports("sync").await;
}

/// The demo declares its bindings; over an `auth_user` of another shape it stops at start,
/// naming the column, and creates nothing over the table.
#[tokio::test]
async fn a_declared_binding_over_a_table_of_another_shape_stops_the_program() {
    let Some(url) = database_url() else { return };
    let schema = Schema::new(
        &url,
        "CREATE TABLE auth_user (id bigserial PRIMARY KEY, username integer NOT NULL)",
    );
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_demo"))
        .args(["--listen", "127.0.0.1:0", "--database-url", &schema.scoped])
        .env("NO_COLOR", "1")
        .output()
        .expect("the demo runs");
    let log = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.status.success(), "the demo must not start:\n{log}");
    assert!(
        log.contains("auth_user.username: declared string with max_length 150, found integer")
            || log.contains("auth_user.username: declared string, found integer"),
        "{log}"
    );
    assert_eq!(
        psql(&schema.scoped, "SELECT count(*) FROM auth_user"),
        "0",
        "nothing was seeded"
    );
}
