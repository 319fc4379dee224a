//! Planning a `resume`: for each topic, the deltas to replay from the ring
//! (only those the user was a recipient of, each at most once on this
//! connection), or `resync` when the ring cannot answer truthfully.

use std::sync::Arc;

use tidings_storage::{Topic, UserId};

use super::delivered::Delivered;
use super::encoded::EncodedDelta;
use super::ring::{Replay, ReplayRing};

/// What to send for a resume: `deltas` in order, then `resumed`.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ResumePlan {
    pub deltas: Vec<Arc<EncodedDelta>>,
    pub recovered: Vec<Topic>,
    pub resync: Vec<Topic>,
}

/// Plans the resume of `topics` (topic, client's last offset) for `user`,
/// marking what it will send in `delivered`.
pub fn plan(
    ring: &ReplayRing,
    delivered: &mut Delivered,
    user: UserId,
    topics: &[(Topic, u64)],
) -> ResumePlan {
    let mut plan = ResumePlan::default();
    for &(topic, after) in topics {
        // This connection already carried offsets past `after`: it cannot go
        // back, so the client refetches the topic instead.
        if delivered.mark(topic).is_some_and(|m| m > after) {
            plan.resync.push(topic);
            continue;
        }
        match ring.replay(topic, after) {
            Replay::Recovered(entries) => {
                plan.recovered.push(topic);
                delivered.note(topic, after);
                for e in entries {
                    if e.is_for(user) && delivered.admit(e.topic, e.offset) {
                        plan.deltas.push(e);
                    }
                }
            }
            Replay::Resync => plan.resync.push(topic),
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_storage::ChatId;

    fn d(offset: u64, to: &[u64]) -> Arc<EncodedDelta> {
        Arc::new(EncodedDelta {
            topic: Topic::Chat(ChatId(1)),
            offset,
            frame: vec![0u8; 8].into(),
            json_at: 0,
            recipients: to.iter().copied().map(UserId).collect::<Vec<_>>().into(),
            committed_at_ms: 0,
        })
    }

    #[test]
    fn replays_only_what_the_user_received_and_only_once() {
        let mut ring = ReplayRing::new(100, 1 << 20, 100);
        ring.push(d(1, &[1, 2]));
        ring.push(d(2, &[2]));
        ring.push(d(3, &[1, 2]));
        let t = Topic::Chat(ChatId(1));
        let mut delivered = Delivered::default();
        let p = plan(
            &ring,
            &mut delivered,
            UserId(1),
            &[(t, 0), (Topic::Chat(ChatId(9)), 0)],
        );
        assert_eq!(
            p.deltas.iter().map(|e| e.offset).collect::<Vec<_>>(),
            vec![1, 3]
        );
        assert_eq!(p.recovered, vec![t]);
        assert_eq!(p.resync, vec![Topic::Chat(ChatId(9))]);
        // Resuming again from the same point cannot go back: resync.
        let again = plan(&ring, &mut delivered, UserId(1), &[(t, 0)]);
        assert!(again.deltas.is_empty());
        assert_eq!(again.resync, vec![t]);
        // From where it is now: nothing to send, recovered.
        let now = plan(&ring, &mut delivered, UserId(1), &[(t, 3)]);
        assert_eq!(now.recovered, vec![t]);
        assert!(now.deltas.is_empty());
    }
}
