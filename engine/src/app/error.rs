//! The typed error of application calls.

use std::collections::BTreeMap;

use crate::protocol::{ApiError, ErrorCode};

/// Why an application call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AppError {
    /// The engine refused or failed the request, as a client would have been told: the
    /// protocol's code (docs/protocol.md section 1), message and, for `invalid` and
    /// `conflict`, the bad fields.
    #[error("{0}")]
    Api(ApiError),
    /// The value given to an `_as` call did not serialise to a JSON object of fields.
    #[error("the value does not serialise to a JSON object: {0}")]
    Serialize(#[source] serde_json::Error),
    /// The engine's answer did not deserialise into the type asked for.
    #[error("the answer does not deserialise into the type asked for: {0}")]
    Deserialize(#[source] serde_json::Error),
}

impl AppError {
    /// The protocol's error code: the engine's own, `bad_request` for a value that does not
    /// serialise, `internal` for an answer that does not deserialise.
    pub fn code(&self) -> ErrorCode {
        match self {
            AppError::Api(error) => error.code,
            AppError::Serialize(_) => ErrorCode::BadRequest,
            AppError::Deserialize(_) => ErrorCode::Internal,
        }
    }

    /// The message, safe to show to any client.
    pub fn message(&self) -> String {
        match self {
            AppError::Api(error) => error.message.clone(),
            other => other.to_string(),
        }
    }

    /// Every bad field with its messages (for `invalid` and `conflict`); empty otherwise.
    pub fn fields(&self) -> &BTreeMap<String, Vec<String>> {
        static NONE: BTreeMap<String, Vec<String>> = BTreeMap::new();
        match self {
            AppError::Api(error) => &error.fields,
            _ => &NONE,
        }
    }

    /// The error as the protocol shows it to a client, to send on (an HTTP status from
    /// [`ErrorCode::http_status`], say).
    pub fn to_api(&self) -> ApiError {
        match self {
            AppError::Api(error) => error.clone(),
            other => ApiError::new(other.code(), other.message()),
        }
    }
}

impl AppError {
    /// The HTTP response the HTTP API would give for this error (status from the code, the
    /// error object as its JSON body), for a host's route handler to return as it is:
    /// `err.to_response().map(axum::body::Body::from)` in axum.
    pub fn to_response(&self) -> crate::http::HttpResponse {
        crate::http::error(&self.to_api())
    }
}

impl From<ApiError> for AppError {
    fn from(error: ApiError) -> Self {
        AppError::Api(error)
    }
}
