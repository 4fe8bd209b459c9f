//! `expand` and `include`: the related rows a read shows beside its own (docs/protocol.md
//! section 2).
//!
//! A request names relations of its binding ([`crate::relation`]): `expand` to-one ones by
//! path (`"owner"`, `"task.owner"`), `include` to-many ones with a limit and an order per
//! parent. `parse` checks them against the registry, the limits and the caller's
//! permissions and gives a [`Relations`] tree; [`Relations::render`] reads what the tree asks
//! for, one store op per relation whatever the number of rows ([`crate::store::StoreOp::Related`]),
//! and puts each related row (rendered through the caller's view of its own binding) under the
//! relation's name. It also records, in a [`Watch`], which rows of which streams the result
//! shows, so a live subscription knows which later changes can change it.

mod parse;
mod read;
mod showing;
mod watch;

pub(crate) use parse::parse;
pub(crate) use showing::read as read_rows;
pub use watch::Watch;

use std::collections::BTreeSet;
use std::fmt::Write;
use std::sync::Arc;

use crate::filter::Ordering;
use crate::permission::View;
use crate::relation::Relation;

/// The relations one request shows beside its rows, each with what the caller may see of its
/// binding. Empty for a request that asks for none.
#[derive(Debug, Clone, Default)]
pub struct Relations {
    nodes: Vec<Node>,
}

/// One relation to read, and the relations of its rows to read after it.
#[derive(Debug, Clone)]
struct Node {
    relation: Relation,
    /// The caller's view of the relation's binding, as a `retrieve` of it would resolve it.
    view: Arc<View>,
    /// The order of included rows (the primary key for an expansion).
    order: Ordering,
    /// Included rows per parent (unused for an expansion).
    limit: u64,
    children: Relations,
}

impl Relations {
    /// Whether the request shows no relation.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The streams whose rows the tree shows, at any depth.
    pub fn streams(&self) -> BTreeSet<String> {
        let mut out = BTreeSet::new();
        self.collect_streams(&mut out);
        out
    }

    fn collect_streams(&self, out: &mut BTreeSet<String>) {
        for node in &self.nodes {
            out.insert(node.relation.target.stream().to_owned());
            node.children.collect_streams(out);
        }
    }

    /// Equal for trees that read and show the same rows, so identical live queries with
    /// identical relations are run once.
    pub fn signature(&self) -> String {
        let mut out = String::new();
        self.write_signature(&mut out);
        out
    }

    fn write_signature(&self, out: &mut String) {
        for node in &self.nodes {
            let _ = write!(
                out,
                "{}({}|{:?}|{})[",
                node.relation.name,
                node.limit,
                node.order,
                node.view.signature()
            );
            node.children.write_signature(out);
            out.push(']');
        }
    }
}
