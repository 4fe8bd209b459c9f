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
