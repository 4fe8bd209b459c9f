//! `order`: sort keys, with the primary key always last so pages are stable. A key may read
//! its field through relations (`-owner__username`); a row whose path reads null sorts as
//! a null field does.

use std::cmp;

use serde_json::Value;

use super::eval::{value_at, NoRows, Resolve};
use super::path::{self, Hop, Relations};
use crate::binding::{FieldKind, ModelBinding, PK};
use crate::protocol::ApiError;
use crate::value::{compare, Row};

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
    /// The relations followed to the row whose field is sorted by; empty for the row itself.
    pub path: Vec<Hop>,
    /// The field, taken from the binding.
    pub field: String,
    /// Its type.
    pub kind: FieldKind,
    /// Descending.
    pub desc: bool,
}

/// The sort keys of a query, ending with the primary key.
#[derive(Debug, Clone, PartialEq)]
pub struct Ordering {
    keys: Vec<OrderKey>,
}

impl Ordering {
    /// Parses `order`: absent, a key such as `"-price"`, or a list of keys. Unknown or
    /// unorderable fields are `invalid_filter`; anything but a string or a list of strings is
    /// `bad_request`.
    pub fn parse(binding: &ModelBinding, order: Option<&Value>) -> Result<Ordering, ApiError> {
        Self::parse_visible(binding, order, &|_| true)
    }

    /// [`parse`](Self::parse) for a caller who sees only the fields `visible` accepts; any
    /// other field is `invalid_filter`, as if it did not exist.
    pub fn parse_visible(
        binding: &ModelBinding,
        order: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
    ) -> Result<Ordering, ApiError> {
        Self::parse_with(binding, order, visible, None)
    }

    /// [`parse_visible`](Self::parse_visible) that also takes relation paths
    /// (`-owner__username`), followed as `relations` allows, with the refusals of a filter's.
    pub fn parse_related(
        binding: &ModelBinding,
        order: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
        relations: &Relations<'_>,
    ) -> Result<Ordering, ApiError> {
        Self::parse_with(binding, order, visible, Some(relations))
    }

    fn parse_with(
        binding: &ModelBinding,
        order: Option<&Value>,
        visible: &dyn Fn(&str) -> bool,
        relations: Option<&Relations<'_>>,
    ) -> Result<Ordering, ApiError> {
        let specs: Vec<&str> = match order {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::String(s)) => vec![s.as_str()],
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str().ok_or_else(|| {
                        ApiError::bad_request("order must be a string or a list of strings")
                    })
                })
                .collect::<Result<_, _>>()?,
            Some(_) => {
                return Err(ApiError::bad_request(
                    "order must be a string or a list of strings",
                ))
            }
        };
        let mut keys: Vec<OrderKey> = Vec::with_capacity(specs.len() + 1);
        for spec in specs {
            let (name, desc) = match spec.strip_prefix('-') {
                Some(name) => (name, true),
                None => (spec, false),
            };
            let unknown = |of: String| {
                ApiError::invalid_filter(format!("order: {spec}: unknown or unorderable field{of}"))
            };
            if let Some(computed) = binding.computed_field(name).filter(|_| visible(name)) {
                push_computed(binding, computed, spec, desc, &mut keys)?;
                continue;
            }
            let names: Vec<&str> = name.split("__").collect();
            let (path, field) = match names.as_slice() {
                [hops @ .., last] if !hops.is_empty() => {
                    let label = format!("order: {spec}");
                    let end = path::follow(relations, binding, visible, hops, &label, None)?;
                    let field = end
                        .binding
                        .get(last)
                        .filter(|f| f.is_orderable() && end.can_see(f.name()))
                        .ok_or_else(|| {
                            end.can_see(last)
                                .then(|| {
                                    super::computed::through_relation(&end.binding, last, &label)
                                })
                                .flatten()
                                .unwrap_or_else(|| {
                                    unknown(format!(" {last} of {}", end.binding.stream()))
                                })
                        })?
                        .clone();
                    (end.path, field)
                }
                _ => {
                    let field = binding
                        .get(name)
                        .filter(|f| f.is_orderable() && visible(f.name()))
                        .ok_or_else(|| unknown(String::new()))?;
                    (Vec::new(), field.clone())
                }
            };
            if keys.iter().any(|k| path::label(&k.path, &k.field) == name) {
                continue;
            }
            keys.push(OrderKey {
                path,
                field: field.name().to_owned(),
                kind: field.kind().clone(),
                desc,
            });
        }
        if !keys.iter().any(|k| k.field == PK && k.path.is_empty()) {
            keys.push(key_order(binding));
        }
        Ok(Ordering { keys })
    }

    /// The order by primary key alone.
    pub fn by_pk(binding: &ModelBinding) -> Ordering {
        Ordering {
            keys: vec![key_order(binding)],
        }
    }

    /// The keys, primary key last.
    pub fn keys(&self) -> &[OrderKey] {
        &self.keys
    }

    /// The keys, to rename their fields to columns.
    pub(crate) fn keys_mut(&mut self) -> &mut [OrderKey] {
        &mut self.keys
    }

    /// The keys as the reply's `order` list (`["-price", "id"]`).
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.keys
                .iter()
                .map(|k| {
                    let name = path::label(&k.path, &k.field);
                    Value::String(if k.desc { format!("-{name}") } else { name })
                })
                .collect(),
        )
    }

    /// Whether any key reads through a relation.
    pub fn has_paths(&self) -> bool {
        self.keys.iter().any(|k| !k.path.is_empty())
    }

    /// The other streams whose rows the keys read through relations.
    pub fn related_streams_into(&self, out: &mut std::collections::BTreeSet<String>) {
        for key in &self.keys {
            path::streams_of(&key.path, out);
        }
    }

    /// Compares two rows by the keys, as `ORDER BY` does (nulls last ascending, first
    /// descending), reading relation paths as null.
    pub fn compare(&self, a: &Row, b: &Row) -> cmp::Ordering {
        self.compare_with(a, b, &NoRows)
    }

    /// [`compare`](Self::compare), following relation paths to the rows `resolve` finds.
    pub fn compare_with(&self, a: &Row, b: &Row, resolve: &dyn Resolve) -> cmp::Ordering {
        for key in &self.keys {
            let x = value_at(&key.path, &key.field, a, resolve);
            let y = value_at(&key.path, &key.field, b, resolve);
            let o = compare(&key.kind, x, y);
            let o = if key.desc { o.reverse() } else { o };
            if o != cmp::Ordering::Equal {
                return o;
            }
        }
        cmp::Ordering::Equal
    }
}

/// Adds the keys ordering by the computed field `computed` stands for (`spec` in the request,
/// descending when `desc`), or says it cannot be ordered by.
fn push_computed(
    binding: &ModelBinding,
    computed: &crate::binding::Computed,
    spec: &str,
    desc: bool,
    keys: &mut Vec<OrderKey>,
) -> Result<(), ApiError> {
    let name = computed.name();
    let Some(fields) = computed.order_fields() else {
        return Err(ApiError::invalid_filter(format!(
            "order: {spec}: {name} is a computed field and cannot be ordered by"
        )));
    };
    for key in fields {
        let (field, reversed) = match key.strip_prefix('-') {
            Some(field) => (field, true),
            None => (key.as_str(), false),
        };
        // The registry checked that each is an orderable field of the binding.
        let Some(field) = binding.get(field) else {
            continue;
        };
        if keys
            .iter()
            .any(|k| k.path.is_empty() && k.field == field.name())
        {
            continue;
        }
        keys.push(OrderKey {
            path: Vec::new(),
            field: field.name().to_owned(),
            kind: field.kind().clone(),
            desc: desc != reversed,
        });
    }
    Ok(())
}

/// Ascending by the primary key, compared as the key's own type.
fn key_order(binding: &ModelBinding) -> OrderKey {
    OrderKey {
        path: Vec::new(),
        field: PK.to_owned(),
        kind: binding.key_field().kind().clone(),
        desc: false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn binding() -> ModelBinding {
        ModelBinding::new("shop_item")
            .field(Field::integer("price"))
            .field(Field::json("extra"))
    }

    #[test]
    fn the_primary_key_breaks_ties() {
        let o = Ordering::parse(&binding(), Some(&json!("-price"))).unwrap();
        assert_eq!(o.to_json(), json!(["-price", "id"]));
        let o = Ordering::parse(&binding(), None).unwrap();
        assert_eq!(o.to_json(), json!(["id"]));
        let o = Ordering::parse(&binding(), Some(&json!(["-id", "price"]))).unwrap();
        assert_eq!(o.to_json(), json!(["-id", "price"]));
    }

    #[test]
    fn unknown_fields_are_invalid_filters() {
        let e = Ordering::parse(&binding(), Some(&json!("nope"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFilter);
        let e = Ordering::parse(&binding(), Some(&json!("extra"))).unwrap_err();
        assert_eq!(e.code, ErrorCode::InvalidFilter);
        let e = Ordering::parse(&binding(), Some(&json!(5))).unwrap_err();
        assert_eq!(e.code, ErrorCode::BadRequest);
    }

    #[test]
    fn descending_puts_nulls_first() {
        let o = Ordering::parse(&binding(), Some(&json!("-price"))).unwrap();
        let a = json!({"id": 1, "price": null});
        let b = json!({"id": 2, "price": 3});
        assert_eq!(
            o.compare(a.as_object().unwrap(), b.as_object().unwrap()),
            cmp::Ordering::Less
        );
    }
}
