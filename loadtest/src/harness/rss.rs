//! Resident memory of the processes under test, read from
//! `/proc/<pid>/status` (VmRSS): gateways, api nodes and the workers.

use serde::Serialize;

use crate::idle::rss_bytes;

/// A process whose memory is followed.
#[derive(Debug, Clone, Serialize)]
pub struct Watched {
    /// `gateway-1`, `api-1`, `worker-0`, ...
    pub name: String,
    pub pid: u32,
}

/// RSS of each watched process now, in bytes (0 once it is gone).
pub fn sample(watched: &[Watched]) -> Vec<u64> {
    watched
        .iter()
        .map(|w| rss_bytes(w.pid).unwrap_or(0))
        .collect()
}

/// The sum over the processes whose name starts with `prefix`.
pub fn sum_of(watched: &[Watched], rss: &[u64], prefix: &str) -> u64 {
    watched
        .iter()
        .zip(rss)
        .filter(|(w, _)| w.name.starts_with(prefix))
        .map(|(_, r)| *r)
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_sums_by_role() {
        let me = std::process::id();
        let watched = vec![
            Watched {
                name: "gateway-1".into(),
                pid: me,
            },
            Watched {
                name: "gateway-2".into(),
                pid: me,
            },
            Watched {
                name: "api-1".into(),
                pid: u32::MAX,
            },
        ];
        let rss = sample(&watched);
        assert!(rss[0] > 0);
        assert_eq!(rss[2], 0, "a missing process reads as 0");
        assert!(sum_of(&watched, &rss, "gateway") >= rss[0]);
        assert_eq!(sum_of(&watched, &rss, "api"), 0);
    }
}
