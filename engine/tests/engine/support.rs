//! What the engine tests share: a collecting outbound and a small registry.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::outbound::Outbound;
use chanbind_engine::protocol::Frame;
use chanbind_engine::session::{Session, Step};

use chanbind_engine::store::MemoryStore;
use chanbind_engine::Engine;
use serde_json::Value;

#[derive(Default)]
pub struct Collect(Mutex<Vec<Value>>);

impl Outbound for Collect {
    fn send(&self, frame: Frame) -> bool {
        let value = serde_json::from_str(frame.as_str()).expect("frames are JSON");
        self.0.lock().unwrap().push(value);
        true
    }
}

impl Collect {
    /// Waits until at least `n` frames arrived (pushes come from actors) and takes them.
    pub async fn take(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            if self.0.lock().unwrap().len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// The registry the engine tests use: `todo.Task` with a few constraints.
pub fn tasks() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required().max_length(20))
                .field(Field::boolean("done").default(false)),
        )
        .unwrap()
}

pub async fn engine(limits: Limits) -> Engine {
    engine_with(tasks(), limits).await
}

pub async fn engine_with(registry: Registry, limits: Limits) -> Engine {
    let store = Arc::new(MemoryStore::new(&registry));
    Engine::start(registry, store, limits).await.unwrap()
}

pub async fn send(session: &mut Session, out: &Collect, frame: Value) -> Value {
    match session.handle_text(&frame.to_string()) {
        Step::Reply(f) => return serde_json::from_str(f.as_str()).unwrap(),
        Step::Run(job) => job.run().await,
    }
    let mut frames = out.take(1).await;
    assert_eq!(frames.len(), 1, "one reply: {frames:?}");
    frames.remove(0)
}
