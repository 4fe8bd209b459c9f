//! A page of rows.

/// The rows a `search` or `list` answered.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    /// How many rows match, over every page (for `list`, before its size limit).
    pub count: u64,
    /// The rows of this page, in order.
    pub rows: Vec<T>,
}
