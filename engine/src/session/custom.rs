//! Calling a custom event handler, with panics caught.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use futures_util::FutureExt;

use crate::binding::{EventContext, Handler, HandlerResult};
use crate::protocol::ApiError;

/// Calls `handler`; a panic, in the call or in the future it returns, is logged and becomes
/// `internal`, and the connection carries on.
pub(super) async fn call(handler: Arc<dyn Handler>, ctx: EventContext) -> HandlerResult {
    let event = ctx.event.to_string();
    let future = match std::panic::catch_unwind(AssertUnwindSafe(|| handler.call(ctx))) {
        Ok(future) => future,
        Err(_) => {
            tracing::error!(%event, "custom handler panicked");
            return Err(ApiError::internal());
        }
    };
    match AssertUnwindSafe(future).catch_unwind().await {
        Ok(result) => result,
        Err(_) => {
            tracing::error!(%event, "custom handler panicked");
            Err(ApiError::internal())
        }
    }
}
