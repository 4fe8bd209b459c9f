//! The error object every failed request gets (docs/protocol.md section 1).

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

/// The error codes of docs/protocol.md section 1; the wire form is the snake-case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The frame is not JSON, not an object, has no string `event`, or a field has a wrong type.
    BadRequest,
    /// No binding answers this stream, or the binding has no such action.
    UnknownEvent,
    /// An anonymous connection asked for something that needs a user.
    Unauthenticated,
    /// A signed-in user asked for something their permissions refuse.
    PermissionDenied,
    /// The row does not exist or lies outside the caller's row scope.
    NotFound,
    /// A write failed validation; `fields` names every bad field.
    Invalid,
    /// A filter, `order` or `query` names an unknown field or lookup, or has a value of the wrong type.
    InvalidFilter,
    /// A unique or foreign key constraint refused the write.
    Conflict,
    /// A per-connection limit (such as `max_subscriptions`) was reached.
    LimitExceeded,
    /// A frame was larger than `max_message_bytes`; the connection is closed with 1009.
    TooLarge,
    /// The client sends faster than it is allowed to.
    RateLimited,
    /// The database cannot be reached; the client may retry.
    Unavailable,
    /// Anything else. The message never carries a backtrace, SQL or driver text.
    Internal,
}

impl ErrorCode {
    /// Every code, in the order of docs/protocol.md.
    pub const ALL: [ErrorCode; 13] = [
        ErrorCode::BadRequest,
        ErrorCode::UnknownEvent,
        ErrorCode::Unauthenticated,
        ErrorCode::PermissionDenied,
        ErrorCode::NotFound,
        ErrorCode::Invalid,
        ErrorCode::InvalidFilter,
        ErrorCode::Conflict,
        ErrorCode::LimitExceeded,
        ErrorCode::TooLarge,
        ErrorCode::RateLimited,
        ErrorCode::Unavailable,
        ErrorCode::Internal,
    ];

    /// The code with this wire name.
    pub fn from_wire(name: &str) -> Option<ErrorCode> {
        Self::ALL.into_iter().find(|c| c.as_str() == name)
    }

    /// The wire name of the code.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::BadRequest => "bad_request",
            ErrorCode::UnknownEvent => "unknown_event",
            ErrorCode::Unauthenticated => "unauthenticated",
            ErrorCode::PermissionDenied => "permission_denied",
            ErrorCode::NotFound => "not_found",
            ErrorCode::Invalid => "invalid",
            ErrorCode::InvalidFilter => "invalid_filter",
            ErrorCode::Conflict => "conflict",
            ErrorCode::LimitExceeded => "limit_exceeded",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::RateLimited => "rate_limited",
            ErrorCode::Unavailable => "unavailable",
            ErrorCode::Internal => "internal",
        }
    }

    /// The HTTP status docs/protocol.md section 6 gives this code.
    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::NotFound | ErrorCode::UnknownEvent => 404,
            ErrorCode::Invalid
            | ErrorCode::InvalidFilter
            | ErrorCode::BadRequest
            | ErrorCode::LimitExceeded => 400,
            ErrorCode::Unauthenticated => 401,
            ErrorCode::PermissionDenied => 403,
            ErrorCode::Conflict => 409,
            ErrorCode::TooLarge => 413,
            ErrorCode::RateLimited => 429,
            ErrorCode::Internal => 500,
            ErrorCode::Unavailable => 503,
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error as the client sees it: a code, a human message and, for `invalid`, the bad fields.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiError {
    /// What kind of failure this is.
    pub code: ErrorCode,
    /// A message for people; safe to show to any client.
    pub message: String,
    /// For `invalid` and `conflict`: every bad field with its messages.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub fields: BTreeMap<String, Vec<String>>,
    /// For a version check's `conflict`: the row as it is now, as the writer may see it
    /// (docs/protocol.md section 2, "Version checks").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<serde_json::Value>,
    /// For a batch: the index of the step that failed (docs/protocol.md section 2,
    /// "Batches").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<usize>,
}

impl ApiError {
    /// An error with a code and a message and no field details.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ApiError {
            code,
            message: message.into(),
            fields: BTreeMap::new(),
            object: None,
            step: None,
        }
    }

    /// An `invalid` error naming each bad field; the message sums them up.
    pub fn invalid(fields: BTreeMap<String, Vec<String>>) -> Self {
        let message = fields
            .iter()
            .map(|(field, msgs)| format!("{field}: {}", msgs.join("; ")))
            .collect::<Vec<_>>()
            .join(", ");
        ApiError {
            code: ErrorCode::Invalid,
            message,
            fields,
            object: None,
            step: None,
        }
    }

    /// The same error, as the failure of a batch's step `step`.
    pub fn at_step(mut self, step: usize) -> Self {
        self.step = Some(step);
        self
    }

    /// A `bad_request` error.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::BadRequest, message)
    }

    /// An `invalid_filter` error.
    pub fn invalid_filter(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidFilter, message)
    }

    /// A `not_found` error for a primary key.
    pub fn not_found() -> Self {
        Self::new(ErrorCode::NotFound, "no such row")
    }

    /// The `internal` error: deliberately says nothing about the cause.
    pub fn internal() -> Self {
        Self::new(ErrorCode::Internal, "internal error")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

impl std::error::Error for ApiError {}
