//! Filters and order keys on computed fields, which have no column: refused, unless the
//! binding translates them into filters and order keys over its real fields
//! ([`crate::binding::Computed::filter_as`] and [`crate::binding::Computed::order_as`]).

use serde_json::Value;

use super::group::{self, Rules};
use super::parse::split_key;
use super::path::Relations;
use super::Filter;
use crate::binding::ModelBinding;
use crate::protocol::ApiError;

/// The filter a lookup on a computed field of the rules' binding stands for, `None` when the
/// key names no computed field the reader sees (the caller parses it as a field's), or
/// `invalid_filter` naming the key when the field cannot be filtered by, or not by that
/// value.
pub(super) fn translate(
    rules: &Rules<'_>,
    key: &str,
    label: &str,
    value: &Value,
) -> Result<Option<Filter>, ApiError> {
    let (names, lookup, _) = split_key(key);
    let [name] = names.as_slice() else {
        return Ok(None);
    };
    let binding = rules.binding;
    let Some(computed) = binding.computed_field(name) else {
        return Ok(None);
    };
    if !(rules.visible)(name) {
        return Ok(None);
    }
    let refused = |why: &str| Err(ApiError::invalid_filter(format!("{label}: {why}")));
    let translation = match computed.filter_translation() {
        Some(translation) if rules.computed => translation,
        Some(_) => {
            // A translation naming a computed field: the binding's mistake, not the client's.
            tracing::error!(
                stream = binding.stream(),
                field = name,
                "a computed field's filter translation names a computed field"
            );
            return refused(&format!("{name} is a computed field"));
        }
        None => {
            return refused(&format!(
                "{name} is a computed field and cannot be filtered by"
            ))
        }
    };
    let user = rules.relations.and_then(|r| r.user);
    let filters = match translation(lookup, value, user) {
        Ok(filters) => filters,
        Err(why) => return refused(&why),
    };
    // The translation is the server's own filter: any field of the binding, relations
    // followed as a permission's scope follows them.
    let server = rules.relations.map(|r| Relations::server(r.registry));
    let inner = Rules {
        binding,
        max_in: rules.max_in,
        max_depth: usize::MAX,
        visible: &|_| true,
        relations: server.as_ref(),
        computed: false,
    };
    match group::object(&inner, &filters, "", 0) {
        Ok(parts) => Ok(Some(group::all(parts))),
        Err(e) => {
            // Its message names the real fields, which the reader may not see.
            tracing::debug!(stream = binding.stream(), field = name, error = %e.message,
                "a computed field's translated filter does not parse");
            refused(&format!("{name} cannot be filtered by this value"))
        }
    }
}

/// The message for a relation path ending at `name` of `end` when that is a computed field:
/// computed fields are not filtered or ordered through relations.
pub(super) fn through_relation(end: &ModelBinding, name: &str, label: &str) -> Option<ApiError> {
    end.computed_field(name).map(|_| {
        ApiError::invalid_filter(format!(
            "{label}: {name} of {} is a computed field and cannot be reached through a relation",
            end.stream()
        ))
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{json, Map, Value};

    use crate::binding::{Computed, FieldKind, ModelBinding};
    use crate::filter::{parse_filter, Lookup, Ordering};
    use crate::protocol::ErrorCode;

    /// [`crate::arbitrary::every_kind`] with a computed field passed through to `count` (and
    /// to `title` for text lookups), one that cannot be filtered by, and one whose
    /// translation names a computed field.
    fn binding() -> ModelBinding {
        crate::arbitrary::every_kind()
            .computed(
                Computed::from_row("twice", FieldKind::Integer, |_| json!(2))
                    .filter_as(|lookup, value, _| {
                        let key = match lookup {
                            l if l.is_textual() => "title__icontains",
                            Lookup::In => "count__in",
                            _ => "count",
                        };
                        Ok(Map::from_iter([(key.to_owned(), value.clone())]))
                    })
                    .order_as(["-count", "title"]),
            )
            .computed(Computed::from_row("plain", FieldKind::String, |_| {
                json!("")
            }))
            .computed(
                Computed::from_row("loop", FieldKind::Integer, |_| json!(0))
                    .filter_as(|_, v, _| Ok(Map::from_iter([("loop".to_owned(), v.clone())]))),
            )
    }

    fn key() -> impl Strategy<Value = String> {
        let name = prop::sample::select(&["twice", "plain", "loop", "count"][..]);
        let lookup = prop::sample::select(&["", "__in", "__gt", "__icontains", "__isnull"][..]);
        prop_oneof![
            4 => (name, lookup).prop_map(|(n, l)| format!("{n}{l}")),
            1 => prop::sample::select(&["or", "not"][..]).prop_map(str::to_owned),
        ]
    }

    fn filters() -> impl Strategy<Value = Map<String, Value>> {
        prop::collection::vec((key(), crate::arbitrary::json()), 0..4)
            .prop_map(|pairs| pairs.into_iter().collect())
    }

    #[test]
    fn a_translation_is_the_filter_it_stands_for() {
        let b = binding();
        let parse = |f: Value| parse_filter(&b, f.as_object().unwrap(), None, 10);
        assert_eq!(parse(json!({"twice": 3})), parse(json!({"count": 3})));
        let e = parse(json!({"twice": "x"})).unwrap_err();
        assert_eq!(
            e.message, "twice: twice cannot be filtered by this value",
            "the real field's complaint is not shown"
        );
        let e = parse(json!({"loop": 1})).unwrap_err();
        assert_eq!(e.message, "loop: loop cannot be filtered by this value");
        let o = Ordering::parse(&b, Some(&json!(["-twice", "title"]))).unwrap();
        assert_eq!(o.to_json(), json!(["count", "-title", "id"]));
    }

    proptest! {
        /// Any filters object over computed fields is a filter or `invalid_filter`, never a
        /// panic or an endless translation.
        #[test]
        fn any_filters_on_computed_fields_parse_or_are_invalid(
            filters in filters(),
            row in crate::arbitrary::json_object(),
        ) {
            match parse_filter(&binding(), &filters, None, 10) {
                Ok(filter) => {
                    let _ = filter.matches(&row);
                }
                Err(e) => prop_assert_eq!(e.code, ErrorCode::InvalidFilter),
            }
        }
    }
}
