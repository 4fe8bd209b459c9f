//! The bounds a client cannot push the sync adapter past: bytes queued for a client that
//! stops reading, connections, per-address connections and request rates.

use std::time::Duration;

use chanbind_engine::config::Limits;
use chanbind_sync::ServerConfig;
use serde_json::json;

use crate::common::{
    self, close_code, connect, eventually, next, request, send, start_with, try_connect,
};
use crate::http::support::{raw, status_of};

const GET_TASKS: &[u8] = b"GET /api/todo.Task/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

/// A client that stops reading a change feed of large rows is declared slow once its queue
/// holds `outbound_queue_bytes`, long before it holds `outbound_queue` frames: 400 updates of
/// 64 KiB (25 MiB, far more than socket buffers take) against a 256 KiB bound. Without the
/// byte bound the queue would take 1,024 of them (64 MiB) before refusing any.
#[test]
fn a_stalled_client_pins_at_most_outbound_queue_bytes() {
    let limits = Limits {
        outbound_queue_bytes: 256 * 1024,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut writer = connect(srv.addr());
    request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "start"}}),
    );
    let mut slow = connect(srv.addr());
    let reply = request(
        &mut slow,
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
    );
    assert_eq!(reply["data"]["success"], true, "{reply}");
    let padding = "x".repeat(64 * 1024);
    let mut updates = 0;
    while srv.engine().stats().pushes_refused == 0 {
        assert!(
            updates < 400,
            "25 MiB queued for a client that reads nothing, and it is still not slow"
        );
        updates += 1;
        let reply = request(
            &mut writer,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}}),
        );
        assert_eq!(reply["data"]["success"], true);
    }
    assert_eq!(close_code(&mut slow), 4008);
    srv.server.shutdown();
}

/// Past `max_connections` a new connection is answered with 503 and closed; those already
/// open are served as before, and a place freed is taken again.
#[test]
fn past_max_connections_a_new_connection_gets_503() {
    let limits = Limits {
        max_connections: 2,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut first = connect(srv.addr());
    let second = connect(srv.addr());
    let refused = raw(srv.addr(), GET_TASKS);
    assert_eq!(status_of(&refused), 503, "{refused}");
    assert!(refused.contains("\"code\":\"unavailable\""), "{refused}");
    assert!(
        try_connect(srv.addr(), "/", None).is_err(),
        "a third WebSocket is refused too"
    );
    let created = request(
        &mut first,
        json!({"event": "todo.Task.create", "data": {"title": "still served"}}),
    );
    assert_eq!(created["data"]["success"], true);
    drop(second);
    eventually("the closed connection's place", || {
        srv.engine().open_connections() < 2
    });
    assert_eq!(status_of(&raw(srv.addr(), GET_TASKS)), 200);
    srv.server.shutdown();
}

/// Past `max_connections_per_user` one address (anonymous clients) gets 503 for a new
/// WebSocket, while HTTP requests are unaffected.
#[test]
fn past_the_per_address_limit_a_handshake_gets_503() {
    let limits = Limits {
        max_connections_per_user: 2,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let a = connect(srv.addr());
    let _b = connect(srv.addr());
    match try_connect(srv.addr(), "/", None) {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status().as_u16(), 503),
        other => panic!("expected 503, got {:?}", other.map(|_| "a WebSocket")),
    }
    assert_eq!(status_of(&raw(srv.addr(), GET_TASKS)), 200);
    drop(a);
    eventually("the closed socket's place", || {
        try_connect(srv.addr(), "/", None).is_ok()
    });
    srv.server.shutdown();
}

/// Past `request_burst` at `requests_per_second`, requests are answered with `rate_limited`
/// and not run; the connection stays open. Over HTTP the per-address bucket answers 429 with
/// `Retry-After`.
#[test]
fn a_flood_of_requests_gets_rate_limited_and_the_connection_stays_open() {
    let limits = Limits {
        requests_per_second: 5,
        request_burst: 5,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut ws = connect(srv.addr());
    for i in 0..20 {
        send(
            &mut ws,
            json!({"event": "todo.Task.create", "data": {"title": format!("t{i}")}}),
        );
    }
    let (mut created, mut limited) = (0, 0);
    for _ in 0..20 {
        let reply = next(&mut ws);
        match reply["error"]["code"].as_str() {
            None => created += 1,
            Some("rate_limited") => limited += 1,
            Some(other) => panic!("unexpected error {other}: {reply}"),
        }
    }
    assert!(limited >= 10, "{limited} of 20 refused");
    std::thread::sleep(Duration::from_millis(400));
    let list = request(&mut ws, json!({"event": "todo.Task.list", "data": {}}));
    assert_eq!(
        list["data"]["count"], created,
        "exactly the requests answered were run: {list}"
    );
    srv.server.shutdown();

    let limits = Limits {
        user_requests_per_second: 2,
        request_burst: 2,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let answers: Vec<String> = (0..6).map(|_| raw(srv.addr(), GET_TASKS)).collect();
    assert_eq!(status_of(&answers[0]), 200);
    let last = answers.last().unwrap();
    assert_eq!(status_of(last), 429, "{last}");
    assert!(
        last.to_ascii_lowercase().contains("retry-after: 1"),
        "{last}"
    );
    assert!(last.contains("rate_limited"), "{last}");
    srv.server.shutdown();
}
