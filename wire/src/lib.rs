//! # tidings-wire
//!
//! What the api, the gateway and clients agree on byte for byte:
//! - [`token`]: the signed bearer token (user id + expiry, HMAC-SHA256),
//!   verified by any node holding the key, without a storage round trip.
//! - [`error_body`]: the contract's error JSON, `{"error":{"code","message"}}`.
//! - [`bus_frame`]: the binary frame api nodes send gateways for each delta.

pub mod bus_frame;
pub mod error_body;
pub mod token;

pub use error_body::ErrorBody;
pub use token::{TokenError, TokenKey};
