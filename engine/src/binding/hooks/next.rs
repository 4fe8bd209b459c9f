//! The built-in write a wrapper calls.

use std::fmt;

use futures_util::future::BoxFuture;

use super::Written;
use crate::protocol::ApiError;
use crate::value::Row;

/// The built-in write action behind a wrapper ([`crate::binding::ModelBinding::wrap`]).
/// Running it runs the before-write hooks, the store write, the writer's reply and the
/// pushes, with the values given.
pub struct Next {
    run: Box<dyn FnOnce(Row) -> BoxFuture<'static, Result<Written, ApiError>> + Send>,
}

impl Next {
    /// The built-in write, as the session's write path provides it.
    pub(crate) fn new(
        run: impl FnOnce(Row) -> BoxFuture<'static, Result<Written, ApiError>> + Send + 'static,
    ) -> Self {
        Next { run: Box::new(run) }
    }

    /// Runs the built-in write with `values` (field names to values, as in
    /// [`super::WriteCall::values`]; ignored by a delete). On success the writer has its reply
    /// and subscribers their pushes; an error has not been sent to anyone yet.
    pub async fn run(self, values: Row) -> Result<Written, ApiError> {
        (self.run)(values).await
    }
}

impl fmt::Debug for Next {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Next")
    }
}
