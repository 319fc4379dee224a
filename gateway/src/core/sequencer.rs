//! Orders the deltas of each topic before they are pushed.
//!
//! Deltas can arrive out of order (several api nodes publish to one gateway)
//! or not at all (a dropped bus frame, a restart). The sequencer releases a
//! topic's deltas strictly in offset order, holds later ones while a gap is
//! open, and reports gaps that stay open past a deadline so the shell can
//! fill them from storage, or give up and mark the topic for resync. It never
//! releases anything out of order.

use std::collections::{BTreeMap, HashMap};

use tidings_storage::{CommittedDelta, Topic};

/// A hole in a topic's offsets: `from..=to` never arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gap {
    pub topic: Topic,
    pub from: u64,
    pub to: u64,
}

#[derive(Debug, Default)]
struct TopicSeq {
    next: u64,
    held: BTreeMap<u64, CommittedDelta>,
    gap_since_ms: Option<u64>,
}

/// Per-topic ordering state.
#[derive(Debug)]
pub struct Sequencer {
    topics: HashMap<Topic, TopicSeq>,
    hold_ms: u64,
    max_topics: usize,
}

impl Sequencer {
    /// Gaps open longer than `hold_ms` are reported; at most about
    /// `max_topics` idle topics are remembered.
    pub fn new(hold_ms: u64, max_topics: usize) -> Self {
        Self {
            topics: HashMap::new(),
            hold_ms,
            max_topics: max_topics.max(16),
        }
    }

    /// Takes one delta; returns those now releasable, in order.
    pub fn offer(&mut self, d: CommittedDelta, now_ms: u64) -> Vec<CommittedDelta> {
        let topic = d.delta.topic;
        let offset = d.delta.offset;
        if !self.topics.contains_key(&topic) {
            self.trim();
        }
        let seq = self.topics.entry(topic).or_default();
        if seq.next == 0 {
            // First sight since start: nothing earlier can be pushed anyway;
            // a client that needs it resumes and is told to resync.
            seq.next = offset;
        }
        if offset < seq.next || seq.held.contains_key(&offset) {
            return Vec::new(); // a duplicate
        }
        seq.held.insert(offset, d);
        let out = release(seq);
        if seq.held.is_empty() {
            seq.gap_since_ms = None;
        } else if seq.gap_since_ms.is_none() {
            seq.gap_since_ms = Some(now_ms);
        }
        out
    }

    /// Gaps open for longer than the hold time.
    pub fn expired_gaps(&self, now_ms: u64) -> Vec<Gap> {
        self.topics
            .iter()
            .filter_map(|(topic, seq)| {
                let since = seq.gap_since_ms?;
                if now_ms.saturating_sub(since) < self.hold_ms {
                    return None;
                }
                let first_held = *seq.held.keys().next()?;
                Some(Gap {
                    topic: *topic,
                    from: seq.next,
                    to: first_held - 1,
                })
            })
            .collect()
    }

    /// Deltas fetched from storage for a gap: offered like any other.
    pub fn fill(&mut self, filled: Vec<CommittedDelta>, now_ms: u64) -> Vec<CommittedDelta> {
        let mut out = Vec::new();
        for d in filled {
            out.extend(self.offer(d, now_ms));
        }
        out
    }

    /// Skips an unfillable gap: releases what was held after it. The caller
    /// must make clients resync the topic.
    pub fn give_up(&mut self, topic: Topic) -> Vec<CommittedDelta> {
        let Some(seq) = self.topics.get_mut(&topic) else {
            return Vec::new();
        };
        if let Some(&first) = seq.held.keys().next() {
            seq.next = first;
        }
        seq.gap_since_ms = None;
        release(seq)
    }

    /// The next offset expected for `topic` (0 when unknown).
    pub fn next_expected(&self, topic: Topic) -> u64 {
        self.topics.get(&topic).map_or(0, |s| s.next)
    }

    fn trim(&mut self) {
        if self.topics.len() < self.max_topics {
            return;
        }
        // Forget about a tenth of the idle topics; they restart at first sight.
        let mut budget = self.max_topics / 10;
        self.topics.retain(|_, s| {
            if budget > 0 && s.held.is_empty() {
                budget -= 1;
                false
            } else {
                true
            }
        });
    }
}

fn release(seq: &mut TopicSeq) -> Vec<CommittedDelta> {
    let mut out = Vec::new();
    while let Some(d) = seq.held.remove(&seq.next) {
        seq.next += 1;
        out.push(d);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_storage::{ChatId, Delta, EventKind, Timestamp};

    fn d(offset: u64) -> CommittedDelta {
        CommittedDelta {
            delta: Delta::new(
                Topic::Chat(ChatId(1)),
                offset,
                EventKind::MessageCreated,
                serde_json::json!({}),
                Timestamp(0),
            ),
            recipients: vec![],
        }
    }

    fn offs(v: Vec<CommittedDelta>) -> Vec<u64> {
        v.iter().map(|d| d.delta.offset).collect()
    }

    #[test]
    fn releases_in_order_and_drops_duplicates() {
        let mut s = Sequencer::new(100, 1000);
        assert_eq!(offs(s.offer(d(5), 0)), vec![5]);
        assert_eq!(offs(s.offer(d(7), 0)), Vec::<u64>::new());
        assert_eq!(offs(s.offer(d(5), 0)), Vec::<u64>::new());
        assert_eq!(offs(s.offer(d(7), 0)), Vec::<u64>::new());
        assert_eq!(offs(s.offer(d(6), 0)), vec![6, 7]);
        assert_eq!(s.next_expected(Topic::Chat(ChatId(1))), 8);
    }

    #[test]
    fn reports_gaps_after_the_hold_and_fills_them() {
        let mut s = Sequencer::new(100, 1000);
        s.offer(d(1), 0);
        s.offer(d(4), 10);
        s.offer(d(5), 20);
        assert!(s.expired_gaps(50).is_empty());
        let gaps = s.expired_gaps(110);
        assert_eq!(
            gaps,
            vec![Gap {
                topic: Topic::Chat(ChatId(1)),
                from: 2,
                to: 3
            }]
        );
        assert_eq!(offs(s.fill(vec![d(2), d(3)], 120)), vec![2, 3, 4, 5]);
        assert!(s.expired_gaps(1000).is_empty());
    }

    #[test]
    fn giving_up_skips_the_gap() {
        let mut s = Sequencer::new(100, 1000);
        s.offer(d(1), 0);
        s.offer(d(3), 0);
        assert_eq!(offs(s.give_up(Topic::Chat(ChatId(1)))), vec![3]);
        assert_eq!(
            offs(s.offer(d(2), 0)),
            Vec::<u64>::new(),
            "late arrivals stay dropped"
        );
        assert_eq!(offs(s.offer(d(4), 0)), vec![4]);
    }
}
