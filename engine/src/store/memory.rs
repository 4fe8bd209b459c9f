//! The embedded in-memory store: the demo's default and the reference PostgreSQL is tested
//! against. It enforces what the PostgreSQL schema enforces (unique fields, foreign keys and
//! their delete rules) so both answer every op alike.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::Value;

use super::{Store, StoreError, StoreFuture, StoreOp, StoreOutput};
use crate::binding::{KeySource, ModelBinding, OnDelete, Registry, PK};
use crate::change::{Change, ChangeKind};
use crate::filter::{Condition, Filter, Lookup, Operand, Resolve};
use crate::key::{Key, KeyKind};
use crate::value::{compare, Row};

mod upsert;

#[derive(Default)]
struct Table {
    rows: BTreeMap<Key, Row>,
    /// The next integer key to generate, past every key given so far.
    next_id: i64,
}

/// Rows in memory, one table per binding. Cheap to clone; clones share the rows.
#[derive(Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for MemoryStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tables = self.inner.tables.lock().unwrap_or_else(|p| p.into_inner());
        f.debug_struct("MemoryStore")
            .field("tables", &tables.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

struct Inner {
    tables: Mutex<HashMap<String, Table>>,
    /// Held for writing by an open transaction (`memory_transaction`) and for reading by
    /// every other op, so nobody sees a batch's rows before it commits.
    gate: Arc<tokio::sync::RwLock<()>>,
    /// Every binding by stream, to follow foreign keys.
    bindings: HashMap<String, Arc<ModelBinding>>,
}

impl MemoryStore {
    /// An empty store with a table for every binding of `registry`.
    pub fn new(registry: &Registry) -> Self {
        let bindings: HashMap<_, _> = registry
            .models()
            .map(|b| (b.stream().to_owned(), Arc::clone(b)))
            .collect();
        let tables = bindings
            .values()
            .map(|b| {
                (
                    b.table().to_owned(),
                    Table {
                        rows: BTreeMap::new(),
                        next_id: 1,
                    },
                )
            })
            .collect();
        MemoryStore {
            inner: Arc::new(Inner {
                tables: Mutex::new(tables),
                gate: Arc::default(),
                bindings,
            }),
        }
    }

    /// Performs an op at once. The async [`Store::execute`] wraps this.
    pub fn execute_now(&self, op: StoreOp) -> Result<StoreOutput, StoreError> {
        let mut tables = self.lock();
        let db = Db {
            tables: &mut tables,
            inner: &self.inner,
            journal: None,
        };
        db.run(op)
    }

    /// Performs an op inside a transaction, noting in `journal` how to undo it.
    pub(super) fn execute_journaled(
        &self,
        op: StoreOp,
        journal: &mut Vec<Undo>,
    ) -> Result<StoreOutput, StoreError> {
        let mut tables = self.lock();
        let db = Db {
            tables: &mut tables,
            inner: &self.inner,
            journal: Some(journal),
        };
        db.run(op)
    }

    /// Puts back every row `journal` noted, newest first.
    pub(super) fn undo(&self, journal: Vec<Undo>) {
        let mut tables = self.lock();
        for Undo { table, key, row } in journal.into_iter().rev() {
            if let Some(table) = tables.get_mut(&table) {
                match row {
                    Some(row) => table.rows.insert(key, row),
                    None => table.rows.remove(&key),
                };
            }
        }
    }

    /// The gate transactions hold.
    pub(super) fn gate(&self) -> Arc<tokio::sync::RwLock<()>> {
        Arc::clone(&self.inner.gate)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Table>> {
        // A panic while holding the lock leaves whole rows (every write is a single insert or
        // replace), so the data is still consistent and the poison can be ignored.
        self.inner.tables.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Store for MemoryStore {
    fn execute(&self, op: StoreOp) -> StoreFuture<'_> {
        let span = crate::trace::store_span(&op, "memory", false);
        // At once, as ever, unless a transaction is open: then after it ends.
        if let Ok(_open) = self.inner.gate.try_read() {
            let result = span.in_scope(|| self.execute_now(op));
            return Box::pin(async move { result });
        }
        Box::pin(tracing::Instrument::instrument(
            async move {
                let _open = self.inner.gate.read().await;
                self.execute_now(op)
            },
            span,
        ))
    }

    fn begin(self: Arc<Self>) -> super::BeginFuture {
        super::memory_transaction::begin(MemoryStore::clone(&self))
    }

    fn kind(&self) -> &'static str {
        "memory"
    }
}

/// The tables as relation paths see them: every row of every binding, by key.
struct Tables<'a>(&'a HashMap<String, Table>);

impl Resolve for Tables<'_> {
    fn row(&self, binding: &ModelBinding, key: &Key) -> Option<&Row> {
        self.0.get(binding.table())?.rows.get(key)
    }
}

struct Db<'a> {
    tables: &'a mut HashMap<String, Table>,
    inner: &'a Inner,
    /// Inside a transaction: what each row was before the op changed it.
    journal: Option<&'a mut Vec<Undo>>,
}

/// A row as it was before a transaction's op changed it: `None` when it did not exist.
pub(super) struct Undo {
    table: String,
    key: Key,
    row: Option<Row>,
}

impl Db<'_> {
    /// Notes, inside a transaction, what the row `key` of `table` is before it changes.
    fn note(&mut self, table: &str, key: &Key) {
        if let Some(journal) = self.journal.as_deref_mut() {
            let row = self
                .tables
                .get(table)
                .and_then(|t| t.rows.get(key))
                .cloned();
            journal.push(Undo {
                table: table.to_owned(),
                key: key.clone(),
                row,
            });
        }
    }

    /// The row `pk` of `binding` if it lies inside `scope`, relation paths followed.
    fn scoped(&self, binding: &ModelBinding, pk: &Key, scope: &Filter) -> Option<Row> {
        let tables = Tables(self.tables);
        let row = tables.row(binding, pk)?;
        scope.matches_with(row, &tables).then(|| row.clone())
    }

    fn table(&mut self, binding: &ModelBinding) -> Result<&mut Table, StoreError> {
        self.tables
            .get_mut(binding.table())
            .ok_or_else(|| StoreError::Internal(format!("no table {}", binding.table())))
    }

    fn run(mut self, op: StoreOp) -> Result<StoreOutput, StoreError> {
        match op {
            StoreOp::Get { binding, pk, scope } => {
                self.table(&binding)?;
                Ok(StoreOutput::Row(self.scoped(&binding, &pk, &scope)))
            }
            StoreOp::Search {
                binding,
                filter,
                order,
                offset,
                limit,
            } => {
                self.table(&binding)?;
                let tables = Tables(self.tables);
                let table = &self.tables[binding.table()];
                let mut rows = matching(table, &filter, &tables);
                let count = rows.len() as u64;
                rows.sort_by(|a, b| order.compare_with(a, b, &tables));
                let rows = rows
                    .into_iter()
                    .skip(usize::try_from(offset).unwrap_or(usize::MAX))
                    .take(usize::try_from(limit).unwrap_or(usize::MAX))
                    .cloned()
                    .collect();
                Ok(StoreOutput::Page { count, rows })
            }
            StoreOp::Related {
                binding,
                filter,
                order,
                per,
            } => {
                // The related binding's scope may itself follow relations.
                self.table(&binding)?;
                let tables = Tables(self.tables);
                let table = &self.tables[binding.table()];
                let mut rows = matching(table, &filter, &tables);
                rows.sort_by(|a, b| order.compare_with(a, b, &tables));
                if let Some(per) = per {
                    // As `row_number() OVER (PARTITION BY field ...)`: values compare as the
                    // column does, so a key in canonical form is one partition.
                    let mut taken: HashMap<String, u64> = HashMap::new();
                    rows.retain(|row| {
                        let value = row.get(&per.field).unwrap_or(&Value::Null).to_string();
                        let n = taken.entry(value).or_default();
                        *n += 1;
                        *n <= per.limit
                    });
                }
                Ok(StoreOutput::Rows(rows.into_iter().cloned().collect()))
            }
            StoreOp::Insert { binding, values } => {
                let pk = self.new_key(&binding, &values)?;
                self.check_constraints(&binding, None, &values)?;
                self.note(binding.table(), &pk);
                let table = self.table(&binding)?;
                let mut row = Row::new();
                for field in binding.fields().iter().skip(1) {
                    row.insert(
                        field.name().to_owned(),
                        values.get(field.name()).cloned().unwrap_or(Value::Null),
                    );
                }
                binding.set_key(&mut row, &pk);
                table.rows.insert(pk.clone(), row.clone());
                Ok(StoreOutput::Changed(Some(Change {
                    stream: binding.stream().to_owned(),
                    pk,
                    kind: ChangeKind::Created,
                    old: None,
                    new: Some(row),
                    cascaded: Vec::new(),
                })))
            }
            StoreOp::Update {
                binding,
                pk,
                values,
                scope,
            } => {
                self.table(&binding)?;
                let Some(old) = self.scoped(&binding, &pk, &scope) else {
                    return Ok(StoreOutput::Changed(None));
                };
                self.check_constraints(&binding, Some(&pk), &values)?;
                let mut new = old.clone();
                for (k, v) in values {
                    // The key never changes: an update addresses the row by it.
                    if k != PK {
                        new.insert(k, v);
                    }
                }
                crate::version::increment(&binding, &mut new);
                self.note(binding.table(), &pk);
                self.table(&binding)?.rows.insert(pk.clone(), new.clone());
                Ok(StoreOutput::Changed(Some(Change {
                    stream: binding.stream().to_owned(),
                    pk,
                    kind: ChangeKind::Updated,
                    old: Some(old),
                    new: Some(new),
                    cascaded: Vec::new(),
                })))
            }
            StoreOp::Upsert(op) => self.upsert(op),
            StoreOp::Matches {
                binding,
                filter,
                rows,
            } => {
                self.table(&binding)?;
                let tables = Tables(self.tables);
                Ok(StoreOutput::Matches(
                    rows.iter()
                        .map(|row| filter.matches_with(row, &tables))
                        .collect(),
                ))
            }
            StoreOp::Delete {
                binding,
                pk,
                scope,
                referrers,
            } => {
                self.table(&binding)?;
                if self.scoped(&binding, &pk, &scope).is_none() {
                    return Ok(StoreOutput::Changed(None));
                }
                // The referring rows as they were, read the way the SQL plan reads them.
                let mut before = Vec::new();
                for referrer in &referrers {
                    let table = self.table(&referrer.binding)?;
                    for row in table.rows.values() {
                        if points_at(row, &referrer.field, &pk) {
                            before.push((referrer, row.clone()));
                        }
                    }
                }
                let old = self.delete_row(&binding, pk.clone())?;
                let mut cascaded = before
                    .into_iter()
                    .map(|(referrer, row)| super::cascade_change(referrer, row))
                    .collect::<Result<Vec<_>, _>>()?;
                cascaded.sort_by(|a, b| (&a.stream, &a.pk).cmp(&(&b.stream, &b.pk)));
                Ok(StoreOutput::Changed(Some(Change {
                    stream: binding.stream().to_owned(),
                    pk,
                    kind: ChangeKind::Deleted,
                    old: Some(old),
                    new: None,
                    cascaded,
                })))
            }
        }
    }

    /// The key of a new row: the client's when it gave one, else a generated one (the next
    /// integer, or a random UUID). A key already taken is a conflict, as the primary key
    /// constraint makes it in PostgreSQL.
    fn new_key(&mut self, binding: &ModelBinding, values: &Row) -> Result<Key, StoreError> {
        let given = values
            .get(PK)
            .filter(|_| binding.key_source_kind() != KeySource::Database)
            .and_then(Key::from_json);
        let table = self.table(binding)?;
        let pk = match (given, binding.key_kind()) {
            (Some(pk), _) => {
                if table.rows.contains_key(&pk) {
                    return Err(StoreError::Conflict {
                        field: Some(PK.to_owned()),
                        message: format!("a row with this {PK} already exists"),
                    });
                }
                if let Some(n) = pk.as_i64() {
                    table.next_id = table.next_id.max(n.saturating_add(1));
                }
                pk
            }
            (None, KeyKind::Integer) => {
                let pk = table.next_id;
                table.next_id += 1;
                Key::int(pk)
            }
            (None, KeyKind::Uuid) => Key::text(&uuid::Uuid::new_v4().hyphenated().to_string()),
            // Validation refuses a create without a text key before it reaches a store.
            (None, KeyKind::Text) => {
                return Err(StoreError::Internal("a text key must be given".into()))
            }
        };
        Ok(pk)
    }

    /// Unique fields and foreign keys, as the PostgreSQL schema checks them.
    fn check_constraints(
        &mut self,
        binding: &ModelBinding,
        pk: Option<&Key>,
        values: &Row,
    ) -> Result<(), StoreError> {
        let mirror = binding.key_mirror();
        for field in binding
            .fields()
            .iter()
            .filter(|f| f.is_unique() && f.name() != PK && Some(f.name()) != mirror)
        {
            let Some(value) = values.get(field.name()).filter(|v| !v.is_null()) else {
                continue;
            };
            let table = self.table(binding)?;
            let taken = table.rows.iter().any(|(id, row)| {
                Some(id) != pk
                    && row
                        .get(field.name())
                        .is_some_and(|v| compare(field.kind(), v, value).is_eq())
            });
            if taken {
                return Err(StoreError::Conflict {
                    field: Some(field.name().to_owned()),
                    message: format!("a row with this {} already exists", field.name()),
                });
            }
        }
        for (field, target) in binding.foreign_keys() {
            let Some(id) = values.get(field.name()).and_then(Key::from_json) else {
                continue;
            };
            let target = self.target(target)?;
            if !self.table(&target)?.rows.contains_key(&id) {
                return Err(StoreError::Conflict {
                    field: Some(field.name().to_owned()),
                    message: format!("{} {id} does not exist", target.stream()),
                });
            }
        }
        Ok(())
    }

    fn target(&self, stream: &str) -> Result<Arc<ModelBinding>, StoreError> {
        self.inner
            .bindings
            .get(stream)
            .cloned()
            .ok_or_else(|| StoreError::Internal(format!("no binding {stream}")))
    }

    /// Deletes a row after applying every referencing foreign key's rule, all or nothing:
    /// restrictions are checked over the whole cascade before anything is removed.
    fn delete_row(&mut self, binding: &Arc<ModelBinding>, pk: Key) -> Result<Row, StoreError> {
        let mut doomed: Vec<(Arc<ModelBinding>, Key)> = vec![(Arc::clone(binding), pk)];
        let mut nulled: Vec<(Arc<ModelBinding>, Key, String)> = Vec::new();
        let mut i = 0;
        while i < doomed.len() {
            let (target, id) = doomed[i].clone();
            i += 1;
            let referrers: Vec<Arc<ModelBinding>> = self.inner.bindings.values().cloned().collect();
            for referrer in referrers {
                for (field, stream) in referrer.foreign_keys() {
                    if stream != target.stream() {
                        continue;
                    }
                    let hits: Vec<Key> = self
                        .table(&referrer)?
                        .rows
                        .iter()
                        .filter(|(_, row)| points_at(row, field.name(), &id))
                        .map(|(rid, _)| rid.clone())
                        .collect();
                    for rid in hits {
                        if doomed
                            .iter()
                            .any(|(b, d)| b.stream() == referrer.stream() && *d == rid)
                        {
                            continue;
                        }
                        match field.delete_rule() {
                            OnDelete::Restrict => {
                                return Err(StoreError::Conflict {
                                    field: None,
                                    message: format!(
                                        "{} rows still refer to this row",
                                        referrer.stream()
                                    ),
                                })
                            }
                            OnDelete::Cascade => doomed.push((Arc::clone(&referrer), rid)),
                            OnDelete::SetNull => {
                                nulled.push((Arc::clone(&referrer), rid, field.name().to_owned()))
                            }
                        }
                    }
                }
            }
        }
        for (referrer, rid, field) in nulled {
            self.note(referrer.table(), &rid);
            if let Some(row) = self.table(&referrer)?.rows.get_mut(&rid) {
                row.insert(field, Value::Null);
            }
        }
        let mut first = None;
        for (b, id) in doomed {
            self.note(b.table(), &id);
            let row = self.table(&b)?.rows.remove(&id);
            first = first.or(row);
        }
        first.ok_or_else(|| StoreError::Internal("row vanished during delete".into()))
    }
}

/// The rows of `table` that `filter` matches, in key order. A filter that names the keys it
/// can match (`id IN (...)`, as expansions and captured rows are read) looks them up instead
/// of scanning the table.
fn matching<'t>(table: &'t Table, filter: &Filter, tables: &dyn Resolve) -> Vec<&'t Row> {
    match keys_named(filter) {
        Some(mut keys) => {
            keys.sort();
            keys.dedup();
            // A filter that is the key condition alone holds for every row found by key.
            let only_keys = matches!(filter, Filter::Cond(_));
            keys.iter()
                .filter_map(|k| table.rows.get(k))
                .filter(|r| only_keys || filter.matches_with(r, tables))
                .collect()
        }
        None => table
            .rows
            .values()
            .filter(|r| filter.matches_with(r, tables))
            .collect(),
    }
}

/// The only keys a row must have to match `filter`, when a condition every match needs says
/// so: `id = k` or `id IN (...)`, alone or ANDed with anything.
fn keys_named(filter: &Filter) -> Option<Vec<Key>> {
    let keys = |c: &Condition| -> Option<Vec<Key>> {
        // `owner__id` names the owner's key, not this row's.
        if c.field != PK || !c.path.is_empty() {
            return None;
        }
        match (&c.lookup, &c.operand) {
            (Lookup::In, Operand::List(list)) => list.iter().map(Key::from_json).collect(),
            (Lookup::Exact, Operand::Value(v)) => Key::from_json(v).map(|k| vec![k]),
            _ => None,
        }
    };
    match filter {
        Filter::Cond(c) => keys(c),
        Filter::All(parts) => parts.iter().find_map(|p| match p {
            Filter::Cond(c) => keys(c),
            _ => None,
        }),
        _ => None,
    }
}

/// Whether the row's foreign key `field` holds `pk`.
fn points_at(row: &Row, field: &str, pk: &Key) -> bool {
    row.get(field).and_then(Key::from_json).as_ref() == Some(pk)
}
