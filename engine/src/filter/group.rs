//! The tree of a `filters` object: its lookups, and the `or` and `not` groups that nest other
//! filters objects (docs/protocol.md section 2).
//!
//! Every group costs a level of `max_filter_depth`, checked before the group is read, so a
//! client cannot make the parser (or the evaluators after it) recurse past the bound. Every
//! error names the place it was found, `or[1].not.priority__gt`, so a client can fix a deep
//! filter without guessing.

use serde_json::{Map, Value};

use super::parse::condition;
use super::Filter;
use crate::binding::ModelBinding;
use crate::protocol::ApiError;

/// The key of a group whose members (filters objects) are ORed.
pub(super) const OR: &str = "or";
/// The key of a group whose one filters object is negated.
pub(super) const NOT: &str = "not";

/// What reading a filters object needs besides the object.
pub(super) struct Rules<'a> {
    /// The binding every field name is checked against.
    pub(super) binding: &'a ModelBinding,
    /// The bound on `__in` lists.
    pub(super) max_in: usize,
    /// How many groups may enclose a lookup.
    pub(super) max_depth: usize,
    /// The fields the caller may see; others are unknown.
    pub(super) visible: &'a dyn Fn(&str) -> bool,
    /// How relation paths are followed; `None` when they are not.
    pub(super) relations: Option<&'a super::path::Relations<'a>>,
    /// Whether a computed field's key is turned into its translation; not inside a
    /// translation, which names real fields only.
    pub(super) computed: bool,
}

/// The filters of one object, to be ANDed: a condition per lookup, a filter per group. `path`
/// names the object in messages (empty at the top) and `depth` is the number of groups
/// around it.
pub(super) fn object(
    rules: &Rules<'_>,
    filters: &Map<String, Value>,
    path: &str,
    depth: usize,
) -> Result<Vec<Filter>, ApiError> {
    let mut parts = Vec::with_capacity(filters.len());
    for (key, value) in filters {
        let label = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        parts.push(match key.as_str() {
            OR => or(rules, value, &label, depth)?,
            NOT => not(rules, value, &label, depth)?,
            _ => match super::computed::translate(rules, key, &label, value)? {
                Some(filter) => filter,
                None => Filter::Cond(condition(rules, key, &label, value)?),
            },
        });
    }
    Ok(parts)
}

/// The conjunction of `parts`, without a wrapper around a single one.
pub(super) fn all(mut parts: Vec<Filter>) -> Filter {
    if parts.len() == 1 {
        parts.pop().unwrap_or_else(Filter::everything)
    } else {
        Filter::All(parts)
    }
}

/// The depth inside a group opened at `depth`, or `invalid_filter` past `max_filter_depth`.
fn enter(rules: &Rules<'_>, label: &str, depth: usize) -> Result<usize, ApiError> {
    let inside = depth.saturating_add(1);
    if inside > rules.max_depth {
        return Err(ApiError::invalid_filter(format!(
            "{label}: or/not groups nest at most {} deep (max_filter_depth)",
            rules.max_depth
        )));
    }
    Ok(inside)
}

fn or(rules: &Rules<'_>, value: &Value, label: &str, depth: usize) -> Result<Filter, ApiError> {
    let depth = enter(rules, label, depth)?;
    let members = match value {
        Value::Array(members) if !members.is_empty() => members,
        // An empty `or` would match nothing, which is never what a client building one meant.
        _ => {
            return Err(ApiError::invalid_filter(format!(
                "{label}: must be a non-empty list of filter objects"
            )))
        }
    };
    let mut any = Vec::with_capacity(members.len());
    for (i, member) in members.iter().enumerate() {
        let label = format!("{label}[{i}]");
        let Value::Object(member) = member else {
            return Err(ApiError::invalid_filter(format!(
                "{label}: must be a filter object"
            )));
        };
        any.push(all(object(rules, member, &label, depth)?));
    }
    Ok(Filter::Any(any))
}

fn not(rules: &Rules<'_>, value: &Value, label: &str, depth: usize) -> Result<Filter, ApiError> {
    let depth = enter(rules, label, depth)?;
    let Value::Object(inner) = value else {
        return Err(ApiError::invalid_filter(format!(
            "{label}: must be a filter object"
        )));
    };
    Ok(Filter::Not(Box::new(all(object(
        rules, inner, label, depth,
    )?))))
}

#[cfg(test)]
mod tests {
    use super::super::{parse_filter, parse_filter_visible};
    use super::*;
    use crate::binding::Field;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn binding() -> ModelBinding {
        ModelBinding::new("todo_task")
            .field(Field::string("title"))
            .field(Field::boolean("done"))
            .field(Field::integer("priority"))
            .field(Field::text("secret"))
    }

    fn parse(filters: Value, max_depth: usize) -> Result<Filter, ApiError> {
        let filters = filters.as_object().cloned().unwrap_or_default();
        parse_filter_visible(&binding(), &filters, None, 3, max_depth, &|f| f != "secret")
    }

    fn refused(filters: Value) -> String {
        let e = parse(filters, 4).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFilter, "{e:?}");
        e.message
    }

    fn matches(filters: Value, row: Value) -> bool {
        parse(filters, 4).unwrap().matches(row.as_object().unwrap())
    }

    #[test]
    fn or_ors_its_members_and_ands_with_its_siblings() {
        let f =
            json!({"or": [{"done": true}, {"priority__gt": 3, "title": "x"}], "title__ne": "z"});
        assert!(matches(
            f.clone(),
            json!({"done": true, "priority": 0, "title": "a"})
        ));
        assert!(matches(
            f.clone(),
            json!({"done": false, "priority": 4, "title": "x"})
        ));
        assert!(!matches(
            f.clone(),
            json!({"done": false, "priority": 4, "title": "y"})
        ));
        assert!(!matches(
            f,
            json!({"done": true, "priority": 0, "title": "z"})
        ));
    }

    #[test]
    fn not_is_the_complement_even_where_the_inside_is_unknown() {
        let f = json!({"not": {"priority__gt": 3}});
        assert!(matches(f.clone(), json!({"priority": 2})));
        assert!(!matches(f.clone(), json!({"priority": 4})));
        assert!(
            matches(f, json!({"priority": null})),
            "null > 3 is unknown, so the row is not among those with priority > 3"
        );
        let f = json!({"or": [{"not": {"done": true}}, {"priority": 1}]});
        assert!(matches(f.clone(), json!({"done": null, "priority": null})));
        assert!(!matches(f, json!({"done": true, "priority": 2})));
        assert!(!matches(
            json!({"not": {"not": {"priority__lt": 3}}}),
            json!({"priority": null})
        ));
    }

    #[test]
    fn groups_parse_to_the_tree() {
        let f = parse(json!({"not": {"or": [{"done": true}]}}), 4).unwrap();
        let Filter::Not(inner) = f else {
            panic!("a not: {f:?}")
        };
        let Filter::Any(members) = *inner else {
            panic!("an or")
        };
        assert!(matches!(members.as_slice(), [Filter::Cond(_)]));
        let f = parse(json!({"not": {}}), 4).unwrap();
        assert_eq!(f, Filter::Not(Box::new(Filter::everything())));
    }

    #[test]
    fn malformed_groups_name_their_place() {
        assert_eq!(
            refused(json!({"or": {"done": true}})),
            "or: must be a non-empty list of filter objects"
        );
        assert_eq!(
            refused(json!({"or": []})),
            "or: must be a non-empty list of filter objects"
        );
        assert_eq!(
            refused(json!({"or": [{"done": true}, 5]})),
            "or[1]: must be a filter object"
        );
        assert_eq!(
            refused(json!({"not": [{"done": true}]})),
            "not: must be a filter object"
        );
        assert_eq!(
            refused(json!({"not": null})),
            "not: must be a filter object"
        );
        assert_eq!(
            refused(json!({"or": [{"done": true}, {"not": {"nope": 1}}]})),
            "or[1].not.nope: unknown or unfilterable field"
        );
        assert_eq!(
            refused(json!({"not": {"priority__regex": "1"}})),
            "not.priority__regex: regex is not a lookup, and priority is not a relation"
        );
        assert_eq!(
            refused(json!({"not": {"priority": "high"}}))
                .split(':')
                .next(),
            Some("not.priority")
        );
        assert_eq!(
            refused(json!({"not": {"priority__in": [1, 2, 3, 4]}})),
            "not.priority__in: at most 3 values",
            "max_in_list holds inside groups"
        );
        assert_eq!(
            refused(json!({"or": [{"secret": "x"}]})),
            "or[0].secret: unknown or unfilterable field",
            "a hidden field stays unknown inside a group"
        );
    }

    #[test]
    fn depth_is_bounded_by_max_filter_depth() {
        let nest = |n: usize| {
            (0..n).fold(json!({"done": true}), |inner, i| {
                if i % 2 == 0 {
                    json!({"not": inner})
                } else {
                    json!({"or": [inner]})
                }
            })
        };
        assert!(parse(nest(4), 4).is_ok());
        let e = parse(nest(5), 4).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFilter);
        assert_eq!(
            e.message,
            "not.or[0].not.or[0].not: or/not groups nest at most 4 deep (max_filter_depth)"
        );
        assert!(parse(json!({"done": true}), 0).is_ok());
        assert!(parse(json!({"not": {"done": true}}), 0).is_err());
        // Siblings do not add up: each lookup counts the groups around it.
        let wide = json!({"or": [{"not": {"done": true}}, {"not": {"done": false}}], "not": {"or": [{"priority": 1}]}});
        assert!(parse(wide, 2).is_ok());
    }

    #[test]
    fn a_field_named_like_a_group_is_reached_with_exact() {
        let b = ModelBinding::new("t_t").field(Field::integer("or"));
        let f = json!({"or__exact": 1, "or__gt": 0});
        assert!(parse_filter(&b, f.as_object().unwrap(), None, 3).is_ok());
        let f = json!({"or": 1});
        assert_eq!(
            parse_filter(&b, f.as_object().unwrap(), None, 3)
                .unwrap_err()
                .message,
            "or: must be a non-empty list of filter objects"
        );
    }
}
