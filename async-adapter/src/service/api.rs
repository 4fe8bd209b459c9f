//! A request under the API prefix: the head through the engine, then the body, bounded in
//! size and in time, then the rest.

use std::net::SocketAddr;

use bytes::Bytes;
use chanbind_engine::http::{self as api, Begin};
use chanbind_engine::protocol::ApiError;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::http::request::Parts;
use hyper::{Response, StatusCode};

use super::{full, BoxError, Inner, ResponseBody};

/// Answers an API request.
pub(super) async fn call<B>(
    inner: &Inner,
    parts: Parts,
    body: B,
    peer: Option<SocketAddr>,
) -> Response<ResponseBody>
where
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let pending = match inner.api.begin(&parts, peer.map(|p| p.ip())).await {
        Begin::Respond(response) => return full(response),
        Begin::Proceed(pending) => pending,
    };
    let bytes = if pending.wants_body() {
        let read = Limited::new(body, pending.body_limit()).collect();
        match tokio::time::timeout(inner.config.body_read_timeout, read).await {
            Ok(Ok(collected)) => collected.to_bytes(),
            Ok(Err(e)) if e.is::<LengthLimitError>() => return full(pending.too_large()),
            Ok(Err(_)) => return full(api::unreadable_body()),
            Err(_) => {
                let error = ApiError::bad_request("the request body took too long to arrive");
                return full(api::error_with_status(StatusCode::REQUEST_TIMEOUT, &error));
            }
        }
    } else {
        Bytes::new()
    };
    full(pending.finish(&bytes).await)
}
