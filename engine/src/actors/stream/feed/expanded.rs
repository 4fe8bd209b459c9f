//! The pushes of change feeds whose rows show relations: each needs a store read before it
//! can be encoded, so it is made in a task, and the actor releases the tasks' pushes in the
//! order their changes arrived ([`Pipeline`]), as feed events must keep.

use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::Arc;

use ractor::ActorRef;
use serde_json::{json, Value};
use tokio::sync::Semaphore;

use super::super::StreamMsg;
use crate::binding::ModelBinding;
use crate::change::Change;
use crate::expand::{Relations, Watch};
use crate::filter::Filter;
use crate::key::Key;
use crate::outbound::{ConnId, SubKey};
use crate::permission::View;
use crate::protocol::{encode_reply, Frame};
use crate::store::{Store, StoreError};
use crate::value::Row;

/// One subscriber a job makes pushes for.
pub(super) struct Target {
    pub(super) conn: ConnId,
    pub(super) key: SubKey,
    /// The event of the push (`<stream>.updated#hash`).
    pub(super) event: String,
    pub(super) relations: Relations,
    pub(super) view: Arc<View>,
    /// The feed's filter, its subscriber's scope included.
    pub(super) filter: Filter,
}

/// What a job renders.
pub(super) enum Work {
    /// The changed row itself (`None` for `deleted`, which shows only the key).
    Row { pk: Key, row: Option<Row> },
    /// A related row changed: each target's rows that show it, as `updated`.
    Related(Arc<Change>),
}

/// The pushes one job made, in order, for the actor to release.
pub(crate) type Pushes = Vec<(ConnId, SubKey, Frame)>;

/// Numbers jobs as their changes arrive and releases their pushes in that order.
#[derive(Default)]
pub(super) struct Pipeline {
    next_seq: u64,
    next_release: u64,
    ready: BTreeMap<u64, Pushes>,
}

/// What a job needs besides its work.
pub(super) struct Env {
    pub(super) binding: Arc<ModelBinding>,
    pub(super) store: Arc<dyn Store>,
    pub(super) refreshes: Arc<Semaphore>,
    /// The most rows a related change re-pushes per feed.
    pub(super) max_rows: usize,
}

impl Pipeline {
    /// Starts a job in a task; its pushes come back as [`StreamMsg::FeedRendered`].
    pub(super) fn start(
        &mut self,
        myself: &ActorRef<StreamMsg>,
        env: &Env,
        work: Work,
        targets: Vec<Target>,
    ) {
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut done = Done {
            myself: myself.clone(),
            seq,
            sent: false,
        };
        let (binding, store, refreshes, max) = (
            Arc::clone(&env.binding),
            Arc::clone(&env.store),
            Arc::clone(&env.refreshes),
            env.max_rows,
        );
        let blocking = store.is_blocking();
        let render = async move {
            let pushes = match render(&*store, &binding, &work, &targets, max).await {
                Ok(pushes) => pushes,
                Err(e) => {
                    // The feed's subscribers miss this event; the next change shows the rows
                    // again.
                    tracing::warn!(error = %e, "cannot read the relations of a feed's push");
                    Vec::new()
                }
            };
            done.send(pushes);
        };
        tokio::spawn(async move {
            let Ok(_permit) = refreshes.acquire_owned().await else {
                return;
            };
            if blocking {
                let _ =
                    tokio::task::spawn_blocking(move || futures_executor::block_on(render)).await;
            } else {
                render.await;
            }
        });
    }

    /// Takes a job's pushes and gives back every push now due, in order.
    pub(super) fn finished(&mut self, seq: u64, pushes: Pushes) -> Pushes {
        self.ready.insert(seq, pushes);
        let mut due = Vec::new();
        while let Some(pushes) = self.ready.remove(&self.next_release) {
            due.extend(pushes);
            self.next_release += 1;
        }
        due
    }
}

/// Sends a job's pushes back once, even when the job fails or its task is dropped, so the
/// pipeline never waits for it forever.
struct Done {
    myself: ActorRef<StreamMsg>,
    seq: u64,
    sent: bool,
}

impl Done {
    fn send(&mut self, pushes: Pushes) {
        self.sent = true;
        let _ = self.myself.send_message(StreamMsg::FeedRendered {
            seq: self.seq,
            pushes,
        });
    }
}

impl Drop for Done {
    fn drop(&mut self) {
        if !self.sent {
            self.send(Vec::new());
        }
    }
}

async fn render(
    store: &dyn Store,
    binding: &Arc<ModelBinding>,
    work: &Work,
    targets: &[Target],
    max: usize,
) -> Result<Pushes, StoreError> {
    let mut pushes = Vec::new();
    match work {
        Work::Row { pk, row: None } => {
            let payload = json!({"id": pk});
            for t in targets {
                pushes.push((t.conn, t.key.clone(), encode_reply(&t.event, &payload)));
            }
        }
        Work::Row { row: Some(row), .. } => {
            // Targets sharing relations and a view share one read.
            let mut shown: HashMap<(String, String), Value> = HashMap::new();
            for t in targets {
                let id = (t.relations.signature(), t.view.signature().to_owned());
                let value = match shown.get(&id) {
                    Some(value) => value.clone(),
                    None => {
                        let rows = std::slice::from_ref(row);
                        let mut watch = Watch::default();
                        let value = t
                            .relations
                            .render(store, binding, &t.view, rows, &mut watch)
                            .await?
                            .pop()
                            .unwrap_or(Value::Null);
                        shown.insert(id, value.clone());
                        value
                    }
                };
                pushes.push((t.conn, t.key.clone(), encode_reply(&t.event, &value)));
            }
        }
        Work::Related(change) => {
            for t in targets {
                let Some(showing) = t.relations.showing(store, binding, change, max).await? else {
                    continue;
                };
                let filter = t.filter.clone().and(showing);
                let rows = crate::expand::read_rows(store, binding, filter, max).await?;
                let mut watch = Watch::default();
                let values = t
                    .relations
                    .render(store, binding, &t.view, &rows, &mut watch)
                    .await?;
                for value in values {
                    pushes.push((t.conn, t.key.clone(), encode_reply(&t.event, &value)));
                }
            }
        }
    }
    Ok(pushes)
}
