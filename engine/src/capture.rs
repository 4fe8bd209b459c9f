//! Changes made outside chanbind: the notifications the capture triggers send
//! ([`crate::sql::capture`]) and how a node turns them into [`Change`]s.
//!
//! This module does no I/O of its own. An adapter's listener (a `LISTEN` connection) parses
//! each payload with [`Notice::parse`], collects what arrived together into a [`Batch`], and
//! hands it to [`Engine::publish_captured`](crate::Engine::publish_captured), which reads each row through the engine's store
//! and publishes it like a write made through the API.
//!
//! The triggers never carry the row, so a change from outside has no old image: it is
//! published with `old: None`, which live queries and feeds treat as "may have matched before"
//! (see the stream actor). A row gone by the time it is read is published as a delete.

use std::collections::HashMap;

use serde::Deserialize;

use crate::binding::ModelBinding;
use crate::change::{Change, ChangeKind};
use crate::key::Key;
use crate::value::Row;

/// One notification of a capture trigger.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// The table written.
    pub table: String,
    /// The table's schema.
    pub schema: String,
    /// The row's primary key.
    pub pk: Key,
    /// What the write did.
    pub kind: ChangeKind,
    /// The writing transaction's id.
    pub tx: i64,
    /// The node that wrote it through chanbind, or `None` for any other writer.
    pub origin: Option<String>,
}

/// Why a payload was not a notice.
#[derive(Debug, thiserror::Error)]
#[error("malformed capture notification: {0}")]
pub struct NoticeError(String);

#[derive(Deserialize)]
struct Payload {
    table: String,
    schema: String,
    pk: Key,
    op: String,
    tx: i64,
    origin: Option<String>,
    /// When the trigger ran, in seconds since the Unix epoch (triggers installed by older
    /// versions send none).
    #[serde(default)]
    at: Option<f64>,
}

impl Notice {
    /// Parses a trigger's payload.
    pub fn parse(payload: &str) -> Result<Notice, NoticeError> {
        Notice::parse_timed(payload).map(|(notice, _)| notice)
    }

    /// [`parse`](Self::parse), with when the trigger ran (seconds since the Unix epoch).
    fn parse_timed(payload: &str) -> Result<(Notice, Option<f64>), NoticeError> {
        let p: Payload = serde_json::from_str(payload).map_err(|e| NoticeError(e.to_string()))?;
        let kind = match p.op.as_str() {
            "INSERT" => ChangeKind::Created,
            "UPDATE" => ChangeKind::Updated,
            "DELETE" => ChangeKind::Deleted,
            other => return Err(NoticeError(format!("unknown operation {other:?}"))),
        };
        let notice = Notice {
            table: p.table,
            schema: p.schema,
            pk: p.pk,
            kind,
            tx: p.tx,
            // The trigger reads the setting with `missing_ok`, which gives '' once a session
            // has set and reset it, and NULL when it never did.
            origin: p.origin.filter(|o| !o.is_empty()),
        };
        Ok((notice, p.at))
    }
}

/// What a listener received in one go, coalesced: one entry per (schema, table, pk), so a
/// bulk update of a thousand rows costs a thousand reads once, and a row written many times
/// is read once after the last write it was told about.
#[derive(Debug)]
pub struct Batch {
    pub(crate) schema: String,
    origin: String,
    /// (schema, table, pk) to whether any notice said INSERT, in arrival order of first sight.
    pub(crate) rows: Vec<(Table, Key, bool)>,
    seen: HashMap<(Table, Key), usize>,
    /// How many trigger notifications came in, and the lag in seconds of those that tell
    /// when their trigger ran: the capture metrics, recorded when the batch is published.
    pub(crate) notices: u64,
    pub(crate) lags: Vec<f64>,
}

/// A table as `(schema, name)`.
type Table = (String, String);

impl Batch {
    /// An empty batch for a listener whose connections' first schema is `schema` (where the
    /// bindings that name no schema live), on the node whose writes carry `origin`.
    pub fn new(schema: impl Into<String>, origin: impl Into<String>) -> Batch {
        Batch {
            schema: schema.into(),
            origin: origin.into(),
            rows: Vec::new(),
            seen: HashMap::new(),
            notices: 0,
            lags: Vec::new(),
        }
    }

    /// Adds a notification's payload. Malformed payloads and this node's own writes (already
    /// published in-process) are dropped; malformed ones are logged.
    pub fn push_payload(&mut self, payload: &str) {
        self.notices += 1;
        match Notice::parse_timed(payload) {
            Ok((notice, at)) => {
                if let Some(at) = at {
                    let now = std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0.0, |d| d.as_secs_f64());
                    self.lags.push((now - at).max(0.0));
                }
                self.push(notice)
            }
            Err(e) => tracing::warn!(error = %e, payload, "dropping a capture notification"),
        }
    }

    /// Adds a notice, unless it is this node's own. Notices of tables no binding serves (other
    /// schemas sharing the database, say) are dropped when the batch is published.
    pub fn push(&mut self, notice: Notice) {
        if notice.origin.as_deref() == Some(self.origin.as_str()) {
            return;
        }
        let table = (notice.schema, notice.table);
        self.push_in(table, notice.pk, notice.kind == ChangeKind::Created);
    }

    /// Adds a row of a table of the batch's own schema to read, already known to be this
    /// cluster's and another node's (a
    /// [`LayerMessage::Changes`](crate::layer::LayerMessage::Changes) row).
    pub fn push_row(&mut self, table: String, pk: Key, created: bool) {
        self.push_in((self.schema.clone(), table), pk, created);
    }

    /// Adds a row another node changed through its API (a
    /// [`LayerMessage::Changes`](crate::layer::LayerMessage::Changes) row).
    pub fn push_changed(&mut self, row: crate::layer::ChangedRow) {
        let schema = row.schema.unwrap_or_else(|| self.schema.clone());
        self.push_in((schema, row.table), row.pk, row.created);
    }

    fn push_in(&mut self, table: Table, pk: Key, created: bool) {
        let entry = (table, pk);
        match self.seen.get(&entry) {
            Some(&i) => self.rows[i].2 |= created,
            None => {
                self.seen.insert(entry.clone(), self.rows.len());
                let (table, pk) = entry;
                self.rows.push((table, pk, created));
            }
        }
    }

    /// Whether nothing is left to publish.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows to read, in first-seen order.
    pub fn len(&self) -> usize {
        self.rows.len()
    }
}

/// The change a row read after a notification means: a delete when it is gone, a create when
/// a notice said INSERT, an update otherwise, always without the old row.
pub fn change_for(binding: &ModelBinding, pk: Key, inserted: bool, row: Option<Row>) -> Change {
    let kind = match (&row, inserted) {
        (None, _) => ChangeKind::Deleted,
        (Some(_), true) => ChangeKind::Created,
        (Some(_), false) => ChangeKind::Updated,
    };
    Change {
        stream: binding.stream().to_owned(),
        pk,
        kind,
        old: None,
        new: row,
        cascaded: Vec::new(),
    }
}

/// The most rows [`Engine::publish_captured`](crate::Engine::publish_captured) reads in one
/// query.
pub const READ_CHUNK: usize = 500;

#[cfg(test)]
mod tests {
    use super::*;

    fn payload(op: &str, pk: i64, origin: Option<&str>) -> String {
        serde_json::json!({"table": "t", "schema": "s", "pk": pk, "op": op, "tx": 9, "origin": origin}).to_string()
    }

    #[test]
    fn payloads_parse_and_bad_ones_are_refused() {
        let n = Notice::parse(&payload("UPDATE", 3, None)).unwrap();
        assert_eq!(
            (n.pk, n.kind, n.origin),
            (Key::int(3), ChangeKind::Updated, None)
        );
        assert_eq!(
            Notice::parse(&payload("DELETE", 3, Some("")))
                .unwrap()
                .origin,
            None
        );
        assert!(Notice::parse("not json").is_err());
        assert!(Notice::parse(&payload("TRUNCATE", 1, None)).is_err());
    }

    #[test]
    fn batches_coalesce_and_skip_own_and_foreign_schema() {
        let mut b = Batch::new("s", "me");
        b.push_payload(&payload("INSERT", 1, None));
        b.push_payload(&payload("UPDATE", 1, None));
        b.push_payload(&payload("UPDATE", 2, Some("other")));
        b.push_payload(&payload("UPDATE", 3, Some("me")));
        b.push_payload("{}");
        let mut foreign: Notice = Notice::parse(&payload("UPDATE", 4, None)).unwrap();
        foreign.schema = "elsewhere".into();
        b.push(foreign);
        let t = || ("s".to_owned(), "t".to_owned());
        let elsewhere = ("elsewhere".to_owned(), "t".to_owned());
        assert_eq!(
            b.rows,
            vec![
                (t(), Key::int(1), true),
                (t(), Key::int(2), false),
                (elsewhere, Key::int(4), false)
            ]
        );
    }

    #[test]
    fn a_missing_row_is_a_delete() {
        let binding = ModelBinding::new("t");
        assert_eq!(
            change_for(&binding, Key::int(1), true, None).kind,
            ChangeKind::Deleted
        );
        let row = crate::value::Row::new();
        assert_eq!(
            change_for(&binding, Key::int(1), true, Some(row.clone())).kind,
            ChangeKind::Created
        );
        assert_eq!(
            change_for(&binding, Key::int(1), false, Some(row)).kind,
            ChangeKind::Updated
        );
    }
}
