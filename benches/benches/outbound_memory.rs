//! The memory clients that stop reading make the server hold: this process's resident set
//! after a writer sends updates of a large row to change feeds whose clients read nothing,
//! with `outbound_queue_bytes` at its default and unbounded (the behaviour before the queue
//! was bounded by bytes, when only its 1,024 frames bounded it).
//!
//! Each setting runs in a child process of its own, so one run's freed memory does not hide
//! the other's growth. A child serves the async adapter on the in-memory store, opens
//! `STALLED` change feeds that never read, and sends `UPDATES` updates of a `ROW_BYTES` row
//! (fewer updates than the queue's frames, so only the byte bound can refuse them); it prints
//! VmRSS before and after, and how many pushes the engine refused (the stalled clients are
//! closed with 4008 once their queue is full).
//!
//! Run with `cargo bench -p chanbind-benches --bench outbound_memory` (a few seconds).

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use futures_util::{SinkExt, StreamExt};
use serde_json::json;
use tokio_tungstenite::tungstenite::Message;

/// Clients that subscribe and then read nothing.
const STALLED: usize = 4;
/// Updates the writer sends.
const UPDATES: usize = 1000;
/// The size of the row each update writes.
const ROW_BYTES: usize = 256 * 1024;
/// Set in a child: the `outbound_queue_bytes` it measures.
const CHILD: &str = "CHANBIND_BENCH_OUTBOUND_QUEUE_BYTES";

/// This process's resident set, in MiB.
fn rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(f64::NAN, |kb| kb / 1024.0)
}

async fn child(queue_bytes: usize) {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title").required()))
        .expect("bindings");
    let store = Arc::new(MemoryStore::new(&registry));
    let limits = Limits {
        outbound_queue_bytes: queue_bytes,
        ..chanbind_benches::bench_limits()
    };
    let engine = Engine::builder(registry, store)
        .limits(limits)
        .allow_anonymous(true)
        .start()
        .await
        .expect("engine");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let server =
        chanbind_async::serve(listener, engine.clone(), Default::default()).expect("serve");
    let url = format!("ws://{}/", server.local_addr());
    let (mut writer, _) = tokio_tungstenite::connect_async(&url)
        .await
        .expect("connect");
    writer.next().await;
    let ask = async |ws: &mut _, frame: serde_json::Value| {
        let ws: &mut tokio_tungstenite::WebSocketStream<_> = ws;
        ws.send(Message::text(frame.to_string()))
            .await
            .expect("send");
        ws.next().await;
    };
    ask(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "x"}}),
    )
    .await;
    let mut stalled = Vec::new();
    for _ in 0..STALLED {
        let (mut ws, _) = tokio_tungstenite::connect_async(&url)
            .await
            .expect("connect");
        ws.next().await;
        ask(
            &mut ws,
            json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
        )
        .await;
        stalled.push(ws);
    }
    let before = rss_mib();
    let padding = "x".repeat(ROW_BYTES);
    for i in 0..UPDATES {
        let title = format!("{i}{padding}");
        ask(
            &mut writer,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": title}}),
        )
        .await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let after = rss_mib();
    let bound = if queue_bytes == usize::MAX {
        "unbounded (frames only)".to_owned()
    } else {
        format!("{} MiB", queue_bytes / (1024 * 1024))
    };
    println!(
        "outbound_queue_bytes {bound:>24}: server RSS {before:7.1} MiB -> {after:7.1} MiB (+{:.1}) \
         with {STALLED} stalled clients and {UPDATES} updates of {} KiB; pushes refused: {}",
        after - before,
        ROW_BYTES / 1024,
        engine.stats().pushes_refused
    );
    drop(stalled);
    server.shutdown().await;
}

fn main() {
    if let Some(bytes) = std::env::var(CHILD).ok().and_then(|c| c.parse().ok()) {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(child(bytes));
        return;
    }
    let me = std::env::current_exe().expect("the bench's own path");
    for bytes in [usize::MAX, Limits::default().outbound_queue_bytes] {
        let status = std::process::Command::new(&me)
            .env(CHILD, bytes.to_string())
            .status()
            .expect("run the child");
        assert!(status.success(), "the child for {bytes} bytes failed");
    }
}
