//! Deriving every binding's relations from the foreign keys of all of them (see
//! [`crate::relation`] for the naming rules).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::{ModelBinding, RegistryError};
use crate::relation::{to_many_name, to_one_name, Relation, RelationKind};

/// The relations of every binding by stream, and what was wrong with the names chosen for
/// them (reported when the registry is validated).
#[derive(Debug, Clone, Default)]
pub(super) struct Derived {
    pub(super) by_stream: BTreeMap<String, Vec<Relation>>,
    pub(super) errors: Vec<RegistryError>,
    /// Default names not offered because a field or another relation has them.
    pub(super) dropped: Vec<String>,
}

struct Candidate {
    relation: Relation,
    chosen: bool,
}

/// The relations of `models`, each binding's in declaration order: its to-one relations, then
/// its to-many ones by referring stream.
pub(super) fn derive(models: &BTreeMap<String, Arc<ModelBinding>>) -> Derived {
    let mut derived = Derived::default();
    for binding in models.values() {
        let candidates = candidates(binding, models, &mut derived.errors);
        let relations = settle(binding, candidates, &mut derived);
        derived
            .by_stream
            .insert(binding.stream().to_owned(), relations);
    }
    derived
}

/// The to-one name of `field` on `binding`: the chosen one, or the default.
fn to_one_of(binding: &ModelBinding, field: &str, target: &ModelBinding) -> (String, bool) {
    match binding.relation_renames().iter().find(|(f, _)| f == field) {
        Some((_, name)) => (name.clone(), true),
        None => (to_one_name(field, target.key_field().column_name()), false),
    }
}

fn candidates(
    binding: &ModelBinding,
    models: &BTreeMap<String, Arc<ModelBinding>>,
    errors: &mut Vec<RegistryError>,
) -> Vec<Candidate> {
    let stream = binding.stream();
    let mut out = Vec::new();
    for (field, _) in binding.relation_renames() {
        if !binding.foreign_keys().any(|(f, _)| f.name() == field) {
            errors.push(RegistryError::BadRelation {
                stream: stream.to_owned(),
                message: format!("relation(): {field} is not a foreign key"),
            });
        }
    }
    for (field, target) in binding.foreign_keys() {
        let Some(target) = models.get(target) else {
            continue;
        };
        let (name, chosen) = to_one_of(binding, field.name(), target);
        out.push(Candidate {
            relation: Relation {
                name,
                kind: RelationKind::ToOne {
                    field: field.name().to_owned(),
                },
                target: Arc::clone(target),
            },
            chosen,
        });
    }
    for referrer in models.values() {
        let fks: Vec<&str> = referrer
            .foreign_keys()
            .filter(|(_, t)| *t == stream)
            .map(|(f, _)| f.name())
            .collect();
        for field in &fks {
            let chosen = binding
                .include_renames()
                .iter()
                .find(|(s, f, _)| s == referrer.stream() && f == field);
            let (name, chosen) = match chosen {
                Some((_, _, name)) => (name.clone(), true),
                None if fks.len() == 1 => (to_many_name(referrer.stream()), false),
                None => {
                    let (one, _) = to_one_of(referrer, field, binding);
                    (format!("{one}_{}", to_many_name(referrer.stream())), false)
                }
            };
            out.push(Candidate {
                relation: Relation {
                    name,
                    kind: RelationKind::ToMany {
                        field: (*field).to_owned(),
                    },
                    target: Arc::clone(referrer),
                },
                chosen,
            });
        }
    }
    for (from, field, _) in binding.include_renames() {
        let points_here = models.get(from).is_some_and(|r| {
            r.foreign_keys()
                .any(|(f, t)| f.name() == field && t == stream)
        });
        if !points_here {
            errors.push(RegistryError::BadRelation {
                stream: stream.to_owned(),
                message: format!("include_as(): {from}.{field} is not a foreign key to {stream}"),
            });
        }
    }
    out
}

/// Keeps every chosen name (a clash is an error) and every default name that nothing else
/// has.
fn settle(
    binding: &ModelBinding,
    candidates: Vec<Candidate>,
    derived: &mut Derived,
) -> Vec<Relation> {
    let stream = binding.stream();
    let is_field = |name: &str| binding.shows(name);
    let mut uses: HashMap<String, usize> = HashMap::new();
    for c in &candidates {
        *uses.entry(c.relation.name.clone()).or_default() += 1;
    }
    let chosen_names: Vec<String> = candidates
        .iter()
        .filter(|c| c.chosen)
        .map(|c| c.relation.name.clone())
        .collect();
    let mut kept = Vec::new();
    for c in candidates {
        let name = &c.relation.name;
        if c.chosen {
            let twice = chosen_names.iter().filter(|n| *n == name).count() > 1;
            if is_field(name)
                || twice
                || name.is_empty()
                || name.contains('.')
                || name.contains("__")
            {
                derived.errors.push(RegistryError::BadRelation {
                    stream: stream.to_owned(),
                    message: format!(
                        "the relation name {name:?} is taken by a field or another relation, or is not a usable name"
                    ),
                });
                continue;
            }
        } else if is_field(name)
            || uses.get(name).copied().unwrap_or(0) > 1
            || chosen_names.contains(name)
        {
            derived.dropped.push(format!(
                "{stream}: no relation {name} (the name is taken); rename it with relation() or include_as()"
            ));
            continue;
        }
        kept.push(c.relation);
    }
    kept
}
