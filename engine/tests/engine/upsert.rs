//! Upserts on the in-memory store: a save of a missing client key creates it, `on_conflict`
//! updates the row holding a unique value, the reply and the push say which happened, the
//! permission pipeline asks for the action that happens, hooks see it after commit, and bad
//! input writes nothing.

use std::sync::{Arc, Mutex};

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::Engine;
use serde_json::{json, Map, Value};

use crate::support::{engine_with, send, Collect};

/// User 2 may update but not create; user 3 may create but not update; user 4 updates only
/// the accounts it owns; user 5 may update account 1 only, as the request's `id` says, and
/// create nothing; everyone else may do everything.
struct Split;

impl Permission for Split {
    fn allows(&self, access: &Access<'_>) -> bool {
        match (access.user.map(|u| u.id), access.action) {
            (Some(2), "create") | (Some(3), "update") | (Some(5), "create") => false,
            (Some(5), "update" | "save") => access.data.get("id") == Some(&json!(1)),
            _ => true,
        }
    }
    fn scope(&self, user: Option<&User>, action: &str) -> Option<Map<String, Value>> {
        match (user.map(|u| u.id), action) {
            (Some(4), "update") => json!({"owner": 4}).as_object().cloned(),
            _ => None,
        }
    }
}

fn registry(hooks: Option<Arc<Mutex<Vec<String>>>>) -> Registry {
    let mut accounts = ModelBinding::new("app_account")
        .field(Field::string("username").required().unique())
        .field(Field::string("note"))
        .field(Field::integer("owner"))
        .permission(Split);
    if let Some(seen) = hooks {
        let before = Arc::clone(&seen);
        accounts = accounts
            .before_write(move |mut call| {
                before
                    .lock()
                    .unwrap()
                    .push(format!("before {}", call.action));
                // What a hook sets reaches the row whichever way the upsert goes.
                call.values.insert("note".into(), json!("hooked"));
                async move { Ok(call.values) }
            })
            .after_commit(move |done| {
                seen.lock().unwrap().push(format!("after {}", done.action));
                async { Ok(()) }
            });
    }
    Registry::new()
        .model(
            ModelBinding::new("app_tag")
                .key(Field::string("slug").max_length(20))
                .field(Field::string("label").required()),
        )
        .and_then(|r| r.model(accounts))
        .unwrap()
}

struct Conn {
    s: chanbind_engine::session::Session,
    out: Arc<Collect>,
}

impl Conn {
    async fn ask(&mut self, frame: Value) -> Value {
        send(&mut self.s, &self.out, frame).await
    }
}

fn open(engine: &Engine, user: Option<User>) -> Conn {
    let out = Arc::new(Collect::default());
    Conn {
        s: engine.open_session(user, out.clone()),
        out,
    }
}

async fn count(conn: &mut Conn, stream: &str) -> Value {
    let reply = conn
        .ask(json!({"event": format!("{stream}.list"), "data": {"subscribe": false}}))
        .await;
    reply["data"]["count"].clone()
}

#[tokio::test]
async fn a_save_of_a_missing_client_key_creates_it_then_updates_it() {
    let engine = engine_with(registry(None), Limits::default()).await;
    let mut watcher = open(&engine, None);
    let mut writer = open(&engine, None);
    let sub = watcher
        .ask(json!({"event": "app.Tag.subscribe", "data": {}}))
        .await;
    assert_eq!(sub["data"]["success"], true, "{sub}");

    let save = json!({"event": "app.Tag.save", "data": {"id": "rust", "label": "Rust"}});
    let reply = writer.ask(save).await;
    assert_eq!(reply["data"]["created"], true, "{reply}");
    assert_eq!(reply["data"]["id"], "rust");
    assert_eq!(reply["data"]["object"]["label"], "Rust");
    let pushed = watcher.out.take(1).await;
    assert_eq!(pushed[0]["event"], "app.Tag.created", "{pushed:?}");

    let again = json!({"event": "app.Tag.save", "data": {"id": "rust", "label": "Rust!"}});
    let reply = writer.ask(again).await;
    assert_eq!(reply["data"]["created"], false, "{reply}");
    assert_eq!(reply["data"]["object"]["label"], "Rust!");
    let pushed = watcher.out.take(1).await;
    assert_eq!(pushed[0]["event"], "app.Tag.updated", "{pushed:?}");
    assert_eq!(pushed[0]["data"]["label"], "Rust!", "{pushed:?}");
    assert_eq!(count(&mut writer, "app.Tag").await, 1);

    // `"create": false` keeps a save to rows that exist.
    let refused =
        json!({"event": "app.Tag.save", "data": {"id": "go", "label": "Go", "create": false}});
    let reply = writer.ask(refused).await;
    assert_eq!(reply["error"]["code"], "not_found", "{reply}");
    assert_eq!(count(&mut writer, "app.Tag").await, 1);
}

#[tokio::test]
async fn on_conflict_updates_the_row_holding_the_unique_value() {
    let engine = engine_with(registry(None), Limits::default()).await;
    let mut conn = open(&engine, None);
    let upsert = |note: &str, action: &str| {
        json!({"event": format!("app.Account.{action}"),
               "data": {"username": "ann", "note": note, "on_conflict": "username"}})
    };
    let first = conn.ask(upsert("one", "save")).await;
    assert_eq!(first["data"]["created"], true, "{first}");
    let id = first["data"]["id"].clone();
    let second = conn.ask(upsert("two", "save")).await;
    assert_eq!(second["data"]["created"], false, "{second}");
    assert_eq!(second["data"]["id"], id);
    assert_eq!(second["data"]["object"]["note"], "two");
    // A create may ask for it too (`POST ?on_conflict=` over HTTP).
    let third = conn.ask(upsert("three", "create")).await;
    assert_eq!(
        (&third["data"]["created"], &third["data"]["id"]),
        (&json!(false), &id),
        "{third}"
    );
    assert_eq!(count(&mut conn, "app.Account").await, 1);
    // A save replaces every writable field: the note left out becomes null.
    let bare = json!({"event": "app.Account.save", "data": {"username": "ann", "on_conflict": "username"}});
    let reply = conn.ask(bare).await;
    assert_eq!(reply["data"]["object"]["note"], Value::Null, "{reply}");
}

#[tokio::test]
async fn bad_upserts_are_refused_and_write_nothing() {
    let engine = engine_with(registry(None), Limits::default()).await;
    let mut conn = open(&engine, None);
    let cases = [
        (
            json!({"username": "ann", "on_conflict": "note"}),
            "note is not a unique field",
        ),
        (
            json!({"username": "ann", "on_conflict": "nope"}),
            "has no field nope",
        ),
        (
            json!({"username": "ann", "on_conflict": 3}),
            "on_conflict must name",
        ),
        (
            json!({"username": "ann", "on_conflict": "id"}),
            "the database gives",
        ),
        (
            json!({"id": 9, "username": "ann", "create": true}),
            "the database gives",
        ),
        (
            json!({"id": 9, "username": "ann", "create": "yes"}),
            "create must be true or false",
        ),
    ];
    for (data, why) in cases {
        let reply = conn
            .ask(json!({"event": "app.Account.save", "data": data}))
            .await;
        assert_eq!(reply["error"]["code"], "bad_request", "{data}: {reply}");
        let message = reply["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains(why), "{data}: {reply}");
    }
    // The value to look for is validated as a field: a missing one is `invalid`.
    let bare =
        json!({"event": "app.Account.save", "data": {"note": "x", "on_conflict": "username"}});
    let reply = conn.ask(bare).await;
    assert_eq!(
        reply["error"]["fields"]["username"][0], "this field is required",
        "{reply}"
    );
    assert_eq!(count(&mut conn, "app.Account").await, 0);
    let tag = json!({"event": "app.Tag.save", "data": {"id": "x", "label": "X", "create": 1}});
    assert_eq!(conn.ask(tag).await["error"]["code"], "bad_request");
    assert_eq!(count(&mut conn, "app.Tag").await, 0);
}

#[tokio::test]
async fn the_action_that_happens_is_the_one_permitted() {
    let engine = engine_with(registry(None), Limits::default()).await;
    let mut admin = open(&engine, Some(User::new(1, "admin")));
    let mut editor = open(&engine, Some(User::new(2, "editor")));
    let mut maker = open(&engine, Some(User::new(3, "maker")));
    let mut scoped = open(&engine, Some(User::new(4, "scoped")));
    let upsert = |name: &str, note: &str| {
        json!({"event": "app.Account.save",
               "data": {"username": name, "note": note, "owner": 1, "on_conflict": "username"}})
    };
    assert_eq!(admin.ask(upsert("ann", "a")).await["data"]["created"], true);

    // The editor may update ann, not create bob.
    let reply = editor.ask(upsert("ann", "edited")).await;
    assert_eq!(reply["data"]["created"], false, "{reply}");
    let reply = editor.ask(upsert("bob", "b")).await;
    assert_eq!(reply["error"]["code"], "permission_denied", "{reply}");
    // The maker may create bob, not update ann.
    let reply = maker.ask(upsert("bob", "b")).await;
    assert_eq!(reply["data"]["created"], true, "{reply}");
    let reply = maker.ask(upsert("ann", "made")).await;
    assert_eq!(reply["error"]["code"], "permission_denied", "{reply}");
    // The scoped user's update scope leaves ann (owner 1) out: the row is not theirs to take.
    let reply = scoped.ask(upsert("ann", "taken")).await;
    assert_eq!(reply["error"]["code"], "conflict", "{reply}");
    assert!(reply["error"]["fields"]["username"].is_array(), "{reply}");

    let ann = admin
        .ask(json!({"event": "app.Account.search", "data": {"filters": {"username": "ann"}, "subscribe": false}}))
        .await;
    assert_eq!(ann["data"]["rows"][0]["note"], "edited", "{ann}");
    assert_eq!(count(&mut admin, "app.Account").await, 2);

    // A permission that reads the `id` to tell whose row it is sees the row the upsert would
    // update, not an `id` the request sends for another.
    let mut owner = open(&engine, Some(User::new(5, "owner")));
    let as_one = |name: &str| {
        let mut frame = upsert(name, "owned");
        frame["data"]["id"] = json!(1);
        frame
    };
    let reply = owner.ask(as_one("ann")).await;
    assert_eq!(reply["data"]["created"], false, "ann is account 1: {reply}");
    let reply = owner.ask(as_one("bob")).await;
    assert_eq!(
        reply["error"]["code"], "permission_denied",
        "bob is not: {reply}"
    );
    let bob = admin
        .ask(json!({"event": "app.Account.search", "data": {"filters": {"username": "bob"}, "subscribe": false}}))
        .await;
    assert_eq!(bob["data"]["rows"][0]["note"], "b", "{bob}");
}

#[tokio::test]
async fn hooks_see_the_save_before_and_what_it_became_after() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = engine_with(registry(Some(Arc::clone(&seen))), Limits::default()).await;
    let mut conn = open(&engine, None);
    for _ in 0..2 {
        let upsert = json!({"event": "app.Account.save",
                            "data": {"username": "ann", "note": "mine", "on_conflict": "username"}});
        let reply = conn.ask(upsert).await;
        assert_eq!(reply["data"]["object"]["note"], "hooked", "{reply}");
    }
    assert_eq!(
        *seen.lock().unwrap(),
        ["before save", "after create", "before save", "after update"]
    );
}
