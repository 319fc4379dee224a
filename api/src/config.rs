//! Typed configuration of the api service.

use std::time::Duration;

use tidings_storage::password::HashCost;
use tidings_wire::TokenKey;

/// Everything the api needs besides its store and publisher.
#[derive(Debug, Clone)]
pub struct ApiConfig {
    /// Signs and verifies bearer tokens.
    pub token_key: TokenKey,
    /// How long an issued token is valid.
    pub token_ttl: Duration,
    /// Largest request body accepted (413 above).
    pub max_body_bytes: usize,
    /// Requests per second per user (0 disables rate limiting).
    pub rate_per_sec: u32,
    /// Requests a user may burst above the steady rate.
    pub rate_burst: u32,
    /// Register/login attempts per second per client address (0 disables).
    pub auth_rate_per_sec: u32,
    /// argon2 cost for new password hashes.
    pub hash_cost: HashCost,
    /// How long a client may take to send request headers.
    pub header_timeout: Duration,
    /// How long shutdown waits for in-flight requests.
    pub shutdown_grace: Duration,
}

impl ApiConfig {
    /// The contract's defaults with the given token key.
    pub fn new(token_key: TokenKey) -> Self {
        Self {
            token_key,
            token_ttl: Duration::from_secs(7 * 24 * 3600),
            max_body_bytes: 64 * 1024,
            rate_per_sec: 50,
            rate_burst: 200,
            auth_rate_per_sec: 20,
            hash_cost: HashCost::Standard,
            header_timeout: Duration::from_secs(10),
            shutdown_grace: Duration::from_secs(10),
        }
    }
}
