//! One-shot operator commands.

pub(crate) mod check;
pub(crate) mod migrate;
