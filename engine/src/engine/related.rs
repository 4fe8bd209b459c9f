//! Routing a change to the streams that read its stream through relations.
//!
//! A live query of tasks filtered by `owner__username`, or a task watcher whose scope is
//! `project__owner_id`, depends on rows of another stream. Which streams may depend on which
//! follows from the foreign keys alone, so it is worked out once when the engine starts; each
//! committed change is then also announced, as [`StreamMsg::Related`], to the stream actors
//! that may read its stream and have subscribers here. The actor decides which of its
//! subscriptions actually read it.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use super::{Engine, Interest};
use crate::actors::StreamMsg;
use crate::binding::Registry;
use crate::change::Change;

/// For each stream, the streams whose subscriptions may read its rows: those that show them
/// through relations ([`shown_by`]) and those whose filters and scopes reach them
/// ([`read_by`]).
pub(super) fn dependents(registry: &Registry) -> HashMap<String, Vec<String>> {
    let mut out = read_by(registry);
    for (stream, more) in shown_by(registry) {
        let streams = out.entry(stream).or_default();
        streams.extend(more);
        streams.sort();
        streams.dedup();
    }
    out
}

/// For each stream, the streams whose rows reach it through one or more foreign keys (itself
/// among them when a chain leads back to it): those whose filters and scopes may read it.
fn read_by(registry: &Registry) -> HashMap<String, Vec<String>> {
    let mut pointing: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for binding in registry.models() {
        for (_, target) in binding.foreign_keys() {
            pointing.entry(target).or_default().insert(binding.stream());
        }
    }
    let mut out = HashMap::new();
    for binding in registry.models() {
        let mut seen: BTreeSet<&str> = BTreeSet::new();
        let mut todo = vec![binding.stream()];
        while let Some(stream) = todo.pop() {
            for from in pointing.get(stream).into_iter().flatten() {
                if seen.insert(from) {
                    todo.push(from);
                }
            }
        }
        if !seen.is_empty() {
            out.insert(
                binding.stream().to_owned(),
                seen.into_iter().map(str::to_owned).collect(),
            );
        }
    }
    out
}

/// For each stream, the other streams that reach it through relations (to-one and to-many),
/// at any depth: the streams whose subscriptions may show its rows (`expand`, `include`).
fn shown_by(registry: &Registry) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for binding in registry.models() {
        let from = binding.stream();
        let mut reached = std::collections::BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(stream) = todo.pop() {
            for relation in registry.relations(&stream) {
                let target = relation.target.stream();
                if reached.insert(target.to_owned()) {
                    todo.push(target.to_owned());
                }
            }
        }
        for target in reached.into_iter().filter(|t| t != from) {
            out.entry(target).or_default().push(from.to_owned());
        }
    }
    out
}

impl Engine {
    /// Announces a change of `changed` to every stream here that may read it through
    /// relations and has subscribers.
    pub(crate) fn route_to_related(&self, change: &Arc<Change>) {
        let inner = &self.inner;
        let listens = |map: &HashMap<String, Arc<Interest>>, stream: &str| {
            map.get(stream).is_some_and(|i| i.is_watched())
        };
        for stream in inner.dependents.get(&change.stream).into_iter().flatten() {
            if !listens(&inner.interest, stream) && !listens(&inner.related_interest, stream) {
                continue;
            }
            if let Some(actor) = inner.streams.get(stream) {
                let _ = actor.send_message(StreamMsg::Related(Arc::clone(change)));
            }
        }
    }

    /// Whether a change of `stream` has anyone to tell here: its own subscribers, or those of
    /// a stream that may read it through relations.
    pub fn is_watched_directly_or_through_relations(&self, stream: &str) -> bool {
        self.is_watched(stream)
            || self
                .inner
                .dependents
                .get(stream)
                .is_some_and(|d| d.iter().any(|s| self.is_watched(s)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::binding::{Field, ModelBinding};

    #[test]
    fn dependents_follow_chains_of_foreign_keys() {
        let reg = Registry::new()
            .model(ModelBinding::new("auth_user"))
            .unwrap()
            .model(
                ModelBinding::new("todo_task")
                    .field(Field::foreign_key("owner_id", "auth.User"))
                    .field(Field::foreign_key("parent_id", "todo.Task")),
            )
            .unwrap()
            .model(
                ModelBinding::new("todo_comment").field(Field::foreign_key("task_id", "todo.Task")),
            )
            .unwrap();
        let d = read_by(&reg);
        assert_eq!(d["auth.User"], ["todo.Comment", "todo.Task"]);
        assert_eq!(d["todo.Task"], ["todo.Comment", "todo.Task"]);
        assert!(!d.contains_key("todo.Comment"));
        // A task may include its comments: their changes reach the tasks' actor too.
        let d = dependents(&reg);
        assert!(d["todo.Comment"].contains(&"todo.Task".to_owned()));
        assert_eq!(d["todo.Task"], ["auth.User", "todo.Comment", "todo.Task"]);
    }
}
