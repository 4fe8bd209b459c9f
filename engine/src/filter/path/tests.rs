//! Parsing and evaluating relation paths.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{json, Map, Value};

use super::super::{parse_filter_related, Filter, Ordering, Resolve};
use super::*;
use crate::binding::{Field, ModelBinding, Registry};
use crate::key::Key;
use crate::protocol::ErrorCode;
use crate::value::Row;

fn registry() -> Registry {
    Registry::new()
        .model(
            ModelBinding::new("auth_user")
                .field(Field::string("username"))
                .field(Field::string("password")),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_task")
                .field(Field::string("title"))
                .field(Field::integer("priority"))
                .field(Field::foreign_key("owner_id", "auth.User")),
        )
        .unwrap()
        .model(
            ModelBinding::new("todo_comment")
                .key(Field::uuid("id"))
                .field(Field::text("body"))
                .field(Field::foreign_key("task_id", "todo.Task"))
                .field(Field::foreign_key("author_id", "auth.User")),
        )
        .unwrap()
}

/// What a client sees: `password` hidden on users, users scoped to `users` when given.
struct Client {
    users: Option<Filter>,
    readable: bool,
}

fn parse_as(
    client: &Client,
    stream: &str,
    filters: Value,
    max_depth: usize,
) -> Result<Filter, ApiError> {
    let reg = registry();
    let view_of = |target: &ModelBinding| -> Result<Option<Arc<View>>, ApiError> {
        if target.stream() != "auth.User" {
            return Ok(Some(View::everything()));
        }
        if !client.readable {
            return Ok(None);
        }
        Ok(Some(View::for_tests(
            ["password"],
            client.users.clone().unwrap_or_else(Filter::everything),
        )))
    };
    let relations = Relations {
        registry: &reg,
        max_depth,
        reader: Reader::Client(&view_of),
        user: None,
    };
    let binding = Arc::clone(reg.get(stream).unwrap());
    parse_filter_related(
        &binding,
        filters.as_object().unwrap(),
        None,
        10,
        4,
        &|_| true,
        &relations,
    )
}

fn client() -> Client {
    Client {
        users: None,
        readable: true,
    }
}

fn refused(stream: &str, filters: Value, max_depth: usize) -> String {
    let e = parse_as(&client(), stream, filters, max_depth).unwrap_err();
    assert_eq!(e.code, ErrorCode::InvalidFilter, "{e:?}");
    e.message
}

/// Rows by binding table and key.
#[derive(Default)]
struct Rows(HashMap<(String, Key), Row>);

impl Rows {
    fn add(mut self, table: &str, row: Value) -> Self {
        let row = row.as_object().unwrap().clone();
        let key = Key::from_json(&row["id"]).unwrap();
        self.0.insert((table.to_owned(), key), row);
        self
    }
}

impl Resolve for Rows {
    fn row(&self, binding: &ModelBinding, key: &Key) -> Option<&Row> {
        self.0.get(&(binding.table().to_owned(), key.clone()))
    }
}

fn rows() -> Rows {
    Rows::default()
        .add("auth_user", json!({"id": 1, "username": "Alice"}))
        .add("auth_user", json!({"id": 2, "username": "bob"}))
        .add("todo_task", json!({"id": 10, "title": "a", "owner_id": 1}))
        .add(
            "todo_task",
            json!({"id": 11, "title": "b", "owner_id": null}),
        )
}

fn row(v: Value) -> Row {
    v.as_object().unwrap().clone()
}

#[test]
fn a_path_reads_the_field_of_the_related_row() {
    let f = parse_as(
        &client(),
        "todo.Task",
        json!({"owner__username__icontains": "ali"}),
        2,
    )
    .unwrap();
    let Filter::Cond(c) = &f else {
        panic!("one condition: {f:?}")
    };
    assert_eq!(c.field, "username");
    assert_eq!(c.path.len(), 1);
    assert_eq!(
        (c.path[0].relation.as_str(), c.path[0].field.as_str()),
        ("owner", "owner_id")
    );
    assert_eq!(c.path[0].target.stream(), "auth.User");
    let rows = rows();
    assert!(f.matches_with(&row(json!({"owner_id": 1})), &rows));
    assert!(!f.matches_with(&row(json!({"owner_id": 2})), &rows));
    assert!(!f.matches_with(&row(json!({"owner_id": null})), &rows));
    assert!(
        !f.matches_with(&row(json!({"owner_id": 9})), &rows),
        "a dangling key names no row"
    );
    assert!(
        !f.matches(&row(json!({"owner_id": 1}))),
        "without the related rows a path reads null"
    );
    assert_eq!(
        f.related_streams().into_iter().collect::<Vec<_>>(),
        ["auth.User"]
    );
    assert!(f.has_paths());
}

#[test]
fn a_missing_related_row_reads_as_null_under_every_lookup() {
    let rows = rows();
    let check = |filters: Value, owner: Value| {
        parse_as(&client(), "todo.Task", filters, 2)
            .unwrap()
            .matches_with(&row(json!({ "owner_id": owner })), &rows)
    };
    assert!(check(json!({"owner__username": null}), json!(null)));
    assert!(!check(json!({"owner__username": null}), json!(1)));
    assert!(check(json!({"owner__username__ne": "bob"}), json!(null)));
    assert!(check(
        json!({"not": {"owner__username__startswith": "A"}}),
        json!(null)
    ));
    assert!(!check(
        json!({"not": {"owner__username__startswith": "A"}}),
        json!(1)
    ));
    assert!(check(
        json!({"or": [{"owner__username": "bob"}, {"owner_id": null}]}),
        json!(null)
    ));
    assert!(check(json!({"owner__id__in": [1, 3]}), json!(1)));
}

#[test]
fn two_relations_reach_through_a_uuid_keyed_binding() {
    let f = parse_as(
        &client(),
        "todo.Comment",
        json!({"task__owner__username": "Alice"}),
        2,
    )
    .unwrap();
    let rows = rows();
    assert!(f.matches_with(&row(json!({"task_id": 10})), &rows));
    assert!(!f.matches_with(&row(json!({"task_id": 11})), &rows));
    assert_eq!(
        f.related_streams().into_iter().collect::<Vec<_>>(),
        ["auth.User", "todo.Task"]
    );
}

#[test]
fn the_related_bindings_scope_applies() {
    let only_bob = parse_as(&client(), "auth.User", json!({"username": "bob"}), 2).unwrap();
    let scoped = Client {
        users: Some(only_bob),
        readable: true,
    };
    let f = parse_as(&scoped, "todo.Task", json!({"owner__username": "Alice"}), 2).unwrap();
    assert!(
        !f.matches_with(&row(json!({"owner_id": 1})), &rows()),
        "Alice lies outside the reader's scope of users, so the task's owner reads as none"
    );
    let f = parse_as(&scoped, "todo.Task", json!({"owner__username": null}), 2).unwrap();
    assert!(f.matches_with(&row(json!({"owner_id": 1})), &rows()));
}

#[test]
fn bad_paths_name_what_is_wrong() {
    assert_eq!(
        refused("todo.Task", json!({"title__username__iexact": "x"}), 2),
        "title__username__iexact: title is not a foreign key, so there is no relation to follow"
    );
    assert_eq!(
        refused("todo.Task", json!({"title__username": "x"}), 2),
        "title__username: username is not a lookup, and title is not a relation",
        "a name that is no lookup after a plain field may be either mistake"
    );
    assert_eq!(
        refused("todo.Task", json!({"nobody__username__icontains": "x"}), 2),
        "nobody__username__icontains: unknown relation nobody"
    );
    assert_eq!(
        refused("todo.Task", json!({"owner__password": "x"}), 2),
        "owner__password: unknown or unfilterable field password of auth.User",
        "a field hidden on the related binding is unknown"
    );
    assert_eq!(
        refused("todo.Task", json!({"owner__nope__gt": 1}), 2),
        "owner__nope__gt: unknown or unfilterable field nope of auth.User"
    );
    assert_eq!(
        refused("todo.Comment", json!({"task__owner__username": "x"}), 1),
        "task__owner__username: a path follows at most 1 relations (max_relation_depth)"
    );
    assert_eq!(
        refused("todo.Comment", json!({"task__owner__x__y__z": 1}), 2),
        "task__owner__x__y__z: a path follows at most 2 relations (max_relation_depth)"
    );
    assert_eq!(
        refused(
            "todo.Task",
            json!({"not": {"owner__username__regex": "x"}}),
            2
        ),
        "not.owner__username__regex: regex is not a lookup, and username is not a relation"
    );
    assert_eq!(
        refused("todo.Task", json!({"title__regex": "x"}), 2),
        "title__regex: regex is not a lookup, and title is not a relation"
    );
    assert_eq!(
        refused("todo.Task", json!({"title__owner__username": "x"}), 2),
        "title__owner__username: title is not a foreign key, so there is no relation to follow"
    );
    assert_eq!(
        refused("todo.Task", json!({"owner__username": 5}), 2)
            .split(':')
            .next(),
        Some("owner__username"),
        "the operand is checked against the related field's type"
    );
    let e = parse_as(
        &Client {
            users: None,
            readable: false,
        },
        "todo.Task",
        json!({"owner__username": "x"}),
        2,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "owner__username: owner leads to auth.User, which you may not read"
    );
}

#[test]
fn without_relations_a_path_is_unknown() {
    let reg = registry();
    let tasks = reg.get("todo.Task").unwrap();
    let filters = json!({"owner__username__icontains": "a"});
    let e = super::super::parse_filter(tasks, filters.as_object().unwrap(), None, 10).unwrap_err();
    assert_eq!(
        e.message,
        "owner__username__icontains: unknown relation owner"
    );
    let e = super::super::parse_filter(
        tasks,
        json!({"owner__username": "a"}).as_object().unwrap(),
        None,
        10,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "owner__username: username is not a lookup, and owner is not a relation"
    );
}

#[test]
fn order_follows_paths_with_nulls_where_sql_puts_them() {
    let reg = registry();
    let tasks = reg.get("todo.Task").unwrap();
    let relations = Relations::server(&reg);
    let order = Ordering::parse_related(
        tasks,
        Some(&json!(["-owner__username"])),
        &|_| true,
        &relations,
    )
    .unwrap();
    assert_eq!(order.to_json(), json!(["-owner__username", "id"]));
    assert!(order.has_paths());
    let rows = rows();
    let (alice, none, bob) = (
        row(json!({"id": 1, "owner_id": 1})),
        row(json!({"id": 2, "owner_id": null})),
        row(json!({"id": 3, "owner_id": 2})),
    );
    let mut list = vec![&alice, &bob, &none];
    list.sort_by(|a, b| order.compare_with(a, b, &rows));
    // Descending: null first, then bytes descending ("bob" > "Alice").
    assert_eq!(list, [&none, &bob, &alice]);
    let e = Ordering::parse_related(
        tasks,
        Some(&json!("owner__password__x")),
        &|_| true,
        &relations,
    )
    .unwrap_err();
    assert_eq!(
        e.message,
        "order: owner__password__x: password is not a foreign key, so there is no relation to follow"
    );
    let e = Ordering::parse_related(tasks, Some(&json!("title__x")), &|_| true, &relations)
        .unwrap_err();
    assert_eq!(
        e.message,
        "order: title__x: title is not a foreign key, so there is no relation to follow"
    );
    let _ = Map::<String, Value>::new();
}

proptest::proptest! {
    /// Any filters object and order through any relations, as the server or a client with a
    /// scope on users follows them, is a filter or `invalid_filter`, never a panic; a filter
    /// that parses evaluates against rows with their related rows, and compiles to SQL.
    #[test]
    fn any_paths_parse_or_are_invalid(
        filters in crate::arbitrary::json_object(),
        order in crate::arbitrary::json(),
        row in crate::arbitrary::json_object(),
        owner in crate::arbitrary::json_object(),
    ) {
        let reg = crate::arbitrary::related_registry();
        let things = Arc::clone(reg.get("fuzz.Thing").unwrap());
        let scope = super::super::parse_scope(&reg, reg.get("auth.User").unwrap(), json!({"owner__done": true}).as_object().unwrap()).unwrap();
        let view = View::for_tests(["body"], scope);
        let view_of = |_: &ModelBinding| Ok(Some(Arc::clone(&view)));
        let mut owner = owner;
        owner.insert("id".into(), json!(1));
        owner.insert("owner_id".into(), json!(1));
        let rows = Rows::default().add("auth_user", Value::Object(owner));
        let mut row = row;
        row.insert("owner_id".into(), json!(1));
        for reader in [Reader::Server, Reader::Client(&view_of)] {
            let relations = Relations { registry: &reg, max_depth: 2, reader, user: None };
            match parse_filter_related(&things, &filters, None, 10, 4, &|f| f != "body", &relations) {
                Ok(filter) => {
                    let _ = filter.matches_with(&row, &rows);
                    let mut params = crate::sql::expr::Params::default();
                    let renamed = crate::sql::columns::filter(&things, &filter);
                    let _ = crate::sql::expr::where_clause(&renamed, "T", &mut params);
                }
                Err(e) => proptest::prop_assert_eq!(e.code, ErrorCode::InvalidFilter),
            }
            if let Ok(order) = Ordering::parse_related(&things, Some(&order), &|_| true, &relations) {
                let _ = order.compare_with(&row, &filters, &rows);
                let mut params = crate::sql::expr::Params::default();
                let _ = crate::sql::expr::order_by(&order, "T", &mut params);
            }
        }
    }
}
