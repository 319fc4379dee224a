//! Per-topic delivery verification, sans IO: each delivered offset must be
//! the next one (no loss, no duplicate, in order), and at the end the last
//! offset must reach what the writers committed.

use serde::{Deserialize, Serialize};

/// What one delivery was, as the verifier sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// The next offset: counted.
    Next,
    /// At or below the last one seen: a duplicate (or a reordering).
    Duplicate,
    /// Past the next one: offsets in between were skipped.
    Gap,
}

/// One client's view of one topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TopicCheck {
    last: u64,
    /// Offsets up to here were fetched over HTTP after a `resync`: the
    /// socket may still carry some of them, which is not a duplicate.
    fetched_upto: u64,
}

impl TopicCheck {
    /// Starts after `base`, the topic's head when the run began.
    pub fn after(base: u64) -> Self {
        Self {
            last: base,
            fetched_upto: 0,
        }
    }

    /// The last offset accepted (the one to resume from).
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Judges an offset pushed on the socket.
    pub fn pushed(&mut self, offset: u64) -> Option<Verdict> {
        if offset <= self.fetched_upto && offset <= self.last {
            return None;
        }
        Some(self.accept(offset))
    }

    /// Judges an offset fetched over HTTP after a `resync`.
    pub fn fetched(&mut self, offset: u64) -> Verdict {
        let v = self.accept(offset);
        self.fetched_upto = self.fetched_upto.max(offset);
        v
    }

    fn accept(&mut self, offset: u64) -> Verdict {
        if offset <= self.last {
            Verdict::Duplicate
        } else if offset == self.last + 1 {
            self.last = offset;
            Verdict::Next
        } else {
            self.last = offset;
            Verdict::Gap
        }
    }

    /// Offsets still missing when the topic's head is `expected`.
    pub fn missing(&self, expected: u64) -> u64 {
        expected.saturating_sub(self.last)
    }
}

/// Counts of what went wrong, summed over clients and processes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problems {
    pub duplicates: u64,
    pub gaps: u64,
    /// Offsets never received by the end (the head minus the last seen).
    pub lost: u64,
}

impl Problems {
    /// Records one verdict.
    pub fn note(&mut self, v: Verdict) {
        match v {
            Verdict::Next => {}
            Verdict::Duplicate => self.duplicates += 1,
            Verdict::Gap => self.gaps += 1,
        }
    }

    /// Adds another tally.
    pub fn add(&mut self, o: &Problems) {
        self.duplicates += o.duplicates;
        self.gaps += o.gaps;
        self.lost += o.lost;
    }

    /// Whether every delivery was right.
    pub fn clean(&self) -> bool {
        *self == Self::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_order_is_clean_and_reaches_the_head() {
        let mut t = TopicCheck::after(5);
        for o in 6..=9 {
            assert_eq!(t.pushed(o), Some(Verdict::Next));
        }
        assert_eq!(t.missing(9), 0);
        assert_eq!(t.missing(12), 3);
    }

    #[test]
    fn duplicates_and_gaps_are_caught() {
        let mut t = TopicCheck::after(0);
        assert_eq!(t.pushed(1), Some(Verdict::Next));
        assert_eq!(t.pushed(1), Some(Verdict::Duplicate));
        assert_eq!(t.pushed(3), Some(Verdict::Gap));
        assert_eq!(t.pushed(2), Some(Verdict::Duplicate));
        let mut p = Problems::default();
        for v in [Verdict::Duplicate, Verdict::Gap, Verdict::Next] {
            p.note(v);
        }
        assert_eq!((p.duplicates, p.gaps), (1, 1));
        assert!(!p.clean());
    }

    #[test]
    fn socket_overlap_after_an_http_catch_up_is_not_a_duplicate() {
        let mut t = TopicCheck::after(0);
        assert_eq!(t.pushed(1), Some(Verdict::Next));
        assert_eq!(t.fetched(2), Verdict::Next);
        assert_eq!(t.fetched(3), Verdict::Next);
        assert_eq!(t.pushed(3), None);
        assert_eq!(t.pushed(4), Some(Verdict::Next));
        // A fetch that repeats what the socket already gave is one.
        assert_eq!(t.fetched(4), Verdict::Duplicate);
    }
}
