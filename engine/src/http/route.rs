//! Matching a path under the API prefix to a route of docs/protocol.md section 6, and the methods
//! each route answers.

use http::Method;

use crate::binding::{ModelBinding, Registry};
use crate::key::{Key, KeyKind};
use crate::protocol::{ApiError, ErrorCode};
use crate::session::bad_key;

/// The path of the machine-readable description, under the prefix.
pub(crate) const OPENAPI: &str = "openapi.json";
/// The path that takes any envelope, under the prefix.
pub(crate) const EVENTS: &str = "events";
/// The path of a batch of writes in one transaction, under the prefix.
pub(crate) const BATCH: &str = "batch";

/// One route of section 6. Streams are the registry's own strings, so an event built from a
/// route never carries text the registry does not know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Route {
    /// `GET /api/openapi.json`.
    OpenApi,
    /// `POST /api/events`.
    Events,
    /// `POST /api/batch`: several writes in one transaction (docs/protocol.md section 2,
    /// "Batches"); the body is the batch's `data`.
    Batch,
    /// `/api/<stream>/`: `search` and `create`.
    Collection { stream: String },
    /// `/api/<stream>/<id>`: `retrieve`, `update`, `save` and `delete`.
    Item { stream: String, id: Key },
    /// `/api/<stream>/form` and `/api/<stream>/<id>/form`.
    Form { stream: String, id: Option<Key> },
    /// `/api/<stream>/<action>`: a custom event.
    Custom { stream: String, action: String },
}

impl Route {
    /// The route as a template, after the prefix (`/{stream}/{id}`): the `route` of a
    /// request's span ([`crate::trace`]), which names no row or stream so that traces group
    /// by it.
    pub(crate) fn template(&self) -> &'static str {
        match self {
            Route::OpenApi => "/openapi.json",
            Route::Events => "/events",
            Route::Batch => "/batch",
            Route::Collection { .. } => "/{stream}/",
            Route::Item { .. } => "/{stream}/{id}",
            Route::Form { id: None, .. } => "/{stream}/form",
            Route::Form { id: Some(_), .. } => "/{stream}/{id}/form",
            Route::Custom { .. } => "/{stream}/{action}",
        }
    }

    /// Matches `rest`, the raw (still percent-encoded) path after the prefix: `""`, `"/"` or
    /// `"/<segments>"`.
    /// `post` tells a custom action (`POST /api/<stream>/<action>`) from an item
    /// (`/api/<stream>/<id>`) when the segment is not a number.
    pub(crate) fn parse(registry: &Registry, rest: &str, post: bool) -> Result<Route, ApiError> {
        let Some(rest) = rest.strip_prefix('/') else {
            return Err(no_route());
        };
        let mut segments = rest
            .split('/')
            .map(decode_segment)
            .collect::<Result<Vec<_>, _>>()?;
        // `/api/todo.Task/` and `/api/todo.Task` name the same collection; a trailing slash
        // on the other routes is forgiven the same way, as a curl user would expect.
        if segments.len() > 1 && segments.last().is_some_and(String::is_empty) {
            segments.pop();
        }
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        match segments.as_slice() {
            [""] => Err(no_route()),
            [OPENAPI] => Ok(Route::OpenApi),
            [EVENTS] => Ok(Route::Events),
            [BATCH] => Ok(Route::Batch),
            [stream] => model_stream(registry, stream).map(|stream| Route::Collection { stream }),
            [stream, second] => {
                // A handler wins: a custom stream may name an action `form`, which a model
                // binding may not.
                if registry.handler(stream, second).is_some() {
                    return Ok(Route::Custom {
                        stream: (*stream).to_owned(),
                        action: (*second).to_owned(),
                    });
                }
                if *second == "form" {
                    return model_stream(registry, stream)
                        .map(|stream| Route::Form { stream, id: None });
                }
                let is_key = registry
                    .get(stream)
                    .is_some_and(|b| parse_id(b, second).is_ok());
                if (post && !is_key && registry.has_stream(stream))
                    || (registry.get(stream).is_none() && registry.has_stream(stream))
                {
                    return Err(ApiError::new(
                        ErrorCode::UnknownEvent,
                        format!("{stream} has no action {second}"),
                    ));
                }
                let (stream, binding) = model_binding(registry, stream)?;
                Ok(Route::Item {
                    id: parse_id(binding, second)?,
                    stream,
                })
            }
            [stream, id, "form"] => {
                let (stream, binding) = model_binding(registry, stream)?;
                Ok(Route::Form {
                    id: Some(parse_id(binding, id)?),
                    stream,
                })
            }
            _ => Err(no_route()),
        }
    }

    /// The methods the route answers, OPTIONS aside.
    pub(crate) fn methods(&self) -> &'static [Method] {
        match self {
            Route::OpenApi => &[Method::GET, Method::HEAD],
            Route::Events | Route::Batch | Route::Custom { .. } => &[Method::POST],
            Route::Collection { .. } => &[Method::GET, Method::HEAD, Method::POST],
            Route::Item { .. } => &[
                Method::GET,
                Method::HEAD,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ],
            Route::Form { .. } => &[Method::GET, Method::HEAD, Method::POST],
        }
    }

    /// The `Allow` header's value: the route's methods and OPTIONS.
    pub(crate) fn allow(&self) -> String {
        let mut names: Vec<&str> = self.methods().iter().map(Method::as_str).collect();
        names.push("OPTIONS");
        names.join(", ")
    }

    /// The engine action `method` asks of this route, once the method is known to be allowed.
    /// `None` for the routes the HTTP layer answers itself (the OpenAPI document, `events`).
    pub(crate) fn action(&self, method: &Method) -> Option<&str> {
        Some(match (self, method) {
            (Route::OpenApi | Route::Events, _) => return None,
            (Route::Batch, _) => crate::protocol::BATCH,
            (Route::Collection { .. }, &Method::POST) => "create",
            (Route::Collection { .. }, _) => "search",
            (Route::Item { .. }, &Method::PATCH) => "update",
            (Route::Item { .. }, &Method::PUT) => "save",
            (Route::Item { .. }, &Method::DELETE) => "delete",
            (Route::Item { .. }, _) => "retrieve",
            (Route::Form { .. }, _) => "form",
            (Route::Custom { action, .. }, _) => action,
        })
    }

    /// The stream the route addresses, if any.
    pub(crate) fn stream(&self) -> Option<&str> {
        match self {
            Route::OpenApi | Route::Events | Route::Batch => None,
            Route::Collection { stream }
            | Route::Item { stream, .. }
            | Route::Form { stream, .. }
            | Route::Custom { stream, .. } => Some(stream),
        }
    }
}

/// Whether a request with this method carries a body the route reads.
pub(crate) fn reads_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// The stream of a model binding, or the 404 of section 6: `unknown_event` for a stream no
/// binding serves, and for a custom stream, which has no rows to list or address.
fn model_stream(registry: &Registry, stream: &str) -> Result<String, ApiError> {
    if registry.get(stream).is_some() {
        Ok(stream.to_owned())
    } else if registry.has_stream(stream) {
        Err(ApiError::new(
            ErrorCode::UnknownEvent,
            format!("{stream} has custom events only: POST /api/{stream}/<action>"),
        ))
    } else {
        Err(ApiError::new(
            ErrorCode::UnknownEvent,
            format!("no stream {stream}"),
        ))
    }
}

/// The stream and binding of a model binding, or [`model_stream`]'s 404.
fn model_binding<'a>(
    registry: &'a Registry,
    stream: &str,
) -> Result<(String, &'a ModelBinding), ApiError> {
    let stream = model_stream(registry, stream)?;
    let binding = registry.get(&stream).ok_or_else(no_route)?;
    Ok((stream, binding))
}

/// A primary key in a path, in the key's text form (already percent-decoded). An integer key
/// takes decimal digits only, so `1%00`, `+1`, ` 1` and `abc` are all the error that a
/// non-integer `id` is over the WebSocket.
fn parse_id(binding: &ModelBinding, segment: &str) -> Result<Key, ApiError> {
    let digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    if binding.key_kind() == KeyKind::Integer && !digits {
        return Err(bad_key("must be an integer"));
    }
    binding.parse_key_text(segment).map_err(|why| bad_key(&why))
}

fn no_route() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// Decodes `%XX` in one path segment. Unlike a query string, `+` stays a plus, and a `%` not
/// followed by two hex digits stays as it is. A segment that does not decode to UTF-8 cannot
/// name a stream or an id, so it is refused outright.
fn decode_segment(segment: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(std::borrow::Cow::into_owned)
        .map_err(|_| ApiError::bad_request("the path is not valid UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{CustomBinding, Field, ModelBinding};

    fn registry() -> Registry {
        let ping = |_ctx: crate::binding::EventContext| async { Ok(None) };
        Registry::new()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::string("title"))
                    .on("archive", ping),
            )
            .unwrap()
            .custom(CustomBinding::new("custom_stream").on("custom_event", ping))
            .unwrap()
    }

    fn parse(rest: &str) -> Result<Route, ErrorCode> {
        Route::parse(&registry(), rest, false).map_err(|e| e.code)
    }

    #[test]
    fn matches_every_route_of_section_6() {
        let stream = || "todo.Task".to_owned();
        assert_eq!(parse("/openapi.json"), Ok(Route::OpenApi));
        assert_eq!(parse("/events"), Ok(Route::Events));
        assert_eq!(
            parse("/todo.Task/"),
            Ok(Route::Collection { stream: stream() })
        );
        assert_eq!(
            parse("/todo.Task"),
            Ok(Route::Collection { stream: stream() })
        );
        assert_eq!(
            parse("/todo.Task/12"),
            Ok(Route::Item {
                stream: stream(),
                id: 12.into()
            })
        );
        assert_eq!(
            parse("/todo.Task/form"),
            Ok(Route::Form {
                stream: stream(),
                id: None
            })
        );
        assert_eq!(
            parse("/todo.Task/3/form"),
            Ok(Route::Form {
                stream: stream(),
                id: Some(3.into())
            })
        );
        assert_eq!(
            parse("/todo.Task/archive"),
            Ok(Route::Custom {
                stream: stream(),
                action: "archive".into()
            })
        );
        assert_eq!(
            parse("/custom_stream/custom_event"),
            Ok(Route::Custom {
                stream: "custom_stream".into(),
                action: "custom_event".into()
            })
        );
    }

    #[test]
    fn bad_ids_are_invalid_and_unknown_paths_404() {
        for id in ["abc", "1%00", "%2B1", "-1", "1.5", "99999999999999999999"] {
            assert_eq!(
                parse(&format!("/todo.Task/{id}")),
                Err(ErrorCode::Invalid),
                "{id}"
            );
        }
        // Not UTF-8: no key of any kind.
        assert_eq!(parse("/todo.Task/%ff"), Err(ErrorCode::BadRequest));
        assert_eq!(parse("/nope.Thing/"), Err(ErrorCode::UnknownEvent));
        assert_eq!(parse("/custom_stream/"), Err(ErrorCode::UnknownEvent));
        assert_eq!(parse("/custom_stream/other"), Err(ErrorCode::UnknownEvent));
        assert_eq!(parse("/todo.Task/1/form/x"), Err(ErrorCode::NotFound));
        assert_eq!(parse(""), Err(ErrorCode::NotFound));
        assert_eq!(parse("/"), Err(ErrorCode::NotFound));
    }

    #[test]
    fn allow_lists_the_methods_and_options() {
        let item = Route::Item {
            stream: "s".into(),
            id: 1.into(),
        };
        assert_eq!(item.allow(), "GET, HEAD, PUT, PATCH, DELETE, OPTIONS");
        assert_eq!(item.action(&Method::PUT), Some("save"));
        assert_eq!(Route::Events.allow(), "POST, OPTIONS");
    }

    #[test]
    fn escapes_decode_and_broken_escapes_stay() {
        assert_eq!(decode_segment("todo%2ETask"), Ok("todo.Task".to_owned()));
        assert_eq!(decode_segment("a+b%20c"), Ok("a+b c".to_owned()));
        assert_eq!(decode_segment("100%"), Ok("100%".to_owned()));
        assert_eq!(decode_segment("%zz%4"), Ok("%zz%4".to_owned()));
        assert_eq!(decode_segment("%C3%A9"), Ok("\u{e9}".to_owned()));
        assert_eq!(
            decode_segment("%C3").map_err(|e| e.code),
            Err(ErrorCode::BadRequest)
        );
    }

    proptest::proptest! {
        /// Any path, however hostile, is a route or a typed error.
        #[test]
        fn any_path_is_a_route_or_an_error(rest in "\\PC*", post: bool) {
            let registry = registry();
            if let Err(e) = Route::parse(&registry, &rest, post) {
                proptest::prop_assert!(matches!(
                    e.code,
                    ErrorCode::NotFound | ErrorCode::UnknownEvent | ErrorCode::BadRequest
                ));
            }
        }

        /// Bytes that are not even a path (what a fuzzer sends) are handled the same way.
        #[test]
        fn any_escaped_bytes_decode_or_are_refused(bytes: Vec<u8>) {
            let escaped: String = bytes.iter().map(|b| format!("%{b:02X}")).collect();
            match decode_segment(&escaped) {
                Ok(text) => proptest::prop_assert_eq!(text.as_bytes(), &bytes[..]),
                Err(e) => {
                    proptest::prop_assert!(std::str::from_utf8(&bytes).is_err());
                    proptest::prop_assert_eq!(e.code, ErrorCode::BadRequest);
                }
            }
        }

        /// A segment escaped by any client decodes back to its text.
        #[test]
        fn escaped_text_round_trips(text in "\\PC*") {
            let escaped =
                percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
                    .to_string();
            proptest::prop_assert_eq!(decode_segment(&escaped), Ok(text));
        }

        /// Every id in range addresses its row, written plainly or escaped.
        #[test]
        fn ids_round_trip(id in 0..=i64::MAX) {
            let item = Route::Item { stream: "todo.Task".into(), id: id.into() };
            proptest::prop_assert_eq!(parse(&format!("/todo.Task/{id}")), Ok(item.clone()));
            let escaped: String = id.to_string().bytes().map(|b| format!("%{b:02x}")).collect();
            proptest::prop_assert_eq!(parse(&format!("/todo%2ETask/{escaped}/")), Ok(item));
        }
    }
}
