//! [`StoreOp::Upsert`] in memory: the look and the write happen under the store's one lock,
//! so they are as atomic as PostgreSQL's `INSERT ... ON CONFLICT DO UPDATE`.

use super::{Db, StoreError, StoreOp, StoreOutput};
use crate::binding::PK;
use crate::key::Key;
use crate::store::{Upsert, Upserted};
use crate::value::compare;

impl Db<'_> {
    pub(super) fn upsert(mut self, op: Upsert) -> Result<StoreOutput, StoreError> {
        let Upsert {
            binding,
            target,
            value,
            insert,
            update,
            scope,
            holding,
        } = op;
        let field = binding
            .get(&target)
            .ok_or_else(|| StoreError::Internal(format!("no field {target}")))?
            .clone();
        let table = self.table(&binding)?;
        let existing = if value.is_null() {
            None
        } else if target == PK {
            Key::from_json(&value).filter(|k| table.rows.contains_key(k))
        } else {
            table
                .rows
                .iter()
                .find(|(_, row)| {
                    row.get(&target)
                        .is_some_and(|v| compare(field.kind(), v, &value).is_eq())
                })
                .map(|(k, _)| k.clone())
        };
        let nothing = |existing: Option<Key>| {
            Ok(StoreOutput::Upserted(Upserted {
                existing,
                change: None,
            }))
        };
        let op = match (&existing, insert, update) {
            (None, None, _) => return nothing(None),
            (None, Some(values), _) => StoreOp::Insert {
                binding: binding.clone(),
                values,
            },
            (Some(pk), _, Some(values)) if holding.as_ref() == Some(pk) => StoreOp::Update {
                binding: binding.clone(),
                pk: pk.clone(),
                values,
                scope,
            },
            (Some(_), _, _) => return nothing(existing),
        };
        let db = Db {
            tables: &mut *self.tables,
            inner: self.inner,
            journal: self.journal,
        };
        match db.run(op)? {
            StoreOutput::Changed(change) => {
                Ok(StoreOutput::Upserted(Upserted { existing, change }))
            }
            other => Err(StoreError::Internal(format!(
                "a write answered with {other:?}"
            ))),
        }
    }
}
