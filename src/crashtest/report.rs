//! The line a worker prints for each delta it saw commit, so the parent can
//! verify that every acknowledged change survived the kill.

use serde::{Deserialize, Serialize};
use tidings_storage::CommittedDelta;

/// One acknowledged delta: topic, offset, event and the id in its data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Acked {
    pub(crate) topic: String,
    pub(crate) offset: u64,
    pub(crate) event: String,
    pub(crate) id: Option<String>,
}

impl Acked {
    pub(crate) fn of(d: &CommittedDelta) -> Self {
        Self {
            topic: d.delta.topic.to_string(),
            offset: d.delta.offset,
            event: d.delta.event.as_str().to_owned(),
            id: d
                .delta
                .data
                .get("id")
                .and_then(|v| v.as_str())
                .map(str::to_owned),
        }
    }
}

/// Prefix of an acknowledgement line on the worker's stdout.
pub(crate) const ACK: &str = "ack ";
/// The line a worker prints once it is ready to be killed.
pub(crate) const READY: &str = "ready";

/// Prints the acknowledgement lines of `deltas` and flushes, so a kill right
/// after cannot lose a line the parent should have seen.
pub(crate) fn print_acks(deltas: &[CommittedDelta]) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    for d in deltas {
        let line = serde_json::to_string(&Acked::of(d)).expect("serializable");
        let _ = writeln!(out, "{ACK}{line}");
    }
    let _ = out.flush();
}
