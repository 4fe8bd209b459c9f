//! The `LISTEN` connections readiness watches: each listener reports whether it is
//! connected through a [`ListenerHealth`] it holds; the engine keeps only a weak reference,
//! so a listener that stops leaves the checks.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex, Weak};

/// The channels a listener hears, which say which checks it counts for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Hears {
    /// The capture triggers' notifications ([`crate::capture`]): the `capture` check.
    pub capture: bool,
    /// The channel layer's messages from other nodes ([`crate::layer`]): the `layer` check,
    /// when the engine's layer reaches other nodes.
    pub layer: bool,
}

const CONNECTING: u8 = 0;
const CONNECTED: u8 = 1;
const DISCONNECTED: u8 = 2;

/// One listener's connection, as readiness sees it: connecting at first, then
/// [`connected`](Self::connected) once it listens and [`disconnected`](Self::disconnected)
/// when it loses the connection. Get it from
/// [`Engine::listener_health`](crate::Engine::listener_health); dropping it takes the
/// listener out of the checks.
#[derive(Debug)]
pub struct ListenerHealth {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    hears: Hears,
    status: AtomicU8,
}

impl ListenerHealth {
    /// The listener listens: notifications reach it.
    pub fn connected(&self) {
        self.state.status.store(CONNECTED, Ordering::Release);
    }

    /// The listener lost its connection (or could not connect again): notifications sent
    /// meanwhile are lost until it is back.
    pub fn disconnected(&self) {
        self.state.status.store(DISCONNECTED, Ordering::Release);
    }
}

/// Every listener's state, weakly held.
#[derive(Debug, Default)]
pub(crate) struct Listeners {
    list: Mutex<Vec<Weak<State>>>,
}

impl Listeners {
    /// A new listener's handle, connecting.
    pub(crate) fn register(&self, hears: Hears) -> ListenerHealth {
        let state = Arc::new(State {
            hears,
            status: AtomicU8::new(CONNECTING),
        });
        let mut list = self.lock();
        list.retain(|s| s.strong_count() > 0);
        list.push(Arc::downgrade(&state));
        ListenerHealth { state }
    }

    /// Whether every live listener that hears what `counts` picks is connected; the reason
    /// (`connecting`, `disconnected`) of the first that is not. No such listener passes:
    /// nothing is missed that someone listens for.
    pub(crate) fn check(&self, counts: impl Fn(Hears) -> bool) -> Result<(), &'static str> {
        let list = self.lock();
        let mut result = Ok(());
        for state in list.iter().filter_map(Weak::upgrade) {
            if !counts(state.hears) {
                continue;
            }
            match state.status.load(Ordering::Acquire) {
                CONNECTED => {}
                // A lost connection says more than one still coming: report it first.
                DISCONNECTED => return Err("disconnected"),
                _ => result = Err("connecting"),
            }
        }
        result
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Weak<State>>> {
        self.list.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listeners_count_for_what_they_hear_until_dropped() {
        let listeners = Listeners::default();
        let capture = |h: Hears| h.capture;
        let layer = |h: Hears| h.layer;
        assert_eq!(listeners.check(capture), Ok(()), "nobody listens");
        let both = listeners.register(Hears {
            capture: true,
            layer: true,
        });
        assert_eq!(listeners.check(capture), Err("connecting"));
        both.connected();
        assert_eq!(listeners.check(layer), Ok(()));
        let only_capture = listeners.register(Hears {
            capture: true,
            layer: false,
        });
        only_capture.disconnected();
        assert_eq!(listeners.check(capture), Err("disconnected"));
        assert_eq!(listeners.check(layer), Ok(()));
        drop(only_capture);
        assert_eq!(listeners.check(capture), Ok(()));
    }
}
