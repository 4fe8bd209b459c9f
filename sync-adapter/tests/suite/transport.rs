//! The WebSocket transport, as the async adapter's tests check it too: heartbeats and the idle
//! close, slow consumers, and protocol violations.

use std::time::{Duration, Instant};

use chanbind_engine::config::Limits;
use chanbind_sync::ServerConfig;
use serde_json::json;
use tungstenite::Message;

use crate::common::{self, close_code, connect, request, start_with};

/// Pings every 100 ms, closes after 300 ms of silence.
fn heartbeat_limits() -> Limits {
    Limits {
        ping_interval: Duration::from_millis(100),
        idle_timeout: Duration::from_millis(300),
        ..Limits::default()
    }
}

#[test]
fn a_client_that_answers_no_ping_is_closed_with_4000() {
    let srv = start_with(common::builder(heartbeat_limits()), ServerConfig::default());
    let mut ws = connect(srv.addr());
    // Not reading: tungstenite answers pings only as it reads.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(close_code(&mut ws), 4000);
    drop(ws);
    srv.server.shutdown();
}

#[test]
fn a_client_that_answers_pings_stays_open_past_the_idle_timeout() {
    let srv = start_with(common::builder(heartbeat_limits()), ServerConfig::default());
    let mut ws = connect(srv.addr());
    let until = Instant::now() + Duration::from_secs(1);
    let mut pings = 0;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        ws.get_mut()
            .set_read_timeout(Some(left.max(Duration::from_millis(1))))
            .unwrap();
        match ws.read() {
            Ok(Message::Ping(_)) => pings += 1,
            Ok(other) => panic!("expected only pings, got {other:?}"),
            Err(tungstenite::Error::Io(e))
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => panic!("the connection failed: {e}"),
        }
    }
    ws.get_mut().set_read_timeout(Some(common::WAIT)).unwrap();
    assert!(pings >= 3, "pings every 100 ms, got {pings} in a second");
    let reply = request(&mut ws, json!({"event": "todo.Task.list"}));
    assert_eq!(reply["data"]["count"], 0, "{reply}");
    srv.server.shutdown();
}

/// A client that stops reading while pushes flood it is closed with 4008, and what it sends
/// after it was found slow is not served.
#[test]
fn a_slow_consumer_is_closed_with_4008_and_its_later_writes_are_not_applied() {
    let limits = Limits {
        outbound_queue: 8,
        ..Limits::default()
    };
    let srv = start_with(common::builder(limits), ServerConfig::default());
    let mut writer = connect(srv.addr());
    let created = request(
        &mut writer,
        json!({"event": "todo.Task.create", "data": {"title": "start"}}),
    );
    assert_eq!(created["data"]["success"], true, "{created}");
    let mut slow = connect(srv.addr());
    let reply = request(
        &mut slow,
        json!({"event": "todo.Task.subscribe", "data": {"id": 1}}),
    );
    assert!(reply.get("error").is_none(), "{reply}");
    // `slow` reads nothing from here; large rows fill the socket buffers quickly.
    let padding = "x".repeat(32 * 1024);
    let mut updates = 0;
    while srv.engine().stats().pushes_refused == 0 {
        assert!(updates < 5000, "the slow client was never found slow");
        updates += 1;
        let reply = request(
            &mut writer,
            json!({"event": "todo.Task.update", "data": {"id": 1, "title": format!("{updates}{padding}")}}),
        );
        assert_eq!(reply["data"]["success"], true);
    }
    common::send(
        &mut slow,
        json!({"event": "todo.Task.create", "data": {"title": "after slow"}}),
    );
    assert_eq!(close_code(&mut slow), 4008);
    drop(slow);
    let list = request(&mut writer, json!({"event": "todo.Task.list"}));
    assert_eq!(
        list["data"]["count"], 1,
        "the write sent after the client was found slow was not applied"
    );
    srv.server.shutdown();
}
