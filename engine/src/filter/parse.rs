//! Turning a client's `filters` and `query` into a [`Filter`], refusing anything the binding
//! does not allow.

use serde_json::{Map, Value};

use super::group::{self, Rules};
use super::path::{self, Relations};
use super::{Condition, Filter, Lookup, Operand};
use crate::binding::{FieldKind, ModelBinding, Registry};
use crate::protocol::ApiError;
use crate::value::canonical;

/// Parses `filters` (an object of lookups, ANDed, with `or` and `not` groups) and `query`
/// (text matched against the binding's search fields, ORed) into one filter.
///
/// Every field name is checked against the binding, so a key can never reach SQL: a name the
/// binding does not declare filterable, an unknown lookup, an operand of the wrong type or a
/// malformed group is `invalid_filter`. `max_in` bounds `__in` lists. Groups may nest as deep
/// as the JSON does (serde_json stops at 128 levels): this is for filters the server writes,
/// such as permission scopes; a client's go through [`parse_filter_visible`] and its bound.
/// Without the registry there are no relations to follow: a path is `invalid_filter`
/// ([`parse_scope`] follows them).
pub fn parse_filter(
    binding: &ModelBinding,
    filters: &Map<String, Value>,
    query: Option<&str>,
    max_in: usize,
) -> Result<Filter, ApiError> {
    parse_filter_visible(binding, filters, query, max_in, usize::MAX, &|_| true)
}

/// A permission's scope: the server's own filter, which may name any field of the binding and
/// follow any relation to any field (`{"project__owner_id": 7}`).
pub fn parse_scope(
    registry: &Registry,
    binding: &ModelBinding,
    filters: &Map<String, Value>,
) -> Result<Filter, ApiError> {
    let relations = Relations::server(registry);
    parse_filter_related(
        binding,
        filters,
        None,
        usize::MAX,
        usize::MAX,
        &|_| true,
        &relations,
    )
}

/// [`parse_filter`] for a caller who sees only the fields `visible` accepts: a filter on any
/// other field is `invalid_filter` (as if it did not exist, so values cannot be probed), and
/// `query` searches only the visible search fields. At most `max_depth` `or`/`not` groups
/// may enclose a lookup (`max_filter_depth`).
pub fn parse_filter_visible(
    binding: &ModelBinding,
    filters: &Map<String, Value>,
    query: Option<&str>,
    max_in: usize,
    max_depth: usize,
    visible: &dyn Fn(&str) -> bool,
) -> Result<Filter, ApiError> {
    let rules = Rules {
        binding,
        max_in,
        max_depth,
        visible,
        relations: None,
        computed: true,
    };
    parse_with(&rules, filters, query)
}

/// [`parse_filter_visible`] that also follows relation paths (`owner__username__icontains`)
/// as `relations` allows ([`path`](super::path) says how a path reads and who may follow it).
pub fn parse_filter_related(
    binding: &ModelBinding,
    filters: &Map<String, Value>,
    query: Option<&str>,
    max_in: usize,
    max_depth: usize,
    visible: &dyn Fn(&str) -> bool,
    relations: &Relations<'_>,
) -> Result<Filter, ApiError> {
    let rules = Rules {
        binding,
        max_in,
        max_depth,
        visible,
        relations: Some(relations),
        computed: true,
    };
    parse_with(&rules, filters, query)
}

fn parse_with(
    rules: &Rules<'_>,
    filters: &Map<String, Value>,
    query: Option<&str>,
) -> Result<Filter, ApiError> {
    let (binding, visible) = (rules.binding, rules.visible);
    let mut all = group::object(rules, filters, "", 0)?;
    if let Some(text) = query.filter(|q| !q.is_empty()) {
        // PostgreSQL text cannot hold NUL; refused here, both stores answer alike.
        if text.contains('\0') {
            return Err(ApiError::invalid_filter(
                "query: must not contain NUL characters",
            ));
        }
        let any: Vec<Filter> = binding
            .search_fields()
            .filter(|f| visible(f.name()))
            .map(|f| {
                Filter::Cond(Condition {
                    path: Vec::new(),
                    field: f.name().to_owned(),
                    kind: f.kind().clone(),
                    lookup: Lookup::IContains,
                    operand: Operand::Value(Value::String(text.to_owned())),
                })
            })
            .collect();
        if any.is_empty() {
            return Err(ApiError::invalid_filter(format!(
                "{} has no search fields; query is not supported",
                binding.stream()
            )));
        }
        all.push(Filter::Any(any));
    }
    Ok(group::all(all))
}

/// Splits a key into its names and its lookup: `owner__username__icontains` is
/// `[owner, username]` and `icontains`. A last part that is no lookup is a name (`exact`),
/// returned as the third value too, for the messages of [`path::follow`].
pub(super) fn split_key(key: &str) -> (Vec<&str>, Lookup, Option<&str>) {
    let mut names: Vec<&str> = key.split("__").collect();
    if names.len() == 1 {
        return (names, Lookup::Exact, None);
    }
    let last = names[names.len() - 1];
    match Lookup::parse(last) {
        Some(lookup) => {
            names.pop();
            (names, lookup, None)
        }
        None => (names, Lookup::Exact, Some(last)),
    }
}

/// One lookup, `key: value`; `label` is the key with the path of the groups around it, for
/// messages.
pub(super) fn condition(
    rules: &Rules<'_>,
    key: &str,
    label: &str,
    value: &Value,
) -> Result<Condition, ApiError> {
    let (binding, max_in, visible) = (rules.binding, rules.max_in, rules.visible);
    let (names, lookup, unlooked) = split_key(key);
    let (path, field) = match names.as_slice() {
        [name] => {
            let field = binding
                .get(name)
                .filter(|f| f.is_filterable() && visible(f.name()))
                .ok_or_else(|| {
                    ApiError::invalid_filter(format!("{label}: unknown or unfilterable field"))
                })?;
            (Vec::new(), field.clone())
        }
        [relations @ .., name] => {
            let end = path::follow(
                rules.relations,
                binding,
                visible,
                relations,
                label,
                unlooked,
            )?;
            let field = end
                .binding
                .get(name)
                .filter(|f| f.is_filterable() && end.can_see(f.name()))
                .ok_or_else(|| {
                    end.can_see(name)
                        .then(|| super::computed::through_relation(&end.binding, name, label))
                        .flatten()
                        .unwrap_or_else(|| {
                            ApiError::invalid_filter(format!(
                                "{label}: unknown or unfilterable field {name} of {}",
                                end.binding.stream()
                            ))
                        })
                })?
                .clone();
            (end.path, field)
        }
        [] => return Err(ApiError::invalid_filter(format!("{label}: empty key"))),
    };
    let kind = field.kind();
    let bad = |why: &str| ApiError::invalid_filter(format!("{label}: {why}"));

    if lookup.is_textual() && !kind.is_textual() {
        return Err(bad("this lookup needs a text field"));
    }
    if lookup.is_range() && !kind.is_ordered() {
        return Err(bad("this field has no order"));
    }
    if kind.is_document() && !matches!(lookup, Lookup::IsNull | Lookup::Exact | Lookup::Ne) {
        return Err(bad(if matches!(kind, FieldKind::Json) {
            "JSON fields only support exact, ne and isnull"
        } else {
            "array fields only support exact, ne and isnull"
        }));
    }

    let (lookup, operand) = match (lookup, value) {
        (Lookup::IsNull, Value::Bool(flag)) => (Lookup::IsNull, Operand::Flag(*flag)),
        (Lookup::IsNull, _) => return Err(bad("must be true or false")),
        // `field: null` means "is null", as in Django; `field__ne: null` means "is not null".
        (Lookup::Exact, Value::Null) => (Lookup::IsNull, Operand::Flag(true)),
        (Lookup::Ne, Value::Null) => (Lookup::IsNull, Operand::Flag(false)),
        (_, Value::Null) => return Err(bad("null is only allowed with exact, ne and isnull")),
        (Lookup::In, Value::Array(items)) => {
            if items.len() > max_in {
                return Err(bad(&format!("at most {max_in} values")));
            }
            let list = items
                .iter()
                .map(|item| match item {
                    Value::Null => Err("null is not allowed in a list".to_owned()),
                    item => canonical(kind, item),
                })
                .collect::<Result<Vec<_>, _>>()
                .map_err(|why| bad(&why))?;
            (Lookup::In, Operand::List(list))
        }
        (Lookup::In, _) => return Err(bad("must be a list")),
        (lookup, value) if lookup.is_textual() => match value {
            Value::String(s) if s.contains('\0') => {
                return Err(bad("must not contain NUL characters"))
            }
            Value::String(_) => (lookup, Operand::Value(value.clone())),
            _ => return Err(bad("must be a string")),
        },
        (lookup, value) => (
            lookup,
            Operand::Value(canonical(kind, value).map_err(|why| bad(&why))?),
        ),
    };
    Ok(Condition {
        path,
        field: field.name().to_owned(),
        kind: kind.clone(),
        lookup,
        operand,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn binding() -> ModelBinding {
        ModelBinding::new("auth_user")
            .field(Field::string("username").required())
            .field(Field::email("email"))
            .field(Field::integer("age"))
            .field(Field::json("extra"))
            .search(["username", "email"])
    }

    fn parse(filters: Value) -> Result<Filter, ApiError> {
        parse_filter(&binding(), filters.as_object().unwrap(), None, 10)
    }

    fn code(filters: Value) -> ErrorCode {
        parse(filters).unwrap_err().code
    }

    #[test]
    fn plain_keys_are_exact_and_null_means_isnull() {
        let f = parse(json!({"age": 3})).unwrap();
        let Filter::Cond(c) = f else {
            panic!("one condition")
        };
        assert_eq!(
            (c.lookup, c.operand),
            (Lookup::Exact, Operand::Value(json!(3)))
        );
        let Filter::Cond(c) = parse(json!({"email": null})).unwrap() else {
            panic!()
        };
        assert_eq!((c.lookup, c.operand), (Lookup::IsNull, Operand::Flag(true)));
    }

    #[test]
    fn hostile_keys_and_values_are_invalid_filters() {
        assert_eq!(
            code(json!({"name; DROP TABLE auth_user": 1})),
            ErrorCode::InvalidFilter
        );
        assert_eq!(
            code(json!({"id__in": "1) OR (1=1"})),
            ErrorCode::InvalidFilter
        );
        assert_eq!(
            code(json!({"id__in": ["1) OR (1=1"]})),
            ErrorCode::InvalidFilter
        );
        assert_eq!(code(json!({"age__regex": ".*"})), ErrorCode::InvalidFilter);
        assert_eq!(
            code(json!({"age__icontains": "1"})),
            ErrorCode::InvalidFilter
        );
        assert_eq!(code(json!({"age": "3"})), ErrorCode::InvalidFilter);
        assert_eq!(
            code(json!({"age__isnull": "yes"})),
            ErrorCode::InvalidFilter
        );
        assert_eq!(code(json!({"age__gt": null})), ErrorCode::InvalidFilter);
        assert_eq!(code(json!({"extra__gt": 1})), ErrorCode::InvalidFilter);
        assert_eq!(
            code(json!({"id__in": (0..11).collect::<Vec<_>>()})),
            ErrorCode::InvalidFilter
        );
    }

    #[test]
    fn query_ors_the_search_fields() {
        let f = parse_filter(&binding(), &Map::new(), Some("ad"), 10).unwrap();
        let Filter::Any(parts) = f else {
            panic!("an OR")
        };
        assert_eq!(parts.len(), 2);
        assert!(parse_filter(&binding(), &Map::new(), Some(""), 10)
            .unwrap()
            .is_everything());
    }

    proptest::proptest! {
        /// Any filter object a client can send is a filter or `invalid_filter`, never a panic;
        /// a filter that parses evaluates against any row and compiles to SQL.
        #[test]
        fn any_filters_parse_or_are_invalid(
            filters in crate::arbitrary::json_object(),
            query in proptest::option::of("\\PC{0,8}"),
            row in crate::arbitrary::json_object(),
            order in crate::arbitrary::json(),
        ) {
            let binding = crate::arbitrary::every_kind();
            match parse_filter(&binding, &filters, query.as_deref(), 10) {
                Ok(filter) => {
                    let _ = filter.matches(&row);
                    let mut params = crate::sql::expr::Params::default();
                    let _ = crate::sql::expr::where_clause(&filter, "t", &mut params);
                }
                Err(e) => proptest::prop_assert_eq!(e.code, ErrorCode::InvalidFilter),
            }
            if let Ok(order) = crate::filter::Ordering::parse(&binding, Some(&order)) {
                let _ = order.compare(&row, &filters);
            }
        }
    }
}
