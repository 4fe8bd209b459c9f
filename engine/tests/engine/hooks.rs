//! Hooks around writes on the in-memory store: a before-write hook changing the values
//! (seen in the reply and the push) or refusing, an after-commit hook seeing the committed
//! row and broadcasting, an after-commit error leaving the write standing, a wrapper that
//! sets a slug and calls the built-in create, for WebSocket sessions, form submits and the
//! typed API alike.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use chanbind_engine::app::Ctx;
use chanbind_engine::auth::User;
use chanbind_engine::binding::{Committed, Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::protocol::{ApiError, ErrorCode};
use chanbind_engine::session::Step;
use serde_json::{json, Value};

use crate::support::{engine_with, send, Collect};

fn tasks(binding: impl FnOnce(ModelBinding) -> ModelBinding) -> Registry {
    let base = ModelBinding::new("todo_task")
        .field(Field::string("title").required().max_length(20))
        .field(Field::string("slug").read_only())
        .field(Field::boolean("done").default(false));
    Registry::new().model(binding(base)).unwrap()
}

/// Upper-cases titles; refuses "later" as `invalid` and "nope" as `permission_denied`.
fn shouting(binding: ModelBinding) -> ModelBinding {
    binding.before_write(|mut call| async move {
        let Some(title) = call.values.get("title").and_then(Value::as_str) else {
            return Ok(call.values);
        };
        match title {
            "later" => Err(ApiError::invalid(BTreeMap::from([(
                "title".to_owned(),
                vec!["do it now".to_owned()],
            )]))),
            "nope" => Err(ApiError::new(ErrorCode::PermissionDenied, "not that one")),
            _ => {
                let upper = title.to_uppercase();
                call.values.insert("title".into(), json!(upper));
                Ok(call.values)
            }
        }
    })
}

#[tokio::test]
async fn a_before_hook_changes_the_values_in_the_reply_and_the_push() {
    let engine = engine_with(tasks(shouting), Limits::default()).await;
    let (watcher, writer) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut watching = engine.open_session(None, watcher.clone());
    let mut writing = engine.open_session(None, writer.clone());
    let sub = json!({"event": "todo.Task.list#l", "data": {}});
    assert_eq!(send(&mut watching, &watcher, sub).await["data"]["count"], 0);
    let create = json!({"event": "todo.Task.create", "data": {"title": "quiet"}});
    let reply = send(&mut writing, &writer, create).await;
    assert_eq!(reply["data"]["object"]["title"], "QUIET", "{reply}");
    let pushed = watcher.take(1).await;
    assert_eq!(pushed[0]["data"]["rows"][0]["title"], "QUIET", "{pushed:?}");
    // A form's submit is a write too.
    let form = json!({"event": "todo.Task.form", "data": {"id": 1, "submit": {"title": "formed"}}});
    let reply = send(&mut writing, &writer, form).await;
    assert_eq!(reply["data"]["object"]["title"], "FORMED", "{reply}");
    // And so is the typed API's.
    let row = engine
        .model("todo.Task")
        .update(&Ctx::system(), 1, json!({"title": "typed"}))
        .await
        .unwrap();
    assert_eq!(row["title"], "TYPED");
}

#[tokio::test]
async fn a_before_hook_refuses_with_invalid_or_permission_denied() {
    let engine = engine_with(tasks(shouting), Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(None, out.clone());
    let later = json!({"event": "todo.Task.create", "data": {"title": "later"}});
    let refused = send(&mut session, &out, later).await;
    assert_eq!(refused["error"]["code"], "invalid", "{refused}");
    assert_eq!(refused["error"]["fields"]["title"], json!(["do it now"]));
    let nope = json!({"event": "todo.Task.create", "data": {"title": "nope"}});
    assert_eq!(
        send(&mut session, &out, nope).await["error"]["code"],
        "permission_denied"
    );
    let err = engine
        .model("todo.Task")
        .create(&Ctx::system(), json!({"title": "later"}))
        .await
        .unwrap_err();
    assert_eq!(
        (err.code(), err.fields()["title"][0].as_str()),
        (ErrorCode::Invalid, "do it now")
    );
    let none = engine
        .model("todo.Task")
        .list(&Ctx::system(), Value::Null)
        .await
        .unwrap();
    assert_eq!(none.count, 0, "nothing was written");
}

/// What the after-commit hook saw: the action, the row, whether the system wrote, the user.
type Seen = (String, Option<Value>, bool, Option<i64>);

#[tokio::test]
async fn an_after_commit_hook_sees_the_committed_row_and_can_broadcast() {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let log = Arc::clone(&seen);
    let registry = tasks(move |b| {
        b.after_commit(move |done: Committed| {
            let log = Arc::clone(&log);
            async move {
                let row = done.row.clone().map(Value::Object);
                let user = done.user.as_ref().map(|u| u.id);
                log.lock()
                    .unwrap()
                    .push((done.action.clone(), row, done.system, user));
                done.engine.broadcast(
                    "todo.Task",
                    "written",
                    &json!({"id": done.key, "action": done.action}),
                );
                Ok(())
            }
        })
    });
    let engine = engine_with(registry, Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(Some(User::new(4, "ada")), out.clone());
    // The broadcast reaches the writer too, through the group actor: take both frames.
    let create = json!({"event": "todo.Task.create#c", "data": {"title": "t"}});
    match session.handle_text(&create.to_string()) {
        Step::Run(job) => job.run().await,
        Step::Reply(frame) => panic!("refused: {}", frame.as_str()),
    }
    let frames = out.take(2).await;
    assert_eq!(frames.len(), 2, "{frames:?}");
    assert_eq!(
        frames[0]["event"], "todo.Task.create#c",
        "the reply comes first"
    );
    assert_eq!(
        frames[1],
        json!({"event": "todo.Task.written", "data": {"id": 1, "action": "create"}})
    );
    engine
        .model("todo.Task")
        .delete(&Ctx::system(), 1)
        .await
        .unwrap();
    assert_eq!(out.take(1).await[0]["data"]["action"], "delete");
    let seen = seen.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            (
                "create".to_owned(),
                Some(json!({"id": 1, "title": "t", "slug": null, "done": false})),
                false,
                Some(4)
            ),
            ("delete".to_owned(), None, true, None),
        ]
    );
}

#[tokio::test]
async fn an_after_commit_error_or_panic_does_not_fail_the_write() {
    let registry = tasks(|b| {
        b.after_commit(|_| async { Err("the mail server is down".into()) })
            .after_commit(|done| async move {
                if done.action == "update" {
                    panic!("a bug in the hook");
                }
                Ok(())
            })
    });
    let engine = engine_with(registry, Limits::default()).await;
    let out = Arc::new(Collect::default());
    let mut session = engine.open_session(None, out.clone());
    let create = json!({"event": "todo.Task.create", "data": {"title": "t"}});
    assert_eq!(
        send(&mut session, &out, create).await["data"]["success"],
        true
    );
    let update = json!({"event": "todo.Task.update", "data": {"id": 1, "title": "u"}});
    assert_eq!(
        send(&mut session, &out, update).await["data"]["object"]["title"],
        "u"
    );
    let row = engine
        .model("todo.Task")
        .retrieve(&Ctx::system(), 1)
        .await
        .unwrap();
    assert_eq!(row["title"], "u", "the write stands");
}

fn slugged(binding: ModelBinding) -> ModelBinding {
    binding.wrap("create", |mut call, next| async move {
        let title = call.values["title"].as_str().unwrap_or_default();
        let slug = title.to_lowercase().replace(' ', "-");
        if slug == "taken" {
            return Err(ApiError::invalid(BTreeMap::from([(
                "title".to_owned(),
                vec!["taken".to_owned()],
            )])));
        }
        call.values.insert("slug".into(), json!(slug));
        next.run(call.values).await
    })
}

#[tokio::test]
async fn a_wrapper_sets_a_slug_then_calls_the_built_in_create() {
    let engine = engine_with(tasks(|b| shouting(slugged(b))), Limits::default()).await;
    let (watcher, writer) = (Arc::new(Collect::default()), Arc::new(Collect::default()));
    let mut watching = engine.open_session(None, watcher.clone());
    let mut writing = engine.open_session(None, writer.clone());
    let sub = json!({"event": "todo.Task.list#l", "data": {}});
    send(&mut watching, &watcher, sub).await;
    let create = json!({"event": "todo.Task.create", "data": {"title": "Write Docs"}});
    let reply = send(&mut writing, &writer, create).await;
    // The wrapper ran first; the before-write hook saw its values and changed the title.
    assert_eq!(
        reply["data"]["object"],
        json!({"id": 1, "title": "WRITE DOCS", "slug": "write-docs", "done": false}),
        "{reply}"
    );
    assert_eq!(
        watcher.take(1).await[0]["data"]["rows"][0]["slug"],
        "write-docs"
    );
    // A client may not set the slug itself; the wrapper's refusal is the reply.
    let taken = json!({"event": "todo.Task.create", "data": {"title": "Taken"}});
    let refused = send(&mut writing, &writer, taken).await;
    assert_eq!(
        refused["error"]["fields"]["title"],
        json!(["taken"]),
        "{refused}"
    );
    // Only create is wrapped.
    let update = json!({"event": "todo.Task.update", "data": {"id": 1, "title": "b c"}});
    let reply = send(&mut writing, &writer, update).await;
    assert_eq!(reply["data"]["object"]["slug"], "write-docs", "{reply}");
    // A save without an id is a create.
    let save = json!({"event": "todo.Task.save", "data": {"title": "New One"}});
    let reply = send(&mut writing, &writer, save).await;
    assert_eq!(reply["data"]["object"]["slug"], "new-one", "{reply}");
    let typed = engine
        .model("todo.Task")
        .create(&Ctx::anonymous(), json!({"title": "from app"}))
        .await
        .unwrap();
    assert_eq!(typed["slug"], "from-app");
    let saved = engine
        .model("todo.Task")
        .save(&Ctx::system(), json!({"title": "saved anew"}))
        .await
        .unwrap();
    assert_eq!(saved["slug"], "saved-anew");
}

#[test]
fn only_write_actions_can_be_wrapped() {
    let wrapped = ModelBinding::new("todo_task").wrap("retrieve", |call, next| async move {
        next.run(call.values).await
    });
    let err = Registry::new().model(wrapped).unwrap_err();
    assert!(err.to_string().contains("cannot be wrapped"), "{err}");
}
