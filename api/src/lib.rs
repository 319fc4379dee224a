//! # tidings-api
//!
//! The HTTP API of `CONTRACT.md` on hyper 1.x. A request is matched to a
//! route, its body read (at most 64 KiB), its bearer token verified without a
//! storage round trip, its user's rate bucket charged, and then it becomes
//! exactly one [`Store`](tidings_storage::Store) call. The deltas that call
//! committed are handed to a [`Publisher`] only after it returns, so nothing
//! is published that did not commit.
//!
//! Layout:
//! - [`config`]: typed configuration (limits, token lifetime, rate limits).
//! - [`routes`]: the route table (also checked against `openapi.yaml`).
//! - [`request`] / [`response`]: reading bodies, queries and auth; writing JSON.
//! - [`error`]: [`ApiError`], mapped to the contract's codes and shape.
//! - [`handlers`]: one module per area of the contract.
//! - [`publish`]: the [`Publisher`] interface deltas leave through.
//! - [`rate_limit`], [`metrics`]: per-user token buckets; Prometheus metrics.
//! - [`server`]: the accept loop with graceful shutdown.

pub mod config;
pub mod error;
pub mod handlers;
pub mod metrics;
pub mod publish;
pub mod rate_limit;
pub mod request;
pub mod response;
pub mod routes;
pub mod server;
pub mod state;

pub use config::ApiConfig;
pub use error::ApiError;
pub use publish::Publisher;
pub use server::{serve, SocketUpgrade};
pub use state::App;

/// The OpenAPI 3.1 document of this API, served at `/v1/openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../openapi.yaml");
