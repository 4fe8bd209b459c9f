//! A model binding: a table exposed as a stream.

use std::sync::Arc;

use super::{Field, FieldKind, Handler, Handlers};
use crate::permission::{Permission, SharedPermission};

/// The primary key field every model binding has: a `bigserial` named `id`.
pub const PK: &str = "id";

/// A table bound to a stream, with its fields and what clients may search and order by.
#[derive(Debug, Clone)]
pub struct ModelBinding {
    stream: String,
    table: String,
    fields: Vec<Field>,
    search: Vec<String>,
    page_size: Option<u64>,
    handlers: Handlers,
    permission: SharedPermission,
}

impl ModelBinding {
    /// Binds `table`. The stream defaults to Django's naming for that table: `auth_user` is
    /// `auth.User`, `shop_order_item` is `shop.OrderItem`; change it with [`stream`](Self::stream).
    ///
    /// The binding starts with its primary key, the read-only `id`.
    pub fn new(table: &str) -> Self {
        ModelBinding {
            stream: default_stream(table),
            table: table.to_owned(),
            fields: vec![Field::integer(PK).read_only().not_null()],
            search: Vec::new(),
            page_size: None,
            handlers: Handlers::default(),
            permission: SharedPermission::default(),
        }
    }

    /// Names the stream explicitly.
    pub fn stream_name(mut self, stream: &str) -> Self {
        self.stream = stream.to_owned();
        self
    }

    /// Adds a field. Fields are read, written, filtered and ordered under their own name.
    pub fn field(mut self, field: Field) -> Self {
        self.fields.retain(|f| f.name != field.name);
        self.fields.push(field);
        self
    }

    /// The fields `query` searches with `icontains`, ORed.
    pub fn search<S: AsRef<str>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.search = fields.into_iter().map(|f| f.as_ref().to_owned()).collect();
        self
    }

    /// The default page size of `search` for this binding.
    pub fn page_size(mut self, size: u64) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Registers a custom event handler for `<stream>.<action>` (docs/protocol.md section 5).
    /// The built-in actions cannot be replaced; the registry refuses them.
    pub fn on(mut self, action: &str, handler: impl Handler) -> Self {
        self.handlers.insert(action, Arc::new(handler));
        self
    }

    /// Sets who may do what with this binding (docs/protocol.md section 4); the default lets
    /// everyone do everything.
    pub fn permission(mut self, permission: impl Permission) -> Self {
        self.permission = SharedPermission(Arc::new(permission));
        self
    }

    /// The binding's permission.
    pub fn permission_ref(&self) -> &dyn Permission {
        self.permission.0.as_ref()
    }

    /// The custom event handlers.
    pub fn handlers(&self) -> &Handlers {
        &self.handlers
    }

    /// The stream name.
    pub fn stream(&self) -> &str {
        &self.stream
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Every field, the primary key first.
    pub fn fields(&self) -> &[Field] {
        &self.fields
    }

    /// The field called `name`.
    pub fn get(&self, name: &str) -> Option<&Field> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// The fields `query` searches.
    pub fn search_fields(&self) -> impl Iterator<Item = &Field> {
        self.search.iter().filter_map(|name| self.get(name))
    }

    /// The names given to [`search`](Self::search).
    pub fn search_names(&self) -> &[String] {
        &self.search
    }

    /// The binding's own page size, if it set one.
    pub fn own_page_size(&self) -> Option<u64> {
        self.page_size
    }

    /// The fields clients may write.
    pub fn writable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.read_only)
    }

    /// The foreign keys and the streams they point into.
    pub fn foreign_keys(&self) -> impl Iterator<Item = (&Field, &str)> {
        self.fields.iter().filter_map(|f| match &f.kind {
            FieldKind::ForeignKey { stream } => Some((f, stream.as_str())),
            _ => None,
        })
    }
}

/// `auth_user` becomes `auth.User`; `shop_order_item` becomes `shop.OrderItem`.
fn default_stream(table: &str) -> String {
    let Some((app, model)) = table.split_once('_') else {
        return table.to_owned();
    };
    let model: String = model
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect();
    format!("{app}.{model}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stream_defaults_to_djangos_name() {
        assert_eq!(ModelBinding::new("auth_user").stream(), "auth.User");
        assert_eq!(
            ModelBinding::new("shop_order_item").stream(),
            "shop.OrderItem"
        );
        assert_eq!(ModelBinding::new("items").stream(), "items");
        assert_eq!(
            ModelBinding::new("auth_user")
                .stream_name("people")
                .stream(),
            "people"
        );
    }

    #[test]
    fn the_primary_key_comes_first_and_is_read_only() {
        let b = ModelBinding::new("todo_task").field(Field::string("title"));
        assert_eq!(b.fields()[0].name(), "id");
        assert!(b.fields()[0].is_read_only());
        assert_eq!(b.writable().map(Field::name).collect::<Vec<_>>(), ["title"]);
    }
}
