//! A delta encoded once: the WebSocket frame bytes every recipient socket
//! gets, with the sorted recipient list it was committed with.

use std::sync::Arc;

use tidings_storage::{CommittedDelta, Topic, UserId};

use super::ws_codec;

/// One (topic, offset), ready to write to any socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodedDelta {
    pub topic: Topic,
    pub offset: u64,
    /// A complete server text frame holding the delta's JSON.
    pub frame: Arc<[u8]>,
    /// Where the JSON starts inside `frame` (after the WebSocket header);
    /// WebTransport sends `frame[json_at..]` and a newline.
    pub json_at: u8,
    /// Sorted, for binary search.
    pub recipients: Arc<[UserId]>,
    /// Commit time in Unix milliseconds (for lag and latency metrics).
    pub committed_at_ms: i64,
}

impl EncodedDelta {
    /// Encodes `d` once.
    pub fn encode(d: &CommittedDelta) -> Self {
        let json = serde_json::to_vec(&d.delta).expect("deltas serialize");
        let mut recipients = d.recipients.clone();
        recipients.sort_unstable();
        recipients.dedup();
        let frame = ws_codec::text(&json);
        Self {
            topic: d.delta.topic,
            offset: d.delta.offset,
            json_at: (frame.len() - json.len()) as u8,
            frame: frame.into(),
            recipients: recipients.into(),
            committed_at_ms: d.delta.committed_at.millis(),
        }
    }

    /// The delta's JSON alone.
    pub fn json(&self) -> &[u8] {
        &self.frame[self.json_at as usize..]
    }

    /// Whether `user` may receive it.
    pub fn is_for(&self, user: UserId) -> bool {
        self.recipients.binary_search(&user).is_ok()
    }

    /// Bytes this entry holds, for ring accounting.
    pub fn weight(&self) -> usize {
        self.frame.len() + self.recipients.len() * 8 + 64
    }
}
