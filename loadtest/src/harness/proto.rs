//! The lines a worker and its parent exchange: the worker prints one JSON
//! object per line on its stdout (periodic progress, then a final tally);
//! the parent writes one line on the worker's stdin when the writers are
//! done (every chat's head offset), after which the worker waits for its
//! clients to reach those heads, reports and exits.

use serde::{Deserialize, Serialize};

use super::verify::Problems;

/// Counters of one worker, cumulative since it started.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Counters {
    /// Sockets open now.
    pub connected: u64,
    /// Clients that have connected at least once.
    pub ever_connected: u64,
    /// Deltas received live (after the resume replay).
    pub deliveries: u64,
    /// Deltas received in a resume replay or fetched over HTTP.
    pub replayed: u64,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub resyncs: u64,
    pub problems: Problems,
    /// Sessions the server or the network ended, by reason.
    #[serde(default)]
    pub disconnects: Vec<(String, u64)>,
}

/// A line from a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum WorkerLine {
    /// Every `report_ms`: counters, and the latencies recorded since the
    /// previous line (V2 + base64 HDR histograms, live and replayed).
    Progress {
        counters: Counters,
        hist: String,
        replay_hist: String,
    },
    /// The last line: `problems.lost` is filled in, against the heads if
    /// `complete` (the parent's heads arrived before the worker stopped).
    Final {
        complete: bool,
        counters: Counters,
        hist: String,
        replay_hist: String,
    },
}

/// A line to a worker.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum ParentLine {
    /// The writers are done: each chat's head offset, as (chat, head)
    /// pairs (a map with integer keys does not survive serde's tagged
    /// enums). Clients stop churning and finish once they hold their head.
    Expect { heads: Vec<(u64, u64)> },
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn lines_round_trip() {
        let line = ParentLine::Expect {
            heads: vec![(913_288_998_422_577_152, 41)],
        };
        let text = serde_json::to_string(&line).unwrap();
        assert_eq!(text, r#"{"t":"expect","heads":[[913288998422577152,41]]}"#);
        let ParentLine::Expect { heads } = serde_json::from_str(&text).unwrap();
        let heads: HashMap<u64, u64> = heads.into_iter().collect();
        assert_eq!(heads[&913_288_998_422_577_152], 41);
        let w = WorkerLine::Final {
            complete: true,
            counters: Counters::default(),
            hist: String::new(),
            replay_hist: String::new(),
        };
        let back: WorkerLine = serde_json::from_str(&serde_json::to_string(&w).unwrap()).unwrap();
        assert!(matches!(back, WorkerLine::Final { .. }));
    }
}
