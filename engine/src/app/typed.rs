//! The calls of [`Model`] with any `serde` type in and out.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::{AppError, Ctx, Model, Page};

impl Model {
    /// [`create`](Self::create) with a `T` in and out. A `null` `id` in the serialised value
    /// is left out, so `Option` keys need no serde attribute.
    pub async fn create_as<T>(&self, ctx: &Ctx, value: T) -> Result<T, AppError>
    where
        T: Serialize + DeserializeOwned,
    {
        from_row(self.create(ctx, to_object(&value)?).await?)
    }

    /// [`update`](Self::update) with any serialisable patch, answering a `T`.
    pub async fn update_as<T>(
        &self,
        ctx: &Ctx,
        id: impl Into<Value>,
        patch: &impl Serialize,
    ) -> Result<T, AppError>
    where
        T: DeserializeOwned,
    {
        from_row(self.update(ctx, id, to_object(patch)?).await?)
    }

    /// [`save`](Self::save) with a `T` in and out: a replace when its `id` is set, a create
    /// when it is absent or `null`.
    pub async fn save_as<T>(&self, ctx: &Ctx, value: T) -> Result<T, AppError>
    where
        T: Serialize + DeserializeOwned,
    {
        from_row(self.save(ctx, to_object(&value)?).await?)
    }

    /// [`retrieve`](Self::retrieve) as a `T`.
    pub async fn retrieve_as<T>(&self, ctx: &Ctx, id: impl Into<Value>) -> Result<T, AppError>
    where
        T: DeserializeOwned,
    {
        from_row(self.retrieve(ctx, id).await?)
    }

    /// [`search`](Self::search) with rows as `T`.
    pub async fn search_as<T>(&self, ctx: &Ctx, query: Value) -> Result<Page<T>, AppError>
    where
        T: DeserializeOwned,
    {
        typed_page(self.search(ctx, query).await?)
    }

    /// [`list`](Self::list) with rows as `T`.
    pub async fn list_as<T>(&self, ctx: &Ctx, query: Value) -> Result<Page<T>, AppError>
    where
        T: DeserializeOwned,
    {
        typed_page(self.list(ctx, query).await?)
    }
}

/// `value` as the JSON object a request carries, without a `null` id.
fn to_object(value: &impl Serialize) -> Result<Value, AppError> {
    match serde_json::to_value(value).map_err(AppError::Serialize)? {
        Value::Object(mut map) => {
            if map.get("id") == Some(&Value::Null) {
                map.remove("id");
            }
            Ok(Value::Object(map))
        }
        _ => Err(AppError::Serialize(serde::ser::Error::custom(
            "the value is not a struct or a map",
        ))),
    }
}

fn from_row<T: DeserializeOwned>(row: Map<String, Value>) -> Result<T, AppError> {
    serde_json::from_value(Value::Object(row)).map_err(AppError::Deserialize)
}

fn typed_page<T: DeserializeOwned>(page: Page<Map<String, Value>>) -> Result<Page<T>, AppError> {
    let rows = page
        .rows
        .into_iter()
        .map(from_row)
        .collect::<Result<_, _>>()?;
    Ok(Page {
        count: page.count,
        rows,
    })
}
