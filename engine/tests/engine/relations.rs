//! Filters, orders and scopes through relations, live: a change of the related row moves rows
//! in and out of live searches, watched rows and change feeds, and bad paths are refused.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::Permission;
use serde_json::{json, Map, Value};

use crate::support::{engine_with, send, Collect};

/// The user who sets things up, and sees everything.
const ROOT: i64 = 99;

fn is_root(user: Option<&User>) -> bool {
    user.is_some_and(|u| u.id == ROOT)
}

/// Users: `password` is hidden from everyone but root.
struct NoPasswords;

impl Permission for NoPasswords {
    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        if is_root(user) {
            vec![]
        } else {
            vec!["password".into()]
        }
    }
}

/// Tasks: a signed-in user sees the tasks of the projects they own; root and anonymous
/// callers see all.
struct MyProjectsTasks;

impl Permission for MyProjectsTasks {
    fn scope(&self, user: Option<&User>, _: &str) -> Option<Map<String, Value>> {
        let user = user.filter(|u| u.id != ROOT)?;
        json!({"project__owner_id": user.id}).as_object().cloned()
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("auth_user")
                .field(Field::string("username").required())
                .field(Field::string("password"))
                .permission(NoPasswords),
        )
        .unwrap()
        .model(
            ModelBinding::new("app_project")
                .field(Field::string("name"))
                .field(Field::foreign_key("owner_id", "auth.User")),
        )
        .unwrap()
        .model(
            ModelBinding::new("app_task")
                .field(Field::string("title"))
                .field(Field::foreign_key("project_id", "app.Project"))
                .field(Field::foreign_key("owner_id", "auth.User"))
                .permission(MyProjectsTasks),
        )
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

    /// Asks and expects a reply without an error.
    async fn ok(&mut self, frame: Value) -> Value {
        let reply = self.ask(frame.clone()).await;
        assert!(reply.get("error").is_none(), "{frame} -> {reply}");
        reply
    }
}

fn open(engine: &chanbind_engine::Engine, user: Option<User>) -> Conn {
    let out = Arc::new(Collect::default());
    Conn {
        s: engine.open_session(user, out.clone()),
        out,
    }
}

fn titles(frame: &Value) -> Vec<&str> {
    frame["data"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows in {frame}"))
        .iter()
        .map(|r| r["title"].as_str().unwrap())
        .collect()
}

/// Users alice (1) and bob (2); projects p1 of alice, p2 of bob; tasks a (p1, alice),
/// b (p2, bob) and c (no project, no owner); returns root's connection.
async fn seed(engine: &chanbind_engine::Engine) -> Conn {
    let mut anon = open(engine, Some(User::new(ROOT, "root")));
    for name in ["alice", "bob"] {
        anon.ok(json!({"event": "auth.User.create", "data": {"username": name, "password": "pw"}}))
            .await;
    }
    for (name, owner) in [("p1", 1), ("p2", 2)] {
        anon.ok(json!({"event": "app.Project.create", "data": {"name": name, "owner_id": owner}}))
            .await;
    }
    for (title, project, owner) in [("a", json!(1), json!(1)), ("b", json!(2), json!(2))] {
        anon.ok(json!({"event": "app.Task.create", "data": {"title": title, "project_id": project, "owner_id": owner}}))
            .await;
    }
    anon.ok(json!({"event": "app.Task.create", "data": {"title": "c"}}))
        .await;
    anon
}

#[tokio::test]
async fn a_live_search_follows_the_related_rows() {
    let engine = engine_with(registry(), Limits::default()).await;
    let mut anon = seed(&engine).await;
    let mut watch = open(&engine, None);

    let reply = watch
        .ok(json!({"event": "app.Task.search#s", "data": {
            "filters": {"owner__username__icontains": "ALI"}, "order": "-owner__username"}}))
        .await;
    assert_eq!(titles(&reply), ["a"]);
    assert_eq!(reply["data"]["order"], json!(["-owner__username", "id"]));
    let sorted = watch
        .ok(json!({"event": "app.Task.list#l", "data": {"order": ["-project__owner__username", "title"]}}))
        .await;
    assert_eq!(titles(&sorted), ["c", "b", "a"], "null first descending");

    // Bob's new name matches: his task comes in, and sorts before alice's.
    anon.ok(json!({"event": "auth.User.update", "data": {"id": 2, "username": "alina"}}))
        .await;
    let pushes = watch.out.take(1).await;
    assert_eq!(
        pushes.len(),
        1,
        "the list's order did not change: {pushes:?}"
    );
    assert_eq!(pushes[0]["event"], "app.Task.search#s");
    assert_eq!(titles(&pushes[0]), ["b", "a"]);

    // Alice's does not any more: her task goes out.
    anon.ok(json!({"event": "auth.User.update", "data": {"id": 1, "username": "carol"}}))
        .await;
    let mut pushes = watch.out.take(2).await;
    pushes.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        titles(&pushes[0]),
        ["c", "a", "b"],
        "carol sorts after alina"
    );
    assert_eq!(titles(&pushes[1]), ["b"], "{pushes:?}");

    // A change of a related field no filter or order reads changes no result: no push.
    anon.ok(json!({"event": "auth.User.update", "data": {"id": 1, "password": "new"}}))
        .await;
    // The task's own foreign key moving to a matching user brings it in.
    anon.ok(json!({"event": "app.Task.update", "data": {"id": 3, "owner_id": 2}}))
        .await;
    let pushes = watch.out.take(2).await;
    let search: Vec<&Value> = pushes
        .iter()
        .filter(|f| f["event"] == "app.Task.search#s")
        .collect();
    assert_eq!(
        search.len(),
        1,
        "the password change pushed nothing: {pushes:?}"
    );
    assert_eq!(titles(search[0]), ["b", "c"]);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(watch.out.take(0).await.is_empty());
}

#[tokio::test]
async fn a_scope_through_a_relation_is_checked_on_every_door_and_at_push_time() {
    let engine = engine_with(registry(), Limits::default()).await;
    let mut anon = seed(&engine).await;
    let mut alice = open(&engine, Some(User::new(1, "alice")));

    let a = alice
        .ok(json!({"event": "app.Task.retrieve#r", "data": {"id": 1}}))
        .await;
    assert_eq!(a["data"]["title"], "a");
    let b = alice
        .ask(json!({"event": "app.Task.retrieve", "data": {"id": 2}}))
        .await;
    assert_eq!(b["error"]["code"], "not_found", "bob's project's task: {b}");
    let list = alice.ok(json!({"event": "app.Task.list#l"})).await;
    assert_eq!(titles(&list), ["a"]);
    alice
        .ok(json!({"event": "app.Task.subscribe#f", "data": {"filters": {"owner__username__ne": "zed"}}}))
        .await;

    // An edit inside the scope reaches every subscription.
    anon.ok(json!({"event": "app.Task.update", "data": {"id": 1, "title": "a2"}}))
        .await;
    let mut got = alice.out.take(3).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    let events: Vec<&str> = got.iter().map(|f| f["event"].as_str().unwrap()).collect();
    assert_eq!(
        events,
        [
            "app.Task.list#l",
            "app.Task.retrieve#r",
            "app.Task.updated#f"
        ],
        "{got:?}"
    );

    // The project changes hands: its tasks leave alice's scope without a change of their own.
    anon.ok(json!({"event": "app.Project.update", "data": {"id": 1, "owner_id": 2}}))
        .await;
    let mut got = alice.out.take(2).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        [
            json!({"event": "app.Task.delete#r", "data": {"id": 1, "deleted": true}}),
            json!({"event": "app.Task.list#l", "data": {"count": 0, "rows": []}}),
        ]
    );
    // ... and bob's project comes to her, with its task.
    anon.ok(json!({"event": "app.Project.update", "data": {"id": 2, "owner_id": 1}}))
        .await;
    let got = alice.out.take(1).await;
    assert_eq!(titles(&got[0]), ["b"], "{got:?}");

    // A task edit moving a row into her scope is `created` in her feed, judged through the
    // store; out again, `deleted`.
    anon.ok(json!({"event": "app.Task.update", "data": {"id": 3, "project_id": 2}}))
        .await;
    let mut got = alice.out.take(2).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(got[0]["event"], "app.Task.created#f", "{got:?}");
    assert_eq!(got[0]["data"]["title"], "c");
    assert_eq!(titles(&got[1]), ["b", "c"]);
    anon.ok(json!({"event": "app.Task.update", "data": {"id": 3, "project_id": 1}}))
        .await;
    let mut got = alice.out.take(2).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        got[0],
        json!({"event": "app.Task.deleted#f", "data": {"id": 3}}),
        "{got:?}"
    );

    // A create must land inside the scope, judged with the related project.
    let refused = alice
        .ask(json!({"event": "app.Task.create", "data": {"title": "x", "project_id": 1}}))
        .await;
    assert_eq!(refused["error"]["code"], "permission_denied", "{refused}");
    let refused = alice
        .ask(json!({"event": "app.Task.create", "data": {"title": "x"}}))
        .await;
    assert_eq!(refused["error"]["code"], "permission_denied", "{refused}");
    let made = alice
        .ok(json!({"event": "app.Task.create", "data": {"title": "y", "project_id": 2}}))
        .await;
    assert_eq!(made["data"]["object"]["title"], "y", "{made}");
}

#[tokio::test]
async fn bad_paths_are_invalid_filters_naming_the_key_and_the_connection_stays() {
    let limits = Limits {
        max_relation_depth: 1,
        ..Limits::default()
    };
    let engine = engine_with(registry(), limits).await;
    seed(&engine).await;
    let mut anon = open(&engine, None);
    for (data, message) in [
        (
            json!({"filters": {"title__owner__username": "a"}}),
            "title__owner__username: title is not a foreign key, so there is no relation to follow",
        ),
        (
            json!({"filters": {"boss__username__icontains": "a"}}),
            "boss__username__icontains: unknown relation boss",
        ),
        (
            json!({"filters": {"or": [{"owner__password": "pw"}]}}),
            "or[0].owner__password: unknown or unfilterable field password of auth.User",
        ),
        (
            json!({"filters": {"project__owner__username": "a"}}),
            "project__owner__username: a path follows at most 1 relations (max_relation_depth)",
        ),
        (
            json!({"order": "-owner__password"}),
            "order: -owner__password: unknown or unorderable field password of auth.User",
        ),
        (
            json!({"order": ["project__owner__username"]}),
            "order: project__owner__username: a path follows at most 1 relations (max_relation_depth)",
        ),
    ] {
        let reply = anon
            .ask(json!({"event": "app.Task.search", "data": data}))
            .await;
        assert_eq!(
            reply["error"],
            json!({"code": "invalid_filter", "message": message}),
            "{data}"
        );
    }
    let feed = anon
        .ask(json!({"event": "app.Task.subscribe", "data": {"filters": {"owner__nope": 1}}}))
        .await;
    assert_eq!(
        feed["error"]["message"],
        "owner__nope: unknown or unfilterable field nope of auth.User"
    );
    let fine = anon
        .ok(json!({"event": "app.Task.search", "data": {"filters": {"owner__username": "bob"}}}))
        .await;
    assert_eq!(titles(&fine), ["b"]);
}
