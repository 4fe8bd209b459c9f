//! `StoreOp::Related`, the read behind `expand` and `include`: rows by key or by foreign key,
//! at most so many per foreign key value, in the op's order, alike on both stores.

use crate::keys::library;
use crate::support::*;
use chanbind_engine::filter::{Condition, Lookup, Operand};
use chanbind_engine::store::PerValue;

impl Pair {
    /// Runs a `Related` op on both stores and returns how many rows it gave.
    async fn related(
        &self,
        stream: &str,
        filter: Filter,
        order: &Value,
        per: Option<(&str, u64)>,
    ) -> usize {
        let binding = self.binding(stream);
        let order_spec = Some(order).filter(|o| !o.is_null());
        let order = Ordering::parse(&binding, order_spec).expect("a valid order");
        let what = format!("related {stream} {filter:?} order={order:?} per={per:?}");
        let op = StoreOp::Related {
            binding,
            filter,
            order,
            per: per.map(|(field, limit)| PerValue {
                field: field.to_owned(),
                limit,
            }),
        };
        match self.both(&what, op).await {
            Ok(StoreOutput::Rows(rows)) => rows.len(),
            other => panic!("{what}: {other:?}"),
        }
    }
}

/// `field IN keys`, as an include builds it (the keys travel as one array parameter).
fn holding(p: &Pair, stream: &str, field: &str, keys: Vec<Value>) -> Filter {
    let binding = p.binding(stream);
    let kind = binding.get(field).expect("a field").kind().clone();
    Filter::Cond(Condition {
        field: field.to_owned(),
        path: Vec::new(),
        kind,
        lookup: Lookup::In,
        operand: Operand::List(keys),
    })
}

#[tokio::test]
async fn related_rows_by_key_and_by_foreign_key_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        // Tasks owned round-robin by users 1 to 4 and some by nobody, titles with ties and
        // case, due dates with nulls; notes on the first tasks.
        for n in 0..30 {
            let owner = if n % 5 == 4 {
                Value::Null
            } else {
                json!(n % 4 + 1)
            };
            let due = if n % 3 == 0 {
                Value::Null
            } else {
                json!(format!("2026-01-{:02}T00:00:00Z", n % 7 + 1))
            };
            let title = ["b", "B", "a", "é", "a"][n % 5];
            p.insert_id(
                TASKS,
                json!({"title": title, "owner_id": owner, "reviewer_id": 2, "due": due}),
            )
            .await;
        }
        for n in 0..40 {
            let body = if n % 6 == 0 {
                Value::Null
            } else {
                json!(format!("note {}", n % 9))
            };
            p.insert_id(NOTES, json!({"task_id": n % 7 + 1, "body": body}))
                .await;
        }

        // Expansions: rows by key, with keys that do not exist, inside a scope.
        let users = p.binding(USERS);
        let keys = [1, 3, 4, 999].map(Key::from);
        let by_key = Filter::pks(&users, &keys);
        assert_eq!(
            p.related(USERS, by_key.clone(), &Value::Null, None).await,
            3
        );
        let scope = p.filter(USERS, &json!({"age__gte": 30}), None);
        p.related(USERS, by_key.and(scope), &Value::Null, None)
            .await;
        p.related(USERS, Filter::pks(&users, &[]), &Value::Null, None)
            .await;

        // Includes: at most `limit` per parent, in every order, nulls and ties included.
        let parents = || (1..=5).map(Value::from).collect::<Vec<_>>();
        for order in [
            json!(null),
            json!("-id"),
            json!("title"),
            json!(["-title", "-id"]),
            json!("due"),
            json!(["-due", "title"]),
        ] {
            for limit in [1, 2, 3, 100] {
                let filter = holding(&p, TASKS, "owner_id", parents());
                let n = p
                    .related(TASKS, filter, &order, Some(("owner_id", limit)))
                    .await;
                assert!(n > 0 && n <= 4 * limit as usize, "{order} {limit}: {n}");
            }
        }
        let filter = holding(&p, NOTES, "task_id", (1..=7).map(Value::from).collect());
        assert_eq!(
            p.related(NOTES, filter.clone(), &json!("body"), Some(("task_id", 2)))
                .await,
            14
        );
        p.related(NOTES, filter, &json!(["-body", "id"]), Some(("task_id", 4)))
            .await;
        // A scope beside the parents, and a field that is not the parents' own.
        let scope = p.filter(TASKS, &json!({"due__isnull": false}), None);
        let filter = holding(&p, TASKS, "owner_id", parents()).and(scope);
        p.related(TASKS, filter, &json!("-due"), Some(("owner_id", 2)))
            .await;
        let filter = holding(&p, TASKS, "reviewer_id", vec![json!(2)]);
        assert_eq!(
            p.related(TASKS, filter, &Value::Null, Some(("reviewer_id", 5)))
                .await,
            5
        );
        // No parent at all.
        let filter = holding(&p, TASKS, "owner_id", Vec::new());
        assert_eq!(
            p.related(TASKS, filter, &Value::Null, Some(("owner_id", 5)))
                .await,
            0
        );
    })
    .await;
}

#[tokio::test]
async fn related_rows_under_uuid_and_text_keys_agree() {
    with_pair(library(), |p| async move {
        let ann = "0b6e4a4e-95d6-4c3e-9a2b-1f0c2d3e4f50";
        let ben = "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b";
        p.insert_key("library.Author", json!({"id": ann, "name": "Ann"}))
            .await;
        p.insert_key("library.Author", json!({"id": ben, "name": "Ben"}))
            .await;
        for (isbn, title, author) in [
            ("1", "Zed", json!(ann)),
            ("2", "alpha", json!(ann)),
            ("3", "Beta", json!(ann)),
            ("4", "gamma", json!(ben)),
            ("5", "x", Value::Null),
        ] {
            p.insert_key(
                "library.Book",
                json!({"isbn": isbn, "title": title, "author_id": author}),
            )
            .await;
        }
        for (book, reader) in [("1", "r1"), ("1", "r2"), ("2", "r3"), ("4", "r4")] {
            p.insert_key("library.Loan", json!({"book_isbn": book, "reader": reader}))
                .await;
        }
        let filter = holding(
            &p,
            "library.Book",
            "author_id",
            vec![json!(ann), json!(ben)],
        );
        assert_eq!(
            p.related(
                "library.Book",
                filter,
                &json!("title"),
                Some(("author_id", 2))
            )
            .await,
            3
        );
        let filter = holding(
            &p,
            "library.Loan",
            "book_isbn",
            vec![json!("1"), json!("2"), json!("9")],
        );
        assert_eq!(
            p.related(
                "library.Loan",
                filter,
                &json!("-reader"),
                Some(("book_isbn", 1))
            )
            .await,
            2
        );
        let authors = p.binding("library.Author");
        let keys = [Key::text(ben), Key::text(ann)];
        assert_eq!(
            p.related(
                "library.Author",
                Filter::pks(&authors, &keys),
                &json!("-name"),
                None
            )
            .await,
            2
        );
    })
    .await;
}

#[tokio::test]
async fn related_rows_under_a_scope_through_relations_agree() {
    with_pair(registry(), |p| async move {
        seed_users(&p).await;
        // Users 1 (alice, 30), 2 (Bob, 30) and 3 (ÉCOLE, 7) own tasks; notes on each.
        for owner in [1, 2, 3, 1] {
            p.insert_id(TASKS, json!({"title": "t", "owner_id": owner}))
                .await;
        }
        for n in 0..12 {
            p.insert_id(
                NOTES,
                json!({"task_id": n % 4 + 1, "body": format!("n{n}")}),
            )
            .await;
        }
        // A related binding whose scope follows relations (notes of tasks whose owner is 30),
        // as a permission's scope may: an include reads through it.
        let scope = p.scope(NOTES, &json!({"task__owner__age": 30}));
        let filter = holding(&p, NOTES, "task_id", (1..=4).map(Value::from).collect()).and(scope);
        assert_eq!(
            p.related(NOTES, filter, &json!("-body"), Some(("task_id", 2)))
                .await,
            6,
            "tasks 1, 2 and 4, two notes each"
        );
        // An expansion by key inside such a scope.
        let tasks = p.binding(TASKS);
        let keys = [1, 2, 3, 4].map(Key::from);
        let scope = p.scope(TASKS, &json!({"not": {"owner__username": "Bob"}}));
        let filter = Filter::pks(&tasks, &keys).and(scope);
        assert_eq!(p.related(TASKS, filter, &Value::Null, None).await, 3);
    })
    .await;
}
