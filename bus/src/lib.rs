//! # tidings-bus
//!
//! The internal QUIC bus (quinn) that carries committed deltas from api
//! nodes to gateway nodes.
//!
//! - [`tls`]: the bus certificate: configured files in production, or a
//!   self-signed pair generated once into the data directory for dev.
//! - [`receiver`]: the gateway side: accepts api connections and decodes
//!   frames from their streams into a sink.
//! - [`sender`]: the api side: one bounded queue and one connection per
//!   gateway, reconnecting with backoff. Publishing never blocks; frames that
//!   cannot be queued are dropped and the gateway fills the gap from storage.
//!
//! Discovery is static: each api node is given the gateways' bus addresses
//! (`--bus-gateways`), which may be DNS names resolved at each reconnect.
//! Each api node opens one unidirectional stream per gateway, so frames from
//! one api node arrive in commit order; frames from different api nodes are
//! ordered by the gateway's per-topic sequencer.

pub mod receiver;
pub mod sender;
pub mod tls;

pub use receiver::BusReceiver;
pub use sender::BusSender;
pub use tls::BusTls;

/// The TLS server name gateways present on the bus.
pub const SERVER_NAME: &str = "tidings-bus";
