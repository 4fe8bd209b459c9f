//! How a row is shown to a client.

use serde_json::Value;

use crate::binding::ModelBinding;
use crate::permission::View;
use crate::value::Row;

/// The row as a client with `view` sees it: the binding's fields it may see, `id` included.
/// Replies and pushes both go through here, so what a client can see is decided in one place.
pub fn render_row(binding: &ModelBinding, row: &Row, view: &View) -> Value {
    let mut out = serde_json::Map::new();
    for field in binding.fields().iter().filter(|f| view.can_see(f.name())) {
        out.insert(field.name().to_owned(), row.get(field.name()).cloned().unwrap_or(Value::Null));
    }
    Value::Object(out)
}
