//! # tidings-loadtest
//!
//! Load generators that drive Tidings through its real interfaces and
//! measure what users would see.
//!
//! - [`http`]: a lean HTTP/1.1 keep-alive JSON client on hyper.
//! - [`latency`]: HDR histograms and their summaries.
//! - [`writes`]: the message-write benchmark: concurrent clients posting
//!   messages through the api, with throughput and latency percentiles.
//! - [`fanout`]: chats of many members, writers through the api, every
//!   delivery verified, latency from the writer's send to each receipt.
//! - [`ws_client`], [`idle`]: a lean WebSocket client, and the idle-memory
//!   benchmark (server RSS growth per held connection); [`idle_wt`], the
//!   same for WebTransport sessions.
//! - [`harness`]: the multi-process harness behind `tidings loadtest run`:
//!   worker processes within their descriptor budget, many gateways,
//!   verified deliveries, merged latency histograms, reports and charts.

pub mod fanout;
pub mod harness;
pub mod http;
pub mod idle;
pub mod idle_wt;
pub mod latency;
pub mod writes;
pub mod ws_client;
