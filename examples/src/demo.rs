//! The demo's bindings (`auth.User`, `todo.Task`, `todo.Comment` keyed by UUIDs, `todo.Tag`
//! keyed by text, `todo.Note` with a version field, the `channels-binding` README's
//! `custom_stream`), its permission policy and its seed data.

mod policy;

pub use policy::{ensure_user, ensure_users, Policy};

use std::collections::BTreeMap;
use std::sync::Arc;

use chanbind_engine::binding::{
    CustomBinding, EventContext, Field, HandlerResult, ModelBinding, OnDelete, Registry,
    RegistryError,
};
use chanbind_engine::filter::{Filter, Ordering};
use chanbind_engine::key::Key;
use chanbind_engine::protocol::ApiError;
use chanbind_engine::store::{Store, StoreError, StoreOp, StoreOutput};
use chanbind_engine::validate::{validate_write, WriteMode};
use serde_json::{json, Value};

/// `auth.User`, `todo.Task`, `todo.Comment`, `todo.Tag`, `todo.Note` and `custom_stream`, as
/// the README describes them, open to everyone: the playground the demo runs without `--token`.
pub fn registry() -> Result<Registry, RegistryError> {
    registry_with(Policy::Open)
}

/// The demo's bindings under `policy`.
pub fn registry_with(policy: Policy) -> Result<Registry, RegistryError> {
    Registry::new()
        .model(
            policy
                .users(ModelBinding::new("auth_user"))
                .field(
                    Field::string("username")
                        .required()
                        .max_length(150)
                        .unique(),
                )
                .field(Field::email("email").max_length(254))
                .field(Field::boolean("is_active").default(true))
                .field(Field::datetime("date_joined").auto_now_add())
                .search(["username", "email"]),
        )?
        .model(
            policy
                .tasks(ModelBinding::new("todo_task"))
                .field(Field::string("title").required().max_length(200))
                .field(Field::boolean("done").default(false))
                .field(Field::integer("priority").min(0).max(5).default(0))
                .field(Field::foreign_key("owner_id", "auth.User").on_delete(OnDelete::SetNull))
                .field(Field::datetime("created_at").auto_now_add())
                .search(["title"]),
        )?
        .model(
            // Keyed by a UUID the store generates (or the client gives, say for an offline
            // draft), to show keys that are not integers.
            policy
                .comments(ModelBinding::new("todo_comment"))
                .key(Field::uuid("id"))
                .field(
                    Field::foreign_key("task_id", "todo.Task")
                        .required()
                        .on_delete(OnDelete::Cascade),
                )
                .field(Field::foreign_key("author_id", "auth.User").on_delete(OnDelete::SetNull))
                .field(Field::text("body").required())
                .field(Field::datetime("created_at").auto_now_add())
                .search(["body"]),
        )?
        .model(
            // Keyed by text the client chooses, under a column of its own name.
            policy
                .tags(ModelBinding::new("todo_tag"))
                .key(Field::string("slug").max_length(50))
                .field(Field::string("label").required().max_length(100))
                .search(["label"]),
        )?
        .model(
            // A shared note with a version the engine moves on every write: the demo's form
            // sends it back as `if_version`, so two people editing one note see a conflict
            // instead of one losing their edit (docs/protocol.md section 2, "Version checks").
            // `todo.Task` stays unversioned so its rows keep the shape the conformance
            // scenarios and clients expect.
            policy
                .notes(ModelBinding::new("todo_note"))
                .field(Field::string("title").required().max_length(200))
                .field(Field::text("body").default(""))
                .field(Field::integer("version").default(1))
                .version("version"),
        )?
        .custom(policy.custom(CustomBinding::new("custom_stream").on("custom_event", custom_event)))
}

/// The `channels-binding` README's custom event: reflect to the sender, dispatch to the stream's group,
/// broadcast to everyone.
async fn custom_event(ctx: EventContext) -> HandlerResult {
    let Some(sender) = ctx
        .data()
        .get("sender")
        .and_then(|s| s.as_str())
        .map(str::to_owned)
    else {
        let mut fields = BTreeMap::new();
        fields.insert(
            "sender".to_owned(),
            vec!["this field is required".to_owned()],
        );
        return Err(ApiError::invalid(fields));
    };
    ctx.reflect(
        "custom_event",
        &json!({"msg": format!("This a reflected response for {sender}")}),
    );
    ctx.dispatch(
        "custom_group_event",
        &json!({"msg": format!("This a dispatched response to the custom_stream subscriber from {sender}")}),
    );
    ctx.broadcast(
        "custom_all_event",
        &json!({"msg": format!("This a dispatched response to the all layers from {sender}")}),
    );
    Ok(None)
}

/// Why seeding failed.
#[derive(Debug, thiserror::Error)]
pub enum SeedError {
    /// The store refused.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A seed row did not validate (a bug in the seed data).
    #[error("seed row refused: {0}")]
    Invalid(String),
}

/// Seeds an empty store: `admin`, `user001` to `user100`, and a few tasks. Does nothing when
/// `auth.User` already has rows. Returns whether it seeded.
pub async fn seed(registry: &Registry, store: &dyn Store) -> Result<bool, SeedError> {
    let (Some(users), Some(tasks)) = (registry.get("auth.User"), registry.get("todo.Task")) else {
        return Ok(false);
    };
    let probe = StoreOp::Search {
        binding: Arc::clone(users),
        filter: Filter::everything(),
        order: Ordering::by_pk(users),
        offset: 0,
        limit: 1,
    };
    if let StoreOutput::Page { count, .. } = store.execute(probe).await? {
        if count > 0 {
            return Ok(false);
        }
    }
    let admin = match insert(
        store,
        users,
        json!({"username": "admin", "email": "admin@example.com"}),
    )
    .await
    {
        Ok(id) => id,
        // Another demo process on this database found it empty at the same moment, and
        // seeds it.
        Err(SeedError::Store(StoreError::Conflict { .. })) => return Ok(false),
        Err(e) => return Err(e),
    };
    for n in 1..=100 {
        let name = format!("user{n:03}");
        insert(
            store,
            users,
            json!({"username": name, "email": format!("{name}@example.com")}),
        )
        .await?;
    }
    let seed_tasks = [
        ("Read the chanbind README", true, 1),
        ("Bind a table in five lines", false, 3),
        ("Open the demo in two browsers", false, 2),
        ("Write a custom event", false, 0),
    ];
    if let Some(notes) = registry.get("todo.Note") {
        insert(
            store,
            notes,
            json!({"title": "Team notes", "body": "Edit me in two browsers."}),
        )
        .await?;
    }
    for (title, done, priority) in seed_tasks {
        insert(
            store,
            tasks,
            json!({"title": title, "done": done, "priority": priority, "owner_id": admin}),
        )
        .await?;
    }
    Ok(true)
}

async fn insert(
    store: &dyn Store,
    binding: &Arc<ModelBinding>,
    data: Value,
) -> Result<Key, SeedError> {
    let data = data.as_object().cloned().unwrap_or_default();
    let values = validate_write(binding, &data, WriteMode::Create)
        .map_err(|e| SeedError::Invalid(e.message))?;
    match store
        .execute(StoreOp::Insert {
            binding: Arc::clone(binding),
            values,
        })
        .await?
    {
        StoreOutput::Changed(Some(change)) => Ok(change.pk),
        _ => Err(SeedError::Invalid("insert returned no row".into())),
    }
}
