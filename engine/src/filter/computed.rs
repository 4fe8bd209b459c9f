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
