//! Building responses: JSON bodies, error objects with the status of docs/protocol.md section 6,
//! and the refusals of authentication.

use http::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use http::{HeaderValue, Response, StatusCode};
use serde_json::Value;

use super::HttpResponse;
use crate::auth::Refusal;
use crate::protocol::{ApiError, ErrorCode};
use crate::rate::RateLimited;

const JSON: &str = "application/json";

/// A response with a JSON body.
pub fn json(status: StatusCode, body: &Value) -> HttpResponse {
    bytes(status, body.to_string().into_bytes())
}

/// A response whose body is already encoded JSON.
pub(crate) fn bytes(status: StatusCode, body: Vec<u8>) -> HttpResponse {
    let mut response = Response::new(body);
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(JSON));
    response
}

/// The error object `{"code", "message", "fields"}` under the status its code has in
/// docs/protocol.md section 6.
pub fn error(error: &ApiError) -> HttpResponse {
    let status =
        StatusCode::from_u16(error.code.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    error_with_status(status, error)
}

/// The error object under a status of the adapter's choosing (408 for a body that took too
/// long, 415, 426, ...), for the HTTP failures the protocol's codes do not name.
pub fn error_with_status(status: StatusCode, error: &ApiError) -> HttpResponse {
    let body = serde_json::to_vec(error)
        .unwrap_or_else(|_| br#"{"code":"internal","message":"internal error"}"#.to_vec());
    bytes(status, body)
}

/// The answer to a request the authenticators refused: 401 with `WWW-Authenticate` (the
/// client may retry with credentials), or 503 when an authenticator failed.
pub fn refusal(refusal: Refusal) -> HttpResponse {
    let code = match refusal {
        Refusal::Unauthenticated => ErrorCode::Unauthenticated,
        Refusal::ForbiddenOrigin | Refusal::MissingOrigin => ErrorCode::PermissionDenied,
        Refusal::Unavailable | Refusal::TooManyConnections => ErrorCode::Unavailable,
    };
    let mut response = error(&ApiError::new(code, refusal.to_string()));
    if refusal == Refusal::Unauthenticated {
        response
            .headers_mut()
            .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// 429 with `Retry-After` in whole seconds.
pub(crate) fn rate_limited(limited: RateLimited) -> HttpResponse {
    let mut response = error(&limited.error());
    response
        .headers_mut()
        .insert(RETRY_AFTER, HeaderValue::from(limited.retry_after_secs()));
    response
}

/// 405 with the `Allow` header.
pub(crate) fn method_not_allowed(allow: &str) -> HttpResponse {
    let mut response = error_with_status(
        StatusCode::METHOD_NOT_ALLOWED,
        &ApiError::bad_request(format!("this route answers {allow}")),
    );
    set_allow(&mut response, allow);
    response
}

/// 415.
pub(crate) fn unsupported_media_type() -> HttpResponse {
    error_with_status(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &ApiError::bad_request(super::body::UNSUPPORTED),
    )
}

/// 413 with the `too_large` code.
pub(crate) fn too_large(limit: usize) -> HttpResponse {
    error(&ApiError::new(
        ErrorCode::TooLarge,
        format!("request bodies are limited to {limit} bytes"),
    ))
}

/// 204 with no body.
pub(crate) fn no_content() -> HttpResponse {
    let mut response = Response::new(Vec::new());
    *response.status_mut() = StatusCode::NO_CONTENT;
    response
}

pub(crate) fn set_allow(response: &mut HttpResponse, allow: &str) {
    if let Ok(value) = HeaderValue::from_str(allow) {
        response.headers_mut().insert(ALLOW, value);
    }
}

/// The answer to HEAD: GET's status and headers, its length, no body.
pub(crate) fn head(mut response: HttpResponse) -> HttpResponse {
    if response.status() == StatusCode::NO_CONTENT {
        // A 204 must not carry Content-Length at all.
        return response;
    }
    let len = response.body().len();
    response
        .headers_mut()
        .insert(CONTENT_LENGTH, HeaderValue::from(len));
    response.body_mut().clear();
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_section_6_status() {
        let r = error(&ApiError::invalid_filter(
            "nope__gt: unknown or unfilterable field",
        ));
        assert_eq!(r.status(), 400);
        let body: Value = serde_json::from_slice(r.body()).unwrap();
        assert_eq!(body["code"], "invalid_filter");
        assert_eq!(error(&ApiError::not_found()).status(), 404);
        let r = refusal(Refusal::Unauthenticated);
        assert_eq!(
            (
                r.status().as_u16(),
                r.headers()[WWW_AUTHENTICATE].to_str().unwrap()
            ),
            (401, "Bearer")
        );
        assert_eq!(refusal(Refusal::Unavailable).status(), 503);
    }

    #[test]
    fn head_keeps_the_length_and_drops_the_body() {
        let r = head(json(StatusCode::OK, &serde_json::json!({"a": 1})));
        assert_eq!(r.headers()[CONTENT_LENGTH], "7");
        assert!(r.body().is_empty());
    }
}
