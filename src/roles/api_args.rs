//! Flags of the HTTP api, shared by the roles that serve it.

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use tidings_api::ApiConfig;
use tidings_wire::TokenKey;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct ApiArgs {
    /// Hex secret (≥ 32 bytes) that signs tokens; by default one is generated
    /// once and kept in the data directory as token.key.
    #[arg(long, env = "TIDINGS_TOKEN_KEY", hide_env_values = true)]
    pub(crate) token_key: Option<String>,
    /// Token lifetime in seconds.
    #[arg(long, env = "TIDINGS_TOKEN_TTL_SECS", default_value_t = 7 * 24 * 3600)]
    pub(crate) token_ttl_secs: u64,
    /// Requests per second per user (0 disables rate limiting).
    #[arg(long, env = "TIDINGS_RATE_PER_SEC", default_value_t = 50)]
    pub(crate) rate_per_sec: u32,
    /// Burst of requests per user above the steady rate.
    #[arg(long, env = "TIDINGS_RATE_BURST", default_value_t = 200)]
    pub(crate) rate_burst: u32,
    /// Register/login attempts per second per client address (0 disables).
    #[arg(long, env = "TIDINGS_AUTH_RATE_PER_SEC", default_value_t = 20)]
    pub(crate) auth_rate_per_sec: u32,
    /// Largest request body in bytes (413 above).
    #[arg(long, env = "TIDINGS_MAX_BODY_BYTES", default_value_t = 64 * 1024)]
    pub(crate) max_body_bytes: usize,
}

impl ApiArgs {
    /// The api configuration, with the token key from the flag or `data/token.key`.
    pub(crate) fn config(&self, data: &Path) -> anyhow::Result<ApiConfig> {
        let key = match &self.token_key {
            Some(hex) => TokenKey::from_hex(hex).context("--token-key")?,
            None => TokenKey::load_or_create(&data.join("token.key"))?,
        };
        let mut config = ApiConfig::new(key);
        config.token_ttl = Duration::from_secs(self.token_ttl_secs);
        config.rate_per_sec = self.rate_per_sec;
        config.rate_burst = self.rate_burst;
        config.auth_rate_per_sec = self.auth_rate_per_sec;
        config.max_body_bytes = self.max_body_bytes.max(1);
        Ok(config)
    }
}
