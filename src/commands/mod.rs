//! One-shot operator commands.

pub(crate) mod check;
pub(crate) mod loadtest;
pub(crate) mod migrate;
