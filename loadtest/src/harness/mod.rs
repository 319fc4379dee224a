//! The multi-process load harness behind `tidings loadtest run`.
//!
//! The parent ([`run`]) splits the clients over worker processes, each
//! holding at most its descriptor budget ([`budget`]) of sockets, and
//! hands each a [`plan`]. Workers ([`worker`], [`client`]) connect, each
//! client from its own loopback address ([`connect`]), verify every delivery
//! per topic ([`verify`]) and report over stdout ([`proto`]) with their
//! latency histograms ([`histo`]). The parent drives the [`writer`]s,
//! samples process memory ([`rss`]), shows live progress, and writes the
//! results: JSON and Markdown ([`report`]) and PNG charts ([`plots`]).

pub mod budget;
pub mod client;
pub mod connect;
pub mod histo;
pub mod plan;
pub mod plots;
pub mod proto;
pub mod report;
pub mod rss;
pub mod run;
pub mod verify;
pub mod worker;
pub mod writer;

/// What can go wrong in the harness itself (not in what it measures).
#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
    #[error("json: {0}")]
    Json(#[from] serde_json::Error),
    #[error("histogram: {0}")]
    Histogram(String),
    #[error("http: {0}")]
    Http(String),
    #[error("plot: {0}")]
    Plot(String),
    #[error("{0}")]
    Other(String),
}
