//! Violations of the cross-row invariants, as `tidings check` reports them.

use std::fmt;

/// One broken invariant, with the rows involved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// A stable name for the invariant, e.g. `offset_gap`.
    pub invariant: &'static str,
    /// What was found, naming the rows.
    pub detail: String,
}

impl Violation {
    pub fn new(invariant: &'static str, detail: impl Into<String>) -> Self {
        Self {
            invariant,
            detail: detail.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.invariant, self.detail)
    }
}
