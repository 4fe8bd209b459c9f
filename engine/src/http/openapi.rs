//! The OpenAPI 3 document of the HTTP routes, generated from the bindings, so users can
//! generate clients and test tools can read what the server answers.

mod schema;

use serde_json::{json, Map, Value};

use super::query::{EXPAND_PARAM, FILTERS_PARAM, INCLUDE_PARAM};
use crate::binding::{ModelBinding, Registry, PK};
use crate::filter::Lookup;
use crate::protocol::SERVER_NAME;
use schema::{binding_schemas, kind_schema, lookups, reference, shared};

/// The OpenAPI version the document follows. 3.0 rather than 3.1: more generators and
/// validators read it, and its schema dialect covers what fields declare.
const OPENAPI_VERSION: &str = "3.0.3";

/// The document for every binding of `registry`, with routes under `prefix`.
pub(crate) fn document(registry: &Registry, prefix: &str) -> Value {
    let mut paths = Map::new();
    let mut schemas = shared();
    for binding in registry.models() {
        model_paths(&mut paths, registry, binding, prefix);
        schemas.extend(binding_schemas(registry, binding));
    }
    let handlers = registry
        .models()
        .map(|b| (b.stream(), b.handlers()))
        .chain(registry.customs().map(|c| (c.stream(), c.handlers())));
    for (stream, handlers) in handlers {
        for action in handlers.actions() {
            paths.insert(
                format!("{prefix}/{stream}/{action}"),
                json!({"post": custom_op(stream, action)}),
            );
        }
    }
    paths.insert(format!("{prefix}/events"), events_path());
    paths.insert(format!("{prefix}/batch"), batch_path());
    paths.insert(
        format!("{prefix}/openapi.json"),
        json!({"get": {
            "operationId": "openapi",
            "summary": "This document.",
            "responses": {"200": {"description": "The OpenAPI document.", "content": {"application/json": {"schema": {"type": "object"}}}}},
        }}),
    );
    json!({
        "openapi": OPENAPI_VERSION,
        "info": {
            "title": "chanbind API",
            "version": SERVER_NAME.trim_start_matches("chanbind/"),
            "description": "The bindings of this server over HTTP. The same streams answer over the WebSocket, with live subscriptions.",
        },
        "paths": paths,
        "components": {
            "schemas": schemas,
            "responses": {
                "Error": {"description": "An error object.", "content": {"application/json": {"schema": reference("Error")}}},
            },
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "token": {"type": "apiKey", "in": "query", "name": "token"},
            },
        },
        "security": [{}, {"bearer": []}, {"token": []}],
    })
}

fn model_paths(
    paths: &mut Map<String, Value>,
    registry: &Registry,
    binding: &ModelBinding,
    prefix: &str,
) {
    let s = binding.stream();
    let mut id_schema = schema::key_schema(binding);
    if binding.key_kind() == crate::key::KeyKind::Integer {
        id_schema["minimum"] = json!(0);
    }
    let id_param = json!({"name": "id", "in": "path", "required": true, "schema": id_schema,
        "description": "The row's key, percent-encoded when it is text."});
    let body = |name: String| json!({"required": true, "content": {"application/json": {"schema": reference(&name)}}});
    let op = |action: &str, summary: String, status: &str, reply: Value| {
        json!({
            "operationId": format!("{s}.{action}"),
            "tags": [s],
            "summary": summary,
            "responses": {
                status: {"description": "The reply's data.", "content": {"application/json": {"schema": reply}}},
                "4XX": {"$ref": "#/components/responses/Error"},
                "5XX": {"$ref": "#/components/responses/Error"},
            },
        })
    };
    let mut search = op(
        "search",
        format!("Search {s}: a page of rows."),
        "200",
        reference(&format!("{s}.page")),
    );
    let mut params = search_params(registry, binding);
    params.extend(relation_params(registry, binding));
    search["parameters"] = Value::Array(params);
    let mut create = op(
        "create",
        format!("Create a {s} row."),
        "201",
        reference(&format!("{s}.written")),
    );
    create["requestBody"] = body(format!("{s}.create"));
    // An upsert on a unique field (docs/protocol.md section 2, "Upserts"): 200 when it
    // updated.
    create["parameters"] = json!([{"name": "on_conflict", "in": "query",
        "description": "A unique field: update the row holding the body's value of it instead of conflicting.",
        "schema": {"type": "string"}}]);
    create["responses"]["200"] = json!({"description": "An upsert updated the row.",
        "content": {"application/json": {"schema": reference(&format!("{s}.written"))}}});
    paths.insert(
        format!("{prefix}/{s}/"),
        json!({"get": search, "post": create}),
    );

    let mut save = op(
        "save",
        format!("Replace every writable field of a {s} row."),
        "200",
        reference(&format!("{s}.written")),
    );
    save["requestBody"] = body(format!("{s}.create"));
    // A save of a missing key that clients give creates the row (docs/protocol.md section 2,
    // "Upserts"); `create=false` refuses it as before.
    save["parameters"] = json!([{"name": "create", "in": "query",
        "description": "Whether a missing key is created (clients' keys only; the default for them).",
        "schema": {"type": "boolean"}}]);
    save["responses"]["201"] = json!({"description": "The row was created.",
        "content": {"application/json": {"schema": reference(&format!("{s}.written"))}}});
    let mut update = op(
        "update",
        format!("Change some fields of a {s} row."),
        "200",
        reference(&format!("{s}.written")),
    );
    update["requestBody"] = body(format!("{s}.update"));
    let mut retrieve = op("retrieve", format!("One {s} row."), "200", reference(s));
    let relations = relation_params(registry, binding);
    if !relations.is_empty() {
        retrieve["parameters"] = Value::Array(relations);
    }
    paths.insert(
        format!("{prefix}/{s}/{{id}}"),
        json!({
            "parameters": [id_param.clone()],
            "get": retrieve,
            "put": save,
            "patch": update,
            "delete": op("delete", format!("Delete a {s} row."), "200", reference("Deleted")),
        }),
    );
    let form = |suffix: &str, what: String| {
        let get = op(
            &format!("form{suffix}"),
            format!("The form schema {what}."),
            "200",
            reference(&format!("{s}.form")),
        );
        let mut submit = op(
            &format!("form{suffix}.submit"),
            format!("Validate and save the form {what}."),
            "200",
            reference(&format!("{s}.form")),
        );
        submit["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"type": "object"}}}});
        json!({"get": get, "post": submit})
    };
    paths.insert(
        format!("{prefix}/{s}/form"),
        form("", "of a new row".into()),
    );
    let mut item_form = form(".item", "of an existing row".into());
    item_form["parameters"] = json!([id_param]);
    paths.insert(format!("{prefix}/{s}/{{id}}/form"), item_form);
}

/// `page`, `limit`, `order`, `query`, `filters` (JSON) and one parameter per filterable
/// field and lookup, of the binding and, through each of its to-one relations, of the related
/// binding (`owner__username__icontains`). Paths of two relations are accepted too but not
/// listed, or the list would grow with the square of the schema.
fn search_params(registry: &Registry, binding: &ModelBinding) -> Vec<Value> {
    let mut params = vec![
        json!({"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1, "default": 1}}),
        json!({"name": "limit", "in": "query", "schema": {"type": "integer", "minimum": 1}}),
        json!({"name": "order", "in": "query", "style": "form", "explode": false,
               "description": "Sort keys, `-` for descending; the id is always the last tie-breaker. A key may follow to-one relations, at most `max_relation_depth` of them (`-owner__username`); a row whose related row is missing or outside your scope sorts as a null.",
               "schema": {"type": "array", "items": {"type": "string"}}}),
        // `content` rather than `schema`: the value is a JSON document, percent-encoded.
        json!({"name": FILTERS_PARAM, "in": "query",
               "description": "A filters object as JSON, as a WebSocket search sends it: lookups (relation paths included), and `or`/`not` groups nesting at most `max_filter_depth` deep. Its keys are ANDed with the other filter parameters; a key given both ways is refused.",
               "content": {"application/json": {"schema": reference("Filters")}}}),
    ];
    if binding.search_names().iter().next().is_some() {
        params.push(json!({"name": "query", "in": "query", "schema": {"type": "string"},
                           "description": format!("Text matched against {}.", binding.search_names().join(", "))}));
    }
    field_params(&mut params, "", None, binding);
    for relation in registry.relations(binding.stream()) {
        let prefix = format!("{}__", relation.name);
        field_params(&mut params, &prefix, Some(&relation.name), &relation.target);
    }
    params
}

/// One parameter per filterable field of `binding` and lookup, each named after `prefix`;
/// through `relation`, when the fields are a related binding's.
fn field_params(
    params: &mut Vec<Value>,
    prefix: &str,
    relation: Option<&str>,
    binding: &ModelBinding,
) {
    let through = |param: &mut Value| {
        if let Some(relation) = relation {
            param["description"] = json!(format!(
                "Through the relation {relation} to {}: the field of the row it points at, null when there is none or it lies outside your scope; a field hidden from you there is refused.",
                binding.stream()
            ));
        }
    };
    // A computed field the binding translates takes its value as is; which lookups the
    // translation understands is the binding's to say.
    if relation.is_none() {
        for computed in binding.computed_fields() {
            if computed.filter_translation().is_some() {
                params.push(json!({"name": computed.name(), "in": "query",
                    "description": "A computed field: the server turns this filter into one on the row's fields.",
                    "schema": Value::Object(kind_schema(computed.as_field().kind()))}));
            }
        }
    }
    for field in binding.fields().iter().filter(|f| f.is_filterable()) {
        let name = format!("{prefix}{}", field.name());
        let value = Value::Object(kind_schema(field.kind()));
        let mut param = json!({"name": name, "in": "query", "schema": value});
        through(&mut param);
        params.push(param);
        for (suffix, lookup) in lookups(field.kind()) {
            if lookup.is_range() && !field.is_orderable() && field.name() != PK {
                continue;
            }
            let mut param = json!({"name": format!("{name}__{suffix}"), "in": "query"});
            match lookup {
                Lookup::In => {
                    param["style"] = json!("form");
                    param["explode"] = json!(false);
                    param["schema"] = json!({"type": "array", "items": value});
                }
                Lookup::IsNull => param["schema"] = json!({"type": "boolean"}),
                l if l.is_textual() => param["schema"] = json!({"type": "string"}),
                _ => param["schema"] = value.clone(),
            }
            through(&mut param);
            params.push(param);
        }
    }
}

/// `expand` and `include`, when the binding has relations of that kind.
fn relation_params(registry: &Registry, binding: &ModelBinding) -> Vec<Value> {
    let names = |to_one: bool| -> Vec<&str> {
        registry
            .relations(binding.stream())
            .iter()
            .filter(|r| r.is_to_one() == to_one)
            .map(|r| r.name.as_str())
            .collect()
    };
    let (one, many) = (names(true), names(false));
    let mut params = Vec::new();
    if !one.is_empty() {
        params.push(json!({"name": EXPAND_PARAM, "in": "query", "style": "form", "explode": false,
            "description": format!(
                "To-one relations to show beside their foreign key, by path: {}; `a.b` also expands the relation `b` of `a`'s row, at most `max_relation_depth` relations deep. A row the caller may not see is null.",
                one.join(", ")),
            "schema": {"type": "array", "items": {"type": "string"}}}));
    }
    if !many.is_empty() {
        params.push(json!({"name": INCLUDE_PARAM, "in": "query", "style": "form", "explode": false,
            "description": "To-many relations to show as lists, by name, each at most `max_include_rows` rows in key order; or one JSON object of names to options, percent-encoded: `{\"comments\": {\"limit\": 5, \"order\": \"-created_at\", \"expand\": [\"author\"]}}`.",
            "schema": {"type": "array", "items": {"type": "string", "enum": many}}}));
    }
    params
}

fn custom_op(stream: &str, action: &str) -> Value {
    json!({
        "operationId": format!("{stream}.{action}"),
        "tags": [stream],
        "summary": format!("The custom event {stream}.{action}."),
        "requestBody": {"required": false, "content": {"application/json": {"schema": {"type": "object"}}}},
        "responses": {
            "200": {"description": "The handler's reply.", "content": {"application/json": {"schema": {}}}},
            "204": {"description": "The handler sent no reply."},
            "4XX": {"$ref": "#/components/responses/Error"},
            "5XX": {"$ref": "#/components/responses/Error"},
        },
    })
}

/// `POST /api/batch` (docs/protocol.md section 2, "Batches").
fn batch_path() -> Value {
    json!({"post": {
        "operationId": "batch",
        "summary": "Several creates, updates, saves and deletes, across bindings, in one transaction: all apply or none does. A step's data may hold {\"$ref\": \"<step>.<field>\"} for a field of an earlier step's row.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
            "type": "object", "required": ["steps"],
            "properties": {"steps": {"type": "array", "minItems": 1, "items": {
                "type": "object", "required": ["event"],
                "properties": {"event": {"type": "string"}, "data": {"type": "object"}},
            }}},
        }}}},
        "responses": {
            "200": {"description": "Each step's usual reply, in step order.", "content": {"application/json": {"schema": {
                "type": "object",
                "properties": {"success": {"type": "boolean"}, "results": {"type": "array", "items": {"type": "object"}}},
            }}}},
            "4XX": {"$ref": "#/components/responses/Error"},
            "5XX": {"$ref": "#/components/responses/Error"},
        },
    }})
}

fn events_path() -> Value {
    json!({"post": {
        "operationId": "events",
        "summary": "Any event, as over the WebSocket; answers every frame the request sent to its own connection, in order.",
        "requestBody": {"required": true, "content": {"application/json": {"schema": reference("Envelope")}}},
        "responses": {
            "200": {"description": "The reply and reflections.", "content": {"application/json": {"schema": {"type": "array", "items": reference("Frame")}}}},
            "4XX": {"description": "The request failed; the body is the frames, or the error object when the envelope itself is bad.",
                    "content": {"application/json": {"schema": {}}}},
            "5XX": {"$ref": "#/components/responses/Error"},
        },
    }})
}
