//! JSON Schemas (the OpenAPI 3.0 dialect) of a binding's fields, rows and replies.

use serde_json::{json, Map, Value};

use crate::binding::{DefaultValue, Field, FieldKind, KeySource, ModelBinding, Registry, PK};
use crate::filter::Lookup;

/// A `$ref` to a schema of `components.schemas`.
pub(super) fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{}", escape(name))})
}

/// A schema name as a JSON Pointer token (`/` and `~` escaped), though stream names rarely
/// have either.
fn escape(name: &str) -> String {
    name.replace('~', "~0").replace('/', "~1")
}

/// The value schema of a field of `kind`, without the constraints of one field.
pub(super) fn kind_schema(kind: &FieldKind) -> Map<String, Value> {
    let value = match kind {
        FieldKind::String | FieldKind::Text | FieldKind::Enum(_) => json!({"type": "string"}),
        FieldKind::Email => json!({"type": "string", "format": "email"}),
        FieldKind::Integer => json!({"type": "integer", "format": "int64"}),
        FieldKind::ForeignKey { stream, key } => {
            let mut schema = kind_schema(&key.field_kind());
            schema.insert(
                "description".into(),
                json!(format!("The id of a {stream} row.")),
            );
            schema.insert("x-chanbind-stream".into(), json!(stream));
            Value::Object(schema)
        }
        FieldKind::Float => json!({"type": "number", "format": "double"}),
        FieldKind::Decimal { .. } => {
            json!({"type": "string", "format": "decimal", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"})
        }
        FieldKind::Boolean => json!({"type": "boolean"}),
        FieldKind::Date => json!({"type": "string", "format": "date"}),
        FieldKind::Datetime => json!({"type": "string", "format": "date-time"}),
        // Not `date-time`, which requires an offset.
        FieldKind::LocalDatetime => json!({
            "type": "string",
            "pattern": r"^[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$",
            "description": "A date and time without a time zone.",
        }),
        FieldKind::Array(element) => json!({"type": "array", "items": kind_schema(element)}),
        FieldKind::Uuid => json!({"type": "string", "format": "uuid"}),
        // Any JSON document: the empty schema.
        FieldKind::Json => json!({}),
    };
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The schema of one field: its type and every declared constraint.
pub(super) fn field_schema(field: &Field) -> Value {
    let mut schema = kind_schema(field.kind());
    schema.insert("title".into(), json!(field.display_label()));
    if let Some(help) = field.help() {
        schema.insert("description".into(), json!(help));
    }
    if let Some(max) = field.max_len() {
        schema.insert("maxLength".into(), json!(max));
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
        schema.insert("minimum".into(), number(min));
    }
    if let Some(max) = max {
        schema.insert("maximum".into(), number(max));
    }
    if !field.choice_list().is_empty() {
        let mut values: Vec<Value> = field.choice_list().iter().map(|(v, _)| v.clone()).collect();
        if field.is_nullable() {
            // In OpenAPI 3.0, `nullable` does not widen an `enum`: null must be listed.
            values.push(Value::Null);
        }
        schema.insert("enum".into(), Value::Array(values));
    }
    if let Some(DefaultValue::Value(value)) = field.default_value() {
        schema.insert("default".into(), value.clone());
    }
    if field.is_read_only() {
        schema.insert("readOnly".into(), json!(true));
    }
    if field.is_nullable() && !matches!(field.kind(), FieldKind::Json) {
        schema.insert("nullable".into(), json!(true));
    }
    Value::Object(schema)
}

/// A row as clients see it. Only `id` is promised: a permission may hide fields from some
/// users, and a hidden field is left out of the row, not sent as null. Its computed fields
/// are `readOnly`; its relations are there when the request expands or includes them.
pub(super) fn row_schema(registry: &Registry, binding: &ModelBinding) -> Value {
    let mut properties: Map<String, Value> = binding
        .fields()
        .iter()
        .map(|f| (f.name().to_owned(), field_schema(f)))
        .collect();
    // Computed fields have no column: read-only, and never in a write body.
    for computed in binding.computed_fields() {
        let mut schema = field_schema(computed.as_field());
        let note = if computed.reads_user() {
            "Computed by the server for the reader; never written."
        } else {
            "Computed by the server from the row; never written."
        };
        let description = match computed.as_field().help() {
            Some(help) => format!("{help} {note}"),
            None => note.to_owned(),
        };
        schema["description"] = json!(description);
        properties.insert(computed.name().to_owned(), schema);
    }
    for relation in registry.relations(binding.stream()) {
        let target = reference(relation.target.stream());
        let schema = if relation.is_to_one() {
            json!({"allOf": [target], "nullable": true, "readOnly": true,
                   "description": format!("With `expand={}`: the related row, or null.", relation.name)})
        } else {
            json!({"type": "array", "items": target, "readOnly": true,
                   "description": format!("With `include={}`: the related rows.", relation.name)})
        };
        properties.insert(relation.name.clone(), schema);
    }
    json!({"type": "object", "properties": properties, "required": ["id"]})
}

/// The schema of the binding's key, as rows, replies and paths carry it.
pub(super) fn key_schema(binding: &ModelBinding) -> Value {
    Value::Object(kind_schema(binding.key_field().kind()))
}

/// The body of a write: the writable fields, with the required ones listed when `create`
/// (a create, or `save`'s full replacement) and none for a partial update.
/// A create of a binding whose clients give keys takes `id` too, required when the client
/// must give it.
pub(super) fn write_schema(binding: &ModelBinding, create: bool) -> Value {
    let mut properties: Map<String, Value> = binding
        .writable()
        .map(|f| (f.name().to_owned(), field_schema(f)))
        .collect();
    let mut required: Vec<&str> = binding
        .writable()
        .filter(|f| f.is_required())
        .map(Field::name)
        .collect();
    let source = binding.key_source_kind();
    if create && source != KeySource::Database {
        let mut key = kind_schema(binding.key_field().kind());
        key.insert("title".into(), json!(binding.key_field().display_label()));
        properties.insert(PK.to_owned(), Value::Object(key));
        if source == KeySource::Client {
            required.insert(0, PK);
        }
    }
    let mut schema =
        json!({"type": "object", "properties": properties, "additionalProperties": false});
    if create && !required.is_empty() {
        schema["required"] = json!(required);
    }
    schema
}

/// The lookups a query string may use on a field of `kind` (docs/protocol.md section 2).
pub(super) fn lookups(kind: &FieldKind) -> Vec<(&'static str, Lookup)> {
    let mut out = vec![
        ("ne", Lookup::Ne),
        ("in", Lookup::In),
        ("isnull", Lookup::IsNull),
    ];
    if kind.is_document() {
        out.retain(|(_, l)| *l != Lookup::In);
        return out;
    }
    out.extend([
        ("gt", Lookup::Gt),
        ("gte", Lookup::Gte),
        ("lt", Lookup::Lt),
        ("lte", Lookup::Lte),
    ]);
    if kind.is_textual() {
        out.extend([
            ("iexact", Lookup::IExact),
            ("contains", Lookup::Contains),
            ("icontains", Lookup::IContains),
            ("startswith", Lookup::StartsWith),
            ("istartswith", Lookup::IStartsWith),
            ("endswith", Lookup::EndsWith),
        ]);
    }
    out
}

/// The schemas every document shares.
pub(super) fn shared() -> Map<String, Value> {
    let schemas = json!({
        "Error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {
                "code": {"type": "string", "enum": [
                    "bad_request", "unknown_event", "unauthenticated", "permission_denied", "not_found",
                    "invalid", "invalid_filter", "conflict", "limit_exceeded", "too_large", "rate_limited",
                    "unavailable", "internal"]},
                "message": {"type": "string"},
                "fields": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
                "step": {"type": "integer", "minimum": 0, "description": "For a batch: the index of the step that failed."},
            },
        },
        "Envelope": {
            "type": "object",
            "required": ["event"],
            "properties": {
                "event": {"type": "string", "description": "<stream>.<action>[#hash]"},
                "data": {"type": "object"},
            },
        },
        "Frame": {
            "type": "object",
            "required": ["event"],
            "properties": {"event": {"type": "string"}, "data": {}, "error": reference("Error")},
        },
        "FormField": {
            "type": "object",
            "required": ["name", "label", "type", "required", "read_only", "value"],
            "properties": {
                "name": {"type": "string"}, "label": {"type": "string"},
                "type": {"type": "string", "enum": ["string", "text", "integer", "float", "decimal", "boolean",
                    "date", "datetime", "uuid", "email", "json", "choice", "foreign_key"]},
                "required": {"type": "boolean"}, "read_only": {"type": "boolean"}, "value": {},
                "max_length": {"type": "integer"}, "min": {"type": "number"}, "max": {"type": "number"},
                "choices": {"type": "array", "items": {"type": "array", "items": {}}},
                "default": {}, "help_text": {"type": "string"}, "stream": {"type": "string"},
            },
        },
        "Filters": {
            "type": "object",
            "description": "Lookups (`field__lookup`: value), ANDed, and groups: `or` (filters objects, ORed) and `not` (one filters object, negated; a row where the inside is unknown because of a null counts as not matching it, so it is kept). A field may be reached through to-one relations, at most `max_relation_depth` of them (`owner__username__icontains`): it reads as null when a foreign key on the way is null or names a row outside your scope.",
            "properties": {
                "or": {"type": "array", "minItems": 1, "items": reference("Filters")},
                "not": reference("Filters"),
            },
            "additionalProperties": {},
        },
        "Deleted": {
            "type": "object",
            "required": ["success", "id"],
            "properties": {"success": {"type": "boolean"}, "id": {
                "description": "The deleted row's key: an integer, or a string for UUID and text keys.",
                "oneOf": [{"type": "integer", "format": "int64"}, {"type": "string"}],
            }},
        },
    });
    match schemas {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// The schemas of one binding: its row, its write bodies, its page, write reply and form.
pub(super) fn binding_schemas(registry: &Registry, binding: &ModelBinding) -> Vec<(String, Value)> {
    let s = binding.stream();
    let row = reference(s);
    let key = key_schema(binding);
    let mut nullable_key = key.clone();
    nullable_key["nullable"] = json!(true);
    vec![
        (s.to_owned(), row_schema(registry, binding)),
        (format!("{s}.create"), write_schema(binding, true)),
        (format!("{s}.update"), write_schema(binding, false)),
        (
            format!("{s}.page"),
            json!({
                "type": "object",
                "required": ["page", "limit", "count", "order", "rows"],
                "properties": {
                    "page": {"type": "integer"}, "limit": {"type": "integer"}, "count": {"type": "integer"},
                    "order": {"type": "array", "items": {"type": "string"}},
                    "rows": {"type": "array", "items": row},
                },
            }),
        ),
        (
            format!("{s}.written"),
            json!({
                "type": "object",
                "required": ["success", "id", "object"],
                "properties": {
                    "success": {"type": "boolean"}, "id": key, "object": row,
                },
            }),
        ),
        (
            format!("{s}.form"),
            json!({
                "type": "object",
                "required": ["id", "fields", "object"],
                "properties": {
                    "id": nullable_key,
                    "fields": {"type": "array", "items": reference("FormField")},
                    "object": {"allOf": [row], "nullable": true},
                    "success": {"type": "boolean"},
                },
            }),
        ),
    ]
}
