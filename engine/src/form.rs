//! Form schemas generated from a binding (docs/protocol.md section 2, "Form fields").

use serde_json::{json, Map, Value};

use crate::binding::{DefaultValue, Field, FieldKind, KeySource, ModelBinding, PK};
use crate::permission::View;
use crate::value::Row;

/// The `fields` list of a `form` reply: every field but the primary key, with the row's
/// current values when there is a row, else the defaults.
/// Fields the view hides are left out; fields it may not write are marked read-only.
/// Computed fields come last, read-only, with their value for the view's reader.
///
/// A key the client must give ([`KeySource::Client`]) is the exception: it comes first,
/// under the key column's name, required on a new row and read-only on an existing one.
pub fn form_fields(binding: &ModelBinding, row: Option<&Row>, view: &View) -> Value {
    let mirror = binding.key_mirror();
    let key = (binding.key_source_kind() == KeySource::Client).then(|| {
        let mut key = binding.key_field().clone();
        key.name = mirror.unwrap_or(PK).to_owned();
        key.required = row.is_none();
        key.read_only = row.is_some();
        key
    });
    Value::Array(
        key.iter()
            .map(|k| field_schema(k, row.map(|r| (r, PK)), false))
            .chain(
                binding
                    .fields()
                    .iter()
                    .filter(|f| f.name() != PK && Some(f.name()) != mirror)
                    .filter(|f| view.can_see(f.name()))
                    .map(|f| {
                        let mut schema =
                            field_schema(f, row.map(|r| (r, f.name())), !view.can_write(f.name()));
                        if binding.version_name() == Some(f.name()) {
                            // The value a submit sends back as `if_version` (section 2).
                            schema["version"] = Value::Bool(true);
                        }
                        schema
                    }),
            )
            .chain(
                binding
                    .computed_fields()
                    .iter()
                    .filter(|c| view.can_see(c.name()))
                    .map(|c| {
                        let mut schema = field_schema(c.as_field(), None, true);
                        schema["value"] = row.map_or(Value::Null, |r| c.value(r, view.user()));
                        schema
                    }),
            )
            .collect(),
    )
}

/// One field's schema; `row` is the row and the name it carries the field's value under.
fn field_schema(field: &Field, row: Option<(&Row, &str)>, read_only_for_user: bool) -> Value {
    let choices = field.choice_list();
    let kind = if choices.is_empty() {
        field.kind().form_type()
    } else {
        "choice"
    };
    let default = match field.default_value() {
        Some(DefaultValue::Value(v)) => Some(v.clone()),
        _ => None,
    };
    let value = match row {
        Some((row, name)) => row.get(name).cloned().unwrap_or(Value::Null),
        None => default.clone().unwrap_or(Value::Null),
    };
    let mut out = Map::new();
    out.insert("name".into(), json!(field.name()));
    out.insert("label".into(), json!(field.display_label()));
    out.insert("type".into(), json!(kind));
    out.insert("required".into(), json!(field.is_required()));
    out.insert(
        "read_only".into(),
        json!(field.is_read_only() || read_only_for_user),
    );
    out.insert("value".into(), value);
    if let Some(max) = field.max_len() {
        out.insert("max_length".into(), json!(max));
    }
    let (min, max) = field.bounds();
    let integral = matches!(field.kind(), FieldKind::Integer);
    let number = |n: f64| {
        if integral && n.fract() == 0.0 {
            json!(n as i64)
        } else {
            json!(n)
        }
    };
    if let Some(min) = min {
        out.insert("min".into(), number(min));
    }
    if let Some(max) = max {
        out.insert("max".into(), number(max));
    }
    if !choices.is_empty() {
        let list: Vec<Value> = choices.iter().map(|(v, l)| json!([v, l])).collect();
        out.insert("choices".into(), Value::Array(list));
    }
    if let Some(default) = default {
        out.insert("default".into(), default);
    }
    if let Some(help) = field.help() {
        out.insert("help_text".into(), json!(help));
    }
    if let FieldKind::ForeignKey { stream, .. } = field.kind() {
        out.insert("stream".into(), json!(stream));
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_schema_describes_every_constraint() {
        let b = ModelBinding::new("todo_task")
            .field(
                Field::string("title")
                    .required()
                    .max_length(200)
                    .help_text("What to do"),
            )
            .field(Field::integer("priority").min(0).max(5).default(0))
            .field(Field::string("kind").choices([("bug", "Bug"), ("chore", "Chore")]))
            .field(Field::foreign_key("owner_id", "auth.User"))
            .field(Field::datetime("created_at").auto_now_add());
        let fields = form_fields(&b, None, &View::everything());
        assert_eq!(
            fields,
            json!([
                {"name": "title", "label": "Title", "type": "string", "required": true, "read_only": false,
                 "value": null, "max_length": 200, "help_text": "What to do"},
                {"name": "priority", "label": "Priority", "type": "integer", "required": false, "read_only": false,
                 "value": 0, "min": 0, "max": 5, "default": 0},
                {"name": "kind", "label": "Kind", "type": "choice", "required": false, "read_only": false,
                 "value": null, "choices": [["bug", "Bug"], ["chore", "Chore"]]},
                {"name": "owner_id", "label": "Owner id", "type": "foreign_key", "required": false,
                 "read_only": false, "value": null, "stream": "auth.User"},
                {"name": "created_at", "label": "Created at", "type": "datetime", "required": false,
                 "read_only": true, "value": null},
            ])
        );
    }
}
