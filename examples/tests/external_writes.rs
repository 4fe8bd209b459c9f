//! The `external_writes` example as a user runs it, on both adapters: it serves the demo's
//! bindings on PostgreSQL without capture triggers and writes tasks with its own
//! tokio-postgres connection, telling the engine with `changed`; a WebSocket subscriber of a
//! live search and of a change feed sees each new row arrive, and the previous one marked
//! done.
//!
//! Needs a PostgreSQL server and `psql`: `DATABASE_URL=postgres://... cargo test -p
//! chanbind-examples --test external_writes`. Without `DATABASE_URL` the tests pass with a
//! notice, except under `CI=true`, where they fail. Each test works in its own schema,
//! dropped after.

#[path = "cluster/node.rs"]
mod node;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use futures_util::{SinkExt, StreamExt};
use node::DemoNode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::Message;

fn database_url() -> Option<String> {
    match std::env::var("DATABASE_URL") {
        Ok(url) if !url.is_empty() => Some(url),
        _ if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("DATABASE_URL must be set under CI")
        }
        _ => {
            eprintln!("external_writes: DATABASE_URL is not set; skipping");
            None
        }
    }
}

/// Runs SQL through `psql`.
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

/// Drops the test's schema however the test ends (after the node, declared later, is gone).
struct Cleanup {
    url: String,
    schema: String,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        let _ = std::process::Command::new("psql")
            .args([self.url.as_str(), "-qc"])
            .arg(format!("DROP SCHEMA IF EXISTS \"{}\" CASCADE", self.schema))
            .output();
    }
}

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The next text frame as JSON.
async fn next_json(ws: &mut Ws) -> Value {
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("a frame in time")
            .expect("a frame")
            .expect("a readable frame");
        if let Ok(text) = msg.to_text() {
            if !text.is_empty() {
                return serde_json::from_str(text).expect("JSON");
            }
        }
    }
}

async fn sees_its_writes(adapter: &'static str) {
    let Some(url) = database_url() else { return };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let schema = format!("external_{adapter}_{}_{nanos}", std::process::id());
    let _cleanup = Cleanup {
        url: url.clone(),
        schema: schema.clone(),
    };
    let node = DemoNode::spawn_program(
        env!("CARGO_BIN_EXE_external_writes"),
        adapter,
        &[
            "--database-url",
            &url,
            "--schema",
            &schema,
            "--every",
            "0.3",
        ],
    );
    let triggers = psql(
        &url,
        &format!(
            "SELECT count(*) FROM pg_trigger WHERE tgrelid = '\"{schema}\".todo_task'::regclass AND NOT tgisinternal"
        ),
    );
    assert_eq!(triggers, "0", "no capture triggers");

    let (mut ws, _) = tokio_tungstenite::connect_async(format!("ws://{}/", node.addr))
        .await
        .expect("a WebSocket");
    assert_eq!(next_json(&mut ws).await["event"], "hello");
    for request in [
        json!({"event": "todo.Task.search#latest", "data": {"order": "-id", "limit": 2}}),
        json!({"event": "todo.Task.subscribe#feed", "data": {}}),
    ] {
        ws.send(Message::text(request.to_string())).await.unwrap();
    }
    // The replies, then pushes: a row created after subscribing, then that row marked done
    // when the next one is written.
    let mut first_id = None;
    let mut created = None;
    let mut done = false;
    while !done {
        let frame = next_json(&mut ws).await;
        assert!(frame.get("error").is_none(), "{frame}");
        let data = &frame["data"];
        match frame["event"].as_str().unwrap() {
            "todo.Task.search#latest" => {
                let latest = data["rows"][0]["id"].as_i64().unwrap_or(0);
                first_id.get_or_insert(latest);
                // The row created after subscribing, pushed to the live search, now done.
                if let Some(id) = created {
                    done = data["rows"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|r| r["id"] == id && r["done"] == true);
                }
            }
            "todo.Task.created#feed" => {
                let id = data["id"].as_i64().unwrap();
                assert!(
                    id > first_id.unwrap_or(0),
                    "a row written after subscribing: {data}"
                );
                assert!(
                    data["title"]
                        .as_str()
                        .unwrap()
                        .starts_with("written outside chanbind #"),
                    "{data}"
                );
                created.get_or_insert(id);
            }
            "todo.Task.updated#feed" | "todo.Task.subscribe#feed" => {}
            other => panic!("unexpected {other}: {frame}"),
        }
    }
    assert!(
        node.log().contains("engine.changed told the subscribers"),
        "{}",
        node.log()
    );
}

#[tokio::test]
async fn the_async_example_pushes_its_own_sql_writes() {
    sees_its_writes("async").await;
}

#[tokio::test]
async fn the_sync_example_pushes_its_own_sql_writes() {
    sees_its_writes("sync").await;
}
