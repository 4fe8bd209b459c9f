//! A query string as the `data` of a `search` (docs/protocol.md section 6).
//!
//! Query strings carry text only, so values are typed here by the field each key names:
//! numbers for integer and float fields, `true`/`false` for booleans and `__isnull`, a comma
//! list for `__in`. Anything this module cannot type (an unknown field or lookup, `abc` for an
//! integer) is passed on as a string, so the engine's one filter parser answers it with the
//! same `invalid_filter` a WebSocket client gets: no second parser to keep in step.
//!
//! A key through relations (`owner__username__icontains`) is typed by the field it ends at.
//!
//! What a flat list of pairs cannot say (`or` and `not` groups) goes in one `filters`
//! parameter holding a filters object as JSON, exactly as a WebSocket client sends it; its
//! keys join the plain ones, all ANDed.
//!
//! `expand` takes comma-separated relation paths (`expand=owner,task.owner`, repeatable);
//! `include` comma-separated names, or one object of names to options as JSON, as a
//! WebSocket client sends it (`include={"comments":{"limit":5}}`, percent-encoded). Both
//! also apply to `retrieve` (`GET /api/<stream>/<id>`).

use serde_json::{Map, Number, Value};

use crate::binding::{FieldKind, ModelBinding, Registry};
use crate::filter::Lookup;
use crate::key::KeyKind;
use crate::protocol::ApiError;

/// The query parameter authenticators may read a token from; it is never a filter.
pub(crate) use crate::auth::TOKEN_PARAM;

/// The query parameter holding a filters object as JSON (`or`/`not` groups included).
pub(crate) const FILTERS_PARAM: &str = "filters";

/// The query parameter of to-one relation paths to expand.
pub(crate) const EXPAND_PARAM: &str = "expand";

/// The query parameter of to-many relations to include.
pub(crate) const INCLUDE_PARAM: &str = "include";

/// `expand` and `include` as a query string gives them, for a request's `data`.
#[derive(Default)]
struct RelationParams {
    expand: Vec<Value>,
    include: Option<Value>,
}

impl RelationParams {
    /// Takes `key=raw` if it is `expand` or `include`; `false` for any other key.
    fn take(&mut self, key: &str, raw: &str) -> Result<bool, ApiError> {
        match key {
            EXPAND_PARAM => self.expand.extend(list(raw)),
            INCLUDE_PARAM if raw.trim_start().starts_with('{') => {
                if self.include.is_some() {
                    return Err(repeated(key));
                }
                match serde_json::from_str(raw) {
                    Ok(Value::Object(options)) => self.include = Some(Value::Object(options)),
                    _ => {
                        return Err(ApiError::bad_request(
                            "include must be names or a JSON object (percent-encoded)",
                        ))
                    }
                }
            }
            INCLUDE_PARAM => match &mut self.include {
                None => self.include = Some(Value::Array(list(raw).collect())),
                Some(Value::Array(names)) => names.extend(list(raw)),
                Some(_) => return Err(repeated(key)),
            },
            _ => return Ok(false),
        }
        Ok(true)
    }

    fn into_data(self, data: &mut Map<String, Value>) {
        if !self.expand.is_empty() {
            data.insert(EXPAND_PARAM.into(), Value::Array(self.expand));
        }
        if let Some(include) = self.include {
            data.insert(INCLUDE_PARAM.into(), include);
        }
    }
}

/// The non-empty items of a comma-separated list.
fn list(raw: &str) -> impl Iterator<Item = Value> + '_ {
    raw.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| Value::String(k.to_owned()))
}

/// The `data` of a `retrieve` beside its id: `expand` and `include`; other parameters are
/// ignored, as they always were.
pub(crate) fn retrieve_data(query: Option<&str>) -> Result<Map<String, Value>, ApiError> {
    let mut relations = RelationParams::default();
    for (key, raw) in pairs(query.unwrap_or("")) {
        relations.take(&key, &raw)?;
    }
    let mut data = Map::new();
    relations.into_data(&mut data);
    Ok(data)
}

/// Builds the `data` of a `search` from the query string: `page`, `limit`, `order`, `query`,
/// `filters` (JSON) and every other key as a filter, with `"subscribe": false` since an HTTP
/// request has no connection to push to.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn search_data(
    binding: &ModelBinding,
    query: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    search_data_in(None, binding, query)
}

/// [`search_data`] typing keys through relations with `registry`.
pub(crate) fn search_data_in(
    registry: Option<&Registry>,
    binding: &ModelBinding,
    query: Option<&str>,
) -> Result<Map<String, Value>, ApiError> {
    let mut data = Map::new();
    let mut filters = Map::new();
    let mut order: Vec<Value> = Vec::new();
    let mut json_filters: Option<Map<String, Value>> = None;
    let mut relations = RelationParams::default();
    for (key, raw) in pairs(query.unwrap_or("")) {
        if relations.take(&key, &raw)? {
            continue;
        }
        match key.as_str() {
            TOKEN_PARAM => {}
            FILTERS_PARAM if json_filters.is_some() => return Err(repeated(&key)),
            FILTERS_PARAM => json_filters = Some(filters_object(&raw)?),
            "order" => order.extend(list(&raw)),
            "page" | "limit" => once(&mut data, key, integer_or_text(&raw))?,
            "query" => once(&mut data, key, Value::String(raw))?,
            _ => {
                let value = filter_value(registry, binding, &key, &raw);
                match (filters.get_mut(&key), value) {
                    // `id__in=1,2&id__in=3` reads as one list, as most HTTP clients send it.
                    (Some(Value::Array(items)), Value::Array(more)) => items.extend(more),
                    (Some(_), _) => return Err(repeated(&key)),
                    (None, value) => {
                        filters.insert(key, value);
                    }
                }
            }
        }
    }
    for (key, value) in json_filters.unwrap_or_default() {
        // Two values for one key have no meaning a map can keep; ANDing them would need a
        // group, which the client can write itself.
        if filters.contains_key(&key) {
            return Err(repeated(&key));
        }
        filters.insert(key, value);
    }
    if !order.is_empty() {
        data.insert("order".into(), Value::Array(order));
    }
    relations.into_data(&mut data);
    data.insert("filters".into(), Value::Object(filters));
    data.insert("subscribe".into(), Value::Bool(false));
    Ok(data)
}

/// The `filters` parameter: a JSON object, else `bad_request` as over the WebSocket.
fn filters_object(raw: &str) -> Result<Map<String, Value>, ApiError> {
    match serde_json::from_str(raw) {
        Ok(Value::Object(filters)) => Ok(filters),
        _ => Err(ApiError::bad_request(
            "filters must be a JSON object (percent-encoded)",
        )),
    }
}

/// The decoded `key=value` pairs, in order; a key without `=` has the empty value.
fn pairs(query: &str) -> impl Iterator<Item = (String, String)> + '_ {
    form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned()))
}

fn once(data: &mut Map<String, Value>, key: String, value: Value) -> Result<(), ApiError> {
    if data.contains_key(&key) {
        return Err(repeated(&key));
    }
    data.insert(key, value);
    Ok(())
}

fn repeated(key: &str) -> ApiError {
    ApiError::bad_request(format!("{key} is given more than once"))
}

/// The filter value of `key=raw`, typed by the field and lookup `key` names.
fn filter_value(
    registry: Option<&Registry>,
    binding: &ModelBinding,
    key: &str,
    raw: &str,
) -> Value {
    let mut names: Vec<&str> = key.split("__").collect();
    let lookup = match names.as_slice() {
        [_, .., last] => match Lookup::parse(last) {
            Some(lookup) => {
                names.pop();
                lookup
            }
            None => Lookup::Exact,
        },
        _ => Lookup::Exact,
    };
    let Some(kind) = kind_at(registry, binding, &names) else {
        return Value::String(raw.to_owned());
    };
    match lookup {
        Lookup::In if raw.is_empty() => Value::Array(Vec::new()),
        Lookup::In => Value::Array(raw.split(',').map(|item| scalar(&kind, item)).collect()),
        Lookup::IsNull => boolean(raw),
        lookup if lookup.is_textual() => Value::String(raw.to_owned()),
        _ => scalar(&kind, raw),
    }
}

/// The kind of the field `names` ends at, following relations from `binding` (the parser
/// decides later whether the reader may follow them); a computed field of `binding` itself
/// counts, typed by its kind for its translation.
fn kind_at(
    registry: Option<&Registry>,
    binding: &ModelBinding,
    names: &[&str],
) -> Option<FieldKind> {
    let (last, relations) = names.split_last()?;
    if relations.is_empty() {
        if let Some(computed) = binding.computed_field(last) {
            return Some(computed.as_field().kind().clone());
        }
    }
    let mut target: Option<std::sync::Arc<ModelBinding>> = None;
    for name in relations {
        let from = target.as_deref().unwrap_or(binding);
        target = Some(std::sync::Arc::clone(
            &registry?.relation(from.stream(), name)?.target,
        ));
    }
    target
        .as_deref()
        .unwrap_or(binding)
        .get(last)
        .map(|f| f.kind().clone())
}

/// One value for a field of `kind`; text when it does not read as that kind.
fn scalar(kind: &FieldKind, raw: &str) -> Value {
    match kind {
        FieldKind::Integer
        | FieldKind::ForeignKey {
            key: KeyKind::Integer,
            ..
        } => integer_or_text(raw),
        FieldKind::Float => raw
            .parse::<f64>()
            .ok()
            .and_then(Number::from_f64)
            .map_or_else(|| Value::String(raw.to_owned()), Value::Number),
        FieldKind::Boolean => boolean(raw),
        // A JSON field compares documents: `extra={"a":1}` means the object; an array field
        // takes its array in JSON: `tags=["a","b"]`.
        FieldKind::Json | FieldKind::Array(_) => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
        _ => Value::String(raw.to_owned()),
    }
}

fn integer_or_text(raw: &str) -> Value {
    raw.parse::<i64>()
        .map_or_else(|_| Value::String(raw.to_owned()), Value::from)
}

fn boolean(raw: &str) -> Value {
    match raw {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => Value::String(raw.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::Field;
    use crate::filter::parse_filter;
    use crate::protocol::ErrorCode;
    use serde_json::json;

    fn binding() -> ModelBinding {
        ModelBinding::new("todo_task")
            .field(Field::string("title"))
            .field(Field::boolean("done"))
            .field(Field::integer("priority"))
            .field(Field::float("weight"))
            .field(Field::foreign_key("owner_id", "auth.User"))
            .search(["title"])
    }

    fn data(query: &str) -> Value {
        Value::Object(search_data(&binding(), Some(query)).unwrap())
    }

    #[test]
    fn values_are_typed_by_their_field() {
        let d = data("done=false&id__in=1,2&id__in=3&priority__gte=2&weight__lt=1.5&owner_id__isnull=true&title__contains=1");
        assert_eq!(
            d["filters"],
            json!({"done": false, "id__in": [1, 2, 3], "priority__gte": 2, "weight__lt": 1.5,
                   "owner_id__isnull": true, "title__contains": "1"})
        );
        assert_eq!(d["subscribe"], false);
    }

    #[test]
    fn paging_order_and_query() {
        let d = data("page=2&limit=10&order=-priority,id&query=read+me&token=secret");
        assert_eq!(d["page"], 2);
        assert_eq!(d["limit"], 10);
        assert_eq!(d["order"], json!(["-priority", "id"]));
        assert_eq!(d["query"], "read me");
        assert_eq!(d["filters"], json!({}));
        assert_eq!(
            data("page=two")["page"],
            "two",
            "left for the engine's bad_request"
        );
    }

    #[test]
    fn what_cannot_be_typed_reaches_the_filter_parser_as_text() {
        let d = data("priority=1%20OR%201%3D1&nope__gt=1&title__regex=.*");
        assert_eq!(d["filters"]["priority"], "1 OR 1=1");
        for key in ["priority", "nope__gt", "title__regex"] {
            let mut one = Map::new();
            one.insert(key.to_owned(), d["filters"][key].clone());
            let err = parse_filter(&binding(), &one, None, 10).unwrap_err();
            assert_eq!(err.code, ErrorCode::InvalidFilter, "{key}");
        }
    }

    #[test]
    fn a_filters_parameter_carries_groups_and_joins_the_plain_keys() {
        let groups =
            r#"{"or":[{"done":true},{"not":{"priority__gt":3}}],"title__icontains":"a b"}"#;
        let query: String = form_urlencoded::Serializer::new(String::new())
            .append_pair("filters", groups)
            .append_pair("priority__in", "1,2")
            .finish();
        let d = data(&query);
        assert_eq!(
            d["filters"],
            json!({"or": [{"done": true}, {"not": {"priority__gt": 3}}],
                   "title__icontains": "a b", "priority__in": [1, 2]})
        );
        let f = d["filters"].as_object().unwrap();
        assert!(parse_filter(&binding(), f, None, 10).is_ok());
        assert_eq!(data("filters=%7B%7D")["filters"], json!({}));
    }

    #[test]
    fn a_bad_or_clashing_filters_parameter_is_refused() {
        for query in [
            "filters=%5B1%5D",
            "filters=nope",
            "filters=",
            "filters=%7B%7D&filters=%7B%7D",
            "done=true&filters=%7B%22done%22%3Afalse%7D",
        ] {
            let err = search_data(&binding(), Some(query)).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{query}");
        }
        // A malformed group inside reaches the filter parser, as over the WebSocket.
        let d = data("filters=%7B%22or%22%3A%5B%5D%7D");
        let err =
            parse_filter(&binding(), d["filters"].as_object().unwrap(), None, 10).unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidFilter);
    }

    #[test]
    fn keys_through_relations_are_typed_by_the_field_they_reach() {
        let registry = crate::binding::Registry::new()
            .model(
                ModelBinding::new("auth_user")
                    .field(Field::string("username"))
                    .field(Field::integer("age")),
            )
            .unwrap()
            .model(binding())
            .unwrap();
        let tasks = registry.get("todo.Task").unwrap();
        let query = "owner__username=5&owner__age__gte=30&owner__id__in=1,2&owner__age__isnull=false&order=-owner__username,title&owner__nope=1&title__x__y=2";
        let d = search_data_in(Some(&registry), tasks, Some(query)).unwrap();
        assert_eq!(
            d["filters"],
            json!({"owner__username": "5", "owner__age__gte": 30, "owner__id__in": [1, 2],
                   "owner__age__isnull": false, "owner__nope": "1", "title__x__y": "2"})
        );
        assert_eq!(d["order"], json!(["-owner__username", "title"]));
        let without = search_data(tasks, Some("owner__age__gte=30")).unwrap();
        assert_eq!(
            without["filters"]["owner__age__gte"], "30",
            "left to the parser"
        );
    }

    #[test]
    fn expand_and_include_are_relations_not_filters() {
        let d =
            data("expand=owner,task.owner&expand=author&include=comments&include=tags&done=true");
        assert_eq!(d["expand"], json!(["owner", "task.owner", "author"]));
        assert_eq!(d["include"], json!(["comments", "tags"]));
        assert_eq!(d["filters"], json!({"done": true}));
        let options = form_urlencoded::Serializer::new(String::new())
            .append_pair(
                "include",
                r#"{"comments":{"limit":5,"order":"-created_at"}}"#,
            )
            .finish();
        assert_eq!(
            data(&options)["include"],
            json!({"comments": {"limit": 5, "order": "-created_at"}})
        );
        for bad in [
            "include=%7Bnope",
            "include=%7B%7D&include=a",
            "include=a&include=%7B%7D",
        ] {
            let err = search_data(&binding(), Some(bad)).unwrap_err();
            assert_eq!(err.code, ErrorCode::BadRequest, "{bad}");
        }
        let d = retrieve_data(Some("expand=owner&page=3&include=comments")).unwrap();
        assert_eq!(
            Value::Object(d),
            json!({"expand": ["owner"], "include": ["comments"]})
        );
    }

    #[test]
    fn repeated_single_values_are_refused() {
        let err = search_data(&binding(), Some("done=true&done=false")).unwrap_err();
        assert_eq!(err.code, ErrorCode::BadRequest);
        assert!(search_data(&binding(), Some("page=1&page=2")).is_err());
    }

    proptest::proptest! {
        /// Any query string, however it is escaped, is `data` for a search or `bad_request`;
        /// its filters are a filter or `invalid_filter`.
        #[test]
        fn any_query_string_is_data_or_refused(query in "\\PC*") {
            check_query(&query)?;
        }

        /// Query strings built of real keys and values reach deeper.
        #[test]
        fn keyed_query_strings_are_data_or_refused(
            pairs in proptest::collection::vec((crate::arbitrary::key(), "[^&]{0,12}"), 0..8),
        ) {
            let query: String = pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&");
            check_query(&query)?;
        }

        /// Values escaped by any client decode to the text that was escaped.
        #[test]
        fn escaped_queries_round_trip(text in "\\PC{0,24}") {
            let query: String = form_urlencoded::Serializer::new(String::new())
                .append_pair("query", &text)
                .finish();
            let data = search_data(&crate::arbitrary::every_kind(), Some(&query)).unwrap();
            proptest::prop_assert_eq!(&data["query"], &Value::String(text));
        }
    }

    fn check_query(query: &str) -> Result<(), proptest::test_runner::TestCaseError> {
        let binding = crate::arbitrary::every_kind();
        match search_data(&binding, Some(query)) {
            Ok(data) => {
                let Some(Value::Object(filters)) = data.get("filters") else {
                    return Err(proptest::test_runner::TestCaseError::fail("no filters"));
                };
                if let Err(e) = parse_filter(&binding, filters, None, 10) {
                    proptest::prop_assert_eq!(e.code, ErrorCode::InvalidFilter);
                }
            }
            Err(e) => proptest::prop_assert_eq!(e.code, ErrorCode::BadRequest),
        }
        Ok(())
    }
}
