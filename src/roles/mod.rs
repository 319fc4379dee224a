//! Long-running roles of the binary.

pub(crate) mod api;
pub(crate) mod api_args;
pub(crate) mod bus_args;
pub(crate) mod dev;
pub(crate) mod gateway;
pub(crate) mod glue;
pub(crate) mod signals;
pub(crate) mod wt_args;
