//! The bounds a client cannot push the sync adapter past: bytes queued for a client that
//! stops reading.

use chanbind_engine::config::Limits;
use chanbind_sync::ServerConfig;
use serde_json::json;

use crate::common::{self, close_code, connect, request, start_with};

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
