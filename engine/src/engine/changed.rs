//! Rows the application changed with its own SQL, told to the engine so that subscribers
//! are pushed without capture triggers: [`Engine::changed`], [`Engine::created`],
//! [`Engine::changed_many`] and, for rows of several tables, [`Engine::publish_changed`] with
//! a [`ChangeSet`].
//!
//! The engine knows only which rows changed, never how: it re-reads each one through its
//! store, as it does for a capture trigger's notification ([`crate::capture`]), and publishes
//! the change that means, without an old row. A row gone is a delete; a row present is an
//! update, or a create when the caller says so ([`ChangeSet::created`]): live queries treat
//! a change without its old row as one that may have matched before, so only change feeds
//! (`subscribe`) tell the two apart, as `created` or `updated`. The other nodes are told
//! through the channel layer ([`LayerMessage::Changes`], keys only) and re-read the rows
//! themselves, as they do for writes made through another node's API.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::Engine;
use crate::binding::ModelBinding;
use crate::capture::READ_CHUNK;
use crate::key::Key;
use crate::layer::{ChangedRow, LayerMessage, MAX_PAYLOAD};
use crate::store::StoreError;

/// Why the engine could not take or read changed rows.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ChangedError {
    /// No model binding serves this table (or stream).
    #[error("no binding serves the table {0:?}")]
    UnknownTable(String),
    /// The key is not of the kind the table's primary key is (an integer for a `bigint` key,
    /// a UUID for a `uuid` one, a non-empty string for a text one).
    #[error("{key:?} is not a key of {table}: it {reason}")]
    BadKey {
        /// The table, as the caller named it.
        table: String,
        /// The key as given, in its text form.
        key: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The store could not read the rows of `table`. The rows before them were pushed, and
    /// the other nodes were told of every row; calling again is harmless (a re-read of an
    /// unchanged row pushes it as it is).
    #[error("cannot read the changed rows of {table}: {source}")]
    Store {
        /// The table (`schema.table` when its binding names a schema).
        table: String,
        /// The store's error.
        #[source]
        source: StoreError,
    },
}

/// Rows of one or more bound tables that the application changed itself, for
/// [`Engine::publish_changed`]: all are checked before any is read, and rows of one table are
/// read together, [`READ_CHUNK`] to a query.
///
/// A table is named as [`Engine::changed`] takes it.
///
/// ```
/// # use chanbind_engine::engine::ChangeSet;
/// let set = ChangeSet::new()
///     .created("todo_task", 41)
///     .changed("todo_task", 7)
///     .changed("auth_user", 3);
/// assert_eq!(set.len(), 3);
/// ```
#[derive(Debug, Clone, Default)]
#[must_use = "a change set does nothing until Engine::publish_changed takes it"]
pub struct ChangeSet {
    /// (table as named, key, inserted), in the order given.
    rows: Vec<(String, Key, bool)>,
}

impl ChangeSet {
    /// An empty set.
    pub fn new() -> ChangeSet {
        ChangeSet::default()
    }

    /// The row `pk` of `table` was updated, or deleted (the re-read tells which).
    pub fn changed(mut self, table: impl Into<String>, pk: impl Into<Key>) -> ChangeSet {
        self.rows.push((table.into(), pk.into(), false));
        self
    }

    /// The row `pk` of `table` was inserted: change feeds show it as `created`, not
    /// `updated`.
    pub fn created(mut self, table: impl Into<String>, pk: impl Into<Key>) -> ChangeSet {
        self.rows.push((table.into(), pk.into(), true));
        self
    }

    /// Adds rows of `table` that were updated or deleted.
    pub fn changed_many<K: Into<Key>>(
        mut self,
        table: impl Into<String>,
        pks: impl IntoIterator<Item = K>,
    ) -> ChangeSet {
        let table = table.into();
        self.rows
            .extend(pks.into_iter().map(|pk| (table.clone(), pk.into(), false)));
        self
    }

    /// How many rows were added (a row added twice counts twice).
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

/// The rows of one binding to read, in first-seen order, each once.
struct Reads {
    binding: Arc<ModelBinding>,
    rows: Vec<(Key, bool)>,
    seen: HashMap<Key, usize>,
}

impl Reads {
    fn push(&mut self, pk: Key, created: bool) {
        match self.seen.get(&pk) {
            Some(&i) => self.rows[i].1 |= created,
            None => {
                self.seen.insert(pk.clone(), self.rows.len());
                self.rows.push((pk, created));
            }
        }
    }
}

/// Room an envelope's other fields (node id, cluster name, number) leave a batch of rows in
/// one layer message.
const ENVELOPE_ROOM: usize = 512;

impl Engine {
    /// Tells the engine that the application changed (updated or deleted) the row `pk` of
    /// the bound table `table` with its own SQL, after the transaction committed: the engine
    /// re-reads it and pushes it to every subscriber that sees it, on this node and, through
    /// the channel layer, on the others, as it would a write made through its API. No capture
    /// trigger is needed.
    ///
    /// `table` is a bound table's name (`"todo_task"`, every binding of that table in
    /// whatever schema), a schema-qualified name (`"app.todo_task"`: the bindings that name
    /// that schema or, when none does, the bindings that name none), or a stream name
    /// (`"todo.Task"`, meaning the table it serves). `pk` is anything a [`Key`] is made from
    /// (`i64`, `&str`, `String`, [`uuid::Uuid`]), of the kind of the table's key.
    ///
    /// A row that is gone is pushed as a delete; one that is there as an update (use
    /// [`created`](Self::created) for a new row, which change feeds show as `created`).
    /// Returns how many changes were published to this node's subscribers: a row served by
    /// two bindings counts twice, and a stream no connection of this node watches, directly
    /// or through relations, is not even read here (0).
    ///
    /// As with the capture triggers, the row is read as it is when the engine reads it, so
    /// call this once the transaction committed, and again after each later write: when the
    /// application's SQL and a write through the API change one row at the same moment, a
    /// subscriber of that row may be left on the earlier state until its next change (live
    /// queries re-read and catch up).
    ///
    /// With a blocking store, await it where blocking is allowed (the sync adapter's
    /// [`EngineRuntime::block_on`](https://docs.rs/chanbind-sync) from blocking code:
    /// `runtime.block_on(engine.changed("todo_task", id))`).
    ///
    /// ```
    /// # use std::sync::Arc;
    /// # use chanbind_engine::binding::{Field, ModelBinding, Registry};
    /// # use chanbind_engine::store::MemoryStore;
    /// # use chanbind_engine::engine::ChangedError;
    /// # use chanbind_engine::Engine;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let registry = Registry::new().model(ModelBinding::new("todo_task").field(Field::string("title")))?;
    /// # let store = Arc::new(MemoryStore::new(&registry));
    /// # let engine = Engine::start(registry, store, Default::default()).await?;
    /// // After `UPDATE todo_task SET done = true WHERE id = 7` committed:
    /// engine.changed("todo_task", 7).await?;
    /// // A batch: one read per table.
    /// engine.changed_many("todo_task", [7, 8, 9]).await?;
    /// // A table chanbind does not serve is an error, not silence.
    /// assert!(matches!(
    ///     engine.changed("nope", 1).await,
    ///     Err(ChangedError::UnknownTable(_))
    /// ));
    /// # Ok(()) }
    /// ```
    pub async fn changed(&self, table: &str, pk: impl Into<Key>) -> Result<usize, ChangedError> {
        self.publish_changed(ChangeSet::new().changed(table, pk))
            .await
    }

    /// [`changed`](Self::changed) for a row the application inserted: change feeds show it
    /// as `created`.
    pub async fn created(&self, table: &str, pk: impl Into<Key>) -> Result<usize, ChangedError> {
        self.publish_changed(ChangeSet::new().created(table, pk))
            .await
    }

    /// [`changed`](Self::changed) for several rows of one table, read [`READ_CHUNK`] to a
    /// query; nothing is read or pushed when one of the keys is refused.
    pub async fn changed_many<K: Into<Key>>(
        &self,
        table: &str,
        pks: impl IntoIterator<Item = K>,
    ) -> Result<usize, ChangedError> {
        self.publish_changed(ChangeSet::new().changed_many(table, pks))
            .await
    }

    /// [`changed`](Self::changed) for every row of `set`, of any tables. Every table and key
    /// is checked first: nothing is read or pushed when one is refused. Then the other nodes
    /// are told, and the rows of each binding are read, in the order first given, one query
    /// per [`READ_CHUNK`] rows; a row given twice is read once (as created when either said
    /// so). Returns how many changes were published to this node's subscribers.
    pub async fn publish_changed(&self, set: ChangeSet) -> Result<usize, ChangedError> {
        let reads = self.plan_reads(set)?;
        self.tell_other_nodes(&reads);
        let mut published = 0;
        for Reads { binding, rows, .. } in &reads {
            if !self.is_watched_directly_or_through_relations(binding.stream()) {
                continue;
            }
            // Without the rows' stripes, as for the capture triggers' notifications and the
            // rows other nodes report: a caller may hold one (a hook inside a write through
            // the API), and waiting for it there would never end.
            for chunk in rows.chunks(READ_CHUNK) {
                published +=
                    self.read_and_publish_local(binding, chunk)
                        .await
                        .map_err(|source| ChangedError::Store {
                            table: binding.qualified_table(),
                            source,
                        })?;
            }
        }
        Ok(published)
    }

    /// Resolves every row's table to its bindings and checks its key against each, grouping
    /// the rows by binding in first-seen order.
    fn plan_reads(&self, set: ChangeSet) -> Result<Vec<Reads>, ChangedError> {
        let mut reads: Vec<Reads> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut resolved: HashMap<String, Vec<Arc<ModelBinding>>> = HashMap::new();
        for (table, pk, created) in set.rows {
            if !resolved.contains_key(&table) {
                let bindings = self.bindings_of(&table);
                if bindings.is_empty() {
                    return Err(ChangedError::UnknownTable(table));
                }
                resolved.insert(table.clone(), bindings);
            }
            for binding in &resolved[&table] {
                let key =
                    binding
                        .parse_key(&pk.to_json())
                        .map_err(|reason| ChangedError::BadKey {
                            table: table.clone(),
                            key: pk.to_string(),
                            reason,
                        })?;
                let i = *index.entry(binding.stream().to_owned()).or_insert_with(|| {
                    reads.push(Reads {
                        binding: Arc::clone(binding),
                        rows: Vec::new(),
                        seen: HashMap::new(),
                    });
                    reads.len() - 1
                });
                reads[i].push(key, created);
            }
        }
        Ok(reads)
    }

    /// The bindings a caller's table name means (see [`changed`](Self::changed)); empty when
    /// none.
    fn bindings_of(&self, name: &str) -> Vec<Arc<ModelBinding>> {
        let models = || self.registry().models();
        let same_table = |table: &str, schema: Option<&str>| -> Vec<Arc<ModelBinding>> {
            models()
                .filter(|b| b.table() == table && b.schema_name() == schema)
                .cloned()
                .collect()
        };
        if let Some(binding) = self.registry().get(name) {
            return same_table(binding.table(), binding.schema_name());
        }
        if let Some((schema, table)) = name.split_once('.') {
            let named = same_table(table, Some(schema));
            // The schema the bindings that name none live in is the store's to know (its
            // search path); a needless re-read only pushes the row as it is.
            return if named.is_empty() {
                same_table(table, None)
            } else {
                named
            };
        }
        models().filter(|b| b.table() == name).cloned().collect()
    }

    /// Sends the rows, keys only, to the other nodes, in messages small enough for the
    /// layer; each row of a table once, whatever the number of its bindings (the receivers
    /// publish to all of them).
    fn tell_other_nodes(&self, reads: &[Reads]) {
        if !self.inner.layer.is_remote() {
            return;
        }
        let mut sent: BTreeSet<(Option<&str>, &str, &Key)> = BTreeSet::new();
        let mut rows: Vec<ChangedRow> = Vec::new();
        let mut size = 0;
        for Reads {
            binding,
            rows: keys,
            ..
        } in reads
        {
            for (pk, created) in keys {
                if !sent.insert((binding.schema_name(), binding.table(), pk)) {
                    continue;
                }
                let row = ChangedRow {
                    table: binding.table().to_owned(),
                    schema: binding.schema_name().map(str::to_owned),
                    pk: pk.clone(),
                    created: *created,
                };
                // Serializing a row of strings, an integer and a bool cannot fail.
                let len = serde_json::to_string(&row).map_or(0, |t| t.len()) + 1;
                if !rows.is_empty() && size + len > MAX_PAYLOAD - ENVELOPE_ROOM {
                    self.inner.layer.publish(&LayerMessage::Changes {
                        rows: std::mem::take(&mut rows),
                    });
                    size = 0;
                }
                size += len;
                rows.push(row);
            }
        }
        if !rows.is_empty() {
            self.inner.layer.publish(&LayerMessage::Changes { rows });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Field, Registry};
    use crate::layer::Layer;
    use crate::store::MemoryStore;
    use std::sync::Mutex;

    /// A layer that keeps what it was asked to send.
    #[derive(Default)]
    struct Kept(Mutex<Vec<LayerMessage>>);

    impl Layer for Kept {
        fn publish(&self, message: &LayerMessage) {
            self.0.lock().unwrap().push(message.clone());
        }

        fn kind(&self) -> &'static str {
            "kept"
        }
    }

    fn registry() -> Registry {
        Registry::new()
            .model(ModelBinding::new("todo_task").field(Field::string("title")))
            .unwrap()
            .model(
                ModelBinding::new("todo_task")
                    .stream_name("todo.Board")
                    .field(Field::string("title")),
            )
            .unwrap()
            .model(
                ModelBinding::new("shop_tag")
                    .schema("app")
                    .key(Field::uuid("id"))
                    .field(Field::string("name")),
            )
            .unwrap()
    }

    async fn engine(layer: Arc<Kept>) -> Engine {
        let registry = registry();
        let store = Arc::new(MemoryStore::new(&registry));
        Engine::builder(registry, store)
            .layer(layer)
            .start()
            .await
            .unwrap()
    }

    fn streams(engine: &Engine, name: &str) -> Vec<String> {
        let mut out: Vec<String> = engine
            .bindings_of(name)
            .iter()
            .map(|b| b.stream().to_owned())
            .collect();
        out.sort();
        out
    }

    #[tokio::test]
    async fn tables_are_named_by_table_schema_or_stream() {
        let engine = engine(Arc::default()).await;
        let both = ["todo.Board", "todo.Task"];
        assert_eq!(streams(&engine, "todo_task"), both);
        assert_eq!(streams(&engine, "todo.Task"), both, "a stream: its table");
        assert_eq!(
            streams(&engine, "public.todo_task"),
            both,
            "no binding names a schema: the default one"
        );
        assert_eq!(streams(&engine, "app.shop_tag"), ["app.ShopTag"]);
        assert_eq!(streams(&engine, "shop_tag"), ["app.ShopTag"]);
        assert_eq!(streams(&engine, "app.ShopTag"), ["app.ShopTag"]);
        assert!(streams(&engine, "other.shop_tag").is_empty());
        assert!(streams(&engine, "nope").is_empty());
    }

    #[tokio::test]
    async fn keys_are_checked_and_made_canonical_before_anything_is_sent() {
        let kept = Arc::new(Kept::default());
        let engine = engine(Arc::clone(&kept)).await;
        let e = engine
            .publish_changed(
                ChangeSet::new()
                    .changed("todo_task", 1)
                    .changed("shop_tag", 5),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(&e, ChangedError::BadKey { table, .. } if table == "shop_tag"),
            "{e}"
        );
        assert!(kept.0.lock().unwrap().is_empty(), "nothing sent");
        assert!(matches!(
            engine.changed("nope", 1).await,
            Err(ChangedError::UnknownTable(t)) if t == "nope"
        ));
        assert!(matches!(
            engine.changed("todo_task", "x").await,
            Err(ChangedError::BadKey { .. })
        ));

        let u = uuid::Uuid::new_v4();
        let upper = u.hyphenated().to_string().to_uppercase();
        engine
            .publish_changed(
                ChangeSet::new()
                    .changed("shop_tag", upper.as_str())
                    .created("app.shop_tag", u)
                    .changed_many("todo_task", [1, 2]),
            )
            .await
            .unwrap();
        let sent = kept.0.lock().unwrap().clone();
        let [LayerMessage::Changes { rows }] = &sent[..] else {
            panic!("one message: {sent:?}")
        };
        let keys: Vec<(Option<&str>, &str, String, bool)> = rows
            .iter()
            .map(|r| {
                (
                    r.schema.as_deref(),
                    r.table.as_str(),
                    r.pk.to_string(),
                    r.created,
                )
            })
            .collect();
        assert_eq!(
            keys,
            [
                (Some("app"), "shop_tag", u.to_string(), true),
                (None, "todo_task", "1".to_owned(), false),
                (None, "todo_task", "2".to_owned(), false),
            ],
            "one row per table row, whatever its bindings; the UUID canonical, created once"
        );
    }

    #[tokio::test]
    async fn many_rows_travel_in_messages_the_layer_takes() {
        let kept = Arc::new(Kept::default());
        let engine = engine(Arc::clone(&kept)).await;
        engine.changed_many("todo_task", 0..2000).await.unwrap();
        let sent = kept.0.lock().unwrap().clone();
        assert!(sent.len() > 1, "split");
        let mut total = 0;
        for message in &sent {
            let envelope = crate::layer::Envelope {
                node: "n".repeat(64),
                namespace: "s".repeat(63),
                seq: u64::MAX,
                sent_ms: Some(u64::MAX),
                message: message.clone(),
            };
            crate::layer::encode(&envelope).expect("fits");
            let LayerMessage::Changes { rows } = message else {
                panic!()
            };
            total += rows.len();
        }
        assert_eq!(total, 2000);
    }
}
