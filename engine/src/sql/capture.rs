//! The SQL of change capture: one trigger function and, per bound table, a row trigger that
//! sends `NOTIFY` on [`CHANNEL`] with the table, schema, primary key, operation, transaction id
//! and the writer's origin, never the row, so payloads stay far below PostgreSQL's 8000-byte
//! limit whatever the row holds.
//!
//! Writes made through chanbind carry their node's id in the `chanbind.origin` setting (see
//! [`origin_option`]) and the trigger sends nothing for them: the node publishes them
//! in-process and tells the other nodes through the channel layer
//! ([`LayerMessage::Changes`](crate::layer::LayerMessage::Changes)) from a connection of its
//! own. A `NOTIFY` inside the write's transaction would take PostgreSQL's notification lock at
//! commit and serialize every write (a quarter of the throughput in `benches/capture.rs`).
//! The payload keeps the `origin` field so listeners can still skip their own node's writes.
//!
//! Installing and removing are idempotent: running either twice changes nothing.
//!
//! ```
//! use chanbind_engine::binding::{Field, ModelBinding, Registry};
//! use chanbind_engine::sql::capture;
//!
//! let registry = Registry::new().model(ModelBinding::new("todo_task").field(Field::string("title"))).unwrap();
//! let install = capture::install_sql(&registry);
//! assert!(install.iter().any(|s| s.starts_with("CREATE OR REPLACE FUNCTION")));
//! assert!(install.iter().any(|s| s.contains("ON \"todo_task\"")));
//! ```

use super::expr::{literal, table};
use crate::binding::Registry;

/// The `NOTIFY` channel the triggers send on and the listeners listen to.
pub const CHANNEL: &str = "chanbind_changes";

/// The setting a store's connections carry to name the node that writes
/// (`current_setting('chanbind.origin', true)` in the trigger).
pub const ORIGIN_SETTING: &str = "chanbind.origin";

/// The trigger function's name, created in the first schema of the `search_path`.
pub const FUNCTION: &str = "chanbind_notify";

/// The name of each table's trigger.
pub const TRIGGER: &str = "chanbind_capture";

/// Silences the notices of the idempotent statements for the rest of the transaction.
const QUIET: &str = "SET LOCAL client_min_messages = warning";

/// The trigger function. `RETURN NULL` because an AFTER trigger's result is ignored; the pk
/// is read from `OLD` only for deletes since `NEW` is null there. The key column is the
/// trigger's argument, and the key travels as JSON in its own type (a number or a string).
fn function_sql() -> String {
    format!(
        "CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $chanbind$
DECLARE
    pk json;
BEGIN
    -- chanbind's own writes carry their node's origin and reach the other nodes through the
    -- channel layer: a NOTIFY here would serialize their commits on the notification lock.
    IF coalesce(current_setting('{ORIGIN_SETTING}', true), '') <> '' THEN
        RETURN NULL;
    END IF;
    IF TG_OP = 'DELETE' THEN
        pk := row_to_json(OLD) -> TG_ARGV[0];
    ELSE
        pk := row_to_json(NEW) -> TG_ARGV[0];
    END IF;
    PERFORM pg_notify('{CHANNEL}', json_build_object(
        'table', TG_TABLE_NAME,
        'schema', TG_TABLE_SCHEMA,
        'pk', pk,
        'op', TG_OP,
        'tx', txid_current(),
        'origin', current_setting('{ORIGIN_SETTING}', true),
        'at', extract(epoch from clock_timestamp())
    )::text);
    RETURN NULL;
END
$chanbind$"
    )
}

/// The statements that install capture on every bound table, to run in one transaction:
/// the function (`CREATE OR REPLACE`), then per table the trigger dropped if present and
/// created again (PostgreSQL before 14 has no `CREATE OR REPLACE TRIGGER`).
pub fn install_sql(registry: &Registry) -> Vec<String> {
    // `DROP ... IF EXISTS` notices would only say the first install is the first.
    let mut statements = vec![QUIET.to_owned(), function_sql()];
    for (table, key) in tables(registry) {
        statements.push(format!("DROP TRIGGER IF EXISTS {TRIGGER} ON {table}"));
        statements.push(format!(
            "CREATE TRIGGER {TRIGGER} AFTER INSERT OR UPDATE OR DELETE ON {table} \
             FOR EACH ROW EXECUTE FUNCTION {FUNCTION}({})",
            literal(&key)
        ));
    }
    statements
}

/// The statements that remove capture: every bound table's trigger, then the function.
pub fn remove_sql(registry: &Registry) -> Vec<String> {
    let mut statements = vec![QUIET.to_owned()];
    statements.extend(
        tables(registry)
            .into_iter()
            .map(|(table, _)| format!("DROP TRIGGER IF EXISTS {TRIGGER} ON {table}")),
    );
    statements.push(format!("DROP FUNCTION IF EXISTS {FUNCTION}()"));
    statements
}

/// Each bound table once (two bindings may share one table), quoted, with its key column.
fn tables(registry: &Registry) -> Vec<(String, String)> {
    let mut tables: Vec<(String, String)> = registry
        .models()
        .map(|b| (table(b), b.key_field().column_name().to_owned()))
        .collect();
    tables.sort();
    tables.dedup();
    tables
}

/// A fresh node id for [`ORIGIN_SETTING`]: 16 hex digits, unique enough to tell the nodes of
/// one database apart. Plain hex so it can travel in connection options unquoted.
pub fn new_origin() -> String {
    use std::collections::hash_map::RandomState;
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicU64, Ordering};
    static SEQ: AtomicU64 = AtomicU64::new(0);
    // RandomState is seeded from the OS once per process; mixing in the time, the process id
    // and a counter keeps ids of one process distinct too.
    let mut hasher = RandomState::new().build_hasher();
    hasher.write_u64(SEQ.fetch_add(1, Ordering::Relaxed));
    hasher.write_u32(std::process::id());
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    hasher.write_u128(nanos);
    format!("{:016x}", hasher.finish())
}

/// `-c chanbind.origin=<origin>`, to append to a store's connection options so every write
/// it makes carries its node id, at no cost per statement.
pub fn origin_option(origin: &str) -> String {
    format!("-c {ORIGIN_SETTING}={origin}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Field, ModelBinding};

    #[test]
    fn install_and_remove_cover_each_table_once() {
        let registry = Registry::new()
            .model(ModelBinding::new("a_b").field(Field::string("x")))
            .unwrap()
            .model(ModelBinding::new("c_d").field(Field::string("y")))
            .unwrap();
        let install = install_sql(&registry);
        assert_eq!(install.len(), 6);
        assert!(install[1].contains("'pk', pk"));
        // Only the key travels, read from the row by the column the trigger is given.
        assert!(install[1].contains("-> TG_ARGV[0]"));
        assert!(install[3].ends_with("EXECUTE FUNCTION chanbind_notify('id')"));
        let remove = remove_sql(&registry);
        assert_eq!(remove.len(), 4);
        assert!(remove[3].starts_with("DROP FUNCTION IF EXISTS"));
    }

    #[test]
    fn origins_are_distinct_hex() {
        let (a, b) = (new_origin(), new_origin());
        assert_ne!(a, b);
        assert_eq!(a.len(), 16);
        assert!(a.bytes().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(origin_option("ab"), "-c chanbind.origin=ab");
    }
}
