//! Strategies the property tests share: arbitrary JSON, and a binding with a field of every
//! kind for filters, orders and query strings to name.

use proptest::prelude::*;
use serde_json::{Map, Value};

/// Any JSON value, nested a few levels, with the keys a filter or frame would use mixed in
/// among random ones so that the interesting paths are reached.
pub(crate) fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        "\\PC{0,12}".prop_map(Value::String),
        "[0-9a-f:T.+-]{0,24}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
        ]
    })
}

/// Any JSON object.
pub(crate) fn json_object() -> impl Strategy<Value = Map<String, Value>> {
    prop::collection::vec((key(), json()), 0..6).prop_map(|pairs| pairs.into_iter().collect())
}

/// A key: mostly a field of [`every_kind`] with a lookup, sometimes one through relations,
/// sometimes a group (`or`, `not`),
/// sometimes anything.
pub(crate) fn key() -> impl Strategy<Value = String> {
    let field = prop::sample::select(FIELDS);
    let lookup = prop::sample::select(LOOKUPS);
    let relations = prop::sample::select(RELATIONS);
    prop_oneof![
        3 => (field.clone(), lookup.clone()).prop_map(|(f, l)| format!("{f}{l}")),
        1 => (relations, field, lookup).prop_map(|(r, f, l)| format!("{r}{f}{l}")),
        1 => prop::sample::select(&["or", "not"][..]).prop_map(str::to_owned),
        1 => "\\PC{0,12}",
    ]
}

/// The fields of [`every_kind`], and `id`.
pub(crate) const FIELDS: &[&str] = &[
    "id", "title", "body", "count", "weight", "done", "day", "at", "uid", "mail", "extra", "price",
    "owner_id", "local", "mood", "tags", "secret",
];

/// Relation prefixes for the fields: real ones of [`related_registry`], too many, and names
/// that are no relation.
pub(crate) const RELATIONS: &[&str] = &[
    "owner__",
    "owner__owner__",
    "owner__owner__owner__",
    "title__",
    "nope__",
    "__",
];

pub(crate) use crate::every_kind::related_registry;

/// Every lookup suffix, none, and a few that do not exist.
pub(crate) const LOOKUPS: &[&str] = &[
    "",
    "__exact",
    "__ne",
    "__lt",
    "__lte",
    "__gt",
    "__gte",
    "__in",
    "__isnull",
    "__contains",
    "__icontains",
    "__startswith",
    "__istartswith",
    "__endswith",
    "__iendswith",
    "__iexact",
    "__regex",
    "__",
    "__in__in",
];

pub(crate) use crate::every_kind::every_kind;
