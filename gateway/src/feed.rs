//! The entry point for committed deltas: a bounded queue into the hub.
//! Pushing never blocks; when the queue is full the delta's topic is
//! reported lost, so the gateway resyncs it instead of pretending.

use crossbeam_channel::{Sender, TrySendError};
use tidings_storage::CommittedDelta;

use crate::hub::HubMsg;
use crate::metrics::GatewayMetrics;

/// Cheap to clone; hand one to each publisher.
#[derive(Clone)]
pub struct DeltaFeed {
    pub(crate) tx: Sender<HubMsg>,
    pub(crate) metrics: GatewayMetrics,
}

impl std::fmt::Debug for DeltaFeed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeltaFeed(queued: {})", self.tx.len())
    }
}

impl DeltaFeed {
    /// Queues committed deltas for delivery, in commit order. Never blocks.
    pub fn push(&self, deltas: &[CommittedDelta]) {
        if deltas.is_empty() {
            return;
        }
        match self.tx.try_send(HubMsg::Deltas(deltas.to_vec())) {
            Ok(()) | Err(TrySendError::Disconnected(_)) => {}
            Err(TrySendError::Full(HubMsg::Deltas(lost))) => {
                for d in lost {
                    self.metrics.lagging.inc();
                    // Best effort: if even this cannot be queued, the gap
                    // detection on the topic's next delta still catches it.
                    let _ = self.tx.try_send(HubMsg::Lost(d.delta.topic));
                }
            }
            Err(TrySendError::Full(HubMsg::Lost(_))) => {}
        }
    }
}
