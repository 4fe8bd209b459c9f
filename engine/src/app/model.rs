//! A stream's handle and its JSON calls.

use std::fmt;

use serde_json::{Map, Value};

use super::{AppError, Ctx, Page};
use crate::http::collect::exchange_in;
use crate::protocol::{ApiError, ErrorCode, EventName};
use crate::Engine;

/// A handle on one stream for application code, from [`Engine::model`]. Cheap to clone.
///
/// Each call is one request of docs/protocol.md section 2 as `ctx` would make it: `create`,
/// `update`, `save` and `delete` answer the row as the caller sees it (`object`), `retrieve`
/// the row, `search` and `list` a [`Page`]. Reads take no subscription.
#[derive(Clone)]
pub struct Model {
    engine: Engine,
    stream: String,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("stream", &self.stream)
            .finish_non_exhaustive()
    }
}

impl Model {
    pub(super) fn new(engine: Engine, stream: &str) -> Model {
        Model {
            engine,
            stream: stream.to_owned(),
        }
    }

    /// The stream's name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// Creates a row from `values` (a JSON object of fields) and answers it.
    pub async fn create(&self, ctx: &Ctx, values: Value) -> Result<Map<String, Value>, AppError> {
        let reply = self.call(ctx, "create", object(values)?).await?;
        written(reply)
    }

    /// Changes the fields of `patch` (a JSON object) on the row `id` and answers the row.
    pub async fn update(
        &self,
        ctx: &Ctx,
        id: impl Into<Value>,
        patch: Value,
    ) -> Result<Map<String, Value>, AppError> {
        let mut data = object(patch)?;
        data.insert("id".to_owned(), id.into());
        written(self.call(ctx, "update", data).await?)
    }

    /// Replaces every writable field of the row `values["id"]`, or creates the row when
    /// `values` has no `id`, and answers it.
    pub async fn save(&self, ctx: &Ctx, values: Value) -> Result<Map<String, Value>, AppError> {
        written(self.call(ctx, "save", object(values)?).await?)
    }

    /// Deletes the row `id`.
    pub async fn delete(&self, ctx: &Ctx, id: impl Into<Value>) -> Result<(), AppError> {
        let data = Map::from_iter([("id".to_owned(), id.into())]);
        self.call(ctx, "delete", data).await.map(drop)
    }

    /// The row `id` as the caller sees it; `not_found` outside its scope.
    pub async fn retrieve(
        &self,
        ctx: &Ctx,
        id: impl Into<Value>,
    ) -> Result<Map<String, Value>, AppError> {
        let data = Map::from_iter([("id".to_owned(), id.into())]);
        match self.read(ctx, "retrieve", data).await? {
            Value::Object(row) => Ok(row),
            other => Err(shape("a row", &other)),
        }
    }

    /// One page of a search: `query` holds what a client's `search` request data does
    /// (`filters`, `query`, `order`, `page`, `limit`, `expand`, `include`); `null` for the
    /// first page of every row.
    pub async fn search(
        &self,
        ctx: &Ctx,
        query: Value,
    ) -> Result<Page<Map<String, Value>>, AppError> {
        page(self.read(ctx, "search", query_data(query)?).await?)
    }

    /// Every matching row up to `max_list_size`: `query` as for [`search`](Self::search),
    /// without paging.
    pub async fn list(
        &self,
        ctx: &Ctx,
        query: Value,
    ) -> Result<Page<Map<String, Value>>, AppError> {
        page(self.read(ctx, "list", query_data(query)?).await?)
    }

    /// A read: never subscribed, the handle has no connection to push to.
    async fn read(
        &self,
        ctx: &Ctx,
        action: &str,
        mut data: Map<String, Value>,
    ) -> Result<Value, AppError> {
        data.insert("subscribe".to_owned(), Value::Bool(false));
        self.call(ctx, action, data).await
    }

    /// Runs one request through the session pipeline, as HTTP does, and answers its reply's
    /// `data`.
    pub(super) async fn call(
        &self,
        ctx: &Ctx,
        action: &str,
        data: Map<String, Value>,
    ) -> Result<Value, AppError> {
        let event = EventName::new(&self.stream, action, None);
        if crate::session::in_batch_step() {
            // Outside the batch's transaction, and on the in-memory store it would wait for
            // the batch, which waits for this hook: refuse rather than hang.
            tracing::error!(%event, "a hook called the engine while its batch runs");
            return Err(ApiError::new(
                ErrorCode::Internal,
                "the engine cannot be called from a write hook while a batch runs",
            )
            .into());
        }
        let engine = &self.engine;
        let exchange = match ctx.is_system() {
            true => exchange_in(engine, |out| engine.open_system_session(out), &event, data).await,
            false => {
                let user = ctx.user_ref().cloned();
                let open = |out| engine.open_transient_session(user, out);
                exchange_in(engine, open, &event, data).await
            }
        };
        let Some(reply) = exchange.reply() else {
            tracing::error!(%event, "an application call got no reply");
            return Err(ApiError::internal().into());
        };
        if let Some(error) = reply.get("error") {
            return Err(api_error(error).into());
        }
        Ok(reply.get("data").cloned().unwrap_or(Value::Null))
    }
}

/// The request data of a write: the object given.
fn object(values: Value) -> Result<Map<String, Value>, AppError> {
    match values {
        Value::Object(map) => Ok(map),
        _ => Err(ApiError::bad_request("the values must be a JSON object").into()),
    }
}

/// The request data of a search or list: the object given, or none.
fn query_data(query: Value) -> Result<Map<String, Value>, AppError> {
    match query {
        Value::Null => Ok(Map::new()),
        other => object(other),
    }
}

/// The row a write's reply carries; a delete's reply has none.
fn written(reply: Value) -> Result<Map<String, Value>, AppError> {
    match reply.get("object") {
        Some(Value::Object(row)) => Ok(row.clone()),
        _ => Err(shape("a written row", &reply)),
    }
}

/// The rows and count of a search's or list's reply.
fn page(reply: Value) -> Result<Page<Map<String, Value>>, AppError> {
    let count = reply.get("count").and_then(Value::as_u64);
    let rows = reply.get("rows").and_then(Value::as_array);
    let (Some(count), Some(rows)) = (count, rows) else {
        return Err(shape("a page", &reply));
    };
    let rows = rows
        .iter()
        .map(|row| match row {
            Value::Object(row) => Ok(row.clone()),
            other => Err(shape("a row", other)),
        })
        .collect::<Result<_, _>>()?;
    Ok(Page { count, rows })
}

/// A reply that is not what its action answers: a bug, logged.
fn shape(what: &str, got: &Value) -> AppError {
    tracing::error!(%got, "an application call expected {what}");
    ApiError::internal().into()
}

/// The protocol's error object back as an [`ApiError`].
fn api_error(error: &Value) -> ApiError {
    let code = error
        .get("code")
        .and_then(Value::as_str)
        .and_then(ErrorCode::from_wire)
        .unwrap_or(ErrorCode::Internal);
    let message = error.get("message").and_then(Value::as_str).unwrap_or("");
    let mut api = ApiError::new(code, message);
    if let Some(Value::Object(fields)) = error.get("fields") {
        api.fields = fields
            .iter()
            .map(|(field, messages)| {
                let messages = messages
                    .as_array()
                    .map(|m| {
                        m.iter()
                            .filter_map(|m| m.as_str().map(str::to_owned))
                            .collect()
                    })
                    .unwrap_or_default();
                (field.clone(), messages)
            })
            .collect();
    }
    // A version check's conflict carries the row as it is now.
    api.object = error.get("object").cloned();
    api
}
