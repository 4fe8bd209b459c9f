//! The layer and capture series, fed as the listeners feed them.

use std::sync::Arc;

use serde_json::json;

use crate::binding::{Field, ModelBinding, Registry};
use crate::capture::Batch;
use crate::layer::{encode, Envelope, Heard, LayerMessage};
use crate::store::MemoryStore;
use crate::Engine;

async fn engine() -> Engine {
    let registry = Registry::new()
        .model(ModelBinding::new("todo_task").field(Field::string("title")))
        .unwrap();
    let store = Arc::new(MemoryStore::new(&registry));
    Engine::start(registry, store, Default::default())
        .await
        .unwrap()
}

fn line<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
}

fn now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

#[tokio::test]
async fn layer_messages_heard_are_counted_with_their_lag() {
    let engine = engine().await;
    let payload = encode(&Envelope {
        node: "other".into(),
        namespace: "ns".into(),
        seq: 1,
        sent_ms: Some(crate::layer::now_ms() - 250),
        message: LayerMessage::Broadcast {
            stream: "todo.Task".into(),
            event: "hi".into(),
            data: json!({}),
        },
    })
    .unwrap();
    let (mut batch, mut heard) = (Batch::new("ns", "me"), Heard::default());
    engine.receive_layer("ns", "me", &payload, &mut batch, &mut heard);
    // This node's own message is not heard.
    let own = payload.replace("\"other\"", "\"me\"");
    engine.receive_layer("ns", "me", &own, &mut batch, &mut heard);
    let text = engine.metrics().encode_text();
    assert_eq!(
        line(&text, "chanbind_layer_messages_received_total"),
        Some("chanbind_layer_messages_received_total 1"),
        "{text}"
    );
    assert_eq!(
        line(&text, "chanbind_layer_lag_seconds_count"),
        Some("chanbind_layer_lag_seconds_count 1")
    );
    let sum: f64 = line(&text, "chanbind_layer_lag_seconds_sum")
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!((0.25..10.0).contains(&sum), "{sum}");
}

#[tokio::test]
async fn capture_notifications_are_counted_with_their_lag() {
    let engine = engine().await;
    let mut batch = Batch::new("app", "me");
    let at = now_s() - 0.5;
    batch.push_payload(&format!(
        r#"{{"table": "todo_task", "schema": "app", "pk": 1, "op": "UPDATE", "tx": 1, "origin": null, "at": {at}}}"#
    ));
    // From a trigger of an older version: counted, no lag.
    batch.push_payload(
        r#"{"table": "todo_task", "schema": "app", "pk": 2, "op": "UPDATE", "tx": 1, "origin": null}"#,
    );
    engine.publish_captured(batch).await;
    let text = engine.metrics().encode_text();
    assert_eq!(
        line(&text, "chanbind_capture_notifications_total"),
        Some("chanbind_capture_notifications_total 2"),
        "{text}"
    );
    assert_eq!(
        line(&text, "chanbind_capture_lag_seconds_count"),
        Some("chanbind_capture_lag_seconds_count 1")
    );
}

#[tokio::test]
async fn a_host_registry_reads_the_same_values() {
    let engine = engine().await;
    let mut host = prometheus_client::registry::Registry::default();
    engine.metrics().register(&mut host);
    engine.metrics().closed(4000);
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &host).unwrap();
    assert!(
        text.contains(r#"chanbind_connections_closed_total{code="4000",reason="idle timeout"} 1"#),
        "{text}"
    );
    // The memory store has no pool and no notification queue.
    assert!(!text.contains("chanbind_store_pool"), "{text}");
}
