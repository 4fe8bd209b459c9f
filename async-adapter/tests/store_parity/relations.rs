//! Filters and orders through relations (`owner__username`), and scopes that follow them:
//! both stores read the related rows alike, null foreign keys, dangling scopes, `not` and `or`
//! around paths, two hops, and UUID and text keys included.

use crate::keys::library;
use crate::support::*;
use chanbind_engine::auth::User;
use chanbind_engine::filter::{parse_filter_related, Reader, Relations};
use chanbind_engine::permission::{Permission, View};

/// Seeds users, then tasks owned, reviewed and parented in every combination, and notes on
/// them; returns the task keys.
async fn seed(p: &Pair) -> Vec<i64> {
    seed_users(p).await;
    let tasks = json!([
        {"title": "a", "owner_id": 1, "reviewer_id": 2},
        {"title": "b", "owner_id": 2},
        {"title": "c", "owner_id": null, "reviewer_id": 3},
        {"title": "d", "owner_id": 4, "parent_id": 1},
        {"title": "e", "owner_id": 5, "parent_id": 2, "reviewer_id": 5},
        {"title": "f", "owner_id": 6, "parent_id": 3},
        {"title": "g", "owner_id": 7, "parent_id": 4},
        {"title": "h", "owner_id": 8},
        {"title": "i", "owner_id": 3, "parent_id": 3},
    ]);
    let mut keys = Vec::new();
    for task in tasks.as_array().unwrap() {
        keys.push(p.insert_id(TASKS, task.clone()).await);
    }
    for (task, body) in [(1, "x"), (2, "y"), (3, "z"), (4, "w"), (7, "v"), (9, "u")] {
        p.insert_id(NOTES, json!({"task_id": task, "body": body}))
            .await;
    }
    keys
}

#[tokio::test]
async fn path_filters_and_orders_agree() {
    with_pair(registry(), |p| async move {
        seed(&p).await;
        let cases = json!([
            {"owner__username": "alice"}, {"owner__username__icontains": "B"},
            {"owner__username__iexact": "éCOLE"}, {"owner__username": null},
            {"owner__username__ne": "alice"}, {"owner__age__gt": 10}, {"owner__age__isnull": true},
            {"not": {"owner__age__gt": 10}}, {"not": {"owner__username": null}},
            {"or": [{"owner__username": "alice"}, {"reviewer__email__isnull": false}]},
            {"or": [{"not": {"owner__age__lt": 30}}, {"parent__title": "b"}]},
            {"owner__balance__gte": "10"}, {"owner__score__lt": 1}, {"owner__is_active": false},
            {"owner__last_login__lt": "2026-01-02T03:00:00Z"},
            {"owner__birthday__gte": "1990-01-01"}, {"owner__token": "FFFFFFFF-0000-0000-0000-000000000001"},
            {"owner__profile": {"n": 1, "tags": ["a", "b"]}}, {"owner__id__in": [1, 2, 99]},
            {"owner__bio__endswith": "--"}, {"owner__username__in": ["Bob", "zoë"]},
            {"parent__owner__username__startswith": "a"}, {"parent__owner__age": 30},
            {"parent__parent__title": "a"}, {"not": {"parent__owner__username": "Bob"}},
            {"owner__username__icontains": "o", "reviewer__username__isnull": true},
            {"owner__id": 3, "parent__owner__id": 3},
        ]);
        for filters in cases.as_array().unwrap() {
            p.search_parsed(
                TASKS,
                &format!("tasks {filters}"),
                p.scope(TASKS, filters),
                Ordering::by_pk(&p.binding(TASKS)),
                (0, 100),
            )
            .await;
        }
        let tasks = p.binding(TASKS);
        let all = Filter::everything;
        for order in [
            json!("owner__username"),
            json!("-owner__username"),
            json!(["owner__age", "-title"]),
            json!(["-owner__age", "owner__username"]),
            json!(["parent__owner__score", "-id"]),
            json!("-reviewer__last_login"),
            json!(["owner__balance", "parent__title"]),
            json!("owner__token"),
        ] {
            let o = server_order(&p, &tasks, Some(&order));
            for window in [(0, 100), (2, 3)] {
                p.search_parsed(
                    TASKS,
                    &format!("order {order} {window:?}"),
                    all(),
                    o.clone(),
                    window,
                )
                .await;
            }
        }
        let notes = p.binding(NOTES);
        for (filters, order) in [
            (
                json!({"task__owner__username": "Bob"}),
                json!("-task__title"),
            ),
            (
                json!({"not": {"task__owner__age__lt": 30}}),
                json!("task__owner__username"),
            ),
            (
                json!({"task__parent__owner__username__icontains": "a"}),
                json!(["-task__owner__age", "body"]),
            ),
            (
                json!({"or": [{"task__owner_id": null}, {"task__reviewer__age": 30}]}),
                json!(null),
            ),
        ] {
            let o = server_order(&p, &notes, Some(&order));
            p.search_parsed(
                NOTES,
                &format!("notes {filters} {order}"),
                p.scope(NOTES, &filters),
                o,
                (0, 100),
            )
            .await;
        }
        // Not trivially empty or full.
        let count = |f: Value| {
            let p = Arc::clone(&p);
            async move {
                p.search_parsed(
                    TASKS,
                    "count",
                    p.scope(TASKS, &f),
                    Ordering::by_pk(&p.binding(TASKS)),
                    (0, 100),
                )
                .await
            }
        };
        assert_eq!(
            count(json!({"owner__username__icontains": "B"})).await,
            2,
            "Bob and b"
        );
        assert_eq!(count(json!({"owner__username": null})).await, 1);
        assert_eq!(
            count(json!({"not": {"owner__age__gt": 10}})).await,
            5,
            "null owner, null age, 7, -5, 7"
        );
        assert_eq!(count(json!({"parent__owner__age": 30})).await, 2);
    })
    .await;
}

/// An order parsed as the server follows relations.
fn server_order(p: &Pair, binding: &ModelBinding, order: Option<&Value>) -> Ordering {
    let relations = Relations::server(&p.registry);
    Ordering::parse_related(binding, order, &|_| true, &relations).expect("a valid order")
}

/// A filter and order parsed for an anonymous reader whose users are the active ones.
fn as_active_reader(
    p: &Pair,
    binding: &ModelBinding,
    filters: &Value,
    order: &Value,
) -> (Filter, Ordering) {
    let view_of = |b: &ModelBinding| match b.stream() {
        USERS => View::resolve(&p.registry, b, &ActiveUsers, None, "search").map(Some),
        _ => Ok(Some(View::everything())),
    };
    let relations = Relations {
        registry: &p.registry,
        max_depth: 2,
        reader: Reader::Client(&view_of),
        user: None,
    };
    let f = parse_filter_related(binding, object(filters), None, 10, 4, &|_| true, &relations)
        .expect("a valid filter");
    let order = Some(order).filter(|o| !o.is_null());
    let o = Ordering::parse_related(binding, order, &|_| true, &relations).expect("a valid order");
    (f, o)
}

/// Users' rows a reader may see: the active ones.
struct ActiveUsers;

impl Permission for ActiveUsers {
    fn scope(&self, _: Option<&User>, _: &str) -> Option<Map<String, Value>> {
        json!({"is_active": true}).as_object().cloned()
    }
}

#[tokio::test]
async fn a_related_scope_and_a_path_scope_agree() {
    with_pair(registry(), |p| async move {
        let keys = seed(&p).await;
        let tasks = p.binding(TASKS);
        // A client's path reads only users inside its scope of users: Bob is inactive.
        for filters in [
            json!({"owner__username": "Bob"}),
            json!({"owner__username": null}),
            json!({"not": {"owner__username__icontains": "b"}}),
            json!({"parent__owner__username__in": ["Bob", "alice"]}),
        ] {
            let (f, o) = as_active_reader(&p, &tasks, &filters, &json!("-owner__username"));
            p.search_parsed(TASKS, &format!("scoped {filters}"), f, o, (0, 100)).await;
        }
        let (bobs, o) = as_active_reader(&p, &tasks, &json!({"owner__username": "Bob"}), &json!(null));
        assert_eq!(
            p.search_parsed(TASKS, "bob", bobs, o, (0, 10)).await,
            0,
            "Bob is outside the reader's users"
        );

        // A permission's scope through a relation: tasks whose owner is 30.
        let thirty = p.scope(TASKS, &json!({"owner__age": 30}));
        let (alice_task, zoe_task) = (keys[0], keys[4]);
        let Ok(StoreOutput::Row(Some(_))) = p.get(TASKS, alice_task, thirty.clone()).await else {
            panic!("alice is 30")
        };
        let Ok(StoreOutput::Row(None)) = p.get(TASKS, zoe_task, thirty.clone()).await else {
            panic!("zoë is 41")
        };
        p.update(TASKS, zoe_task, json!({"title": "no"}), thirty.clone())
            .await
            .expect("an update outside the scope changes nothing");
        p.update(TASKS, alice_task, json!({"title": "yes"}), thirty.clone())
            .await
            .expect("an update inside");
        p.delete(TASKS, zoe_task, thirty.clone()).await.expect("outside");
        p.delete(TASKS, keys[1], thirty.clone()).await.expect("Bob is 30");

        // Judging rows that are not stored against the current related rows.
        let binding = p.binding(TASKS);
        let row = |owner: Value| {
            object(&json!({"id": 99, "title": "t", "owner_id": owner, "reviewer_id": null, "parent_id": null, "due": null}))
                .clone()
        };
        let op = StoreOp::Matches {
            binding,
            filter: p.scope(TASKS, &json!({"or": [{"owner__age": 30}, {"not": {"owner__username__ne": "zoë"}}]})),
            rows: vec![row(json!(1)), row(json!(5)), row(json!(4)), row(Value::Null), row(json!(999))],
        };
        let Ok(StoreOutput::Matches(answers)) = p.both("matches", op).await else {
            panic!("matches")
        };
        assert_eq!(answers, [true, true, false, false, false]);
    })
    .await;
}

#[tokio::test]
async fn paths_through_uuid_and_text_keys_agree() {
    with_pair(library(), |p| async move {
        const ANN: &str = "0b6e4a4e-95d6-4c3e-9a2b-1f0c2d3e4f50";
        p.insert_key("library.Author", json!({"id": ANN, "name": "Ann"}))
            .await;
        p.insert_key(
            "library.Author",
            json!({"id": "f1e2d3c4-b5a6-4978-8a9b-0c1d2e3f4a5b", "name": "Ben"}),
        )
        .await;
        p.insert_key(
            "library.Book",
            json!({"isbn": "1", "title": "Dune", "author_id": ANN}),
        )
        .await;
        p.insert_key("library.Book", json!({"isbn": "2", "title": "Emma"}))
            .await;
        for (isbn, reader) in [("1", "r1"), ("2", "r2"), ("1", "r3")] {
            p.insert_key("library.Loan", json!({"book_isbn": isbn, "reader": reader}))
                .await;
        }
        p.insert_key("library.Loan", json!({"reader": "r4"})).await;
        for (stream, filters, order) in [
            (
                "library.Book",
                json!({"author__name": "Ann"}),
                json!("-author__name"),
            ),
            (
                "library.Book",
                json!({"author__id": ANN}),
                json!("author__id"),
            ),
            (
                "library.Book",
                json!({"not": {"author__name__icontains": "a"}}),
                json!(null),
            ),
            (
                "library.Loan",
                json!({"book__author__name__icontains": "an"}),
                json!("-book__author__name"),
            ),
            (
                "library.Loan",
                json!({"book__title__isnull": true}),
                json!(["book__isbn", "-id"]),
            ),
            (
                "library.Loan",
                json!({"or": [{"book__author_id": null}, {"book__author__name": "Ben"}]}),
                json!("book__title"),
            ),
            (
                "library.Loan",
                json!({"book__id__in": ["1", "3"]}),
                json!(null),
            ),
        ] {
            let binding = p.binding(stream);
            let order = Some(&order).filter(|o| !o.is_null());
            let o = server_order(&p, &binding, order);
            p.search_parsed(
                stream,
                &format!("{stream} {filters} {order:?}"),
                p.scope(stream, &filters),
                o,
                (0, 10),
            )
            .await;
        }
    })
    .await;
}
