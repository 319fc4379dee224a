//! Where committed deltas go. The api calls [`Publisher::publish`] only after
//! the store call returned, i.e. after commit. Implementations must not block
//! the request: they queue (bounded) and deliver in the background. In `dev`
//! the in-process gateway is the publisher; across nodes it is the QUIC bus.

use std::sync::Arc;

use std::sync::Mutex;
use tidings_storage::CommittedDelta;

/// Hands committed deltas to the delivery path.
pub trait Publisher: Send + Sync + 'static {
    /// Queues `deltas` (in commit order) for delivery. Never blocks.
    fn publish(&self, deltas: &[CommittedDelta]);
}

/// Publishes to several publishers (e.g. a local gateway and the bus).
#[derive(Clone, Default)]
pub struct FanoutPublisher {
    targets: Vec<Arc<dyn Publisher>>,
}

impl std::fmt::Debug for FanoutPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FanoutPublisher({} targets)", self.targets.len())
    }
}

impl FanoutPublisher {
    pub fn new(targets: Vec<Arc<dyn Publisher>>) -> Self {
        Self { targets }
    }
}

impl Publisher for FanoutPublisher {
    fn publish(&self, deltas: &[CommittedDelta]) {
        for t in &self.targets {
            t.publish(deltas);
        }
    }
}

/// Keeps every published delta in memory, in order: for tests and tools
/// that inspect what the api published.
#[derive(Debug, Default)]
pub struct RecordingPublisher {
    seen: Mutex<Vec<CommittedDelta>>,
}

impl RecordingPublisher {
    /// Everything published so far.
    pub fn published(&self) -> Vec<CommittedDelta> {
        self.seen.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

impl Publisher for RecordingPublisher {
    fn publish(&self, deltas: &[CommittedDelta]) {
        if let Ok(mut seen) = self.seen.lock() {
            seen.extend_from_slice(deltas);
        }
    }
}
