//! Where committed deltas go. The api calls [`Publisher::publish`] only after
//! the store call returned, i.e. after commit. Implementations must not block
//! the request: they queue (bounded) and deliver in the background. In `dev`
//! the in-process gateway is the publisher; across nodes it is the QUIC bus.

use std::sync::Mutex;
use tidings_storage::CommittedDelta;

/// Hands committed deltas to the delivery path.
pub trait Publisher: Send + Sync + 'static {
    /// Queues `deltas` (in commit order) for delivery. Never blocks.
    fn publish(&self, deltas: &[CommittedDelta]);
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
