//! Judging filters that follow relations against a change's rows.
//!
//! A filter without relation paths is matched against a change's old and new row in memory.
//! One with paths (`owner__username`, or a permission scope such as `project__owner_id`) needs
//! the related rows, which only the store holds, so the stream actor asks the store before it
//! pushes ([`StoreOp::Matches`]), once per distinct filter, and waits for the answer: the
//! pushes of one stream keep their order. Only subscriptions with such filters cost this.

use std::sync::Arc;

use crate::binding::ModelBinding;
use crate::change::Change;
use crate::filter::Filter;
use crate::store::{Store, StoreError, StoreOp, StoreOutput};
use crate::value::Row;

/// Which of a change's rows is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// The row before the change.
    Old,
    /// The row after it.
    New,
}

/// The store's answers for one change, per filter with paths: `None` where it could not say.
#[derive(Default)]
pub(crate) struct Verdicts {
    answers: Vec<(Filter, Option<bool>, Option<bool>)>,
}

impl Verdicts {
    /// No answers: filters with paths are undecided, the others matched in memory.
    pub(crate) fn none() -> Verdicts {
        Verdicts::default()
    }

    /// Asks the store about `change`'s rows for each of `filters` that follows relations.
    pub(crate) async fn judge(
        store: &Arc<dyn Store>,
        binding: &Arc<ModelBinding>,
        change: &Change,
        filters: Vec<Filter>,
    ) -> Verdicts {
        let mut verdicts = Verdicts::none();
        let sides: Vec<(Side, &Row)> = [(Side::Old, &change.old), (Side::New, &change.new)]
            .into_iter()
            .filter_map(|(side, row)| Some((side, row.as_ref()?)))
            .collect();
        for filter in filters {
            if !filter.has_paths() || verdicts.answers.iter().any(|(f, _, _)| *f == filter) {
                continue;
            }
            let (mut old, mut new) = (None, None);
            if !sides.is_empty() {
                let op = StoreOp::Matches {
                    binding: Arc::clone(binding),
                    filter: filter.clone(),
                    rows: sides.iter().map(|(_, row)| (*row).clone()).collect(),
                };
                match execute(store, op).await {
                    Ok(StoreOutput::Matches(answers)) if answers.len() == sides.len() => {
                        for ((side, _), answer) in sides.iter().zip(answers) {
                            match side {
                                Side::Old => old = Some(answer),
                                Side::New => new = Some(answer),
                            }
                        }
                    }
                    other => tracing::warn!(
                        stream = binding.stream(),
                        result = ?other,
                        "cannot judge a change against a filter through relations"
                    ),
                }
            }
            verdicts.answers.push((filter, old, new));
        }
        verdicts
    }

    /// Whether `row`, the change's `side`, satisfies `filter`: in memory when the filter has
    /// no paths, else the store's answer (`None` when there is none).
    pub(crate) fn matches(&self, filter: &Filter, side: Side, row: &Row) -> Option<bool> {
        if !filter.has_paths() {
            return Some(filter.matches(row));
        }
        self.answers
            .iter()
            .find(|(f, _, _)| f == filter)
            .and_then(|(_, old, new)| match side {
                Side::Old => *old,
                Side::New => *new,
            })
    }
}

/// Runs `op` where the store may run it: a blocking store on a blocking thread.
pub(crate) async fn execute(
    store: &Arc<dyn Store>,
    op: StoreOp,
) -> Result<StoreOutput, StoreError> {
    if store.is_blocking() {
        let store = Arc::clone(store);
        tokio::task::spawn_blocking(move || futures_executor::block_on(store.execute(op)))
            .await
            .unwrap_or_else(|e| Err(StoreError::Internal(format!("store task failed: {e}"))))
    } else {
        store.execute(op).await
    }
}
