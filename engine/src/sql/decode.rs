//! Turning the text columns the statements return into the op's [`StoreOutput`].

use serde_json::Value;

use super::ResultRows;
use crate::binding::{FieldKind, ModelBinding};
use crate::change::{Change, ChangeKind};
use crate::store::{StoreError, StoreOp, StoreOutput};
use crate::value::Row;

/// Decodes the results of the statements [`super::plan`] built for `op`.
pub(crate) fn decode(op: &StoreOp, results: Vec<ResultRows>) -> Result<StoreOutput, StoreError> {
    let binding = op.binding();
    let mut results = results.into_iter();
    let mut next = || {
        results
            .next()
            .ok_or_else(|| bad("fewer results than statements"))
    };
    match op {
        StoreOp::Get { .. } => {
            let rows = next()?;
            let row = at_most_one(rows)?
                .map(|cols| row(binding, cell(&cols, 0)?))
                .transpose()?;
            Ok(StoreOutput::Row(row))
        }
        StoreOp::Search { .. } => {
            let counted = next()?;
            let count = counted
                .first()
                .and_then(|cols| cols.first())
                .and_then(|c| c.as_deref())
                .and_then(|c| c.parse::<u64>().ok())
                .ok_or_else(|| bad("count is not a number"))?;
            let rows = next()?
                .iter()
                .map(|cols| row(binding, cell(cols, 0)?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(StoreOutput::Page { count, rows })
        }
        StoreOp::Related { .. } => {
            let rows = next()?
                .iter()
                .map(|cols| row(binding, cell(cols, 0)?))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(StoreOutput::Rows(rows))
        }
        StoreOp::Insert { .. } => {
            let cols = at_most_one(next()?)?.ok_or_else(|| bad("insert returned no row"))?;
            let new = row(binding, cell(&cols, 0)?)?;
            change(binding, ChangeKind::Created, None, Some(new))
        }
        StoreOp::Update { .. } => match at_most_one(next()?)? {
            None => Ok(StoreOutput::Changed(None)),
            Some(cols) => {
                let old = row(binding, cell(&cols, 0)?)?;
                let new = row(binding, cell(&cols, 1)?)?;
                change(binding, ChangeKind::Updated, Some(old), Some(new))
            }
        },
        StoreOp::Upsert(upsert) => super::upsert::decode(upsert, results.collect()),
        StoreOp::Matches { rows, .. } => {
            let mut answers = Vec::with_capacity(rows.len());
            for _ in rows {
                let cols = at_most_one(next()?)?.ok_or_else(|| bad("a match returned no row"))?;
                answers.push(match cell(&cols, 0)? {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad("a match is not a boolean")),
                });
            }
            Ok(StoreOutput::Matches(answers))
        }
        StoreOp::Delete { referrers, .. } => {
            let mut cascaded = Vec::new();
            for referrer in referrers {
                for cols in next()? {
                    let old = row(&referrer.binding, cell(&cols, 0)?)?;
                    cascaded.push(crate::store::cascade_change(referrer, old)?);
                }
            }
            match at_most_one(next()?)? {
                None => Ok(StoreOutput::Changed(None)),
                Some(cols) => {
                    let old = row(binding, cell(&cols, 0)?)?;
                    let StoreOutput::Changed(Some(mut primary)) =
                        change(binding, ChangeKind::Deleted, Some(old), None)?
                    else {
                        return Err(bad("delete without a change"));
                    };
                    cascaded.sort_by(|a, b| (&a.stream, &a.pk).cmp(&(&b.stream, &b.pk)));
                    primary.cascaded = cascaded;
                    Ok(StoreOutput::Changed(Some(primary)))
                }
            }
        }
    }
}

fn bad(why: &str) -> StoreError {
    StoreError::Internal(format!("unexpected statement result: {why}"))
}

fn at_most_one(rows: ResultRows) -> Result<Option<Vec<Option<String>>>, StoreError> {
    let mut rows = rows.into_iter();
    let first = rows.next();
    if rows.next().is_some() {
        return Err(bad("more than one row"));
    }
    Ok(first)
}

fn cell(cols: &[Option<String>], i: usize) -> Result<&str, StoreError> {
    cols.get(i)
        .and_then(|c| c.as_deref())
        .ok_or_else(|| bad("missing column"))
}

fn change(
    binding: &ModelBinding,
    kind: ChangeKind,
    old: Option<Row>,
    new: Option<Row>,
) -> Result<StoreOutput, StoreError> {
    let pk = new
        .as_ref()
        .or(old.as_ref())
        .and_then(|r| binding.key_of(r))
        .ok_or_else(|| bad("row without a primary key"))?;
    Ok(StoreOutput::Changed(Some(Change {
        stream: binding.stream().to_owned(),
        pk,
        kind,
        old,
        new,
        cascaded: Vec::new(),
    })))
}

/// Parses one row's JSON text into a [`Row`] with the binding's fields in binding order (the
/// order the in-memory store keeps), each value in its canonical JSON form.
pub(crate) fn row(binding: &ModelBinding, json: &str) -> Result<Row, StoreError> {
    let mut object = match serde_json::from_str::<Value>(json) {
        Ok(Value::Object(object)) => object,
        _ => return Err(bad("a row is not a JSON object")),
    };
    let mut row = Row::new();
    for field in binding.fields() {
        let value = object.remove(field.name()).unwrap_or(Value::Null);
        row.insert(field.name().to_owned(), cell_value(field.kind(), value)?);
    }
    Ok(row)
}

fn cell_value(kind: &FieldKind, value: Value) -> Result<Value, StoreError> {
    Ok(match (kind, value) {
        // Floats travel as text so they are parsed exactly (serde_json's own float parsing
        // may differ from the shortest round-trip text PostgreSQL prints by one unit in the
        // last place), then become the same f64 number `value::canonical` makes.
        (FieldKind::Float, Value::String(text)) => {
            let n: f64 = text.parse().map_err(|_| bad("a float is not a number"))?;
            Value::from(n)
        }
        (FieldKind::Float, Value::Number(n)) => Value::from(n.as_f64().unwrap_or(f64::NAN)),
        (FieldKind::Array(element), Value::Array(items)) => Value::Array(
            items
                .into_iter()
                .map(|item| cell_value(element, item))
                .collect::<Result<_, _>>()?,
        ),
        (_, value) => value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::{Filter, Ordering};
    use serde_json::json;
    use std::sync::Arc;

    fn binding() -> Arc<ModelBinding> {
        Arc::new(
            ModelBinding::new("t_t")
                .field(Field::float("f"))
                .field(Field::string("s")),
        )
    }

    fn text(s: &str) -> Vec<Option<String>> {
        vec![Some(s.to_owned())]
    }

    #[test]
    fn rows_come_back_in_binding_order_with_float_numbers() {
        let r = row(&binding(), r#"{"s": "x", "f": "1", "id": 4}"#).unwrap();
        assert_eq!(
            Value::Object(r.clone()),
            json!({"id": 4, "f": 1.0, "s": "x"})
        );
        assert_eq!(r.get("f"), Some(&Value::from(1.0)));
        assert!(row(&binding(), "[1]").is_err());
    }

    #[test]
    fn search_and_missing_rows() {
        let op = StoreOp::Search {
            binding: binding(),
            filter: Filter::everything(),
            order: Ordering::by_pk(&binding()),
            offset: 0,
            limit: 10,
        };
        let out = decode(
            &op,
            vec![
                vec![text("1")],
                vec![text(r#"{"id": 1, "f": null, "s": null}"#)],
            ],
        )
        .unwrap();
        let StoreOutput::Page { count, rows } = out else {
            panic!("a page")
        };
        assert_eq!((count, rows.len()), (1, 1));
        let op = StoreOp::Delete {
            binding: binding(),
            pk: 1.into(),
            scope: Filter::everything(),
            referrers: Vec::new(),
        };
        assert_eq!(
            decode(&op, vec![vec![]]).unwrap(),
            StoreOutput::Changed(None)
        );
        assert!(decode(&op, vec![]).is_err());
    }
}
