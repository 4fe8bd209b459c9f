//! Running a blocking store's work from whatever thread polls it.
//!
//! A store on a blocking driver (the `postgres` crate) cannot block a tokio worker: the
//! driver starts a runtime of its own for each call, which tokio refuses inside a running
//! runtime ("Cannot start a runtime from within a runtime"). Such a store puts each call
//! through [`run_blocking`], so it may be handed to any adapter, polled by any executor.

use tokio::runtime::{Handle, RuntimeFlavor};

/// Runs `work`, which blocks, so that it may block:
///
/// - outside any tokio runtime (a connection thread of the sync adapter, a blocking-pool
///   thread, a plain `block_on`), or inside a multi-threaded runtime, with
///   [`tokio::task::block_in_place`]: on a worker it first hands the worker's other tasks to
///   another thread; elsewhere it just runs `work`;
/// - inside a current-thread runtime, where `block_in_place` is not allowed, on a scoped
///   thread of its own, which the caller waits for (that runtime has no other thread to
///   run its tasks on meanwhile anyway).
pub fn run_blocking<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    let current_thread = Handle::try_current()
        .is_ok_and(|h| matches!(h.runtime_flavor(), RuntimeFlavor::CurrentThread));
    if !current_thread {
        return tokio::task::block_in_place(work);
    }
    std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("chanbind-blocking".into())
            .spawn_scoped(scope, work)
            .map(|t| t.join())
            .unwrap_or_else(|e| {
                // No thread to be had: the machine is out of them, and nothing else can help.
                panic!("cannot start a thread for blocking store work: {e}")
            })
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Blocks the way the `postgres` crate does: with a runtime of its own.
    fn blocking_driver_call() -> u32 {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime")
            .block_on(async { 7 })
    }

    #[test]
    fn runs_outside_any_runtime() {
        assert_eq!(run_blocking(blocking_driver_call), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn runs_on_a_multi_threaded_worker() {
        assert_eq!(run_blocking(blocking_driver_call), 7);
        let on_worker = tokio::spawn(async { run_blocking(blocking_driver_call) });
        assert_eq!(on_worker.await.unwrap(), 7);
    }

    #[tokio::test]
    async fn runs_inside_a_current_thread_runtime() {
        assert_eq!(run_blocking(blocking_driver_call), 7);
    }

    #[test]
    fn runs_on_a_blocking_thread_and_where_a_handle_is_entered() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let on_pool = rt.block_on(async {
            tokio::task::spawn_blocking(|| run_blocking(blocking_driver_call)).await
        });
        assert_eq!(on_pool.unwrap(), 7);
        let _entered = rt.enter();
        assert_eq!(run_blocking(blocking_driver_call), 7);
    }
}
