//! `StoreOp::Upsert` answered alike by both stores: a create when no row holds the value, an
//! update of the held row (with its old image), nothing when the row holding the value is not
//! the one held, lies outside the scope, or may not be updated; keys as targets; and a
//! foreign key that names no row.

use crate::keys::library;
use crate::support::*;
use chanbind_engine::change::ChangeKind;
use chanbind_engine::store::{Upsert, Upserted};

fn upsert(p: &Pair, stream: &str, target: &str, data: Value, holding: Option<Key>) -> Upsert {
    let binding = p.binding(stream);
    let insert = validate_write(&binding, object(&data), WriteMode::Create).expect("valid");
    let update = validate_write(&binding, object(&data), WriteMode::Replace).expect("valid");
    Upsert {
        value: insert[target].clone(),
        binding,
        target: target.to_owned(),
        insert: Some(insert),
        update: Some(update),
        scope: Filter::everything(),
        holding,
    }
}

async fn run(p: &Pair, what: &str, op: Upsert) -> Upserted {
    match p.both(what, StoreOp::Upsert(op)).await {
        Ok(StoreOutput::Upserted(upserted)) => upserted,
        other => panic!("{what}: {other:?}"),
    }
}

#[tokio::test]
async fn upserts_on_a_unique_field_agree() {
    with_pair(registry(), |p| async move {
        let ann = json!({"username": "ann", "email": "ann@example.com"});
        let made = run(
            &p,
            "create",
            upsert(&p, USERS, "username", ann.clone(), None),
        )
        .await;
        let change = made.change.expect("created");
        assert_eq!((made.existing, change.kind), (None, ChangeKind::Created));
        let id = change.pk.clone();

        // Held by no one: the row is there, nothing is written.
        let lost = run(
            &p,
            "unheld",
            upsert(&p, USERS, "username", ann.clone(), None),
        )
        .await;
        assert_eq!((lost.existing.as_ref(), lost.change), (Some(&id), None));
        let other = Some(Key::int(999));
        let lost = run(
            &p,
            "other held",
            upsert(&p, USERS, "username", ann.clone(), other),
        )
        .await;
        assert_eq!(lost.change, None);

        let edit = json!({"username": "ann", "email": "new@example.com"});
        let op = upsert(&p, USERS, "username", edit.clone(), Some(id.clone()));
        let done = run(&p, "update", op).await;
        let change = done.change.expect("updated");
        assert_eq!(change.kind, ChangeKind::Updated);
        assert_eq!(change.old.expect("old image")["email"], "ann@example.com");
        assert_eq!(change.new.expect("new image")["email"], "new@example.com");

        // Outside the scope, or not to be updated: nothing.
        let mut op = upsert(&p, USERS, "username", edit.clone(), Some(id.clone()));
        op.scope = Filter::pk(&p.binding(USERS), &Key::int(999));
        assert_eq!(run(&p, "out of scope", op).await.change, None);
        let mut op = upsert(&p, USERS, "username", edit.clone(), Some(id.clone()));
        op.update = None;
        assert_eq!(run(&p, "no update", op).await.change, None);
        // Update only: the held row, or nothing when none holds the value.
        let mut op = upsert(&p, USERS, "username", edit.clone(), Some(id.clone()));
        op.insert = None;
        let done = run(&p, "update only", op).await;
        assert_eq!(done.change.map(|c| c.kind), Some(ChangeKind::Updated));
        let mut op = upsert(&p, USERS, "username", json!({"username": "zed"}), None);
        op.insert = None;
        let none = run(&p, "update only, no row", op).await;
        assert_eq!((none.existing, none.change), (None, None));
    })
    .await;
}

#[tokio::test]
async fn upserts_on_a_text_key_agree() {
    with_pair(library(), |p| async move {
        let books = "library.Book";
        let dune = json!({"isbn": "978-0441172719", "title": "Dune"});
        let key = Some(Key::text("978-0441172719"));
        let made = run(&p, "create", upsert(&p, books, "id", dune, key.clone())).await;
        assert_eq!(made.change.map(|c| c.kind), Some(ChangeKind::Created));
        let again = json!({"isbn": "978-0441172719", "title": "Dune!"});
        let done = run(&p, "update", upsert(&p, books, "id", again, key.clone())).await;
        assert_eq!(done.existing, key);
        assert_eq!(
            done.change.expect("updated").new.expect("row")["title"],
            "Dune!"
        );
        // A scope through a relation is judged on the row held, in the upsert's own statement.
        let ann = "0b6e4a4e-95d6-4c3e-9a2b-1f0c2d3e4f50";
        p.insert_key("library.Author", json!({"id": ann, "name": "Ann"}))
            .await;
        let scope = |name: &str| {
            let filters = json!({"author__name": name});
            chanbind_engine::filter::parse_scope(&p.registry, &p.binding(books), object(&filters))
                .expect("a scope")
        };
        let by_ann = json!({"isbn": "978-0441172719", "title": "Dune", "author_id": ann});
        // The scope holds of the row as it is before the write: the book has no author yet.
        let mut op = upsert(&p, books, "id", by_ann.clone(), key.clone());
        op.scope = scope("Ann");
        assert_eq!(run(&p, "no author yet", op).await.change, None);
        run(
            &p,
            "give it its author",
            upsert(&p, books, "id", by_ann.clone(), key.clone()),
        )
        .await;
        let mut op = upsert(&p, books, "id", by_ann.clone(), key.clone());
        op.scope = scope("Ann");
        let done = run(&p, "inside a relation scope", op).await;
        assert_eq!(done.change.map(|c| c.kind), Some(ChangeKind::Updated));
        let mut op = upsert(&p, books, "id", by_ann, key.clone());
        op.scope = scope("Ben");
        assert_eq!(run(&p, "outside a relation scope", op).await.change, None);
        let orphan =
            json!({"isbn": "1", "title": "X", "author_id": "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b"});
        let op = upsert(&p, books, "id", orphan, Some(Key::text("1")));
        let refused = p.both("a missing author", StoreOp::Upsert(op)).await;
        assert!(
            matches!(&refused, Err(e) if conflict_on(e, "author_id")),
            "{refused:?}"
        );
    })
    .await;
}
