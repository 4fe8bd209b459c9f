//! Computed fields: in replies, in pushes computed for each reader, in feeds, forms and the
//! OpenAPI document; refused in filters, order and writes unless the binding translates
//! them; hidden by permissions like any field.

use std::sync::Arc;

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Computed, Field, FieldKind, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::http::{HttpApi, HttpConfig};
use chanbind_engine::permission::Permission;
use chanbind_engine::Engine;
use serde_json::{json, Map, Value};

use crate::support::{engine_with, send, Collect};

/// The admin (1) sees `note`; carol (3) sees neither `note` nor `is_mine`.
struct Notes;

impl Permission for Notes {
    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        match user.map(|u| u.id) {
            Some(1) => vec![],
            Some(3) => vec!["note".into(), "is_mine".into()],
            _ => vec!["note".into()],
        }
    }
}

fn is_mine(row: &chanbind_engine::value::Row, user: Option<&User>) -> Value {
    json!(user.is_some_and(|u| row.get("owner_id") == Some(&json!(u.id))))
}

/// `{"is_mine": true}` is `{"owner_id": <reader>}`; `false` is its negation.
fn mine_filter(
    _: chanbind_engine::filter::Lookup,
    value: &Value,
    user: Option<&User>,
) -> Result<Map<String, Value>, String> {
    let me = json!({"owner_id": user.map_or(-1, |u| u.id)});
    let filter = match value {
        Value::Bool(true) => me,
        Value::Bool(false) => json!({"not": me}),
        _ => return Err("must be true or false".into()),
    };
    Ok(filter.as_object().cloned().unwrap_or_default())
}

/// Users with `full_name` (ordered as last then first name), and tasks with `is_mine` (for
/// the reader, filterable) and `has_note` (from a field only the admin sees).
pub fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("auth_user")
                .field(Field::string("first_name"))
                .field(Field::string("last_name"))
                .computed(
                    Computed::from_row("full_name", FieldKind::String, |row| {
                        let part = |n: &str| row.get(n).and_then(Value::as_str).unwrap_or("");
                        json!(format!("{} {}", part("first_name"), part("last_name")))
                    })
                    .label("Name")
                    .depends_on(["first_name", "last_name"])
                    .order_as(["last_name", "first_name"]),
                ),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title").required())
                .field(Field::integer("owner_id"))
                .field(Field::string("note"))
                .computed(
                    Computed::new("is_mine", FieldKind::Boolean, is_mine)
                        .help_text("Whether you own it.")
                        .depends_on(["owner_id"])
                        .filter_as(mine_filter),
                )
                .computed(
                    Computed::from_row("has_note", FieldKind::Boolean, |row| {
                        json!(row
                            .get("note")
                            .and_then(Value::as_str)
                            .is_some_and(|n| !n.is_empty()))
                    })
                    .depends_on(["note"]),
                )
                .permission(Notes),
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
}

fn open(engine: &Engine, id: i64) -> Conn {
    let out = Arc::new(Collect::default());
    Conn {
        s: engine.open_session(Some(User::new(id, format!("user{id}"))), out.clone()),
        out,
    }
}

/// Admin (1), alice (2), carol (3) and bob (4), and tasks 1 (alice's) and 2 (bob's).
async fn start() -> (Engine, [Conn; 4]) {
    let engine = engine_with(registry(), Limits::default()).await;
    let mut conns = [1, 2, 3, 4].map(|id| open(&engine, id));
    for (title, owner) in [("a", 2), ("b", 4)] {
        let made = conns[0]
            .ask(json!({"event": "todo.Task.create", "data": {"title": title, "owner_id": owner}}))
            .await;
        assert_eq!(made["data"]["success"], true, "{made}");
    }
    (engine, conns)
}

#[tokio::test]
async fn replies_show_each_reader_its_own_values() {
    let (_engine, [_admin, mut alice, mut carol, mut bob]) = start().await;
    // A computed field sent back with a write is ignored, as read-only fields are.
    let made = alice
        .ask(json!({"event": "todo.Task.create", "data": {"title": "c", "owner_id": 2, "is_mine": false, "has_note": true}}))
        .await;
    assert_eq!(
        made["data"]["object"],
        json!({"id": 3, "title": "c", "owner_id": 2, "is_mine": true, "has_note": false})
    );
    let read =
        |id: i64| json!({"event": "todo.Task.retrieve", "data": {"id": id, "subscribe": false}});
    assert_eq!(alice.ask(read(1)).await["data"]["is_mine"], true);
    assert_eq!(bob.ask(read(1)).await["data"]["is_mine"], false);
    assert_eq!(
        carol.ask(read(1)).await["data"],
        json!({"id": 1, "title": "a", "owner_id": 2, "has_note": false}),
        "a field the permission hides is left out, computed or not"
    );
    let list = bob
        .ask(json!({"event": "todo.Task.list", "data": {"subscribe": false}}))
        .await;
    let mine: Vec<&Value> = list["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["is_mine"])
        .collect();
    assert_eq!(mine, [&json!(false), &json!(true), &json!(false)]);
    let updated = bob
        .ask(json!({"event": "todo.Task.update", "data": {"id": 1, "owner_id": 4}}))
        .await;
    assert_eq!(updated["data"]["object"]["is_mine"], true, "{updated}");
    let saved = alice
        .ask(json!({"event": "todo.Task.save", "data": {"id": 3, "title": "c2", "owner_id": 4}}))
        .await;
    assert_eq!(saved["data"]["object"]["is_mine"], false, "{saved}");
}

#[tokio::test]
async fn one_change_pushes_each_reader_its_own_values() {
    let (_engine, [mut admin, mut alice, _carol, mut bob]) = start().await;
    for conn in [&mut alice, &mut bob] {
        conn.ask(json!({"event": "todo.Task.retrieve#row", "data": {"id": 1}}))
            .await;
        conn.ask(json!({"event": "todo.Task.list#all"})).await;
        let ok = conn.ask(json!({"event": "todo.Task.subscribe#feed"})).await;
        assert_eq!(ok["data"]["success"], true);
    }
    admin
        .ask(json!({"event": "todo.Task.update", "data": {"id": 1, "title": "a2"}}))
        .await;
    admin
        .ask(json!({"event": "todo.Task.create", "data": {"title": "d", "owner_id": 4}}))
        .await;
    for (conn, owns_1, owns_3) in [(&alice, true, false), (&bob, false, true)] {
        // The row's update, the feed's update and create, and two list refreshes (which may
        // coalesce into one).
        let frames = conn.out.take(5).await;
        let under = |event: &str| -> Vec<&Value> {
            frames
                .iter()
                .filter(|f| f["event"] == event)
                .map(|f| &f["data"])
                .collect()
        };
        assert_eq!(
            under("todo.Task.retrieve#row"),
            [&json!({"id": 1, "title": "a2", "owner_id": 2, "is_mine": owns_1, "has_note": false})]
        );
        assert_eq!(under("todo.Task.updated#feed")[0]["is_mine"], owns_1);
        assert_eq!(under("todo.Task.created#feed")[0]["is_mine"], owns_3);
        let last_list = *under("todo.Task.list#all").last().expect("a list push");
        let mine: Vec<&Value> = last_list["rows"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| &r["is_mine"])
            .collect();
        assert_eq!(
            mine,
            [&json!(owns_1), &json!(!owns_1), &json!(owns_3)],
            "{frames:?}"
        );
    }
}

#[tokio::test]
async fn a_change_seen_only_through_a_computed_field_is_pushed() {
    let (_engine, [mut admin, mut alice, _carol, _bob]) = start().await;
    alice
        .ask(json!({"event": "todo.Task.retrieve#row", "data": {"id": 1}}))
        .await;
    let set = |note: &str| json!({"event": "todo.Task.update", "data": {"id": 1, "note": note}});
    // `note` is hidden from alice, but `has_note` shows it was set.
    admin.ask(set("x")).await;
    let pushes = alice.out.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["data"]["has_note"], true);
    assert!(pushes[0]["data"].get("note").is_none());
    // Another note leaves `has_note` true: nothing she sees changed, so nothing is pushed;
    // the next push she gets is the title's.
    admin.ask(set("y")).await;
    admin
        .ask(json!({"event": "todo.Task.update", "data": {"id": 1, "title": "a2"}}))
        .await;
    let pushes = alice.out.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["data"]["title"], "a2");
}

#[tokio::test]
async fn filters_and_order_use_the_bindings_translation_or_are_refused() {
    let (_engine, [mut admin, mut alice, mut carol, mut bob]) = start().await;
    let search = |filters: Value, order: Value| json!({"event": "todo.Task.search", "data": {"filters": filters, "order": order, "subscribe": false}});
    let ids = |reply: &Value| -> Vec<i64> {
        reply["data"]["rows"]
            .as_array()
            .unwrap_or_else(|| panic!("{reply}"))
            .iter()
            .map(|r| r["id"].as_i64().unwrap())
            .collect()
    };
    let mine = json!({"is_mine": true});
    assert_eq!(
        ids(&alice.ask(search(mine.clone(), Value::Null)).await),
        [1]
    );
    assert_eq!(ids(&bob.ask(search(mine.clone(), Value::Null)).await), [2]);
    let theirs = json!({"not": {"is_mine": true}});
    assert_eq!(ids(&bob.ask(search(theirs, Value::Null)).await), [1]);
    let refused = |reply: Value| -> String {
        assert_eq!(reply["error"]["code"], "invalid_filter", "{reply}");
        reply["error"]["message"].as_str().unwrap().to_owned()
    };
    assert_eq!(
        refused(
            alice
                .ask(search(json!({"is_mine": "yes"}), Value::Null))
                .await
        ),
        "is_mine: must be true or false"
    );
    assert_eq!(
        refused(
            alice
                .ask(search(json!({"has_note": true}), Value::Null))
                .await
        ),
        "has_note: has_note is a computed field and cannot be filtered by"
    );
    assert_eq!(
        refused(alice.ask(search(json!({}), json!("-has_note"))).await),
        "order: -has_note: has_note is a computed field and cannot be ordered by"
    );
    // Hidden from carol, `is_mine` is as unknown to her as any hidden field.
    assert_eq!(
        refused(carol.ask(search(mine, Value::Null)).await),
        "is_mine: unknown or unfilterable field"
    );
    let write = json!({"event": "todo.Task.create", "data": {"title": "e", "is_mine": true}});
    let reply = carol.ask(write).await;
    assert_eq!(reply["error"]["code"], "invalid", "{reply}");
    assert!(reply["error"]["fields"]["is_mine"].is_array(), "{reply}");

    // Ordering by `full_name` orders by last, then first name.
    for (first, last) in [("Ada", "Lovelace"), ("Alan", "Turing"), ("Grace", "Hopper")] {
        admin
            .ask(json!({"event": "auth.User.create", "data": {"first_name": first, "last_name": last}}))
            .await;
    }
    let users = admin
        .ask(json!({"event": "auth.User.search", "data": {"order": "-full_name", "subscribe": false}}))
        .await;
    let names: Vec<&str> = users["data"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["full_name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Alan Turing", "Ada Lovelace", "Grace Hopper"]);
    assert_eq!(
        users["data"]["order"],
        json!(["-last_name", "-first_name", "id"])
    );
    assert_eq!(
        refused(
            admin
                .ask(json!({"event": "auth.User.search", "data": {"filters": {"full_name__icontains": "a"}}}))
                .await
        ),
        "full_name__icontains: full_name is a computed field and cannot be filtered by"
    );
}

#[tokio::test]
async fn forms_show_computed_fields_read_only() {
    let (_engine, [_admin, mut alice, mut carol, _bob]) = start().await;
    let form = alice
        .ask(json!({"event": "todo.Task.form", "data": {"id": 1}}))
        .await;
    let fields = form["data"]["fields"].as_array().unwrap();
    let field = |name: &str| fields.iter().find(|f| f["name"] == name).cloned();
    assert_eq!(
        field("is_mine"),
        Some(
            json!({"name": "is_mine", "label": "Is mine", "type": "boolean", "required": false,
                    "read_only": true, "value": true, "help_text": "Whether you own it."})
        )
    );
    assert_eq!(field("has_note").unwrap()["value"], false);
    assert_eq!(form["data"]["object"]["is_mine"], true);
    let blank = alice.ask(json!({"event": "todo.Task.form"})).await;
    let fields = blank["data"]["fields"].as_array().unwrap();
    let is_mine = fields.iter().find(|f| f["name"] == "is_mine").unwrap();
    assert_eq!(is_mine["value"], Value::Null);
    let hidden = carol
        .ask(json!({"event": "todo.Task.form", "data": {"id": 1}}))
        .await;
    let names: Vec<&Value> = hidden["data"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| &f["name"])
        .collect();
    assert_eq!(names, ["title", "owner_id", "has_note"]);
}

#[tokio::test]
async fn the_openapi_document_describes_computed_fields_as_read_only() {
    let (engine, _) = start().await;
    let api = HttpApi::new(engine, HttpConfig::default());
    let doc: Value = serde_json::from_slice(api.openapi()).unwrap();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["todo.Task"]["properties"]["is_mine"],
        json!({"type": "boolean", "title": "Is mine", "readOnly": true,
               "description": "Whether you own it. Computed by the server for the reader; never written."})
    );
    assert_eq!(
        schemas["auth.User"]["properties"]["full_name"]["title"],
        "Name"
    );
    for write in ["todo.Task.create", "todo.Task.update"] {
        let properties = schemas[write]["properties"].as_object().unwrap();
        assert!(
            !properties.contains_key("is_mine"),
            "{write}: {properties:?}"
        );
    }
    let params = doc["paths"]["/api/todo.Task/"]["get"]["parameters"]
        .as_array()
        .unwrap();
    let names: Vec<&str> = params.iter().filter_map(|p| p["name"].as_str()).collect();
    assert!(names.contains(&"is_mine"), "translated: {names:?}");
    assert!(
        !names.iter().any(|n| n.starts_with("has_note")),
        "{names:?}"
    );
}

#[test]
fn the_registry_refuses_computed_fields_that_name_no_field() {
    let binding = |c: Computed| {
        Registry::new().model(
            ModelBinding::new("todo_task")
                .field(Field::string("title"))
                .computed(c),
        )
    };
    let c = |name: &str| Computed::from_row(name, FieldKind::Integer, |_| json!(1));
    assert!(binding(c("n").depends_on(["title"]).order_as(["-title"])).is_ok());
    for bad in [
        c("title"),
        c("id"),
        c("a__b"),
        c("n").depends_on(["nope"]),
        c("n").order_as(["nope"]),
    ] {
        assert!(binding(bad).is_err());
    }
}

#[tokio::test]
async fn related_rows_show_computed_fields_that_relation_paths_cannot_reach() {
    let registry = Registry::new()
        .model(
            ModelBinding::new("auth_user")
                .field(Field::string("name"))
                .computed(Computed::from_row("initial", FieldKind::String, |row| {
                    json!(row["name"].as_str().and_then(|n| n.get(..1)))
                })),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title"))
                .field(Field::foreign_key("owner_id", "auth.User")),
        )
        .unwrap();
    let engine = engine_with(registry, Limits::default()).await;
    let mut c = open(&engine, 1);
    c.ask(json!({"event": "auth.User.create", "data": {"name": "Ada"}}))
        .await;
    c.ask(json!({"event": "todo.Task.create", "data": {"title": "t", "owner_id": 1}}))
        .await;
    let task = c
        .ask(json!({"event": "todo.Task.retrieve", "data": {"id": 1, "expand": ["owner"], "subscribe": false}}))
        .await;
    assert_eq!(
        task["data"]["owner"],
        json!({"id": 1, "name": "Ada", "initial": "A"})
    );
    let filtered = c
        .ask(json!({"event": "todo.Task.list", "data": {"filters": {"owner__initial": "A"}}}))
        .await;
    assert_eq!(
        filtered["error"]["message"],
        "owner__initial: initial of auth.User is a computed field and cannot be reached through a relation"
    );
    let ordered = c
        .ask(json!({"event": "todo.Task.list", "data": {"order": "owner__initial"}}))
        .await;
    assert_eq!(
        ordered["error"]["message"],
        "order: owner__initial: initial of auth.User is a computed field and cannot be reached through a relation"
    );
}
