//! The WebSocket sessions of one service, each on a task of its own, so that shutdown can
//! wait for them (and drop those that outstay the grace).

use std::future::Future;
use std::sync::Mutex;
use std::time::Duration;

use tokio::task::JoinSet;

/// The running sessions; closed for good once shutdown took them.
#[derive(Default)]
pub(super) struct Sessions {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tasks: JoinSet<()>,
    closed: bool,
}

impl Sessions {
    /// Runs `session` on a task of its own; `false` (and `session` dropped) once shutdown
    /// has begun.
    pub(super) fn spawn<F>(&self, session: F) -> bool
    where
        F: Future<Output = ()> + Send + 'static,
    {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.closed {
            return false;
        }
        // Ended sessions are reaped here, so a long-running service keeps only live ones.
        while state.tasks.try_join_next().is_some() {}
        state.tasks.spawn(session);
        true
    }

    /// How many sessions are still running.
    pub(super) fn open(&self) -> usize {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.tasks.try_join_next().is_some() {}
        state.tasks.len()
    }

    /// Takes every session (later ones are refused) and waits for them, at most `grace`;
    /// those left are aborted. The sessions themselves watch the stop signal and close.
    pub(super) fn close_all(&self, grace: Duration) -> impl Future<Output = ()> + Send + 'static {
        let mut tasks = {
            let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
            state.closed = true;
            std::mem::take(&mut state.tasks)
        };
        async move {
            let drain = async { while tasks.join_next().await.is_some() {} };
            if tokio::time::timeout(grace, drain).await.is_err() {
                tracing::warn!(
                    left = tasks.len(),
                    "WebSockets did not close in time; dropping them"
                );
                tasks.abort_all();
                while tasks.join_next().await.is_some() {}
            }
        }
    }
}
