//! Custom events: reflect, dispatch, broadcast, replies, errors and panics.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::binding::{CustomBinding, EventContext};
use chanbind_engine::config::Limits;
use chanbind_engine::protocol::ApiError;
use chanbind_engine::session::{Session, Step};
use serde_json::json;

use crate::support::{engine_with, send, tasks, Collect};

async fn echo(ctx: EventContext) -> chanbind_engine::binding::HandlerResult {
    let who = ctx.data().get("who").cloned().unwrap_or_default();
    ctx.reflect("mirrored", &json!({"who": who}));
    ctx.dispatch("to_group", &json!({"who": who}));
    ctx.broadcast("to_all", &json!({"who": who}));
    Ok(Some(json!({"done": true, "hash": ctx.hash()})))
}

fn registry() -> chanbind_engine::binding::Registry {
    tasks()
        .custom(
            CustomBinding::new("chat")
                .on("say", echo)
                .on("fail", |_ctx: EventContext| async {
                    Err(ApiError::bad_request("nope"))
                })
                .on("panic", |_ctx: EventContext| async {
                    panic!("handler bug")
                })
                .on("quiet", |_ctx: EventContext| async { Ok(None) }),
        )
        .unwrap()
}

/// Runs a request whose frames the test reads itself.
async fn run(session: &mut Session, frame: serde_json::Value) {
    match session.handle_text(&frame.to_string()) {
        Step::Run(job) => job.run().await,
        Step::Reply(f) => panic!("expected a job, got {f:?}"),
    }
}

#[tokio::test]
async fn reflect_goes_to_the_sender_dispatch_to_the_group_and_broadcast_to_all() {
    let engine = engine_with(registry(), Limits::default()).await;
    let (sender, member, outsider) = (
        Arc::new(Collect::default()),
        Arc::new(Collect::default()),
        Arc::new(Collect::default()),
    );
    let mut s = engine.open_session(None, sender.clone());
    let mut m = engine.open_session(None, member.clone());
    let _o = engine.open_session(None, outsider.clone());

    // `member` joins the group by sending the stream a permitted event, which answers nothing.
    run(&mut m, json!({"event": "chat.quiet#x"})).await;
    assert!(member.take(0).await.is_empty());

    run(
        &mut s,
        json!({"event": "chat.say#h1", "data": {"who": "me"}}),
    )
    .await;
    tokio::time::sleep(Duration::from_millis(50)).await;

    let mut got = sender.take(4).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        [
            json!({"event": "chat.mirrored#h1", "data": {"who": "me"}}),
            json!({"event": "chat.say#h1", "data": {"done": true, "hash": "h1"}}),
            json!({"event": "chat.to_all", "data": {"who": "me"}}),
            json!({"event": "chat.to_group", "data": {"who": "me"}}),
        ]
    );
    let mut got = member.take(2).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        [
            json!({"event": "chat.to_all", "data": {"who": "me"}}),
            json!({"event": "chat.to_group", "data": {"who": "me"}})
        ]
    );
    assert_eq!(
        outsider.take(1).await,
        [json!({"event": "chat.to_all", "data": {"who": "me"}})]
    );

    // An unhashed unsubscribe leaves the group; subscribing joins it again.
    let left = send(&mut m, &member, json!({"event": "chat.unsubscribe"})).await;
    assert_eq!(left["data"], json!({"success": true, "removed": 0}));
    engine.send_to_group("chat", "later", &json!({}));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(member.take(0).await.is_empty());
    let back = send(&mut m, &member, json!({"event": "chat.subscribe#j"})).await;
    assert_eq!(
        back,
        json!({"event": "chat.subscribe#j", "data": {"success": true}})
    );
    engine.send_to_group("chat", "again", &json!({}));
    assert_eq!(
        member.take(1).await,
        [json!({"event": "chat.again", "data": {}})]
    );
}

#[tokio::test]
async fn handler_errors_and_panics_are_answered_and_the_session_goes_on() {
    let engine = engine_with(registry(), Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut s = engine.open_session(None, out.clone());
    let failed = send(&mut s, &out, json!({"event": "chat.fail#a"})).await;
    assert_eq!(
        failed,
        json!({"event": "chat.fail#a", "error": {"code": "bad_request", "message": "nope"}})
    );
    let panicked = send(&mut s, &out, json!({"event": "chat.panic#b"})).await;
    assert_eq!(
        panicked,
        json!({"event": "chat.panic#b", "error": {"code": "internal", "message": "internal error"}})
    );
    let unknown = send(&mut s, &out, json!({"event": "chat.shout"})).await;
    assert_eq!(unknown["error"]["code"], "unknown_event");
    let still = send(&mut s, &out, json!({"event": "todo.Task.list"})).await;
    assert_eq!(still["data"]["count"], 0);
}

#[tokio::test]
async fn application_code_reaches_groups_users_and_everyone() {
    let engine = engine_with(registry(), Limits::default()).await;
    let (alice, anon) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let _a = engine.open_session(
        Some(chanbind_engine::auth::User::new(7, "alice")),
        alice.clone(),
    );
    let _b = engine.open_session(None, anon.clone());
    engine.send_to_user(7, "chat", "private", &json!({"n": 1}));
    engine.broadcast("chat", "news", &json!({"n": 2}));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(
        alice.take(2).await,
        [
            json!({"event": "chat.private", "data": {"n": 1}}),
            json!({"event": "chat.news", "data": {"n": 2}})
        ]
    );
    assert_eq!(
        anon.take(1).await,
        [json!({"event": "chat.news", "data": {"n": 2}})]
    );
}
