//! The typed application API (`chanbind_engine::app`) on the in-memory store: every call as
//! a user, as the system and anonymously, refusals and validation as a client gets them, a
//! serde struct there and back, and subscribers pushed by an application's write.

use chanbind_engine::app::{AppError, Ctx};
use chanbind_engine::auth::User;
use chanbind_engine::binding::{Field, ModelBinding, Registry};
use chanbind_engine::config::Limits;
use chanbind_engine::permission::{Access, Permission};
use chanbind_engine::protocol::ErrorCode;
use chanbind_engine::value::Row;
use chanbind_engine::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::support::{engine_with, send, Collect};

/// Signed-in users write and see their own notes, never `secret`, and may not delete.
struct OwnNotes;

impl Permission for OwnNotes {
    fn allows(&self, access: &Access<'_>) -> bool {
        access.user.is_some() && access.action != "delete"
    }
    fn scope(&self, user: Option<&User>, _action: &str) -> Option<Map<String, Value>> {
        json!({"owner": user.map_or(-1, |u| u.id)})
            .as_object()
            .cloned()
    }
    fn hidden_fields(&self, _user: Option<&User>) -> Vec<String> {
        vec!["secret".into()]
    }
    fn read_only_fields(&self, _user: Option<&User>) -> Vec<String> {
        vec!["owner".into()]
    }
    fn prepare_write(&self, user: Option<&User>, _action: &str, values: &mut Row) {
        if let Some(u) = user {
            values.insert("owner".into(), json!(u.id));
        }
    }
}

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("app_note")
                .field(Field::string("text").required().max_length(10))
                .field(Field::integer("owner"))
                .field(Field::string("secret"))
                .permission(OwnNotes),
        )
        .unwrap()
}

async fn notes() -> Engine {
    engine_with(registry(), Limits::default()).await
}

fn ada() -> Ctx {
    Ctx::user(User::new(7, "ada"))
}

fn code(result: Result<impl std::fmt::Debug, AppError>) -> ErrorCode {
    result.expect_err("refused").code()
}

#[tokio::test]
async fn a_user_runs_every_action_through_the_permission_pipeline() {
    let engine = notes().await;
    let notes = engine.model("app.Note");
    let ctx = ada();
    let created = notes
        .create(&ctx, json!({"text": "hi", "owner": 99}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(created),
        json!({"id": 1, "text": "hi", "owner": 7})
    );
    let updated = notes.update(&ctx, 1, json!({"text": "ho"})).await.unwrap();
    assert_eq!(updated["text"], "ho");
    let hidden = notes
        .update(&ctx, 1, json!({"secret": "s"}))
        .await
        .unwrap_err();
    assert_eq!(
        hidden.code(),
        ErrorCode::Invalid,
        "a hidden field is not the user's to write"
    );
    let saved = notes
        .save(&ctx, json!({"id": 1, "text": "hu"}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(saved),
        json!({"id": 1, "text": "hu", "owner": 7})
    );
    let row = notes.retrieve(&ctx, 1).await.unwrap();
    assert_eq!(row["text"], "hu");
    assert!(!row.contains_key("secret"), "hidden from users: {row:?}");
    let page = notes
        .search(&ctx, json!({"filters": {"text": "hu"}}))
        .await
        .unwrap();
    assert_eq!((page.count, page.rows.len()), (1, 1));
    let all = notes.list(&ctx, Value::Null).await.unwrap();
    assert_eq!(all.rows[0]["id"], 1);

    // Another user's scope holds none of them; nobody may delete.
    let bob = Ctx::user(User::new(8, "bob"));
    assert_eq!(code(notes.retrieve(&bob, 1).await), ErrorCode::NotFound);
    assert_eq!(
        code(notes.update(&bob, 1, json!({"text": "x"})).await),
        ErrorCode::NotFound
    );
    assert_eq!(notes.search(&bob, Value::Null).await.unwrap().count, 0);
    assert_eq!(
        code(notes.delete(&ctx, 1).await),
        ErrorCode::PermissionDenied
    );
}

#[tokio::test]
async fn anonymous_calls_are_refused_as_unauthenticated() {
    let engine = notes().await;
    let notes = engine.model("app.Note");
    let anon = Ctx::anonymous();
    let err = notes
        .create(&anon, json!({"text": "hi"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Unauthenticated);
    assert_eq!(err.to_api().code.http_status(), 401);
    assert_eq!(
        code(notes.retrieve(&anon, 1).await),
        ErrorCode::Unauthenticated
    );
    assert_eq!(
        code(notes.list(&anon, Value::Null).await),
        ErrorCode::Unauthenticated
    );
}

#[tokio::test]
async fn the_system_has_every_right_but_is_still_validated() {
    let engine = notes().await;
    let notes = engine.model("app.Note");
    let system = Ctx::system();
    let created = notes
        .create(&system, json!({"text": "hi", "owner": 3, "secret": "s"}))
        .await
        .unwrap();
    assert_eq!(
        Value::Object(created),
        json!({"id": 1, "text": "hi", "owner": 3, "secret": "s"}),
        "owner is not read-only and not overwritten, secret not hidden"
    );
    notes
        .create(&ada(), json!({"text": "ada's"}))
        .await
        .unwrap();
    assert_eq!(
        notes.list(&system, Value::Null).await.unwrap().count,
        2,
        "no scope"
    );
    assert_eq!(notes.retrieve(&system, 2).await.unwrap()["owner"], 7);
    notes
        .update(&system, 2, json!({"secret": "x"}))
        .await
        .unwrap();
    notes.delete(&system, 2).await.unwrap();
    assert_eq!(code(notes.retrieve(&system, 2).await), ErrorCode::NotFound);
    // The binding's own rules still hold.
    let err = notes
        .create(&system, json!({"text": "far too long a text"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid);
    assert!(err.fields()["text"][0].contains("10"), "{err:?}");
    assert_eq!(
        code(notes.update(&system, 1, json!({"nope": 1})).await),
        ErrorCode::Invalid
    );
}

#[tokio::test]
async fn invalid_writes_name_each_bad_field() {
    let engine = notes().await;
    let err = engine
        .model("app.Note")
        .create(&ada(), json!({"text": "", "owner": "seven"}))
        .await
        .unwrap_err();
    assert_eq!(err.code(), ErrorCode::Invalid);
    assert!(err.fields().contains_key("text"), "{err:?}");
    assert!(err.message().contains("text"), "{err}");
    // What a host's route handler returns: the HTTP API's own answer for the error.
    let response = err.to_response();
    assert_eq!(response.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["code"], "invalid", "{body}");
    assert!(body["fields"]["text"].is_array(), "{body}");
    assert_eq!(
        code(
            engine
                .model("app.Note")
                .create(&ada(), json!(["not", "an", "object"]))
                .await
        ),
        ErrorCode::BadRequest
    );
    assert_eq!(
        code(engine.model("app.Nope").retrieve(&Ctx::system(), 1).await),
        ErrorCode::UnknownEvent
    );
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Note {
    id: Option<i64>,
    text: String,
    owner: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[allow(dead_code)]
struct Wrong {
    text: i64,
}

#[tokio::test]
async fn a_serde_struct_goes_there_and_back() {
    let engine = notes().await;
    let notes = engine.model("app.Note");
    let ctx = ada();
    let note = Note {
        id: None,
        text: "typed".into(),
        owner: None,
    };
    let created = notes.create_as::<Note>(&ctx, note).await.unwrap();
    assert_eq!(
        created,
        Note {
            id: Some(1),
            text: "typed".into(),
            owner: Some(7)
        }
    );
    let back: Note = notes.retrieve_as(&ctx, 1).await.unwrap();
    assert_eq!(back, created);
    let patched: Note = notes
        .update_as(&ctx, 1, &json!({"text": "patched"}))
        .await
        .unwrap();
    assert_eq!(patched.text, "patched");
    let saved = notes
        .save_as(
            &ctx,
            Note {
                text: "saved".into(),
                ..patched
            },
        )
        .await
        .unwrap();
    assert_eq!((saved.id, saved.text.as_str()), (Some(1), "saved"));
    let page = notes.search_as::<Note>(&ctx, Value::Null).await.unwrap();
    assert_eq!((page.count, page.rows), (1, vec![saved.clone()]));
    assert_eq!(
        notes.list_as::<Note>(&ctx, Value::Null).await.unwrap().rows,
        [saved]
    );
    let wrong = notes.retrieve_as::<Wrong>(&ctx, 1).await.unwrap_err();
    assert!(matches!(wrong, AppError::Deserialize(_)), "{wrong:?}");
    assert!(matches!(
        notes.create_as(&ctx, 5).await.unwrap_err(),
        AppError::Serialize(_)
    ));
}

#[tokio::test]
async fn subscribers_are_pushed_an_applications_writes() {
    let engine = notes().await;
    let out = std::sync::Arc::new(Collect::default());
    let mut session = engine.open_session(Some(User::new(7, "ada")), out.clone());
    let watched = send(
        &mut session,
        &out,
        json!({"event": "app.Note.search#s", "data": {}}),
    )
    .await;
    assert_eq!(watched["data"]["count"], 0, "{watched}");
    engine
        .model("app.Note")
        .create(&Ctx::system(), json!({"text": "pushed", "owner": 7}))
        .await
        .unwrap();
    let pushes = out.take(1).await;
    assert_eq!(pushes.len(), 1, "{pushes:?}");
    assert_eq!(pushes[0]["event"], "app.Note.search#s");
    assert_eq!(pushes[0]["data"]["rows"][0]["text"], "pushed", "{pushes:?}");
    assert!(pushes[0]["data"]["rows"][0].get("secret").is_none());
}
