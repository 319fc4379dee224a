//! Per-connection high-water marks: the last offset sent on each topic. A
//! delta at or below the mark is not sent again, which keeps delivery at
//! most once and in order when a resume replay races live pushes.

use tidings_storage::Topic;

/// Topic → last offset sent on this connection.
#[derive(Debug, Default)]
pub struct Delivered {
    marks: Vec<(Topic, u64)>,
}

/// Most topics remembered per connection; beyond it the oldest are dropped
/// (their next delta is sent; resume handles the rest).
pub const MAX_TOPICS_PER_CONNECTION: usize = 4096;

impl Delivered {
    /// Whether `offset` of `topic` is new to this connection; if so, marks it.
    pub fn admit(&mut self, topic: Topic, offset: u64) -> bool {
        if let Some((_, mark)) = self.marks.iter_mut().find(|(t, _)| *t == topic) {
            if offset <= *mark {
                return false;
            }
            *mark = offset;
            return true;
        }
        if self.marks.len() >= MAX_TOPICS_PER_CONNECTION {
            self.marks.remove(0);
        }
        self.marks.push((topic, offset));
        true
    }

    /// The last offset sent on `topic`, if any.
    pub fn mark(&self, topic: Topic) -> Option<u64> {
        self.marks
            .iter()
            .find(|(t, _)| *t == topic)
            .map(|(_, m)| *m)
    }

    /// Raises the mark without sending (the client says it has up to `offset`).
    pub fn note(&mut self, topic: Topic, offset: u64) {
        if let Some((_, mark)) = self.marks.iter_mut().find(|(t, _)| *t == topic) {
            *mark = (*mark).max(offset);
        } else {
            self.marks.push((topic, offset));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tidings_storage::ChatId;

    #[test]
    fn admits_each_offset_once_in_order() {
        let mut d = Delivered::default();
        let t = Topic::Chat(ChatId(1));
        assert!(d.admit(t, 3));
        assert!(!d.admit(t, 3));
        assert!(!d.admit(t, 2));
        assert!(d.admit(t, 4));
        d.note(t, 10);
        assert!(!d.admit(t, 9));
        assert!(d.admit(t, 11));
    }
}
