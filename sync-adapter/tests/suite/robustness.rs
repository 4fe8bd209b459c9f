//! Clients that misbehave cost one thread for a bounded time, never the server: a handshake
//! never finished, a reader that stops (WebSocket or HTTP), a frame cut off; and shutdown
//! closes everyone.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chanbind_engine::config::Limits;
use chanbind_sync::{ServerConfig, Stopped};
use serde_json::json;

use crate::common::{self, close_code, connect, eventually, next, request, start, start_with};
use crate::http;

/// Whether the server closed `stream` (EOF or reset) within `within`.
fn closed_by_server(stream: &mut TcpStream, within: Duration) -> bool {
    stream.set_read_timeout(Some(within)).unwrap();
    let mut buf = [0u8; 1024];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {} // an HTTP answer, say
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

#[test]
fn a_stalled_handshake_costs_one_thread_until_its_deadline() {
    let config = ServerConfig::default().handshake_timeout(Duration::from_secs(2));
    let srv = start_with(common::builder(Limits::default()), config);
    let started = Instant::now();
    let mut silent = TcpStream::connect(srv.addr()).unwrap();
    let mut partial = TcpStream::connect(srv.addr()).unwrap();
    partial.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    // Meanwhile others are served at once: while the stalled threads still wait.
    let mut ws = connect(srv.addr());
    assert_eq!(
        request(&mut ws, json!({"event": "todo.Task.list"}))["data"]["count"],
        0
    );
    assert_eq!(
        srv.server.connection_threads(),
        3,
        "the stalled threads still wait"
    );
    assert!(closed_by_server(&mut silent, Duration::from_secs(5)));
    assert!(closed_by_server(&mut partial, Duration::from_secs(5)));
    assert!(started.elapsed() >= Duration::from_secs(2));
    eventually("the stalled threads to end", || {
        srv.server.connection_threads() == 1
    });
    assert_eq!(
        srv.server.shutdown(),
        Stopped {
            joined: 1,
            abandoned: 0
        }
    );
}

/// A client that stops reading first has its superseded pushes merged: one watching a row
/// only ever waits for that row's latest state and is never closed. A client whose pushes
/// cannot be merged (a change feed: each event says what happened) is closed with 4008.
#[test]
fn a_client_that_stops_reading_is_merged_then_closed_with_4008_and_others_carry_on() {
    let limits = Limits {
        outbound_queue: 8,
        ..Limits::default()
    };
    let config = ServerConfig::default().close_timeout(Duration::from_secs(20));
    let srv = start_with(common::builder(limits), config);
    let mut writer = connect(srv.addr());
    request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "start"}}),
    );
    let mut slow = connect(srv.addr());
    assert_eq!(
        request(
            &mut slow,
            json!({"event": "todo.Task.subscribe", "data": {"id": 1}})
        )["data"]["success"],
        true
    );
    let mut lagging = connect(srv.addr());
    assert_eq!(
        request(
            &mut lagging,
            json!({"event": "todo.Task.retrieve", "data": {"id": 1}})
        )["data"]["id"],
        1
    );
    let mut steady = connect(srv.addr());
    assert_eq!(
        request(
            &mut steady,
            json!({"event": "todo.Task.retrieve", "data": {"id": 1}})
        )["data"]["id"],
        1
    );
    // A reader that keeps up, on its own thread, must see every update.
    let done = Arc::new(AtomicBool::new(false));
    let steady_reader = {
        let done = Arc::clone(&done);
        std::thread::spawn(move || {
            let mut last = String::new();
            let mut seen = 0usize;
            while !done.load(Ordering::Acquire) || !last.ends_with("last") {
                let push = next(&mut steady);
                assert_eq!(push["event"], "todo.Task.retrieve", "{push}");
                last = push["data"]["title"].as_str().unwrap().to_owned();
                seen += 1;
            }
            seen
        })
    };
    // Large rows fill the socket buffers quickly; go on until the server gave up on `slow`,
    // then as many again as its queue holds, so `lagging`'s queue merges for sure.
    let padding = "x".repeat(32 * 1024);
    let mut updates = 0;
    let mut after = 0;
    while after < 50 {
        assert!(updates < 5000, "the slow client was never closed");
        if srv.engine().stats().pushes_refused > 0 {
            after += 1;
        }
        updates += 1;
        let reply = request(
            &mut writer,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}}),
        );
        assert_eq!(reply["data"]["success"], true);
    }
    done.store(true, Ordering::Release);
    updates += 1;
    request(
        &mut writer,
        json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{padding}last")}}),
    );
    let seen = steady_reader.join().unwrap();
    assert_eq!(seen, updates, "the steady reader got every push");
    // The slow client finds its pushes, then the close.
    assert_eq!(close_code(&mut slow), 4008);
    // The lagging one finds fewer pushes than updates, in order, ending on the last state,
    // and is still served.
    let mut pushes = 0;
    let mut previous = 0usize;
    loop {
        let push = next(&mut lagging);
        assert_eq!(push["event"], "todo.Task.retrieve", "{push}");
        pushes += 1;
        let title = push["data"]["title"].as_str().unwrap();
        if title.ends_with("last") {
            break;
        }
        let n: usize = title.trim_end_matches('x').parse().unwrap();
        assert!(n > previous, "states arrive in order: {n} after {previous}");
        previous = n;
    }
    assert!(
        pushes < updates,
        "superseded pushes were merged: {pushes} pushes for {updates} updates"
    );
    assert_eq!(
        request(&mut lagging, json!({"event": "todo.Task.list"}))["data"]["count"],
        1
    );
    // The writer was never affected.
    assert_eq!(
        request(&mut writer, json!({"event": "todo.Task.list"}))["data"]["count"],
        1
    );
    eprintln!(
        "slow consumer closed after {updates} updates of 32 KiB; the lagging one got {pushes}"
    );
    srv.server.shutdown();
}

#[test]
fn an_http_client_that_never_reads_its_answers_is_dropped_after_write_timeout() {
    let config = http::support::config().write_timeout(Duration::from_millis(500));
    let srv = start_with(http::support::builder(), config);
    let mut greedy = TcpStream::connect(srv.addr()).unwrap();
    // A thousand pipelined requests for a 24 KB document: far more than socket buffers hold.
    let requests = "GET /api/openapi.json HTTP/1.1\r\nHost: x\r\n\r\n".repeat(1000);
    greedy.write_all(requests.as_bytes()).unwrap();
    eventually("the writer to give up", || {
        srv.server.connection_threads() == 0
    });
    assert_eq!(
        http::support::get(srv.addr(), "/api/todo.Task/").status,
        200
    );
    drop(greedy);
    srv.server.shutdown();
}

#[test]
fn a_client_gone_mid_frame_ends_its_thread_only() {
    let srv = start();
    let mut ws = connect(srv.addr());
    // A masked text frame header announcing 1000 bytes, then 10 of them, then gone.
    let stream = ws.get_mut();
    stream
        .write_all(&[0x81, 0xFE, 0x03, 0xE8, 1, 2, 3, 4])
        .unwrap();
    stream.write_all(&[b'x'; 10]).unwrap();
    drop(ws);
    eventually("the thread to end", || srv.server.connection_threads() == 0);
    let mut other = connect(srv.addr());
    assert_eq!(
        request(&mut other, json!({"event": "todo.Task.list"}))["data"]["count"],
        0
    );
    srv.server.shutdown();
}

#[test]
fn protocol_violations_are_closed_with_1002_or_1007() {
    let srv = start();
    // A client frame must be masked.
    let mut ws = connect(srv.addr());
    ws.get_mut().write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    assert_eq!(close_code(&mut ws), 1002);
    // A text frame must be UTF-8 (mask 0, so the payload goes as is).
    let mut ws = connect(srv.addr());
    ws.get_mut()
        .write_all(&[0x81, 0x82, 0, 0, 0, 0, 0xFF, 0xFE])
        .unwrap();
    assert_eq!(close_code(&mut ws), 1007);
    eventually("both threads to end", || {
        srv.server.connection_threads() == 0
    });
    srv.server.shutdown();
}

#[test]
fn shutdown_closes_every_connection_with_going_away_and_joins_its_thread() {
    let srv = start();
    let addr = srv.addr();
    let clients: Vec<_> = (0..3)
        .map(|_| {
            let mut ws = connect(addr);
            request(&mut ws, json!({"event": "todo.Task.search#s"}));
            std::thread::spawn(move || close_code(&mut ws))
        })
        .collect();
    let mut stalled = TcpStream::connect(addr).unwrap();
    eventually("four threads", || srv.server.connection_threads() == 4);
    let started = Instant::now();
    let stopped = srv.server.shutdown();
    assert_eq!(
        stopped,
        Stopped {
            joined: 4,
            abandoned: 0
        }
    );
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    for client in clients {
        assert_eq!(client.join().unwrap(), 1001);
    }
    assert!(closed_by_server(&mut stalled, Duration::from_secs(1)));
    assert!(
        TcpStream::connect(addr).is_err(),
        "nothing listens any more"
    );
}
