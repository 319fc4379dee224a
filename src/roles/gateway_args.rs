//! Tuning flags of a gateway, shared by `dev` and `gateway`.

use std::time::Duration;

use tidings_gateway::GatewayConfig;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct GatewayArgs {
    /// Gateway shards (epoll loops); defaults to one per core.
    #[arg(long, env = "TIDINGS_SHARDS")]
    pub(crate) shards: Option<usize>,
    /// Seconds between heartbeats to idle sockets.
    #[arg(long, env = "TIDINGS_HEARTBEAT_SECS", default_value_t = 30)]
    pub(crate) heartbeat_secs: u64,
    /// Upgrades per second per client address (0 disables).
    #[arg(long, env = "TIDINGS_HANDSHAKES_PER_SEC", default_value_t = 0)]
    pub(crate) handshakes_per_sec: u32,
    /// Seconds a client may take to send its upgrade request.
    #[arg(long, env = "TIDINGS_HANDSHAKE_TIMEOUT_SECS", default_value_t = 10)]
    pub(crate) handshake_timeout_secs: u64,
    /// Connections this node expects (slot tables are reserved for them).
    #[arg(long, env = "TIDINGS_EXPECTED_CONNECTIONS", default_value_t = 131_072)]
    pub(crate) expected_connections: usize,
}

impl GatewayArgs {
    pub(crate) fn config(&self) -> GatewayConfig {
        let mut config = GatewayConfig {
            heartbeat: Duration::from_secs(self.heartbeat_secs.max(1)),
            handshakes_per_sec_per_ip: self.handshakes_per_sec,
            handshake_timeout: Duration::from_secs(self.handshake_timeout_secs.max(1)),
            expected_connections: self.expected_connections,
            ..GatewayConfig::default()
        };
        if let Some(n) = self.shards {
            config.shards = n.max(1);
        }
        config
    }
}
