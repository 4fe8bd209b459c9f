//! A write's `request_id` (docs/protocol.md section 2, "Request ids") on the in-memory store:
//! the same write twice writes once and both replies are equal, also from a new session of
//! the same user; another user's same id writes; past the bound the oldest id is forgotten;
//! bad ids are refused; a retry while the first still runs waits for its answer.

use std::sync::Arc;

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::session::{Session, Step};
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use crate::support::{engine, engine_with, send, Collect};

fn create(id: &str, title: &str) -> Value {
    json!({"event": "todo.Task.create#c", "data": {"title": title, "request_id": id}})
}

async fn count(session: &mut Session, out: &Collect) -> u64 {
    let list = json!({"event": "todo.Task.list#n", "data": {"subscribe": false}});
    send(session, out, list).await["data"]["count"]
        .as_u64()
        .expect("a count")
}

#[tokio::test]
async fn the_same_create_twice_makes_one_row_and_both_replies_are_equal() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(Some(User::new(7, "ann")), out.clone());
    let first = send(&mut s, &out, create("r-1", "plan")).await;
    assert_eq!(
        first,
        json!({"event": "todo.Task.create#c", "data": {"success": true, "id": 1, "object": {"id": 1, "title": "plan", "done": false}}})
    );
    let mut retry = create("r-1", "plan");
    retry["event"] = json!("todo.Task.create#again");
    let second = send(&mut s, &out, retry).await;
    assert_eq!(second["event"], "todo.Task.create#again", "its own hash");
    assert_eq!(second["data"], first["data"]);
    assert_eq!(second["replayed"], true);
    assert_eq!(count(&mut s, &out).await, 1);
}

#[tokio::test]
async fn a_retry_from_a_new_session_of_the_same_user_gets_the_first_answer() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(Some(User::new(7, "ann")), out.clone());
    let first = send(&mut s, &out, create("r-1", "plan")).await;
    drop(s);
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(Some(User::new(7, "ann")), out.clone());
    let second = send(&mut s, &out, create("r-1", "plan")).await;
    assert_eq!(second["data"], first["data"]);
    assert_eq!(second["replayed"], true);
    assert_eq!(count(&mut s, &out).await, 1);
}

#[tokio::test]
async fn another_user_with_the_same_id_writes() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut ann = engine.open_session(Some(User::new(7, "ann")), out.clone());
    let mut bob = engine.open_session(Some(User::new(8, "bob")), out.clone());
    send(&mut ann, &out, create("r-1", "ann's")).await;
    let bobs = send(&mut bob, &out, create("r-1", "bob's")).await;
    assert_eq!(bobs["data"]["id"], 2, "{bobs}");
    assert_eq!(bobs["replayed"], Value::Null);
    assert_eq!(count(&mut ann, &out).await, 2);
}

#[tokio::test]
async fn every_write_and_a_form_submit_are_answered_once() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    send(&mut s, &out, create("c", "plan")).await;
    for frame in [
        json!({"event": "todo.Task.update", "data": {"id": 1, "done": true, "request_id": "u"}}),
        json!({"event": "todo.Task.save", "data": {"id": 1, "title": "again", "request_id": "s"}}),
        json!({"event": "todo.Task.form", "data": {"submit": {"title": "formed"}, "request_id": "f"}}),
        json!({"event": "todo.Task.delete", "data": {"id": 1, "request_id": "d"}}),
    ] {
        let first = send(&mut s, &out, frame.clone()).await;
        assert_eq!(first["data"]["success"], true, "{first}");
        let second = send(&mut s, &out, frame).await;
        assert_eq!(second["data"], first["data"]);
        assert_eq!(second["replayed"], true);
    }
    // The delete's retry did not answer `not_found`, and the form made one row (2).
    assert_eq!(count(&mut s, &out).await, 1);
}

#[tokio::test]
async fn an_error_is_replayed_too_and_an_id_reused_for_another_write_is_refused() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    let missing =
        json!({"event": "todo.Task.update", "data": {"id": 9, "done": true, "request_id": "m"}});
    let first = send(&mut s, &out, missing.clone()).await;
    assert_eq!(first["error"]["code"], "not_found");
    let second = send(&mut s, &out, missing).await;
    assert_eq!(second["error"], first["error"]);
    assert_eq!(second["replayed"], true);

    send(&mut s, &out, create("r-1", "plan")).await;
    let other = send(&mut s, &out, create("r-1", "other")).await;
    assert_eq!(other["error"]["code"], "bad_request", "{other}");
    assert_eq!(
        other["error"]["message"],
        "request_id was already used for a different request"
    );
    assert_eq!(count(&mut s, &out).await, 1);
}

#[tokio::test]
async fn a_refusal_before_the_write_ran_is_not_remembered() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    let blank = send(&mut s, &out, create("r-1", "")).await;
    assert_eq!(blank["error"]["code"], "invalid");
    assert_eq!(blank["replayed"], Value::Null);
    let again = send(&mut s, &out, create("r-1", "")).await;
    assert_eq!(again["error"]["code"], "invalid");
    assert_eq!(again["replayed"], Value::Null, "checked again: {again}");
}

#[tokio::test]
async fn past_the_bound_the_oldest_id_is_forgotten() {
    let engine = engine(Limits {
        max_request_ids_per_user: 2,
        ..Limits::default()
    })
    .await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(Some(User::new(7, "ann")), out.clone());
    for id in ["a", "b", "c"] {
        send(&mut s, &out, create(id, id)).await;
    }
    for id in ["b", "c"] {
        let again = send(&mut s, &out, create(id, id)).await;
        assert_eq!(again["replayed"], true, "{id} is remembered");
    }
    let a = send(&mut s, &out, create("a", "a")).await;
    assert_eq!(a["replayed"], Value::Null, "a was forgotten");
    assert_eq!(a["data"]["id"], 4);
    assert_eq!(count(&mut s, &out).await, 4);
}

#[tokio::test]
async fn bad_ids_are_refused_and_write_nothing() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    let long = "x".repeat(65);
    for (id, message) in [
        (json!(5), "request_id must be a string"),
        (json!({"a": 1}), "request_id must be a string"),
        (
            json!(long),
            "request_id must be 1 to 64 characters among A-Z a-z 0-9 _ . : -",
        ),
        (
            json!(""),
            "request_id must be 1 to 64 characters among A-Z a-z 0-9 _ . : -",
        ),
        (
            json!("a b"),
            "request_id must be 1 to 64 characters among A-Z a-z 0-9 _ . : -",
        ),
    ] {
        let frame =
            json!({"event": "todo.Task.create#c", "data": {"title": "t", "request_id": id}});
        let reply = send(&mut s, &out, frame).await;
        assert_eq!(
            reply,
            json!({"event": "todo.Task.create#c", "error": {"code": "bad_request", "message": message}})
        );
    }
    let ok = send(&mut s, &out, create(&"x".repeat(64), "t")).await;
    assert_eq!(
        ok["data"]["id"], 1,
        "64 characters are fine, and the connection stays open"
    );
    assert_eq!(count(&mut s, &out).await, 1);
}

#[tokio::test]
async fn hello_announces_the_request_id_limits() {
    let engine = engine(Limits::default()).await;
    let out = Arc::new(Collect::default());
    let s = engine.open_session(None, out.clone());
    let hello: Value = serde_json::from_str(s.hello().as_str()).unwrap();
    let limits = &hello["data"]["limits"];
    assert_eq!(limits["request_id_window_ms"], 600_000);
    assert_eq!(limits["max_request_ids"], 100_000);
    assert_eq!(limits["max_request_ids_per_user"], 1000);
    assert_eq!(limits["max_request_id_bytes"], 32 * 1024 * 1024);
    assert_eq!(limits["max_request_id_length"], 64);
}

/// A create whose before-write hook waits for a permit the test gives.
fn held_tasks(gate: Arc<Semaphore>, entered: Arc<Semaphore>) -> Registry {
    let binding = ModelBinding::new("todo_task")
        .field(Field::string("title").required().max_length(20))
        .field(Field::boolean("done").default(false));
    Registry::new()
        .model(binding.before_write(move |call| {
            let (gate, entered) = (Arc::clone(&gate), Arc::clone(&entered));
            async move {
                entered.add_permits(1);
                gate.acquire().await.expect("open").forget();
                Ok(call.values)
            }
        }))
        .unwrap()
}

#[tokio::test]
async fn a_retry_while_the_first_still_runs_waits_for_its_answer() {
    let (gate, entered) = (Arc::new(Semaphore::new(0)), Arc::new(Semaphore::new(0)));
    let engine = engine_with(held_tasks(gate.clone(), entered.clone()), Limits::default()).await;
    let (out1, out2) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut first = engine.open_session(Some(User::new(7, "ann")), out1.clone());
    let mut second = engine.open_session(Some(User::new(7, "ann")), out2.clone());
    let Step::Run(job) = first.handle_text(&create("r-1", "plan").to_string()) else {
        panic!("a job")
    };
    let running = tokio::spawn(job.run());
    entered.acquire().await.expect("the hook ran").forget();
    let Step::Run(retry) = second.handle_text(&create("r-1", "plan").to_string()) else {
        panic!("the retry waits in a job")
    };
    let waiting = tokio::spawn(retry.run());
    gate.add_permits(1);
    running.await.unwrap();
    waiting.await.unwrap();
    let (a, b) = (out1.take(1).await, out2.take(1).await);
    assert_eq!(a[0]["data"]["id"], 1, "{a:?}");
    assert_eq!(b[0]["data"], a[0]["data"]);
    assert_eq!(b[0]["replayed"], true);
    gate.add_permits(1);
    assert_eq!(count(&mut second, &out2).await, 1);
}
