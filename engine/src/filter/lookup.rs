//! The lookups a filter key may end with.

/// A Django-style lookup (`field__lookup`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// `field` or `field__exact`.
    Exact,
    /// Case-insensitive (ASCII) equality.
    IExact,
    /// Substring.
    Contains,
    /// Case-insensitive (ASCII) substring.
    IContains,
    /// Prefix.
    StartsWith,
    /// Case-insensitive (ASCII) prefix.
    IStartsWith,
    /// Suffix.
    EndsWith,
    /// Greater than.
    Gt,
    /// Greater than or equal.
    Gte,
    /// Less than.
    Lt,
    /// Less than or equal.
    Lte,
    /// One of a list.
    In,
    /// Is (or is not) null.
    IsNull,
    /// Not equal; null counts as different from every value.
    Ne,
}

impl Lookup {
    /// Parses the suffix after `__`.
    pub fn parse(s: &str) -> Option<Lookup> {
        Some(match s {
            "exact" => Lookup::Exact,
            "iexact" => Lookup::IExact,
            "contains" => Lookup::Contains,
            "icontains" => Lookup::IContains,
            "startswith" => Lookup::StartsWith,
            "istartswith" => Lookup::IStartsWith,
            "endswith" => Lookup::EndsWith,
            "gt" => Lookup::Gt,
            "gte" => Lookup::Gte,
            "lt" => Lookup::Lt,
            "lte" => Lookup::Lte,
            "in" => Lookup::In,
            "isnull" => Lookup::IsNull,
            "ne" => Lookup::Ne,
            _ => return None,
        })
    }

    /// Whether the lookup works on text only.
    pub fn is_textual(self) -> bool {
        matches!(
            self,
            Lookup::IExact
                | Lookup::Contains
                | Lookup::IContains
                | Lookup::StartsWith
                | Lookup::IStartsWith
                | Lookup::EndsWith
        )
    }

    /// Whether the lookup needs an ordered type.
    pub fn is_range(self) -> bool {
        matches!(self, Lookup::Gt | Lookup::Gte | Lookup::Lt | Lookup::Lte)
    }
}
