//! # tidings-gateway
//!
//! Holds client sockets and pushes every committed delta to every connected
//! recipient, in offset order per topic, at most once per connection, with
//! resume across reconnects.
//!
//! ## Shape
//! - [`core`]: the sans-IO core (frame codec, protocol frames, sequencer,
//!   replay ring, user index, bounded outbound queue), tested without sockets.
//! - `shard`: one epoll loop (mio) per core, each owning a slab of
//!   connection slots. A connection is a slot index into that slab.
//! - `hub`: orders and encodes each delta once, keeps the replay ring, and
//!   hands the same bytes to every shard (crossbeam channels).
//! - [`feed`]: the bounded, never-blocking entry for committed deltas.
//! - [`upgrade`]: the WebSocket handshake on hyper + fastwebsockets (for
//!   `dev`'s shared listener), after which the raw socket moves into a shard.
//! - [`listener`]: the gateway's own listener (`tidings gateway`): an
//!   acceptor thread; the shards read and answer the upgrade themselves.
//! - [`webtransport`]: the same protocol over WebTransport (wtransport),
//!   newline-delimited JSON on one bidirectional stream; a session is a
//!   task with a bounded queue, fed by the hub like the shards.
//! - [`metrics`], [`config`].
//!
//! ## Where fastwebsockets is used, and why not per connection
//! fastwebsockets encodes every server frame (`core::ws_codec`), and in
//! `tidings dev`, where sockets share the api's hyper listener, it performs
//! the upgrade ([`upgrade`]). A `WebSocket` value per socket, though,
//! carries an 8 KiB read buffer and needs a task to drive it: 5.5–9.4 KiB
//! per idle socket measured here, against a budget of 256 bytes. So a
//! connection is a slab slot: the shard reads every socket through one
//! shared buffer and decodes client frames with the small sans-IO decoder in
//! [`core::ws_codec`]. On the gateway's own listener the shard also parses
//! the upgrade request itself ([`core::http_upgrade`]), so nothing allocated
//! for a handshake outlives it. Bytes are held per connection only while a
//! frame is split across reads or the socket cannot keep up.

pub mod config;
pub mod core;
pub mod feed;
pub mod handshake_limit;
mod hub;
pub mod listener;
pub mod metrics;
mod shard;
pub mod upgrade;
pub mod webtransport;
mod wt_sessions;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

pub use config::GatewayConfig;
pub use feed::DeltaFeed;
pub use hub::GapSource;
pub use metrics::GatewayMetrics;
pub use shard::{close_code, Adopted};

use crate::core::ring::ReplayRing;
use crate::core::sequencer::Sequencer;
use crate::handshake_limit::HandshakeLimit;
use crate::hub::Hub;
use crate::shard::{ShardHandle, ShardMsg};

/// A running gateway: shards, hub and feed. Cheap to clone.
#[derive(Clone)]
pub struct Gateway {
    inner: Arc<GatewayInner>,
}

struct GatewayInner {
    shards: Arc<Vec<ShardHandle>>,
    feed: DeltaFeed,
    metrics: GatewayMetrics,
    next_shard: AtomicUsize,
    handshakes: HandshakeLimit,
    config: Arc<GatewayConfig>,
    hub: Mutex<Option<std::thread::JoinHandle<()>>>,
    ring: Arc<Mutex<ReplayRing>>,
    wt: Arc<wt_sessions::WtSessions>,
    stopping: std::sync::atomic::AtomicBool,
}

impl std::fmt::Debug for Gateway {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gateway")
            .field("shards", &self.inner.shards.len())
            .field("connections", &self.connections())
            .finish()
    }
}

impl Gateway {
    /// Starts the shards and the hub. `gaps` lets the hub fill offset gaps
    /// from storage; without it, gaps make the topic resync.
    pub fn start(
        config: GatewayConfig,
        registry: &prometheus::Registry,
        gaps: Option<GapSource>,
    ) -> std::io::Result<Self> {
        let config = Arc::new(config);
        let metrics = GatewayMetrics::new(registry);
        let ring = Arc::new(Mutex::new(ReplayRing::new(
            config.ring_entries,
            config.ring_bytes,
            config.ring_per_topic,
        )));
        let node = format!("{:06x}", rand_node());
        let mut shards = Vec::with_capacity(config.shards.max(1));
        for id in 0..config.shards.max(1) {
            shards.push(shard::spawn(
                id,
                node.clone(),
                ring.clone(),
                config.clone(),
                metrics.clone(),
            )?);
        }
        let shards = Arc::new(shards);
        let (tx, rx) = crossbeam_channel::bounded(config.feed_capacity.max(1));
        let wt = Arc::new(wt_sessions::WtSessions::default());
        let hub = Hub {
            rx,
            shards: shards.clone(),
            wt: wt.clone(),
            ring: ring.clone(),
            sequencer: Sequencer::new(config.gap_hold.as_millis() as u64, 1_000_000),
            gaps,
            metrics: metrics.clone(),
            started: Instant::now(),
        };
        let hub = std::thread::Builder::new()
            .name("gateway-hub".into())
            .spawn(move || hub.run())?;
        Ok(Self {
            inner: Arc::new(GatewayInner {
                shards,
                feed: DeltaFeed {
                    tx,
                    metrics: metrics.clone(),
                },
                metrics,
                next_shard: AtomicUsize::new(0),
                handshakes: HandshakeLimit::new(config.handshakes_per_sec_per_ip),
                config,
                hub: Mutex::new(Some(hub)),
                ring,
                wt,
                stopping: std::sync::atomic::AtomicBool::new(false),
            }),
        })
    }

    /// Where committed deltas go in.
    pub fn feed(&self) -> DeltaFeed {
        self.inner.feed.clone()
    }

    pub fn metrics(&self) -> &GatewayMetrics {
        &self.inner.metrics
    }

    pub fn config(&self) -> &GatewayConfig {
        &self.inner.config
    }

    pub(crate) fn ring(&self) -> &Mutex<ReplayRing> {
        &self.inner.ring
    }

    pub(crate) fn wt_sessions(&self) -> &wt_sessions::WtSessions {
        &self.inner.wt
    }

    /// Hands an upgraded socket to the least loaded shard.
    pub fn adopt(&self, socket: Adopted) {
        self.pick_shard().send(ShardMsg::Adopt(socket));
    }

    /// The least loaded shard (ties go round-robin).
    pub(crate) fn pick_shard(&self) -> &ShardHandle {
        let shards = &self.inner.shards;
        let start = self.inner.next_shard.fetch_add(1, Ordering::Relaxed);
        let pick = (0..shards.len())
            .map(|i| (start + i) % shards.len())
            .min_by_key(|&i| shards[i].open.load(Ordering::Relaxed))
            .unwrap_or(0);
        &shards[pick]
    }

    /// Open connections across shards.
    pub fn connections(&self) -> usize {
        self.inner
            .shards
            .iter()
            .map(|s| s.open.load(Ordering::Relaxed))
            .sum()
    }

    /// Closes every connection with 1012 (restarting) and stops the shards
    /// and the acceptor.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Relaxed);
        for shard in self.inner.shards.iter() {
            shard.send(ShardMsg::Shutdown);
        }
        for shard in self.inner.shards.iter() {
            shard.join();
        }
        drop(self.inner.hub.lock().take());
    }
}

fn rand_node() -> u32 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    t ^ std::process::id().rotate_left(16)
}
