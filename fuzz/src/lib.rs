//! One fuzz target per parser of chanbind that reads bytes from the network. Each is a plain
//! function of the input bytes that panics only on a bug: `fuzz_targets/*.rs` hand them to
//! libFuzzer (`cargo fuzz run <target>`), and `tests/replay.rs` calls them on stable with the
//! checked-in corpus and random inputs, so `cargo test` catches a regression without nightly.

use std::sync::OnceLock;

use chanbind_engine::binding::{CustomBinding, EventContext, Field, ModelBinding, Registry};
use chanbind_engine::filter::{
    parse_filter, parse_filter_related, parse_filter_visible, Ordering, Relations,
};
use chanbind_engine::protocol::{decode_inbound, encode_reply, ErrorCode, Inbound};
use chanbind_engine::{fuzzing, value::Row};
use serde_json::{Map, Value};

/// The most values an `__in` list may have, as the server's default limit.
const MAX_IN: usize = 100;

/// How deep `or`/`not` groups may nest, as the server's default `max_filter_depth`.
const MAX_DEPTH: usize = 4;

/// How many relations a key may follow, as the server's default `max_relation_depth`.
const MAX_RELATIONS: usize = 2;

/// A fuzz target: the input bytes in, a panic out only on a bug.
pub type Target = fn(&[u8]);

/// Every target, by its cargo-fuzz name.
pub const TARGETS: &[(&str, Target)] = &[
    ("frame", frame),
    ("filter", filter),
    ("query_string", query_string),
    ("route_path", route_path),
    ("http_head", http_head),
    ("chunked_body", chunked_body),
];

/// A WebSocket text frame: decoded or refused; a decoded frame encodes and decodes back to
/// itself.
pub fn frame(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(inbound) = decode_inbound(text) {
        let again = encode_reply(&inbound.event.to_string(), &inbound.data);
        let back: Inbound = decode_inbound(again.as_str()).expect("an encoded frame decodes");
        assert_eq!(back, inbound);
    }
}

/// The `data` of a `search` as JSON: its `filters` and `query` are a filter or
/// `invalid_filter`, its `order` an ordering or an error; what parses evaluates on a row.
pub fn filter(data: &[u8]) {
    let Ok(Value::Object(data)) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let binding = binding();
    let empty = Map::new();
    let filters = match data.get("filters") {
        Some(Value::Object(filters)) => filters,
        _ => &data,
    };
    let query = data.get("query").and_then(Value::as_str);
    let row = sample_row();
    for parsed in [
        parse_filter(binding, filters, query, MAX_IN),
        parse_filter_visible(binding, filters, query, MAX_IN, MAX_DEPTH, &|f| f != "body"),
        parse_filter(binding, &empty, query, MAX_IN),
    ] {
        match parsed {
            Ok(filter) => {
                let _ = filter.matches(&row);
            }
            Err(e) => assert_eq!(e.code, ErrorCode::InvalidFilter, "{e:?}"),
        }
    }
    if let Ok(order) = Ordering::parse(binding, data.get("order")) {
        let _ = order.compare(&row, &data);
    }
    // Relation paths (`owner__title__icontains`), followed as far as the server allows.
    let registry = related();
    let things = registry.get("fuzz.Thing").expect("bound");
    let relations = Relations {
        max_depth: MAX_RELATIONS,
        ..Relations::server(registry)
    };
    let visible = |f: &str| f != "body";
    match parse_filter_related(
        things, filters, query, MAX_IN, MAX_DEPTH, &visible, &relations,
    ) {
        Ok(filter) => {
            let _ = filter.matches(&row);
        }
        Err(e) => assert_eq!(e.code, ErrorCode::InvalidFilter, "{e:?}"),
    }
    if let Ok(order) = Ordering::parse_related(things, data.get("order"), &visible, &relations) {
        let _ = order.compare(&row, &data);
    }
}

fn related() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(fuzzing::related_registry)
}

/// An HTTP query string on a collection: `data` for a search or `bad_request`, and then the
/// same filter parser as a WebSocket client meets.
pub fn query_string(data: &[u8]) {
    let query = String::from_utf8_lossy(data);
    let binding = binding();
    match fuzzing::search_data(binding, &query) {
        Ok(data) => {
            let filters = match data.get("filters") {
                Some(Value::Object(filters)) => filters.clone(),
                other => panic!("search data without filters: {other:?}"),
            };
            if let Err(e) = parse_filter(binding, &filters, None, MAX_IN) {
                assert_eq!(e.code, ErrorCode::InvalidFilter, "{e:?}");
            }
            let _ = Ordering::parse(binding, data.get("order"));
        }
        Err(e) => assert_eq!(e.code, ErrorCode::BadRequest, "{e:?}"),
    }
}

/// A path under the HTTP API's prefix (the first byte picks `POST` or `GET`): a route or a
/// 404/400.
pub fn route_path(data: &[u8]) {
    let Some((&method, path)) = data.split_first() else {
        return;
    };
    let path = String::from_utf8_lossy(path);
    if let Err(e) = fuzzing::route(registry(), &path, method & 1 == 1) {
        assert!(
            matches!(
                e.code,
                ErrorCode::NotFound
                    | ErrorCode::UnknownEvent
                    | ErrorCode::BadRequest
                    | ErrorCode::Invalid
            ),
            "{e:?}"
        );
    }
}

/// The blocking adapter's HTTP/1.1 request head: a head within the input, incomplete, or a
/// status.
pub fn http_head(data: &[u8]) {
    if let Ok(Some(len)) = chanbind_sync::fuzzing::parse_head(data) {
        assert!(len <= data.len());
    }
}

/// The blocking adapter's chunked body decoder (the first two bytes set the size limit, and
/// the low bit of the first one lifts it): a body within the limit and the input, or a
/// refusal.
pub fn chunked_body(data: &[u8]) {
    let (limit, body) = match data {
        [a, b, rest @ ..] if a & 1 == 1 => (usize::MAX - usize::from(*b), rest),
        [a, b, rest @ ..] => (usize::from(u16::from_le_bytes([*a, *b])), rest),
        _ => return,
    };
    if let Ok((decoded, used)) = chanbind_sync::fuzzing::decode_chunked(body, limit) {
        assert!(decoded.len() <= limit && used <= body.len());
    }
}

/// The engine's binding with a field of every kind, built once.
fn binding() -> &'static ModelBinding {
    static BINDING: OnceLock<ModelBinding> = OnceLock::new();
    BINDING.get_or_init(fuzzing::every_kind)
}

/// The routes' registry: the model binding, a custom action on it and a custom stream.
fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let ping = |_ctx: EventContext| async { Ok(None) };
        Registry::new()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title"))
                    .on("archive", ping),
            )
            .and_then(|r| r.custom(CustomBinding::new("custom_stream").on("custom_event", ping)))
            .expect("a valid registry")
    })
}

/// A row with a value of every field's kind.
fn sample_row() -> Row {
    let row = serde_json::json!({
        "id": 7, "title": "Read me", "body": "long text", "count": 3, "weight": 1.5,
        "done": false, "day": "2024-02-29", "at": "2024-02-29T12:00:00Z",
        "uid": "67e55044-10b1-426f-9247-bb680e5fe0c8", "mail": "a@example.com",
        "extra": {"a": [1, 2]}, "price": "12.30", "owner_id": null, "secret": "s",
    });
    match row {
        Value::Object(row) => row,
        _ => Row::new(),
    }
}
