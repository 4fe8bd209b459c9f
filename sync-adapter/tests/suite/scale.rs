//! A thousand concurrent connections, each its own server thread.
//!
//! Each connection costs the server three file descriptors (socket, epoll, eventfd) and the
//! client one, so 1,000 connections need about 4,100 descriptors in this one process. When the
//! soft limit (`ulimit -n`) is lower, the test uses as many connections as fit (at least 100)
//! and says so.

use std::time::Instant;

use serde_json::json;

use chanbind_engine::config::Limits;
use chanbind_sync::ServerConfig;

use crate::common::{self, connect, next, request, send, start_with};

const WANTED: usize = 1000;

/// The soft limit on open files, from `/proc/self/limits` (Linux); `None` elsewhere.
fn open_files_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    let soft = line.split_whitespace().nth(3)?;
    if soft == "unlimited" {
        Some(usize::MAX)
    } else {
        soft.parse().ok()
    }
}

#[test]
fn a_thousand_connections_get_hello_and_one_update_reaches_all() {
    let n = match open_files_limit() {
        Some(limit) if limit < 4 * WANTED + 200 => {
            let n = (limit.saturating_sub(200) / 4).max(100);
            eprintln!("NOTICE: ulimit -n is {limit}; holding {n} connections instead of {WANTED}");
            n
        }
        _ => WANTED,
    };
    // Every client is anonymous on 127.0.0.1: the per-address limit must let them all in.
    let limits = Limits {
        max_connections_per_user: 2 * WANTED,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut writer = connect(srv.addr());
    request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "shared"}}),
    );
    let started = Instant::now();
    let mut clients: Vec<_> = (0..n).map(|_| connect(srv.addr())).collect();
    let connected = started.elapsed();
    assert_eq!(srv.server.connection_threads(), n + 1);
    for (i, ws) in clients.iter_mut().enumerate() {
        send(
            ws,
            json!({"event": "todo.Task.retrieve#r", "data": {"id": 1}}),
        );
        if i % 100 == 99 {
            // Keep the server's queues short while the requests go out.
            std::thread::yield_now();
        }
    }
    for ws in &mut clients {
        let row = next(ws);
        assert_eq!(row["data"]["title"], "shared", "{row}");
    }
    let push_started = Instant::now();
    request(
        &mut writer,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": "seen by all"}}),
    );
    for ws in &mut clients {
        let push = next(ws);
        assert_eq!(push["event"], "todo.Task.retrieve#r");
        assert_eq!(push["data"]["title"], "seen by all");
    }
    let fanned_out = push_started.elapsed();
    let stats = srv.engine().stats();
    assert_eq!(stats.pushes_refused, 0);
    eprintln!(
        "{n} connections: opened in {connected:?}, one update reached all in {fanned_out:?}, \
         {} push frame(s) encoded for {} delivered",
        stats.pushes_encoded, stats.pushes_delivered
    );
    let started = Instant::now();
    let stopped = srv.server.shutdown();
    assert_eq!(stopped.joined, n + 1);
    assert_eq!(stopped.abandoned, 0);
    eprintln!(
        "shutdown closed and joined {} threads in {:?}",
        stopped.joined,
        started.elapsed()
    );
}
