//! # tidings-loadtest
//!
//! Load generators that drive Tidings through its real interfaces and
//! measure what users would see.
//!
//! - [`http`]: a lean HTTP/1.1 keep-alive JSON client on hyper.
//! - [`latency`]: HDR histograms and their summaries.
//! - [`writes`]: the message-write benchmark: concurrent clients posting
//!   messages through the api, with throughput and latency percentiles.

pub mod http;
pub mod latency;
pub mod writes;
