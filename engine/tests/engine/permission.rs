//! The permission pipeline: refusals, row scope on every door, hidden and read-only fields,
//! and pushes re-checked when a row leaves a subscriber's scope.

use std::sync::Arc;
use std::time::Duration;

use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::value::Row;
use serde_json::{json, Map, Value};

use crate::support::{engine_with, send, Collect};

/// Notes: signed-in users only; each sees their own; `secret` hidden from all but the admin
/// (id 1), who may also reassign notes.
struct OwnNotes;

impl Permission for OwnNotes {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some()
    }
    fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
        match user {
            Some(u) if u.id == 1 => None,
            Some(u) => json!({"owner": u.id}).as_object().cloned(),
            None => json!({"id__in": []}).as_object().cloned(),
        }
    }
    fn hidden_fields(&self, user: Option<&User>) -> Vec<String> {
        if user.is_some_and(|u| u.id == 1) {
            vec![]
        } else {
            vec!["secret".into()]
        }
    }
    fn read_only_fields(&self, user: Option<&User>) -> Vec<String> {
        if user.is_some_and(|u| u.id == 1) {
            vec![]
        } else {
            vec!["owner".into()]
        }
    }
    fn prepare_write(&self, user: Option<&User>, action: &str, values: &mut Row) {
        if let Some(u) = user.filter(|u| u.id != 1) {
            if action != "update" {
                values.insert("owner".into(), json!(u.id));
            }
        }
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("app_note")
                .field(Field::string("text").required())
                .field(Field::integer("owner"))
                .field(Field::string("secret"))
                .search(["text", "secret"])
                .permission(OwnNotes),
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

fn open(engine: &chanbind_engine::Engine, user: Option<User>) -> Conn {
    let out = Arc::new(Collect::default());
    Conn {
        s: engine.open_session(user, out.clone()),
        out,
    }
}

#[tokio::test]
async fn every_door_respects_the_scope_and_the_masks() {
    let engine = engine_with(registry(), Limits::default()).await;
    let mut admin = open(&engine, Some(User::new(1, "admin")));
    let mut alice = open(&engine, Some(User::new(2, "alice")));
    let mut bob = open(&engine, Some(User::new(3, "bob")));
    let mut anon = open(&engine, None);

    // Alice's note: the owner comes from her, whatever she sends.
    let made = alice
        .ask(json!({"event": "app.Note.create", "data": {"text": "a", "owner": 3, "secret": "x"}}))
        .await;
    assert_eq!(
        made["error"]["code"], "invalid",
        "a hidden field is unknown to her: {made}"
    );
    let made = alice
        .ask(json!({"event": "app.Note.create", "data": {"text": "a", "owner": 3}}))
        .await;
    assert_eq!(
        made["data"]["object"],
        json!({"id": 1, "text": "a", "owner": 2})
    );

    assert_eq!(
        anon.ask(json!({"event": "app.Note.list"})).await["error"]["code"],
        "unauthenticated"
    );
    for door in [
        json!({"event": "app.Note.retrieve", "data": {"id": 1}}),
        json!({"event": "app.Note.update", "data": {"id": 1, "text": "b"}}),
        json!({"event": "app.Note.save", "data": {"id": 1, "text": "b"}}),
        json!({"event": "app.Note.delete", "data": {"id": 1}}),
        json!({"event": "app.Note.form", "data": {"id": 1}}),
        json!({"event": "app.Note.form", "data": {"id": 1, "submit": {"text": "b"}}}),
    ] {
        let got = bob.ask(door.clone()).await;
        assert_eq!(got["error"]["code"], "not_found", "{door} -> {got}");
    }
    for door in [
        json!({"event": "app.Note.search", "data": {"filters": {"owner": 2}}}),
        json!({"event": "app.Note.list", "data": {"filters": {"id": 1}}}),
        json!({"event": "app.Note.search", "data": {"query": "a"}}),
    ] {
        let got = bob.ask(door.clone()).await;
        assert_eq!(got["data"]["count"], 0, "{door} -> {got}");
    }
    for door in [
        json!({"event": "app.Note.search", "data": {"filters": {"secret__startswith": "x"}}}),
        json!({"event": "app.Note.search", "data": {"order": "-secret"}}),
    ] {
        let got = bob.ask(door.clone()).await;
        assert_eq!(got["error"]["code"], "invalid_filter", "{door} -> {got}");
    }
    // Alice cannot hand her note to bob; the admin can, and sees the hidden field.
    let moved = alice
        .ask(json!({"event": "app.Note.update", "data": {"id": 1, "owner": 3}}))
        .await;
    assert_eq!(
        moved["data"]["object"]["owner"], 2,
        "owner is read-only for her: {moved}"
    );
    let row = admin
        .ask(json!({"event": "app.Note.retrieve", "data": {"id": 1, "subscribe": false}}))
        .await;
    assert_eq!(
        row["data"],
        json!({"id": 1, "text": "a", "owner": 2, "secret": null})
    );
    let after = admin
        .ask(json!({"event": "app.Note.retrieve", "data": {"id": 1, "subscribe": false}}))
        .await;
    assert_eq!(after, row, "nothing bob tried changed the row");
}

#[tokio::test]
async fn a_row_leaving_the_scope_leaves_every_subscription() {
    let engine = engine_with(registry(), Limits::default()).await;
    let mut admin = open(&engine, Some(User::new(1, "admin")));
    let mut alice = open(&engine, Some(User::new(2, "alice")));
    let mut bob = open(&engine, Some(User::new(3, "bob")));
    alice
        .ask(json!({"event": "app.Note.create", "data": {"text": "a"}}))
        .await;

    alice
        .ask(json!({"event": "app.Note.retrieve#r", "data": {"id": 1}}))
        .await;
    alice.ask(json!({"event": "app.Note.list#l"})).await;
    alice.ask(json!({"event": "app.Note.subscribe#f"})).await;
    let bob_list = bob.ask(json!({"event": "app.Note.list#l"})).await;
    assert_eq!(bob_list["data"]["count"], 0);
    bob.ask(json!({"event": "app.Note.subscribe#f"})).await;

    // The admin gives the note to bob.
    admin
        .ask(json!({"event": "app.Note.update", "data": {"id": 1, "owner": 3}}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut got = alice.out.take(3).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    assert_eq!(
        got,
        [
            json!({"event": "app.Note.delete#r", "data": {"id": 1, "deleted": true}}),
            json!({"event": "app.Note.deleted#f", "data": {"id": 1}}),
            json!({"event": "app.Note.list#l", "data": {"count": 0, "rows": []}}),
        ]
    );
    let mut got = bob.out.take(2).await;
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_owned());
    let row = json!({"id": 1, "text": "a", "owner": 3});
    assert_eq!(
        got,
        [
            json!({"event": "app.Note.created#f", "data": row}),
            json!({"event": "app.Note.list#l", "data": {"count": 1, "rows": [row]}}),
        ]
    );
    // Alice's retrieve subscription ended: bob's edits no longer reach her.
    bob.ask(json!({"event": "app.Note.update", "data": {"id": 1, "text": "b"}}))
        .await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(alice.out.take(0).await.is_empty());
}

/// Docs: everyone signed in sees their own and every doc that is not archived (a doc whose
/// `archived` is null counts as not archived); the admin (id 1) sees all.
struct MineOrNotArchived;

impl Permission for MineOrNotArchived {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some()
    }
    fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
        match user {
            Some(u) if u.id == 1 => None,
            Some(u) => json!({"or": [{"owner": u.id}, {"not": {"archived": true}}]})
                .as_object()
                .cloned(),
            None => json!({"id__in": []}).as_object().cloned(),
        }
    }
}

fn ids(frame: &Value) -> Vec<i64> {
    frame["data"]["rows"]
        .as_array()
        .unwrap_or_else(|| panic!("rows in {frame}"))
        .iter()
        .map(|r| r["id"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn a_scope_with_or_and_not_holds_on_every_door_and_under_a_clients_own_groups() {
    let registry = Registry::new()
        .model(
            ModelBinding::new("app_doc")
                .field(Field::string("text").required())
                .field(Field::integer("owner"))
                .field(Field::boolean("archived"))
                .permission(MineOrNotArchived),
        )
        .unwrap();
    let engine = engine_with(registry, Limits::default()).await;
    let mut admin = open(&engine, Some(User::new(1, "admin")));
    let mut alice = open(&engine, Some(User::new(2, "alice")));
    for (owner, archived) in [
        (1, json!(true)),
        (1, json!(null)),
        (2, json!(true)),
        (1, json!(false)),
    ] {
        let made = admin
            .ask(json!({"event": "app.Doc.create", "data": {"text": "d", "owner": owner, "archived": archived}}))
            .await;
        assert_eq!(made["data"]["success"], true, "{made}");
    }

    let all = alice.ask(json!({"event": "app.Doc.search#all"})).await;
    assert_eq!(
        ids(&all),
        [2, 3, 4],
        "doc 1 is archived and not hers; doc 2's null is not archived"
    );
    for (filters, want) in [
        (json!({"not": {"owner": 2}}), vec![2, 4]),
        (
            json!({"or": [{"archived": true}, {"owner": 1, "archived__ne": false}]}),
            vec![2, 3],
        ),
        (
            json!({"not": {"or": [{"archived": false}, {"archived": null}]}}),
            vec![3],
        ),
    ] {
        let got = alice
            .ask(json!({"event": "app.Doc.search", "data": {"filters": filters, "subscribe": false}}))
            .await;
        assert_eq!(
            ids(&got),
            want,
            "{filters}: her groups stay inside the scope"
        );
    }
    let got = alice
        .ask(json!({"event": "app.Doc.retrieve", "data": {"id": 1}}))
        .await;
    assert_eq!(got["error"]["code"], "not_found");
    let got = alice
        .ask(json!({"event": "app.Doc.update", "data": {"id": 1, "text": "mine now"}}))
        .await;
    assert_eq!(got["error"]["code"], "not_found");
    let got = alice
        .ask(json!({"event": "app.Doc.create", "data": {"text": "hers, archived", "archived": true}}))
        .await;
    assert_eq!(
        got["error"]["code"], "permission_denied",
        "a new row must land inside her scope: {got}"
    );

    // Archiving doc 2 takes it out of her scope, and out of her live search.
    admin
        .ask(json!({"event": "app.Doc.update", "data": {"id": 2, "archived": true}}))
        .await;
    let pushes = alice.out.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["event"], "app.Doc.search#all");
    assert_eq!(ids(&pushes[0]), [3, 4]);
}
