//! A model binding: a table exposed as a stream.

use std::sync::Arc;

use serde_json::Value;

use super::{Computed, Field, FieldKind, Handler, Handlers, Hooks};
use crate::key::{Key, KeyKind};
use crate::permission::{Permission, SharedPermission};
use crate::value::Row;

mod version;
pub use version::VersionKind;

/// The name every row carries its primary key under, whatever the key column is called.
pub const PK: &str = "id";

/// Who gives a new row its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// The database (an identity column, `bigserial`, a default); a key the client sends is
    /// ignored. The default for integer keys.
    Database,
    /// The client may give it; otherwise the database's default does (`gen_random_uuid()`),
    /// or, in the in-memory store, a random UUID. The default for UUID keys.
    DatabaseOrClient,
    /// The client must give it; a create without one is `invalid`. The default for text keys.
    Client,
}

/// A table bound to a stream, with its fields and what clients may search and order by.
#[derive(Debug, Clone)]
pub struct ModelBinding {
    stream: String,
    schema: Option<String>,
    table: String,
    key_kind: KeyKind,
    key_source: KeySource,
    fields: Vec<Field>,
    search: Vec<String>,
    page_size: Option<u64>,
    handlers: Handlers,
    permission: SharedPermission,
    /// Chosen names of to-one relations: (foreign key field, name).
    relation_names: Vec<(String, String)>,
    /// Chosen names of to-many relations: (referring stream, its foreign key field, name).
    include_names: Vec<(String, String, String)>,
    /// Hooks around writes (see `hooks.rs`).
    pub(super) hooks: Hooks,
    /// Read-only fields computed from the row and its reader, with no column (see
    /// [`Computed`]).
    pub(super) computed: Vec<Computed>,
    /// The field the engine moves on every write, for version checks (see `model/version.rs`).
    version: Option<String>,
}

impl ModelBinding {
    /// Binds `table`. The stream defaults to Django's naming for that table: `auth_user` is
    /// `auth.User`, `shop_order_item` is `shop.OrderItem`; change it with [`stream`](Self::stream).
    ///
    /// The binding starts with its primary key, the read-only integer `id` the database
    /// generates; [`key`](Self::key) declares another.
    pub fn new(table: &str) -> Self {
        ModelBinding {
            stream: default_stream(table),
            schema: None,
            table: table.to_owned(),
            key_kind: KeyKind::Integer,
            key_source: KeySource::Database,
            fields: vec![Field::integer(PK).read_only().not_null()],
            search: Vec::new(),
            page_size: None,
            handlers: Handlers::default(),
            permission: SharedPermission::default(),
            relation_names: Vec::new(),
            include_names: Vec::new(),
            hooks: Hooks::default(),
            computed: Vec::new(),
            version: None,
        }
    }

    /// Declares the primary key: one column of integer, UUID or text (`string`/`text`) kind,
    /// under any name. Rows carry it under `"id"` and, when the column is called otherwise,
    /// under the column's name too; requests address rows with `"id"`. Who gives new rows
    /// their key follows the kind ([`KeySource`]); [`key_source`](Self::key_source) changes
    /// it. Other kinds are refused by the registry.
    ///
    /// ```
    /// use chanbind_engine::binding::{Field, KeySource, ModelBinding};
    ///
    /// let books = ModelBinding::new("library_book")
    ///     .key(Field::string("isbn").max_length(17))
    ///     .field(Field::string("title"));
    /// assert_eq!(books.key_field().column_name(), "isbn");
    /// assert_eq!(books.key_source_kind(), KeySource::Client);
    /// assert!(books.get("isbn").is_some_and(|f| f.is_read_only()));
    /// ```
    pub fn key(mut self, field: Field) -> Self {
        let column = field.column_name().to_owned();
        self.key_kind = KeyKind::of(&field.kind).unwrap_or(KeyKind::Integer);
        self.key_source = match self.key_kind {
            KeyKind::Integer => KeySource::Database,
            KeyKind::Uuid => KeySource::DatabaseOrClient,
            KeyKind::Text => KeySource::Client,
        };
        self.fields.retain(|f| f.name != PK && f.name != field.name);
        let mut key = field.clone();
        key.name = PK.to_owned();
        key.column = Some(column.clone());
        key.nullable = Some(false);
        key.read_only = true;
        self.fields.insert(0, key);
        if column != PK {
            let mut mirror = field;
            mirror.name = column;
            mirror.column = None;
            mirror.nullable = Some(false);
            mirror.read_only = true;
            self.fields.insert(1, mirror);
        }
        self
    }

    /// Changes who gives new rows their key (an integer key without a default is
    /// [`KeySource::Client`]).
    pub fn key_source(mut self, source: KeySource) -> Self {
        self.key_source = source;
        self
    }

    /// Puts the table in a schema other than the connection's `search_path`. The stream then
    /// defaults to `<schema>.<Table>` (`sales` and `order_line` make `sales.OrderLine`).
    pub fn schema(mut self, schema: &str) -> Self {
        if self.stream == default_stream(&self.table) {
            self.stream = format!("{schema}.{}", camel(&self.table));
        }
        self.schema = Some(schema.to_owned());
        self
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

    /// Removes the field called `name` (not the key), and drops it from the search fields: for
    /// a column an introspected binding should not serve. Creates then leave the column out,
    /// so it must take null or have a default.
    pub fn without(mut self, name: &str) -> Self {
        if name != PK && Some(name) != self.key_mirror() {
            self.fields.retain(|f| f.name != name);
            self.search.retain(|s| s != name);
        }
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

    /// Names the to-one relation of the foreign key `field` (by default the field without
    /// `_id`: see [`crate::relation`]). `expand` and filters then use `name`.
    ///
    /// ```
    /// use chanbind_engine::binding::{Field, ModelBinding, Registry};
    ///
    /// let registry = Registry::new()
    ///     .model(ModelBinding::new("auth_user"))
    ///     .and_then(|r| {
    ///         r.model(
    ///             ModelBinding::new("todo_task")
    ///                 .field(Field::foreign_key("owner_id", "auth.User"))
    ///                 .relation("owner_id", "assignee"),
    ///         )
    ///     })
    ///     .unwrap();
    /// assert!(registry.relation("todo.Task", "assignee").is_some());
    /// assert!(registry.relation("todo.Task", "owner").is_none());
    /// ```
    pub fn relation(mut self, field: &str, name: &str) -> Self {
        self.relation_names.retain(|(f, _)| f != field);
        self.relation_names
            .push((field.to_owned(), name.to_owned()));
        self
    }

    /// Names the to-many relation made by the foreign key `field` of `stream` pointing at this
    /// binding (by default the referring stream's plural: see [`crate::relation`]). `include`
    /// then uses `name`.
    pub fn include_as(mut self, stream: &str, field: &str, name: &str) -> Self {
        self.include_names
            .retain(|(s, f, _)| !(s == stream && f == field));
        self.include_names
            .push((stream.to_owned(), field.to_owned(), name.to_owned()));
        self
    }

    /// The to-one relation names chosen with [`relation`](Self::relation).
    pub fn relation_renames(&self) -> &[(String, String)] {
        &self.relation_names
    }

    /// The to-many relation names chosen with [`include_as`](Self::include_as).
    pub fn include_renames(&self) -> &[(String, String, String)] {
        &self.include_names
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

    /// The table's schema, when one was given.
    pub fn schema_name(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// `schema.table` or `table`, for logs and messages.
    pub fn qualified_table(&self) -> String {
        match &self.schema {
            Some(schema) => format!("{schema}.{}", self.table),
            None => self.table.clone(),
        }
    }

    /// The primary key field: named `id`, its column [`Field::column_name`].
    pub fn key_field(&self) -> &Field {
        &self.fields[0]
    }

    /// The kind of the primary key.
    pub fn key_kind(&self) -> KeyKind {
        self.key_kind
    }

    /// Who gives new rows their key.
    pub fn key_source_kind(&self) -> KeySource {
        self.key_source
    }

    /// Reads a client's `"id"` as a key of this binding, or says why it is not one.
    pub fn parse_key(&self, value: &Value) -> Result<Key, String> {
        self.key_kind.parse(value)
    }

    /// Reads the text form of a key (an HTTP path segment).
    pub fn parse_key_text(&self, text: &str) -> Result<Key, String> {
        self.key_kind.parse_text(text)
    }

    /// The key of a row this binding's store produced.
    pub fn key_of(&self, row: &Row) -> Option<Key> {
        row.get(PK).and_then(Key::from_json)
    }

    /// Sets the row's key, under `"id"` and under the key column's own name.
    pub fn set_key(&self, row: &mut Row, key: &Key) {
        row.insert(PK.to_owned(), key.to_json());
        if let Some(mirror) = self.key_mirror() {
            row.insert(mirror.to_owned(), key.to_json());
        }
    }

    /// The other name rows carry the key under: the key column's, when it is not `id`.
    pub fn key_mirror(&self) -> Option<&str> {
        let column = self.key_field().column_name();
        (column != PK).then_some(column)
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

    /// Points each foreign key to `stream` at keys of `kind`: the registry calls this once the
    /// target binding is known, so foreign keys read and compare values of the target's type.
    pub(crate) fn resolve_foreign_keys(&mut self, stream: &str, kind: KeyKind) {
        for field in &mut self.fields {
            if let FieldKind::ForeignKey {
                stream: target,
                key,
            } = &mut field.kind
            {
                if target == stream {
                    *key = kind;
                }
            }
        }
    }

    /// The fields clients may write.
    pub fn writable(&self) -> impl Iterator<Item = &Field> {
        self.fields.iter().filter(|f| !f.read_only)
    }

    /// The foreign keys and the streams they point into.
    pub fn foreign_keys(&self) -> impl Iterator<Item = (&Field, &str)> {
        self.fields.iter().filter_map(|f| match &f.kind {
            FieldKind::ForeignKey { stream, .. } => Some((f, stream.as_str())),
            _ => None,
        })
    }
}

/// `auth_user` becomes `auth.User`; `shop_order_item` becomes `shop.OrderItem`.
fn default_stream(table: &str) -> String {
    let Some((app, model)) = table.split_once('_') else {
        return table.to_owned();
    };
    format!("{app}.{}", camel(model))
}

/// `order_line` becomes `OrderLine`.
fn camel(name: &str) -> String {
    name.split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut chars = w.chars();
            chars
                .next()
                .map(|c| c.to_uppercase().chain(chars).collect::<String>())
                .unwrap_or_default()
        })
        .collect()
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
    fn without_removes_a_field_but_never_the_key() {
        let b = ModelBinding::new("library_book")
            .key(Field::string("isbn"))
            .field(Field::string("title"))
            .field(Field::text("secret"))
            .search(["title", "secret"])
            .without("secret")
            .without("id")
            .without("isbn");
        let names: Vec<&str> = b.fields().iter().map(Field::name).collect();
        assert_eq!(names, ["id", "isbn", "title"]);
        assert_eq!(b.search_names(), ["title"]);
    }

    #[test]
    fn the_primary_key_comes_first_and_is_read_only() {
        let b = ModelBinding::new("todo_task").field(Field::string("title"));
        assert_eq!(b.fields()[0].name(), "id");
        assert!(b.fields()[0].is_read_only());
        assert_eq!(b.writable().map(Field::name).collect::<Vec<_>>(), ["title"]);
    }
}
