//! Typed configuration of a gateway node.

use std::time::Duration;

/// Tunables of a gateway; every field has a production default.
#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// Shards (epoll loops); one per core by default.
    pub shards: usize,
    /// How often idle clients are pinged; twice this without a byte closes them.
    pub heartbeat: Duration,
    /// Largest client frame or message (1009 above).
    pub max_frame_bytes: usize,
    /// Unsent bytes a connection may hold before it is closed with 4008.
    pub max_outbound_bytes: usize,
    /// Replay ring bounds: entries and bytes across topics, entries per topic.
    pub ring_entries: usize,
    pub ring_bytes: usize,
    pub ring_per_topic: usize,
    /// How long an offset gap may stay open before it is filled from storage.
    pub gap_hold: Duration,
    /// Deltas queued toward the gateway before it is marked lagging.
    pub feed_capacity: usize,
    /// Upgrades per second per client address (0 disables).
    pub handshakes_per_sec_per_ip: u32,
    /// How long a client may take to send the upgrade request.
    pub handshake_timeout: Duration,
    /// Most topics in one resume frame.
    pub max_resume_topics: usize,
    /// Connections the node expects: slot tables are reserved for this many
    /// (address space only until used), so they do not grow by copying.
    pub expected_connections: usize,
}

impl Default for GatewayConfig {
    fn default() -> Self {
        Self {
            shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            heartbeat: Duration::from_secs(30),
            max_frame_bytes: 64 * 1024,
            max_outbound_bytes: 1024 * 1024,
            ring_entries: 1_000_000,
            ring_bytes: 256 * 1024 * 1024,
            ring_per_topic: 10_000,
            gap_hold: Duration::from_millis(250),
            feed_capacity: 65_536,
            handshakes_per_sec_per_ip: 0,
            handshake_timeout: Duration::from_secs(10),
            max_resume_topics: 10_000,
            expected_connections: 131_072,
        }
    }
}
