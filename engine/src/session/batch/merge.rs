//! What a committed batch tells subscribers: each row once, in its final state.
//!
//! The steps' changes (their cascades included) are folded per row, in the order the rows
//! were first written: a row created and then updated is one creation of its final row; one
//! created and then deleted is nothing at all; one updated twice is one update from its first
//! old image to its last new one; one deleted and created again (a client key) is an update.
//! An update that ends where it began tells nobody anything.

use crate::change::{Change, ChangeKind};
use crate::key::Key;

/// The changes to publish for `changes`, the steps' in step order.
pub(super) fn final_changes(changes: Vec<Change>) -> Vec<Change> {
    let mut rows: Vec<((String, Key), Option<Change>)> = Vec::new();
    for mut change in changes {
        let cascaded = std::mem::take(&mut change.cascaded);
        for change in std::iter::once(change).chain(cascaded) {
            let key = (change.stream.clone(), change.pk.clone());
            match rows.iter_mut().find(|(k, _)| *k == key) {
                Some((_, slot)) => *slot = fold(slot.take(), change),
                None => rows.push((key, Some(change))),
            }
        }
    }
    rows.into_iter()
        .filter_map(|(_, change)| change)
        .filter(|c| c.kind != ChangeKind::Updated || c.old != c.new)
        .collect()
}

/// One row's change so far (`None`: created and deleted again) followed by `next`.
fn fold(before: Option<Change>, next: Change) -> Option<Change> {
    let Some(before) = before else {
        return Some(next);
    };
    use ChangeKind::{Created, Deleted, Updated};
    let kind = match (before.kind, next.kind) {
        (Created, Deleted) => return None,
        (Created, _) => Created,
        (_, Deleted) => Deleted,
        (Updated, _) | (Deleted, _) => Updated,
    };
    Some(Change {
        kind,
        old: before.old,
        new: next.new,
        ..next
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn change(pk: i64, kind: ChangeKind, old: Option<i64>, new: Option<i64>) -> Change {
        let row = |v: i64| json!({"id": pk, "v": v}).as_object().cloned().unwrap();
        Change {
            stream: "s".into(),
            pk: pk.into(),
            kind,
            old: old.map(row),
            new: new.map(row),
            cascaded: Vec::new(),
        }
    }

    #[test]
    fn each_row_is_told_once_in_its_final_state() {
        use ChangeKind::*;
        let out = final_changes(vec![
            change(1, Created, None, Some(1)),
            change(2, Updated, Some(1), Some(2)),
            change(1, Updated, Some(1), Some(5)),
            change(3, Created, None, Some(1)),
            change(3, Deleted, Some(1), None),
            change(2, Updated, Some(2), Some(3)),
            change(4, Updated, Some(1), Some(2)),
            change(4, Updated, Some(2), Some(1)),
        ]);
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0].kind, Created);
        assert_eq!(out[0].new.as_ref().unwrap()["v"], 5);
        assert_eq!(out[1].kind, Updated);
        assert_eq!(out[1].old.as_ref().unwrap()["v"], 1);
        assert_eq!(out[1].new.as_ref().unwrap()["v"], 3);
    }

    #[test]
    fn cascades_fold_with_the_rows_they_touch() {
        use ChangeKind::*;
        let mut delete = change(9, Deleted, Some(1), None);
        delete.stream = "parent".into();
        delete.cascaded = vec![change(1, Deleted, Some(2), None)];
        let out = final_changes(vec![change(1, Updated, Some(1), Some(2)), delete]);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].kind, Deleted);
        assert_eq!(out[0].old.as_ref().unwrap()["v"], 1);
        assert_eq!(out[1].stream, "parent");
    }
}
