//! # tidings-storage
//!
//! The domain model of Tidings and the one [`Store`] interface every backend
//! implements. Each API-level operation is exactly one `Store` call: it either
//! commits whole or changes nothing, and on commit it returns the deltas it
//! wrote to the durable per-topic event log, each with a gap-free offset and
//! its recipients, so the caller publishes exactly what committed.
//!
//! Layout:
//! - [`ids`], [`time`], [`topic`]: identifiers, timestamps and topic names.
//! - [`model`]: users, chats, messages, posts and the pages that list them.
//! - [`delta`]: the committed change a client receives (`{"type":"delta",..}`).
//! - [`limits`]: the configurable limits and the validation of user input.
//! - [`password`]: argon2 hashing; the store only ever sees hashes.
//! - [`error`]: [`StoreError`], the typed error the api maps to HTTP codes.
//! - [`store`]: the [`Store`] trait, [`Write`] context and [`Committed`] result.
//! - [`check`]: the invariant violations a checker reports.
//! - [`sqlite`]: the embedded backend (one file, WAL, group commit).
//! - [`scylla`]: the ScyllaDB / Cassandra backend (lightweight transactions,
//!   bounded bucketed partitions).
//! - [`conformance`]: the shared suite every backend must pass.
//! - [`fault`]: a wrapper that injects storage outages, for failure tests.

pub mod check;
pub mod conformance;
pub mod delta;
pub mod error;
pub mod fault;
pub mod ids;
pub mod limits;
pub mod model;
pub mod password;
pub mod scylla;
pub mod sqlite;
pub mod store;
pub mod time;
pub mod topic;

pub use check::Violation;
pub use delta::{CommittedDelta, Delta, EventKind};
pub use error::{StoreError, StoreResult};
pub use ids::{ChatId, MessageId, PostId, UserId};
pub use limits::Limits;
pub use model::*;
pub use password::PasswordHash;
pub use scylla::{ScyllaAddress, ScyllaStore};
pub use sqlite::{SqliteConfig, SqliteStore};
pub use store::{Committed, Idempotency, Store, Write};
pub use time::Timestamp;
pub use topic::Topic;
