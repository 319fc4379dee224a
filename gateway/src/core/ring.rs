//! Replay rings: the recent deltas of each topic, for `resume`.
//!
//! Bounded in entries and bytes across all topics. When over a bound, the
//! topic written least recently gives up its oldest entry, so busy topics keep
//! history and cold ones lose it first. A resume older than what a topic
//! still holds is answered `resync`, never with a partial replay.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;

use tidings_storage::Topic;

use super::encoded::EncodedDelta;

/// What a resume of one topic gets.
#[derive(Debug, PartialEq, Eq)]
pub enum Replay {
    /// Every delta after the client's offset (possibly none), in order.
    Recovered(Vec<Arc<EncodedDelta>>),
    /// History does not reach back far enough: refetch over HTTP.
    Resync,
}

#[derive(Debug)]
struct TopicLog {
    entries: VecDeque<Arc<EncodedDelta>>,
    stamp: u64,
}

/// All topics' rings.
#[derive(Debug)]
pub struct ReplayRing {
    topics: HashMap<Topic, TopicLog>,
    by_age: BTreeMap<u64, Topic>,
    clock: u64,
    bytes: usize,
    entries: usize,
    max_bytes: usize,
    max_entries: usize,
    max_per_topic: usize,
}

impl ReplayRing {
    pub fn new(max_entries: usize, max_bytes: usize, max_per_topic: usize) -> Self {
        Self {
            topics: HashMap::new(),
            by_age: BTreeMap::new(),
            clock: 0,
            bytes: 0,
            entries: 0,
            max_bytes,
            max_entries,
            max_per_topic: max_per_topic.max(1),
        }
    }

    /// Appends the next delta of its topic. A delta that does not follow the
    /// topic's last one (after a gap given up on) restarts that topic's ring.
    pub fn push(&mut self, d: Arc<EncodedDelta>) {
        self.clock += 1;
        let stamp = self.clock;
        let topic = d.topic;
        let log = self.topics.entry(topic).or_insert_with(|| TopicLog {
            entries: VecDeque::new(),
            stamp,
        });
        self.by_age.remove(&log.stamp);
        log.stamp = stamp;
        self.by_age.insert(stamp, topic);
        if log
            .entries
            .back()
            .is_some_and(|last| last.offset + 1 != d.offset)
        {
            for e in log.entries.drain(..) {
                self.bytes -= e.weight();
                self.entries -= 1;
            }
        }
        self.bytes += d.weight();
        self.entries += 1;
        log.entries.push_back(d);
        if log.entries.len() > self.max_per_topic {
            if let Some(e) = log.entries.pop_front() {
                self.bytes -= e.weight();
                self.entries -= 1;
            }
        }
        self.evict();
    }

    fn evict(&mut self) {
        while self.bytes > self.max_bytes || self.entries > self.max_entries {
            let Some((&stamp, &topic)) = self.by_age.iter().next() else {
                return;
            };
            let Some(log) = self.topics.get_mut(&topic) else {
                self.by_age.remove(&stamp);
                continue;
            };
            if let Some(e) = log.entries.pop_front() {
                self.bytes -= e.weight();
                self.entries -= 1;
            }
            if log.entries.is_empty() {
                self.topics.remove(&topic);
                self.by_age.remove(&stamp);
            }
        }
    }

    /// The deltas of `topic` after `after`, or resync if history is missing.
    pub fn replay(&self, topic: Topic, after: u64) -> Replay {
        let Some(log) = self.topics.get(&topic) else {
            return Replay::Resync;
        };
        let (Some(first), Some(last)) = (log.entries.front(), log.entries.back()) else {
            return Replay::Resync;
        };
        if after >= last.offset {
            return Replay::Recovered(Vec::new());
        }
        if after + 1 < first.offset {
            return Replay::Resync;
        }
        let skip = (after + 1 - first.offset) as usize;
        Replay::Recovered(log.entries.iter().skip(skip).cloned().collect())
    }

    /// Drops a topic's history (after a gap that could not be filled).
    pub fn forget(&mut self, topic: Topic) {
        if let Some(log) = self.topics.remove(&topic) {
            self.by_age.remove(&log.stamp);
            for e in log.entries {
                self.bytes -= e.weight();
                self.entries -= 1;
            }
        }
    }

    /// (entries, bytes, topics) held now.
    pub fn usage(&self) -> (usize, usize, usize) {
        (self.entries, self.bytes, self.topics.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_storage::{ChatId, UserId};

    fn d(chat: u64, offset: u64) -> Arc<EncodedDelta> {
        Arc::new(EncodedDelta {
            topic: Topic::Chat(ChatId(chat)),
            offset,
            frame: vec![0u8; 36].into(),
            json_at: 0,
            recipients: vec![UserId(1)].into(),
            committed_at_ms: 0,
        })
    }

    fn offsets(r: Replay) -> Option<Vec<u64>> {
        match r {
            Replay::Recovered(v) => Some(v.iter().map(|e| e.offset).collect()),
            Replay::Resync => None,
        }
    }

    #[test]
    fn replays_what_it_holds_and_resyncs_beyond() {
        let mut ring = ReplayRing::new(100, 1 << 20, 3);
        for o in 1..=5 {
            ring.push(d(1, o));
        }
        let t = Topic::Chat(ChatId(1));
        assert_eq!(offsets(ring.replay(t, 2)), Some(vec![3, 4, 5]));
        assert_eq!(offsets(ring.replay(t, 4)), Some(vec![5]));
        assert_eq!(offsets(ring.replay(t, 5)), Some(vec![]));
        assert_eq!(offsets(ring.replay(t, 9)), Some(vec![]));
        assert_eq!(
            offsets(ring.replay(t, 1)),
            None,
            "offset 2 was evicted by the per-topic bound"
        );
        assert_eq!(offsets(ring.replay(Topic::Chat(ChatId(2)), 0)), None);
    }

    #[test]
    fn cold_topics_lose_history_first() {
        let weight = d(1, 1).weight();
        let mut ring = ReplayRing::new(1000, weight * 4, 100);
        ring.push(d(1, 1));
        ring.push(d(1, 2));
        ring.push(d(2, 1));
        ring.push(d(2, 2));
        ring.push(d(2, 3)); // over the byte bound: topic 1 is colder
        assert_eq!(
            offsets(ring.replay(Topic::Chat(ChatId(1)), 1)),
            Some(vec![2])
        );
        assert_eq!(offsets(ring.replay(Topic::Chat(ChatId(1)), 0)), None);
        assert_eq!(
            offsets(ring.replay(Topic::Chat(ChatId(2)), 0)),
            Some(vec![1, 2, 3])
        );
        ring.push(d(2, 4));
        assert_eq!(
            offsets(ring.replay(Topic::Chat(ChatId(1)), 1)),
            None,
            "topic 1 fully evicted"
        );
        assert_eq!(ring.usage(), (4, weight * 4, 1));
    }

    #[test]
    fn a_discontinuity_restarts_the_topic() {
        let mut ring = ReplayRing::new(100, 1 << 20, 100);
        ring.push(d(1, 1));
        ring.push(d(1, 2));
        ring.push(d(1, 7));
        let t = Topic::Chat(ChatId(1));
        assert_eq!(offsets(ring.replay(t, 2)), None, "3..=6 are unknown here");
        assert_eq!(offsets(ring.replay(t, 6)), Some(vec![7]));
        ring.forget(t);
        assert_eq!(offsets(ring.replay(t, 6)), None);
        assert_eq!(ring.usage(), (0, 0, 0));
    }
}
