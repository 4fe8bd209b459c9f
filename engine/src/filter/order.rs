//! `order`: sort keys, with the primary key always last so pages are stable.

use std::cmp;

use serde_json::Value;

use crate::binding::{FieldKind, ModelBinding, PK};
use crate::protocol::ApiError;
use crate::value::{compare, Row};

/// One sort key.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderKey {
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
            let field = binding
                .get(name)
                .filter(|f| f.is_orderable() && visible(f.name()))
                .ok_or_else(|| {
                    ApiError::invalid_filter(format!("order: {spec}: unknown or unorderable field"))
                })?;
            if keys.iter().any(|k| k.field == name) {
                continue;
            }
            keys.push(OrderKey {
                field: field.name().to_owned(),
                kind: field.kind().clone(),
                desc,
            });
        }
        if !keys.iter().any(|k| k.field == PK) {
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
                    Value::String(if k.desc {
                        format!("-{}", k.field)
                    } else {
                        k.field.clone()
                    })
                })
                .collect(),
        )
    }

    /// Compares two rows by the keys, as `ORDER BY` does (nulls last ascending, first descending).
    pub fn compare(&self, a: &Row, b: &Row) -> cmp::Ordering {
        for key in &self.keys {
            let x = a.get(&key.field).unwrap_or(&Value::Null);
            let y = b.get(&key.field).unwrap_or(&Value::Null);
            let o = compare(&key.kind, x, y);
            let o = if key.desc { o.reverse() } else { o };
            if o != cmp::Ordering::Equal {
                return o;
            }
        }
        cmp::Ordering::Equal
    }
}

/// Ascending by the primary key, compared as the key's own type.
fn key_order(binding: &ModelBinding) -> OrderKey {
    OrderKey {
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
