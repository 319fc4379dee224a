//! The hub: one thread between the feed (publisher or bus) and the shards.
//! It orders each topic's deltas (the sequencer), fills gaps from storage
//! or gives up on them (those topics then resync), encodes each delta once,
//! keeps it in the replay ring and hands the same bytes to every shard.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use parking_lot::Mutex;
use tidings_storage::conformance::DynStore;
use tidings_storage::{CommittedDelta, Topic};

use crate::core::encoded::EncodedDelta;
use crate::core::ring::ReplayRing;
use crate::core::sequencer::{Gap, Sequencer};
use crate::metrics::GatewayMetrics;
use crate::shard::{ShardHandle, ShardMsg};
use crate::wt_sessions::WtSessions;

/// Where the hub fills gaps from: the store, through an async runtime.
#[derive(Clone)]
pub struct GapSource {
    pub store: DynStore,
    pub runtime: tokio::runtime::Handle,
}

impl std::fmt::Debug for GapSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GapSource")
    }
}

pub(crate) enum HubMsg {
    Deltas(Vec<CommittedDelta>),
    /// A delta of this topic was dropped before reaching the hub.
    Lost(Topic),
}

pub(crate) struct Hub {
    pub(crate) rx: Receiver<HubMsg>,
    pub(crate) shards: Arc<Vec<ShardHandle>>,
    pub(crate) wt: Arc<WtSessions>,
    pub(crate) ring: Arc<Mutex<ReplayRing>>,
    pub(crate) sequencer: Sequencer,
    pub(crate) gaps: Option<GapSource>,
    pub(crate) metrics: GatewayMetrics,
    pub(crate) started: Instant,
}

impl Hub {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    pub(crate) fn run(mut self) {
        loop {
            match self.rx.recv_timeout(Duration::from_millis(50)) {
                Ok(HubMsg::Deltas(batch)) => {
                    let now = self.now_ms();
                    for d in batch {
                        let ready = self.sequencer.offer(d, now);
                        self.dispatch(ready);
                    }
                }
                Ok(HubMsg::Lost(topic)) => {
                    // Later deltas of the topic will open a gap, filled from
                    // storage; until then resumes of it must not claim success.
                    self.metrics.lagging.inc();
                    self.ring.lock().forget(topic);
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => return,
            }
            let now = self.now_ms();
            for gap in self.sequencer.expired_gaps(now) {
                self.close_gap(gap);
            }
        }
    }

    fn close_gap(&mut self, gap: Gap) {
        let filled = self.gaps.as_ref().and_then(|src| fetch(src, gap));
        let now = self.now_ms();
        let ready = match filled {
            Some(deltas) => {
                let ready = self.sequencer.fill(deltas, now);
                if self.sequencer.next_expected(gap.topic) <= gap.to {
                    self.give_up(gap.topic, ready)
                } else {
                    ready
                }
            }
            None => self.give_up(gap.topic, Vec::new()),
        };
        self.dispatch(ready);
    }

    fn give_up(&mut self, topic: Topic, mut ready: Vec<CommittedDelta>) -> Vec<CommittedDelta> {
        tracing::warn!(%topic, "offset gap could not be filled; clients will resync it");
        self.metrics.resyncs.inc();
        self.ring.lock().forget(topic);
        ready.extend(self.sequencer.give_up(topic));
        ready
    }

    fn dispatch(&self, ready: Vec<CommittedDelta>) {
        let now_ms = tidings_storage::Timestamp::now().millis();
        for d in ready {
            let lag = (now_ms - d.delta.committed_at.millis()).max(0) as f64 / 1000.0;
            self.metrics.bus_lag.observe(lag);
            let encoded = Arc::new(EncodedDelta::encode(&d));
            self.ring.lock().push(encoded.clone());
            for shard in self.shards.iter() {
                shard.send(ShardMsg::Deliver(encoded.clone()));
            }
            self.wt.deliver(&encoded);
        }
    }
}

/// Reads the missing offsets (and current recipients) from storage.
fn fetch(src: &GapSource, gap: Gap) -> Option<Vec<CommittedDelta>> {
    src.runtime.block_on(async {
        let recipients = src.store.topic_recipients(gap.topic).await.ok()?;
        let mut out = Vec::new();
        let mut after = gap.from - 1;
        while after < gap.to {
            let page = src
                .store
                .read_events(gap.topic, after, Some(200))
                .await
                .ok()?;
            if page.items.is_empty() {
                break;
            }
            for delta in page.items {
                if delta.offset > gap.to {
                    break;
                }
                after = delta.offset;
                out.push(CommittedDelta {
                    delta,
                    recipients: recipients.clone(),
                });
            }
        }
        Some(out)
    })
}
