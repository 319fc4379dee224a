//! How many sockets one worker process may hold: the hard `RLIMIT_NOFILE`
//! minus a margin for the process's own files, never a fixed number (here
//! the hard limit is 20,000; on a tuned host it is far higher).

use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};

/// Descriptors kept free for the runtime, stdio, the HTTP catch-up and
/// sockets in TIME_WAIT teardown.
pub const MARGIN: u64 = 1000;

/// Sockets per worker for a hard limit of `hard` (`None`: unlimited).
pub fn per_worker(hard: Option<u64>, margin: u64) -> u64 {
    // Unlimited in theory, but one process with millions of sockets is
    // not what the harness wants to measure: cap it at a round number.
    hard.unwrap_or(1_000_000).saturating_sub(margin).max(1)
}

/// This process's hard descriptor limit.
pub fn hard_limit() -> Option<u64> {
    getrlimit(Resource::Nofile).maximum
}

/// Raises the soft descriptor limit to the hard one (as `ulimit -n
/// $(ulimit -Hn)` would), so a worker can use its whole budget.
pub fn raise_soft_limit() -> std::io::Result<()> {
    let current = getrlimit(Resource::Nofile);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: current.maximum,
            maximum: current.maximum,
        },
    )
    .map_err(std::io::Error::from)
}

/// Workers needed for `connections` with `per_worker` sockets each.
pub fn workers_for(connections: u64, per_worker: u64) -> u64 {
    connections.div_ceil(per_worker.max(1)).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_the_hard_limit() {
        assert_eq!(per_worker(Some(20_000), MARGIN), 19_000);
        assert_eq!(per_worker(Some(1_048_576), MARGIN), 1_047_576);
        assert_eq!(per_worker(Some(10), MARGIN), 1);
        assert_eq!(workers_for(100_000, 19_000), 6);
        assert_eq!(workers_for(19_000, 19_000), 1);
        assert_eq!(workers_for(0, 19_000), 1);
    }

    #[test]
    fn the_soft_limit_can_be_raised_to_the_hard_one() {
        raise_soft_limit().unwrap();
        let now = getrlimit(Resource::Nofile);
        assert_eq!(now.current, now.maximum);
        assert!(per_worker(hard_limit(), MARGIN) >= 1);
    }
}
