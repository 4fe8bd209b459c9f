//! Routing a change to the streams that read its stream through relations.
//!
//! A live query of tasks filtered by `owner__username`, or a task watcher whose scope is
//! `project__owner_id`, depends on rows of another stream. Which streams may depend on which
//! follows from the foreign keys alone, so it is worked out once when the engine starts; each
//! committed change is then also announced, as [`StreamMsg::Related`], to the stream actors
//! that may read its stream and have subscribers here. The actor decides which of its
//! subscriptions actually read it.

use std::collections::{BTreeSet, HashMap};

use super::Engine;
use crate::actors::StreamMsg;
use crate::binding::Registry;

/// For each stream, the streams whose rows reach it through one or more foreign keys (itself
/// among them when a chain leads back to it): those whose filters and scopes may read it.
pub(super) fn dependents(registry: &Registry) -> HashMap<String, Vec<String>> {
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

impl Engine {
    /// Announces a change of `changed` to every stream here that may read it through
    /// relations and has subscribers.
    pub(crate) fn route_to_related(&self, changed: &str) {
        for stream in self.inner.dependents.get(changed).into_iter().flatten() {
            if !self.is_watched(stream) {
                continue;
            }
            if let Some(actor) = self.inner.streams.get(stream) {
                let _ = actor.send_message(StreamMsg::Related {
                    stream: changed.to_owned(),
                });
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
        let d = dependents(&reg);
        assert_eq!(d["auth.User"], ["todo.Comment", "todo.Task"]);
        assert_eq!(d["todo.Task"], ["todo.Comment", "todo.Task"]);
        assert!(!d.contains_key("todo.Comment"));
    }
}
