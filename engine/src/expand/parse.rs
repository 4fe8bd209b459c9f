//! Reading a request's `expand` and `include` into a [`Relations`] tree.
//!
//! - `expand`: a path or a list of paths of to-one relations, dot-separated (`"owner"`,
//!   `["task", "task.owner"]`); a path expands each relation along it.
//! - `include`: a name or a list of names of to-many relations, or an object of names to
//!   options: `{"comments": {"limit": 5, "order": "-created_at", "expand": ["author"]}}`.
//!   `limit` is 1 to `max_include_rows` (the default); `order` is a search's order over the
//!   included binding; `expand` expands the included rows' to-one relations. An included
//!   binding's rows include nothing further, so one request reads at most rows × limit of them.
//!
//! Every relation counts one level, and no path may reach past `max_relation_depth`. The
//! related binding must let the caller `retrieve` (the data its permission sees is empty), and
//! its rows are read and shown as that `retrieve` would: in its scope, without its hidden
//! fields. A relation through a foreign key the caller cannot see does not exist for them.
//! Wrong JSON types are `bad_request`; every other mistake is `invalid_filter`, naming the
//! place (`expand: owner.nope: ...`).

use std::sync::Arc;

use serde_json::{Map, Value};

use super::{Node, Relations};
use crate::binding::{ModelBinding, Registry};
use crate::config::Limits;
use crate::filter::Ordering;
use crate::permission::{Caller, View};
use crate::protocol::ApiError;
use crate::relation::RelationKind;

/// The action whose permission decides what a caller sees of a related binding.
const READ_AS: &str = "retrieve";

/// Everything parsing needs besides the request.
struct Ctx<'a> {
    registry: &'a Registry,
    caller: Caller<'a>,
    limits: &'a Limits,
}

/// The relations `data` asks `binding`'s rows to show, for a caller with `view` of it.
pub(crate) fn parse(
    registry: &Registry,
    binding: &Arc<ModelBinding>,
    view: &View,
    caller: Caller<'_>,
    data: &Map<String, Value>,
    limits: &Limits,
) -> Result<Relations, ApiError> {
    let ctx = Ctx {
        registry,
        caller,
        limits,
    };
    let mut tree = Relations::default();
    for path in names(data.get("expand"), "expand")? {
        ctx.expand(&mut tree, binding, view, &path, 0, "expand")?;
    }
    match data.get("include") {
        None | Some(Value::Null) => {}
        Some(Value::Object(map)) => {
            for (name, options) in map {
                ctx.include(&mut tree, binding, view, name, options)?;
            }
        }
        other => {
            for name in names(other, "include")? {
                ctx.include(&mut tree, binding, view, &name, &Value::Null)?;
            }
        }
    }
    Ok(tree)
}

/// A string or a list of strings; absent is none.
fn names(value: Option<&Value>, what: &str) -> Result<Vec<String>, ApiError> {
    let bad = || ApiError::bad_request(format!("{what} must be a string or a list of strings"));
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(str::to_owned).ok_or_else(bad))
            .collect(),
        Some(_) => Err(bad()),
    }
}

fn invalid(place: &str, why: impl std::fmt::Display) -> ApiError {
    ApiError::invalid_filter(format!("{place}: {why}"))
}

impl Ctx<'_> {
    /// Adds the to-one path `path` under `tree`, whose rows are `binding`'s seen through
    /// `view`, `depth` levels below the request's own rows. Errors name the whole path as
    /// the request gave it, `full`, under `place`.
    fn expand(
        &self,
        tree: &mut Relations,
        binding: &Arc<ModelBinding>,
        view: &View,
        path: &str,
        depth: usize,
        place: &str,
    ) -> Result<(), ApiError> {
        self.expand_in(
            tree,
            binding,
            view,
            path,
            depth,
            &format!("{place}: {path}"),
        )
    }

    fn expand_in(
        &self,
        tree: &mut Relations,
        binding: &Arc<ModelBinding>,
        view: &View,
        path: &str,
        depth: usize,
        here: &str,
    ) -> Result<(), ApiError> {
        let (name, rest) = match path.split_once('.') {
            Some((name, rest)) => (name, Some(rest)),
            None => (path, None),
        };
        if name.is_empty() || rest.is_some_and(str::is_empty) {
            return Err(invalid(here, "not a relation path (names joined by dots)"));
        }
        let levels = depth + 1 + rest.map_or(0, |r| r.split('.').count());
        if levels > self.limits.max_relation_depth {
            return Err(invalid(
                here,
                format!(
                    "reaches {levels} relations deep, past max_relation_depth ({})",
                    self.limits.max_relation_depth
                ),
            ));
        }
        let node = match tree.nodes.iter().position(|n| n.relation.name == name) {
            Some(i) => &mut tree.nodes[i],
            None => {
                let node = self.node(binding, view, name, true, here)?;
                tree.nodes.push(node);
                tree.nodes.last_mut().expect("just pushed")
            }
        };
        match rest {
            None => Ok(()),
            Some(rest) => {
                let (target, view) = (Arc::clone(&node.relation.target), Arc::clone(&node.view));
                self.expand_in(&mut node.children, &target, &view, rest, depth + 1, here)
            }
        }
    }

    /// Adds the to-many relation `name` with its options under the request's own rows.
    fn include(
        &self,
        tree: &mut Relations,
        binding: &Arc<ModelBinding>,
        view: &View,
        name: &str,
        options: &Value,
    ) -> Result<(), ApiError> {
        let here = format!("include: {name}");
        if self.limits.max_relation_depth == 0 {
            return Err(invalid(&here, "max_relation_depth is 0"));
        }
        if tree.nodes.iter().any(|n| n.relation.name == name) {
            return Ok(());
        }
        let mut node = self.node(binding, view, name, false, &here)?;
        let options = match options {
            Value::Null => Map::new(),
            Value::Object(map) => map.clone(),
            _ => {
                return Err(ApiError::bad_request(format!(
                    "{here}: the options must be an object"
                )))
            }
        };
        for (key, value) in &options {
            match key.as_str() {
                "limit" => {
                    let max = self.limits.max_include_rows;
                    let n = value.as_i64().ok_or_else(|| {
                        ApiError::bad_request(format!("{here}.limit must be an integer"))
                    })?;
                    if n < 1 || n as u64 > max {
                        return Err(invalid(
                            &format!("{here}.limit"),
                            format!("must be 1 to {max} (max_include_rows)"),
                        ));
                    }
                    node.limit = n as u64;
                }
                "order" => {
                    let target = &node.relation.target;
                    let visible = |f: &str| node.view.can_see(f);
                    node.order = Ordering::parse_visible(target, Some(value), &visible).map_err(
                        |mut e| {
                            e.message = format!("{here}.{}", e.message);
                            e
                        },
                    )?;
                }
                "expand" => {
                    let (target, view) =
                        (Arc::clone(&node.relation.target), Arc::clone(&node.view));
                    let place = format!("{here}.expand");
                    for path in names(Some(value), &place)? {
                        self.expand(&mut node.children, &target, &view, &path, 1, &place)?;
                    }
                }
                other => {
                    return Err(invalid(
                        &here,
                        format!("unknown option {other:?} (limit, order, expand)"),
                    ))
                }
            }
        }
        tree.nodes.push(node);
        Ok(())
    }

    /// The relation `name` of `binding`, checked: of the kind asked for (`to_one` for an
    /// expansion), through a foreign key the caller sees, into a binding the caller may read.
    fn node(
        &self,
        binding: &ModelBinding,
        view: &View,
        name: &str,
        to_one: bool,
        place: &str,
    ) -> Result<Node, ApiError> {
        let unknown = || {
            invalid(
                place,
                format!("{} has no relation {name}", binding.stream()),
            )
        };
        let relation = self
            .registry
            .relation(binding.stream(), name)
            .ok_or_else(unknown)?
            .clone();
        let target = Arc::clone(&relation.target);
        let target_view = self.caller.view(self.registry, &target, READ_AS)?;
        // A relation through a hidden foreign key would show its value: for this caller the
        // relation does not exist.
        let seen = match &relation.kind {
            RelationKind::ToOne { field } => view.can_see(field),
            RelationKind::ToMany { field } => target_view.can_see(field),
        };
        if !seen {
            return Err(unknown());
        }
        match (&relation.kind, to_one) {
            (RelationKind::ToMany { .. }, true) => {
                return Err(invalid(
                    place,
                    format!("{name} is a to-many relation: include it, do not expand it"),
                ))
            }
            (RelationKind::ToOne { .. }, false) => {
                return Err(invalid(
                    place,
                    format!("{name} is a to-one relation: expand it, do not include it"),
                ))
            }
            _ => {}
        }
        if !self
            .caller
            .allows(target.permission_ref(), READ_AS, &Map::new())
        {
            return Err(invalid(
                place,
                format!("{} may not be read by this user", target.stream()),
            ));
        }
        Ok(Node {
            order: Ordering::by_pk(&target),
            limit: self.limits.max_include_rows,
            relation,
            view: target_view,
            children: Relations::default(),
        })
    }
}
