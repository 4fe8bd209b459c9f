//! Relation paths: `owner__username` in `filters` and `order` reads the `username` of the row
//! the foreign key `owner_id` points at (docs/protocol.md section 2).
//!
//! A path's value is the field as the reader would see the related row: null when the foreign
//! key is null, when the row it names lies outside the reader's scope on the related binding,
//! or when the field is null. Every lookup then applies to that value exactly as to a field of
//! the row itself, so `not`, `ne` and `isnull` keep their meaning and both stores agree (the SQL
//! reads the value with one scalar subquery per relation; memory follows the key).
//!
//! A client's path may only name what the client could read: each relation's foreign key
//! must be visible to it, the last field must be one its permission shows on the related
//! binding, and that binding's scope (for the request's action) applies. A permission's scope
//! is the server's own filter and follows relations without either restriction.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use super::Filter;
use crate::binding::{ModelBinding, Registry};
use crate::permission::View;
use crate::protocol::ApiError;
use crate::relation::RelationKind;

/// One relation of a path: from a row, through its foreign key `field`, to the row of `target`
/// it points at.
#[derive(Clone)]
pub struct Hop {
    /// The relation's name, as the request spelled it (`owner`).
    pub relation: String,
    /// The foreign key field of the binding the hop starts from (its column, once compiled).
    pub field: String,
    /// The binding the foreign key points into.
    pub target: Arc<ModelBinding>,
    /// The rows of `target` the reader may see; any other reads as no row.
    pub scope: Filter,
}

impl fmt::Debug for Hop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hop")
            .field("relation", &self.relation)
            .field("field", &self.field)
            .field("target", &self.target.stream())
            .field("scope", &self.scope)
            .finish()
    }
}

impl PartialEq for Hop {
    fn eq(&self, other: &Self) -> bool {
        self.relation == other.relation
            && self.field == other.field
            && self.target.stream() == other.target.stream()
            && self.scope == other.scope
    }
}

/// How a client sees a binding a relation leads to: its view there, or `None` when its
/// permission refuses it the request's action on that binding.
pub type ViewOf<'a> = dyn Fn(&ModelBinding) -> Result<Option<Arc<View>>, ApiError> + 'a;

/// Who a filter is for, as far as relations go.
pub enum Reader<'a> {
    /// The server itself (a permission's scope): every relation, field and row.
    Server,
    /// A client: its view of a related binding, or `None` when its permission refuses it the
    /// request's action there (the relation then cannot be followed).
    Client(&'a ViewOf<'a>),
}

/// What following relations in a filter or order needs.
pub struct Relations<'a> {
    /// Every binding, to resolve relation names.
    pub registry: &'a Registry,
    /// How many relations one key may follow (`max_relation_depth`).
    pub max_depth: usize,
    /// Whose eyes the related rows are seen with.
    pub reader: Reader<'a>,
    /// The user the filter is for, which a computed field's translation may read
    /// ([`crate::binding::Computed::filter_as`]); `None` when anonymous or the server.
    pub user: Option<&'a crate::auth::User>,
}

impl<'a> Relations<'a> {
    /// Relations as the server follows them, for filters it writes itself.
    pub fn server(registry: &'a Registry) -> Self {
        Relations {
            registry,
            max_depth: usize::MAX,
            reader: Reader::Server,
            user: None,
        }
    }
}

/// Where a path ends: the hops, and the binding (with the reader's view of it, `None` for one
/// that sees everything) whose field the last name is.
pub(super) struct End {
    pub(super) path: Vec<Hop>,
    pub(super) binding: Arc<ModelBinding>,
    pub(super) view: Option<Arc<View>>,
}

impl End {
    /// Whether the reader may see `field` of the last binding.
    pub(super) fn can_see(&self, field: &str) -> bool {
        self.view.as_ref().is_none_or(|v| v.can_see(field))
    }
}

/// Follows the relations `names` (all but the last name of a key, which is a field) from
/// `root`. Every refusal is `invalid_filter` naming `label` and the offending name. `unlooked`
/// is the key's last part when it was taken for a field because it is no lookup: a key that
/// fails at the name just before it may be a mistyped lookup (`title__regex`), and the
/// message says both.
pub(super) fn follow(
    relations: Option<&Relations<'_>>,
    root: &ModelBinding,
    root_visible: &dyn Fn(&str) -> bool,
    names: &[&str],
    label: &str,
    unlooked: Option<&str>,
) -> Result<End, ApiError> {
    let bad = |why: String| ApiError::invalid_filter(format!("{label}: {why}"));
    let not_a_relation = |i: usize, plain: bool| {
        let name = names[i];
        bad(match unlooked {
            Some(last) if i + 1 == names.len() => {
                format!("{last} is not a lookup, and {name} is not a relation")
            }
            _ if plain => {
                format!("{name} is not a foreign key, so there is no relation to follow")
            }
            _ => format!("unknown relation {name}"),
        })
    };
    let Some(relations) = relations else {
        return Err(not_a_relation(
            0,
            root.get(names[0]).is_some_and(|f| root_visible(f.name())),
        ));
    };
    let mut path: Vec<Hop> = Vec::with_capacity(names.len());
    let mut view: Option<Arc<View>> = None;
    let mut target: Option<Arc<ModelBinding>> = None;
    for (i, name) in names.iter().enumerate() {
        if i >= relations.max_depth {
            return Err(bad(format!(
                "a path follows at most {} relations (max_relation_depth)",
                relations.max_depth
            )));
        }
        let from: &ModelBinding = target.as_deref().unwrap_or(root);
        let sees = |field: &str| match (&target, &view) {
            (None, _) => root_visible(field),
            (Some(_), Some(view)) => view.can_see(field),
            (Some(_), None) => true,
        };
        let relation = relations
            .registry
            .relation(from.stream(), name)
            .and_then(|r| match &r.kind {
                RelationKind::ToOne { field } if sees(field) => {
                    Some((field.clone(), Arc::clone(&r.target)))
                }
                _ => None,
            });
        let Some((field, next)) = relation else {
            return Err(not_a_relation(
                i,
                from.get(name).is_some_and(|f| sees(f.name())),
            ));
        };
        let (next_view, scope) = match &relations.reader {
            Reader::Server => (None, Filter::everything()),
            Reader::Client(view_of) => match view_of(&next)? {
                Some(v) => {
                    let scope = v.scope().clone();
                    (Some(v), scope)
                }
                None => {
                    return Err(bad(format!(
                        "{name} leads to {}, which you may not read",
                        next.stream()
                    )))
                }
            },
        };
        path.push(Hop {
            relation: (*name).to_owned(),
            field,
            target: Arc::clone(&next),
            scope,
        });
        view = next_view;
        target = Some(next);
    }
    let binding = target.ok_or_else(|| bad("a path needs a relation".to_owned()))?;
    Ok(End {
        path,
        binding,
        view,
    })
}

/// The streams `path` reads rows of, its hops' scopes included.
pub(super) fn streams_of(path: &[Hop], out: &mut BTreeSet<String>) {
    for hop in path {
        out.insert(hop.target.stream().to_owned());
        hop.scope.related_streams_into(out);
    }
}

/// `owner__username`: the path's relation names and the field.
pub(super) fn label(path: &[Hop], field: &str) -> String {
    let mut out = String::new();
    for hop in path {
        out.push_str(&hop.relation);
        out.push_str("__");
    }
    out.push_str(field);
    out
}

#[cfg(test)]
mod tests;
