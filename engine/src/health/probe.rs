//! The store's probe, shared: at most one [`Store::ping`] runs at a time, and its answer is
//! reused for [`REUSE`], so a flood of `/readyz` requests costs the database one `SELECT 1`
//! per [`REUSE`] at most, whatever the number of requests.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::future::{BoxFuture, FutureExt, Shared};

use crate::store::{PingError, Store, PING_TIMEOUT};

/// How long one probe's answer stands for the requests after it.
pub(crate) const REUSE: Duration = Duration::from_millis(250);

type Answer = Result<(), PingError>;

/// The probe's state, shared by every request that asks.
#[derive(Default)]
pub(crate) struct StoreProbe {
    state: Mutex<State>,
    /// Set while a ping runs, and until its work really ends: a blocking store's ping that
    /// outlived [`PING_TIMEOUT`] still holds its thread, and no second one starts beside it.
    busy: Arc<AtomicBool>,
    /// How many pings were started, for tests.
    started: AtomicU64,
}

#[derive(Default)]
struct State {
    /// The last answer and when it came.
    last: Option<(Instant, Answer)>,
    /// The probe in flight, which every request that arrives meanwhile waits for.
    running: Option<Shared<BoxFuture<'static, Answer>>>,
}

impl StoreProbe {
    /// The store's answer: a recent one, the one in flight, or a new probe's.
    pub(crate) async fn check(
        self: &Arc<Self>,
        store: &Arc<dyn Store>,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> Answer {
        let running = {
            let mut state = self.lock();
            if let Some((at, answer)) = &state.last {
                if at.elapsed() < REUSE {
                    return answer.clone();
                }
            }
            match &state.running {
                Some(running) => running.clone(),
                None => {
                    let running = self.start(Arc::clone(store), runtime).shared();
                    state.running = Some(running.clone());
                    running
                }
            }
        };
        running.await
    }

    /// How many pings have been started.
    pub(crate) fn started(&self) -> u64 {
        self.started.load(Ordering::Relaxed)
    }

    /// A new probe. It runs on the engine's runtime, so it ends (and is recorded) within
    /// [`PING_TIMEOUT`] even when every request that asked has gone.
    fn start(
        self: &Arc<Self>,
        store: Arc<dyn Store>,
        runtime: Option<&tokio::runtime::Handle>,
    ) -> BoxFuture<'static, Answer> {
        let probe = Arc::clone(self);
        if self.busy.swap(true, Ordering::AcqRel) {
            // The last ping is still stuck in its store: the store does not answer. Recorded
            // as the future runs, once the caller has let go of the state.
            return async move {
                probe.finish(Err(PingError::Timeout));
                Err(PingError::Timeout)
            }
            .boxed();
        }
        self.started.fetch_add(1, Ordering::Relaxed);
        let busy = Busy(Arc::clone(&self.busy));
        let Some(runtime) = runtime else {
            // No runtime to time it on (an engine is always started on one; this is for
            // completeness): the store's own bound applies.
            return async move {
                let answer = store.ping().await;
                drop(busy);
                probe.finish(answer.clone());
                answer
            }
            .boxed();
        };
        let task = runtime.spawn(async move {
            let ping = async {
                if store.is_blocking() {
                    // A blocking store blocks the thread that polls it: one of tokio's
                    // blocking threads, which keeps `busy` until the store lets it go.
                    tokio::task::spawn_blocking(move || {
                        let answer = futures_executor::block_on(store.ping());
                        drop(busy);
                        answer
                    })
                    .await
                    .unwrap_or_else(|e| Err(PingError::Failed(format!("probe failed: {e}"))))
                } else {
                    let answer = store.ping().await;
                    drop(busy);
                    answer
                }
            };
            let answer = tokio::time::timeout(PING_TIMEOUT, ping)
                .await
                .unwrap_or(Err(PingError::Timeout));
            probe.finish(answer.clone());
            answer
        });
        task.map(|joined| {
            joined.unwrap_or_else(|e| Err(PingError::Failed(format!("probe task failed: {e}"))))
        })
        .boxed()
    }

    /// Records a probe's answer, logging when the store's health changes.
    fn finish(&self, answer: Answer) {
        let mut state = self.lock();
        let was_ok = state.last.as_ref().map(|(_, a)| a.is_ok());
        match (&answer, was_ok) {
            (Err(e), Some(true) | None) => tracing::warn!(error = %e, "store health probe failed"),
            (Ok(()), Some(false)) => tracing::info!("store health probe answers again"),
            _ => {}
        }
        state.last = Some((Instant::now(), answer));
        state.running = None;
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Clears the busy flag when the ping's work ends, however it ends (a ping future dropped by
/// the timeout included).
struct Busy(Arc<AtomicBool>);

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.store(false, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{PingFuture, StoreError, StoreFuture, StoreOp};
    use std::sync::atomic::AtomicUsize;

    /// A store whose probe takes `delay` (blocking its thread when `blocking`) and counts.
    struct Slow {
        delay: Duration,
        blocking: bool,
        pings: AtomicUsize,
    }

    impl Store for Slow {
        fn execute(&self, _: StoreOp) -> StoreFuture<'_> {
            Box::pin(async { Err(StoreError::Internal("not for this test".into())) })
        }
        fn kind(&self) -> &'static str {
            "slow"
        }
        fn is_blocking(&self) -> bool {
            self.blocking
        }
        fn ping(&self) -> PingFuture<'_> {
            self.pings.fetch_add(1, Ordering::SeqCst);
            let delay = self.delay;
            if self.blocking {
                Box::pin(async move {
                    std::thread::sleep(delay);
                    Ok(())
                })
            } else {
                Box::pin(async move {
                    tokio::time::sleep(delay).await;
                    Ok(())
                })
            }
        }
    }

    fn slow(delay: Duration, blocking: bool) -> Arc<Slow> {
        Arc::new(Slow {
            delay,
            blocking,
            pings: AtomicUsize::new(0),
        })
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_flood_shares_one_probe_and_its_answer_stands_briefly() {
        let store = slow(Duration::from_millis(100), false);
        let dyn_store: Arc<dyn Store> = store.clone();
        let probe = Arc::new(StoreProbe::default());
        let runtime = tokio::runtime::Handle::current();
        let flood = (0..200).map(|_| {
            let (probe, store, runtime) = (probe.clone(), dyn_store.clone(), runtime.clone());
            tokio::spawn(async move { probe.check(&store, Some(&runtime)).await })
        });
        for answer in futures_util::future::join_all(flood).await {
            assert_eq!(answer.unwrap(), Ok(()));
        }
        assert_eq!(
            store.pings.load(Ordering::SeqCst),
            1,
            "one probe for the flood"
        );
        assert_eq!(probe.check(&dyn_store, Some(&runtime)).await, Ok(()));
        assert_eq!(store.pings.load(Ordering::SeqCst), 1, "its answer reused");
        tokio::time::sleep(REUSE).await;
        assert_eq!(probe.check(&dyn_store, Some(&runtime)).await, Ok(()));
        assert_eq!(store.pings.load(Ordering::SeqCst), 2, "then probed again");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stuck_store_times_out_and_is_not_probed_again_while_stuck() {
        let store = slow(PING_TIMEOUT * 4, true);
        let dyn_store: Arc<dyn Store> = store.clone();
        let probe = Arc::new(StoreProbe::default());
        let runtime = tokio::runtime::Handle::current();
        assert_eq!(
            probe.check(&dyn_store, Some(&runtime)).await,
            Err(PingError::Timeout)
        );
        tokio::time::sleep(REUSE).await;
        assert_eq!(
            probe.check(&dyn_store, Some(&runtime)).await,
            Err(PingError::Timeout),
            "still stuck"
        );
        assert_eq!(
            store.pings.load(Ordering::SeqCst),
            1,
            "no second probe beside it"
        );
        tokio::time::sleep(PING_TIMEOUT * 4).await;
        assert_eq!(
            probe.check(&dyn_store, Some(&runtime)).await,
            Err(PingError::Timeout)
        );
        assert_eq!(
            store.pings.load(Ordering::SeqCst),
            2,
            "probed again once free"
        );
    }
}
