//! `expand` and `include`: related rows in replies and pushes, read one op per relation, under
//! the related binding's permission, and kept live when they change.

use std::sync::atomic::{AtomicUsize, Ordering as AtomicOrdering};
use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, OnDelete, Registry};
use chanbind_engine::capture::Batch;
use chanbind_engine::config::Limits;
use chanbind_engine::filter::Filter;
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::store::{MemoryStore, Store, StoreFuture, StoreOp};
use chanbind_engine::Engine;
use serde_json::{json, Map, Value};

use crate::support::{send, Collect};

/// Counts the reads it runs (rows and pages apart from relation reads; writes are not
/// counted), on top of a `MemoryStore`.
pub struct Counting {
    pub inner: MemoryStore,
    pub reads: AtomicUsize,
    pub related: AtomicUsize,
}

impl Store for Counting {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        match op {
            StoreOp::Related { .. } => self.related.fetch_add(1, AtomicOrdering::SeqCst),
            StoreOp::Get { .. } | StoreOp::Search { .. } => {
                self.reads.fetch_add(1, AtomicOrdering::SeqCst)
            }
            _ => 0,
        };
        self.inner.execute(op)
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

impl Counting {
    fn take(&self) -> (usize, usize) {
        (
            self.reads.swap(0, AtomicOrdering::SeqCst),
            self.related.swap(0, AtomicOrdering::SeqCst),
        )
    }
}

/// `auth.User` (under `users`), `todo.Task` with an owner, `todo.Comment` keyed by UUIDs on
/// a task, with an author.
fn board(users: impl FnOnce(ModelBinding) -> ModelBinding) -> Registry {
    let comments = ModelBinding::new("todo_comment")
        .key(Field::uuid("id"))
        .field(Field::foreign_key("task_id", "todo.Task").on_delete(OnDelete::Cascade))
        .field(Field::foreign_key("author_id", "auth.User").on_delete(OnDelete::SetNull))
        .field(Field::text("body"));
    Registry::new()
        .model(users(
            ModelBinding::new("auth_user")
                .field(Field::string("username"))
                .field(Field::email("email")),
        ))
        .and_then(|r| {
            r.model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title"))
                    .field(Field::boolean("done").default(false))
                    .field(
                        Field::foreign_key("owner_id", "auth.User").on_delete(OnDelete::SetNull),
                    ),
            )
        })
        .and_then(|r| r.model(comments))
        .unwrap()
}

async fn start(registry: Registry) -> (Engine, Arc<Counting>) {
    start_with(registry, Limits::default()).await
}

async fn start_with(registry: Registry, limits: Limits) -> (Engine, Arc<Counting>) {
    let store = Arc::new(Counting {
        inner: MemoryStore::new(&registry),
        reads: AtomicUsize::new(0),
        related: AtomicUsize::new(0),
    });
    let engine = Engine::start(registry, store.clone(), limits)
        .await
        .unwrap();
    (engine, store)
}

/// A session and what it receives.
struct Client {
    session: chanbind_engine::session::Session,
    out: Arc<Collect>,
}

impl Client {
    fn new(engine: &Engine, user: Option<User>) -> Client {
        let out = Arc::new(Collect::default());
        Client {
            session: engine.open_session(user, out.clone()),
            out,
        }
    }

    async fn send(&mut self, event: &str, data: Value) -> Value {
        send(
            &mut self.session,
            &self.out,
            json!({"event": event, "data": data}),
        )
        .await
    }

    async fn ok(&mut self, event: &str, data: Value) -> Value {
        let reply = self.send(event, data).await;
        assert!(reply.get("error").is_none(), "{event}: {reply}");
        reply["data"].clone()
    }

    /// Waits a little and takes everything pushed.
    async fn pushes(&self, n: usize) -> Vec<Value> {
        let frames = self.out.take(n).await;
        assert_eq!(frames.len(), n, "{frames:#?}");
        frames
    }

    async fn silence(&self) {
        tokio::time::sleep(Duration::from_millis(60)).await;
        let frames = self.out.take(0).await;
        assert!(frames.is_empty(), "expected nothing, got {frames:#?}");
    }
}

/// Three users, `tasks` tasks owned round-robin, and comments on task 1 (three) and 2 (one).
async fn seed(engine: &Engine, tasks: usize) -> Client {
    let mut w = Client::new(engine, Some(User::new(99, "writer")));
    for name in ["ann", "ben", "cy"] {
        w.ok(
            "auth.User.create",
            json!({"username": name, "email": format!("{name}@x.io")}),
        )
        .await;
    }
    for n in 0..tasks {
        w.ok(
            "todo.Task.create",
            json!({"title": format!("t{}", n + 1), "owner_id": (n % 3) + 1}),
        )
        .await;
    }
    for (task, body, author) in [(1, "a", 2), (1, "b", 3), (1, "c", 1), (2, "d", 1)] {
        w.ok(
            "todo.Comment.create",
            json!({"task_id": task, "body": body, "author_id": author}),
        )
        .await;
    }
    w
}

#[tokio::test]
async fn a_search_expands_and_includes_with_one_read_per_relation() {
    let (engine, store) = start(board(|b| b)).await;
    seed(&engine, 25).await;
    let mut c = Client::new(&engine, None);
    store.take();
    let page = c
        .ok(
            "todo.Task.search",
            json!({"subscribe": false, "expand": "owner",
                   "include": {"comments": {"limit": 2, "order": "-body", "expand": ["author"]}}}),
        )
        .await;
    // The page (one op), then one op per relation, whatever the number of rows.
    assert_eq!(store.take(), (1, 3));
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(rows.len(), 25);
    assert_eq!(rows[0]["owner_id"], 1, "the key stays beside the expansion");
    assert_eq!(
        rows[0]["owner"],
        json!({"id": 1, "username": "ann", "email": "ann@x.io"})
    );
    assert_eq!(rows[4]["owner"]["username"], "ben");
    let bodies: Vec<&str> = rows[0]["comments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["body"].as_str().unwrap())
        .collect();
    assert_eq!(bodies, ["c", "b"], "two per task, in the include's order");
    assert_eq!(rows[0]["comments"][0]["author"]["username"], "ann");
    assert_eq!(rows[0]["comments"][1]["author"]["username"], "cy");
    assert_eq!(rows[1]["comments"].as_array().unwrap().len(), 1);
    assert_eq!(rows[2]["comments"], json!([]));

    // Without relations, the search is one op, as before.
    c.ok("todo.Task.search", json!({"subscribe": false})).await;
    assert_eq!(store.take(), (1, 0));
    // A task without an owner shows null.
    c.ok("todo.Task.update", json!({"id": 3, "owner_id": null}))
        .await;
    let row = c
        .ok(
            "todo.Task.retrieve",
            json!({"id": 3, "subscribe": false, "expand": ["owner"]}),
        )
        .await;
    assert_eq!(row["owner"], Value::Null);
    assert_eq!(row["owner_id"], Value::Null);
    // Two levels: a comment's task and its owner.
    let page = c
        .ok(
            "todo.Comment.list",
            json!({"subscribe": false, "expand": ["task.owner", "author"], "order": "body"}),
        )
        .await;
    assert_eq!(page["rows"][0]["task"]["title"], "t1");
    assert_eq!(page["rows"][0]["task"]["owner"]["username"], "ann");
    assert_eq!(page["rows"][0]["author"]["username"], "ben");
}

#[tokio::test]
async fn a_watched_row_follows_its_expansion_and_its_foreign_key() {
    let (engine, store) = start(board(|b| b)).await;
    let mut w = seed(&engine, 3).await;
    let mut c = Client::new(&engine, None);
    let row = c
        .ok(
            "todo.Task.retrieve#t",
            json!({"id": 1, "expand": "owner", "include": "comments"}),
        )
        .await;
    assert_eq!(row["owner"]["username"], "ann");
    assert_eq!(row["comments"].as_array().unwrap().len(), 3);

    // The owner changes: the task is pushed again, under its own event and hash.
    w.ok("auth.User.update", json!({"id": 1, "username": "anna"}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["event"], "todo.Task.retrieve#t");
    assert_eq!(push["data"]["owner"]["username"], "anna");

    // The foreign key moves: the expansion follows it, and the old owner no longer counts.
    w.ok("todo.Task.update", json!({"id": 1, "owner_id": 2}))
        .await;
    assert_eq!(c.pushes(1).await[0]["data"]["owner"]["username"], "ben");
    // Changes of users it does not show cost no read at all.
    store.take();
    w.ok("auth.User.update", json!({"id": 1, "username": "ann"}))
        .await;
    c.silence().await;
    w.ok("auth.User.update", json!({"id": 3, "username": "cyd"}))
        .await;
    c.silence().await;
    assert_eq!(store.take(), (0, 0));

    // A new comment on it, and one on another task.
    w.ok("todo.Comment.create", json!({"task_id": 1, "body": "e"}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["data"]["comments"].as_array().unwrap().len(), 4);
    w.ok("todo.Comment.create", json!({"task_id": 2, "body": "f"}))
        .await;
    c.silence().await;

    // The task goes: `delete`, and the watch ends.
    w.ok("todo.Task.delete", json!({"id": 1})).await;
    let push = &c.pushes(1).await[0];
    assert_eq!(
        *push,
        json!({"event": "todo.Task.delete#t", "data": {"id": 1, "deleted": true}})
    );
    w.ok("auth.User.update", json!({"id": 2, "username": "benny"}))
        .await;
    c.silence().await;
}

#[tokio::test]
async fn a_live_search_is_pushed_when_an_included_row_comes_changes_or_moves() {
    let (engine, _) = start(board(|b| b)).await;
    let mut w = seed(&engine, 3).await;
    let mut c = Client::new(&engine, None);
    let page = c
        .ok(
            "todo.Task.search#s",
            json!({"filters": {"id__in": [1, 2]}, "include": {"comments": {"expand": "author", "order": "body"}}}),
        )
        .await;
    assert_eq!(page["rows"][1]["comments"][0]["body"], "d");

    let comments = |push: &Value, row: usize| -> Vec<String> {
        push["data"]["rows"][row]["comments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["body"].as_str().unwrap().to_owned())
            .collect()
    };
    let made = w
        .ok("todo.Comment.create", json!({"task_id": 2, "body": "g"}))
        .await;
    let id = made["id"].clone();
    let push = &c.pushes(1).await[0];
    assert_eq!(push["event"], "todo.Task.search#s");
    assert_eq!(comments(push, 1), ["d", "g"]);

    // A comment moved to another shown task, then away from them all.
    w.ok("todo.Comment.update", json!({"id": id, "task_id": 1}))
        .await;
    assert_eq!(comments(&c.pushes(1).await[0], 0), ["a", "b", "c", "g"]);
    w.ok("todo.Comment.update", json!({"id": id, "task_id": 3}))
        .await;
    assert_eq!(comments(&c.pushes(1).await[0], 0), ["a", "b", "c"]);
    // A change of a comment no result shows pushes nothing; nor does its author's change.
    w.ok("todo.Comment.update", json!({"id": id, "body": "h"}))
        .await;
    c.silence().await;
    // The author of a shown comment changes.
    w.ok("auth.User.update", json!({"id": 2, "username": "b2"}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(
        push["data"]["rows"][0]["comments"][0]["author"]["username"],
        "b2"
    );
}

#[tokio::test]
async fn a_change_of_a_related_row_from_outside_reaches_the_parents_watchers() {
    let (engine, store) = start(board(|b| b)).await;
    seed(&engine, 2).await;
    let mut c = Client::new(&engine, None);
    c.ok("todo.Task.retrieve", json!({"id": 1, "expand": "owner"}))
        .await;
    // No one watches auth.User itself, yet its rows are read: a task shows one.
    assert!(engine.is_watched("auth.User"));
    let users = Arc::clone(engine.registry().get("auth.User").unwrap());
    let values: Map<String, Value> =
        serde_json::from_value(json!({"username": "outside"})).unwrap();
    store
        .inner
        .execute(StoreOp::Update {
            binding: users,
            pk: 1.into(),
            values,
            scope: Filter::everything(),
        })
        .await
        .unwrap();
    let mut batch = Batch::new("app", "this-node");
    batch.push_row("auth_user".into(), 1.into(), false);
    assert_eq!(engine.publish_captured(batch).await, 1);
    let push = &c.pushes(1).await[0];
    assert_eq!(push["event"], "todo.Task.retrieve");
    assert_eq!(push["data"]["owner"]["username"], "outside");
}

/// Anonymous users retrieve `auth.User` rows other than cy's, without `email`.
struct SomeUsers;

impl Permission for SomeUsers {
    fn scope(&self, user: Option<&User>, action: &str) -> Option<Map<String, Value>> {
        match (user, action) {
            (None, "retrieve") => json!({"username__ne": "cy"}).as_object().cloned(),
            _ => None,
        }
    }
    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        match user {
            None => vec!["email".into()],
            Some(_) => Vec::new(),
        }
    }
}

/// `todo.Comment` may not be read by anyone.
struct NoComments;

impl Permission for NoComments {
    fn allows(&self, access: &Access<'_>) -> bool {
        !matches!(access.action, "retrieve" | "search" | "list")
    }
}

#[tokio::test]
async fn related_rows_are_shown_as_their_own_binding_lets_the_user_see_them() {
    let registry = board(|b| b.permission(SomeUsers));
    let (engine, _) = start(registry).await;
    let mut w = seed(&engine, 3).await;
    let mut c = Client::new(&engine, None);
    let page = c
        .ok("todo.Task.list", json!({"expand": "owner", "order": "id"}))
        .await;
    let rows = page["rows"].as_array().unwrap();
    assert_eq!(
        rows[0]["owner"],
        json!({"id": 1, "username": "ann"}),
        "no email"
    );
    assert_eq!(
        rows[2]["owner"],
        Value::Null,
        "cy is outside the user's scope"
    );
    assert_eq!(rows[2]["owner_id"], 3);
    // cy comes into the scope: the live list shows it.
    w.ok("auth.User.update", json!({"id": 3, "username": "cyrus"}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["data"]["rows"][2]["owner"]["username"], "cyrus");
    // A change of a hidden field alone is not pushed.
    w.ok("auth.User.update", json!({"id": 1, "email": "new@x.io"}))
        .await;
    c.silence().await;

    let (engine, _) = start(unreadable_comments()).await;
    let mut c = Client::new(&engine, None);
    let reply = c
        .send("todo.Task.search", json!({"include": "comments"}))
        .await;
    assert_eq!(reply["error"]["code"], "invalid_filter", "{reply}");
    assert!(
        reply["error"]["message"]
            .as_str()
            .unwrap()
            .contains("comments"),
        "{reply}"
    );
}

/// A board whose comments are behind [`NoComments`].
fn unreadable_comments() -> Registry {
    let comments = ModelBinding::new("todo_comment")
        .key(Field::uuid("id"))
        .field(Field::foreign_key("task_id", "todo.Task"))
        .field(Field::text("body"))
        .permission(NoComments);
    Registry::new()
        .model(ModelBinding::new("auth_user").field(Field::string("username")))
        .and_then(|r| {
            r.model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title"))
                    .field(Field::foreign_key("owner_id", "auth.User")),
            )
        })
        .and_then(|r| r.model(comments))
        .unwrap()
}

#[tokio::test]
async fn bad_relations_are_refused_by_name_and_change_nothing() {
    let (engine, store) = start(board(|b| b)).await;
    seed(&engine, 2).await;
    let mut c = Client::new(&engine, None);
    let cases = [
        (json!({"expand": "nope"}), "invalid_filter", "nope"),
        (json!({"expand": "title"}), "invalid_filter", "title"),
        (json!({"expand": "comments"}), "invalid_filter", "comments"),
        (json!({"include": "owner"}), "invalid_filter", "owner"),
        (
            json!({"expand": "owner.nope"}),
            "invalid_filter",
            "owner.nope",
        ),
        (json!({"expand": "owner."}), "invalid_filter", "owner."),
        (
            json!({"include": {"comments": {"expand": "task.owner"}}}),
            "invalid_filter",
            "max_relation_depth",
        ),
        (
            json!({"include": {"comments": {"limit": 21}}}),
            "invalid_filter",
            "comments.limit",
        ),
        (
            json!({"include": {"comments": {"limit": 0}}}),
            "invalid_filter",
            "comments.limit",
        ),
        (
            json!({"include": {"comments": {"order": "nope"}}}),
            "invalid_filter",
            "comments.order",
        ),
        (
            json!({"include": {"comments": {"sort": "x"}}}),
            "invalid_filter",
            "sort",
        ),
        (json!({"expand": 5}), "bad_request", "expand"),
        (
            json!({"include": {"comments": 5}}),
            "bad_request",
            "comments",
        ),
        (
            json!({"include": {"comments": {"limit": "2"}}}),
            "bad_request",
            "limit",
        ),
    ];
    store.take();
    for (data, code, name) in cases {
        for event in [
            "todo.Task.search",
            "todo.Task.retrieve",
            "todo.Task.subscribe",
        ] {
            let mut data = data.clone();
            data["id"] = json!(1);
            let reply = c.send(event, data.clone()).await;
            assert_eq!(reply["error"]["code"], code, "{event} {data}: {reply}");
            let message = reply["error"]["message"].as_str().unwrap();
            assert!(message.contains(name), "{event} {data}: {message}");
        }
    }
    assert_eq!(store.take(), (0, 0), "nothing was read");
    // Three levels, with the limit raised to three, are accepted.
    let limits = Limits {
        max_relation_depth: 3,
        ..Limits::default()
    };
    let (engine, _) = start_with(board(|b| b), limits).await;
    seed(&engine, 2).await;
    let mut c = Client::new(&engine, None);
    c.ok(
        "todo.Task.retrieve",
        json!({"id": 1, "include": {"comments": {"expand": "task.owner"}}}),
    )
    .await;
    // The connection stays open.
    c.ok("todo.Task.retrieve", json!({"id": 1})).await;
}

#[tokio::test]
async fn a_change_feed_pushes_rows_with_their_relations_in_order() {
    let (engine, _) = start(board(|b| b)).await;
    let mut w = seed(&engine, 3).await;
    let mut c = Client::new(&engine, None);
    c.ok(
        "todo.Task.subscribe#f",
        json!({"filters": {"done": false}, "expand": "owner", "include": {"comments": {"limit": 1, "order": "body"}}}),
    )
    .await;
    w.ok("todo.Task.create", json!({"title": "t4", "owner_id": 2}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["event"], "todo.Task.created#f");
    assert_eq!(push["data"]["title"], "t4");
    assert_eq!(push["data"]["owner"]["username"], "ben");
    assert_eq!(push["data"]["comments"], json!([]));

    // Ten quick updates: ten pushes, in commit order, each with its owner.
    for n in 0..10 {
        w.ok(
            "todo.Task.update",
            json!({"id": 4, "title": format!("u{n}"), "owner_id": (n % 3) + 1}),
        )
        .await;
    }
    let pushes = c.pushes(10).await;
    for (n, push) in pushes.iter().enumerate() {
        assert_eq!(push["event"], "todo.Task.updated#f");
        assert_eq!(push["data"]["title"], format!("u{n}"));
        assert_eq!(push["data"]["owner_id"], (n % 3) + 1);
        assert_eq!(push["data"]["owner"]["id"], (n % 3) + 1);
    }

    // A related row changes: `updated` for each row of the feed that shows it.
    w.ok("auth.User.update", json!({"id": 1, "username": "anna"}))
        .await;
    let pushes = c.pushes(2).await;
    let mut ids: Vec<i64> = pushes
        .iter()
        .map(|p| {
            assert_eq!(p["event"], "todo.Task.updated#f");
            assert_eq!(p["data"]["owner"]["username"], "anna");
            p["data"]["id"].as_i64().unwrap()
        })
        .collect();
    ids.sort_unstable();
    assert_eq!(ids, [1, 4], "task 4 ended owned by user 1 (n = 9)");
    // An included row: its parent is pushed.
    w.ok("todo.Comment.create", json!({"task_id": 2, "body": "0"}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["data"]["id"], 2);
    assert_eq!(push["data"]["comments"][0]["body"], "0");
    // A related row the feed's rows do not show: nothing.
    w.ok("todo.Task.update", json!({"id": 3, "done": true}))
        .await;
    let push = &c.pushes(1).await[0];
    assert_eq!(push["event"], "todo.Task.deleted#f");
    assert_eq!(push["data"], json!({"id": 3}));
    w.ok("auth.User.update", json!({"id": 3, "username": "cyd"}))
        .await;
    c.silence().await;
}

/// A store whose relation reads, once `hold` is set, keep their answer until `release`:
/// what they read is then older than the writes made meanwhile.
struct Gated {
    inner: MemoryStore,
    hold: std::sync::atomic::AtomicBool,
    gate: tokio::sync::Semaphore,
    waiting: tokio::sync::Notify,
}

impl Store for Gated {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        let held = matches!(op, StoreOp::Related { .. }) && self.hold.load(AtomicOrdering::SeqCst);
        let answer = self.inner.execute_now(op);
        Box::pin(async move {
            if held {
                self.waiting.notify_one();
                let _ = self.gate.acquire().await.map(|p| p.forget());
            }
            answer
        })
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

#[tokio::test]
async fn a_related_change_during_the_snapshot_read_is_pushed_after_it() {
    let registry = board(|b| b);
    let store = Arc::new(Gated {
        inner: MemoryStore::new(&registry),
        hold: false.into(),
        gate: tokio::sync::Semaphore::new(0),
        waiting: tokio::sync::Notify::new(),
    });
    let engine = Engine::start(registry, store.clone(), Limits::default())
        .await
        .unwrap();
    let mut w = seed(&engine, 2).await;
    for (event, data) in [
        ("todo.Task.retrieve", json!({"id": 1, "expand": "owner"})),
        ("todo.Task.search", json!({"expand": "owner"})),
    ] {
        let out = Arc::new(Collect::default());
        let mut c = engine.open_session(None, out.clone());
        store.hold.store(true, AtomicOrdering::SeqCst);
        let frame = json!({"event": event, "data": data}).to_string();
        let job = match c.handle_text(&frame) {
            chanbind_engine::session::Step::Run(job) => job,
            chanbind_engine::session::Step::Reply(f) => panic!("{}", f.as_str()),
        };
        let running = tokio::spawn(job.run());
        store.waiting.notified().await;
        store.hold.store(false, AtomicOrdering::SeqCst);
        // The owner is renamed after the snapshot read it, before the reply went out.
        let name = format!("renamed for {event}");
        w.ok("auth.User.update", json!({"id": 1, "username": name}))
            .await;
        store.gate.add_permits(1);
        running.await.unwrap();
        let frames = out.take(2).await;
        assert_eq!(
            frames.len(),
            2,
            "{event}: the reply, then a push: {frames:#?}"
        );
        let owner = |f: &Value| match f["data"].get("rows") {
            Some(rows) => rows[0]["owner"]["username"].clone(),
            None => f["data"]["owner"]["username"].clone(),
        };
        assert_ne!(
            owner(&frames[0]),
            json!(name),
            "{event}: the reply is stale"
        );
        assert_eq!(owner(&frames[1]), json!(name), "{event}: the push is not");
    }
}

#[tokio::test]
async fn an_include_shows_at_most_max_include_rows_per_parent_by_default() {
    let limits = Limits {
        max_include_rows: 3,
        ..Limits::default()
    };
    let (engine, _) = start_with(board(|b| b), limits).await;
    let mut w = seed(&engine, 2).await;
    for n in 0..5 {
        w.ok(
            "todo.Comment.create",
            json!({"task_id": 2, "body": format!("more {n}")}),
        )
        .await;
    }
    let page = w
        .ok(
            "todo.Task.list",
            json!({"subscribe": false, "include": "comments"}),
        )
        .await;
    assert_eq!(page["rows"][0]["comments"].as_array().unwrap().len(), 3);
    assert_eq!(page["rows"][1]["comments"].as_array().unwrap().len(), 3);
    let reply = w
        .send(
            "todo.Task.list",
            json!({"include": {"comments": {"limit": 4}}}),
        )
        .await;
    assert_eq!(
        reply["error"]["message"],
        "include: comments.limit: must be 1 to 3 (max_include_rows)"
    );
}

/// Users read the comments of their own tasks only: a scope through the comment's task.
struct CommentsOfMyTasks;

impl Permission for CommentsOfMyTasks {
    fn scope(&self, user: Option<&User>, action: &str) -> Option<Map<String, Value>> {
        match action {
            "retrieve" => json!({"task__owner_id": user.map_or(-1, |u| u.id)})
                .as_object()
                .cloned(),
            _ => None,
        }
    }
}

#[tokio::test]
async fn included_rows_follow_a_scope_through_relations() {
    let registry = Registry::new()
        .model(ModelBinding::new("auth_user").field(Field::string("username")))
        .and_then(|r| {
            r.model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title"))
                    .field(Field::foreign_key("owner_id", "auth.User")),
            )
        })
        .and_then(|r| {
            r.model(
                ModelBinding::new("todo_comment")
                    .field(Field::foreign_key("task_id", "todo.Task"))
                    .field(Field::text("body"))
                    .permission(CommentsOfMyTasks),
            )
        })
        .unwrap();
    let (engine, _) = start(registry).await;
    let mut w = Client::new(&engine, None);
    for name in ["ann", "ben"] {
        w.ok("auth.User.create", json!({"username": name})).await;
    }
    for (title, owner) in [("ann's", 1), ("ben's", 2)] {
        w.ok(
            "todo.Task.create",
            json!({"title": title, "owner_id": owner}),
        )
        .await;
    }
    for task in [1, 1, 2] {
        w.ok("todo.Comment.create", json!({"task_id": task, "body": "c"}))
            .await;
    }
    let mut ann = Client::new(&engine, Some(User::new(1, "ann")));
    let page = ann
        .ok(
            "todo.Task.list",
            json!({"include": "comments", "order": "id"}),
        )
        .await;
    assert_eq!(page["rows"][0]["comments"].as_array().unwrap().len(), 2);
    assert_eq!(
        page["rows"][1]["comments"],
        json!([]),
        "ben's task's comments"
    );
    // The task changes hands: its comments come into ann's scope.
    w.ok("todo.Task.update", json!({"id": 2, "owner_id": 1}))
        .await;
    let push = &ann.pushes(1).await[0];
    assert_eq!(
        push["data"]["rows"][1]["comments"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn a_feed_showing_its_own_stream_through_a_relation_pushes_each_row_once() {
    let registry = Registry::new()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title"))
                .field(Field::foreign_key("parent_id", "todo.Task")),
        )
        .unwrap();
    let (engine, _) = start(registry).await;
    let mut w = Client::new(&engine, None);
    w.ok("todo.Task.create", json!({"title": "top"})).await;
    w.ok("todo.Task.create", json!({"title": "sub", "parent_id": 1}))
        .await;
    let mut c = Client::new(&engine, None);
    c.ok("todo.Task.subscribe#f", json!({"expand": "parent"}))
        .await;
    w.ok("todo.Task.update", json!({"id": 1, "title": "top!"}))
        .await;
    let mut pushes = c.pushes(2).await;
    pushes.sort_by_key(|p| p["data"]["id"].as_i64());
    assert_eq!(pushes[0]["event"], "todo.Task.updated#f");
    assert_eq!(pushes[0]["data"]["title"], "top!");
    assert_eq!(
        pushes[1]["data"]["parent"]["title"], "top!",
        "its child shows it"
    );
    c.silence().await;
}
