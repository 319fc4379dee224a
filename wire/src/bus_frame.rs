//! The bus frame: one committed delta, as api nodes send it to gateways.
//!
//! Compact and length-prefixed, big-endian:
//!
//! ```text
//! u32 length of the rest | u8 version (1) | u8 topic kind (0 chat, 1 user, 2 posts)
//! u64 topic id | u64 offset | i64 committed_at (Unix ms) | u8 event (index)
//! u32 recipient count | u64 × count | u32 data length | data (JSON bytes)
//! ```
//!
//! Sans-IO: [`encode`] appends to a buffer, [`decode`] reads one frame from
//! the front of a buffer and says how many bytes it used.

use tidings_storage::{ChatId, CommittedDelta, Delta, EventKind, Timestamp, Topic, UserId};

const VERSION: u8 = 1;
/// Largest frame accepted (a chat of 100,000 members plus a 64 KiB body fits).
pub const MAX_FRAME: usize = 2 * 1024 * 1024;

/// Why bytes are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BusFrameError {
    #[error("bus frame of {0} bytes is over the limit")]
    TooBig(usize),
    #[error("unsupported bus frame version {0}")]
    Version(u8),
    #[error("malformed bus frame: {0}")]
    Malformed(&'static str),
}

fn event_index(e: EventKind) -> u8 {
    EventKind::ALL
        .iter()
        .position(|k| *k == e)
        .map_or(u8::MAX, |i| i as u8)
}

/// Appends `d` as one frame.
pub fn encode(d: &CommittedDelta, out: &mut Vec<u8>) {
    let data = serde_json::to_vec(&d.delta.data).unwrap_or_else(|_| b"null".to_vec());
    let (kind, id) = match d.delta.topic {
        Topic::Chat(c) => (0u8, c.get()),
        Topic::User(u) => (1, u.get()),
        Topic::Posts(u) => (2, u.get()),
    };
    let len = 1 + 1 + 8 + 8 + 8 + 1 + 4 + 8 * d.recipients.len() + 4 + data.len();
    out.reserve(4 + len);
    out.extend_from_slice(&(len as u32).to_be_bytes());
    out.push(VERSION);
    out.push(kind);
    out.extend_from_slice(&id.to_be_bytes());
    out.extend_from_slice(&d.delta.offset.to_be_bytes());
    out.extend_from_slice(&d.delta.committed_at.millis().to_be_bytes());
    out.push(event_index(d.delta.event));
    out.extend_from_slice(&(d.recipients.len() as u32).to_be_bytes());
    for r in &d.recipients {
        out.extend_from_slice(&r.get().to_be_bytes());
    }
    out.extend_from_slice(&(data.len() as u32).to_be_bytes());
    out.extend_from_slice(&data);
}

struct Reader<'a> {
    buf: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], BusFrameError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or(BusFrameError::Malformed("truncated"))?;
        let s = &self.buf[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, BusFrameError> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Result<u32, BusFrameError> {
        Ok(u32::from_be_bytes(
            self.take(4)?.try_into().expect("4 bytes"),
        ))
    }
    fn u64(&mut self) -> Result<u64, BusFrameError> {
        Ok(u64::from_be_bytes(
            self.take(8)?.try_into().expect("8 bytes"),
        ))
    }
}

/// Decodes the first frame of `buf`: `Ok(None)` when more bytes are needed.
pub fn decode(buf: &[u8]) -> Result<Option<(CommittedDelta, usize)>, BusFrameError> {
    if buf.len() < 4 {
        return Ok(None);
    }
    let len = u32::from_be_bytes(buf[..4].try_into().expect("4 bytes")) as usize;
    if len > MAX_FRAME {
        return Err(BusFrameError::TooBig(len));
    }
    if buf.len() < 4 + len {
        return Ok(None);
    }
    let mut r = Reader {
        buf: &buf[4..4 + len],
        at: 0,
    };
    let version = r.u8()?;
    if version != VERSION {
        return Err(BusFrameError::Version(version));
    }
    let kind = r.u8()?;
    let id = r.u64()?;
    let topic = match kind {
        0 => Topic::Chat(ChatId(id)),
        1 => Topic::User(UserId(id)),
        2 => Topic::Posts(UserId(id)),
        _ => return Err(BusFrameError::Malformed("topic kind")),
    };
    let offset = r.u64()?;
    let committed_at = Timestamp(r.u64()? as i64);
    let event = *EventKind::ALL
        .get(r.u8()? as usize)
        .ok_or(BusFrameError::Malformed("event"))?;
    let count = r.u32()? as usize;
    if count > (len / 8) {
        return Err(BusFrameError::Malformed("recipient count"));
    }
    let mut recipients = Vec::with_capacity(count);
    for _ in 0..count {
        recipients.push(UserId(r.u64()?));
    }
    let data_len = r.u32()? as usize;
    let data = serde_json::from_slice(r.take(data_len)?)
        .map_err(|_| BusFrameError::Malformed("data is not JSON"))?;
    if r.at != len {
        return Err(BusFrameError::Malformed("trailing bytes"));
    }
    Ok(Some((
        CommittedDelta {
            delta: Delta::new(topic, offset, event, data, committed_at),
            recipients,
        },
        4 + len,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(event: EventKind, recipients: usize) -> CommittedDelta {
        CommittedDelta {
            delta: Delta::new(
                Topic::Posts(UserId(77)),
                123_456,
                event,
                serde_json::json!({"id": "9", "body": "héllo"}),
                Timestamp(1_764_000_000_123),
            ),
            recipients: (0..recipients as u64).map(UserId).collect(),
        }
    }

    #[test]
    fn round_trips_every_event_and_splits_cleanly() {
        let mut buf = Vec::new();
        let all: Vec<_> = EventKind::ALL
            .iter()
            .enumerate()
            .map(|(i, e)| sample(*e, i * 3))
            .collect();
        for d in &all {
            encode(d, &mut buf);
        }
        let mut at = 0;
        for d in &all {
            let (got, used) = decode(&buf[at..]).unwrap().unwrap();
            assert_eq!(&got, d);
            // Any prefix of a frame asks for more bytes.
            for cut in [0, 1, 3, 4, used / 2, used - 1] {
                assert_eq!(decode(&buf[at..at + cut]).unwrap(), None);
            }
            at += used;
        }
        assert_eq!(at, buf.len());
    }

    #[test]
    fn refuses_garbage() {
        let mut buf = Vec::new();
        encode(&sample(EventKind::PostCreated, 2), &mut buf);
        let mut bad = buf.clone();
        bad[4] = 9;
        assert_eq!(decode(&bad), Err(BusFrameError::Version(9)));
        let mut bad = buf.clone();
        bad[5] = 7;
        assert_eq!(decode(&bad), Err(BusFrameError::Malformed("topic kind")));
        let huge = (MAX_FRAME as u32 + 1).to_be_bytes();
        assert_eq!(decode(&huge), Err(BusFrameError::TooBig(MAX_FRAME + 1)));
        let mut short = buf.clone();
        let len = u32::from_be_bytes(short[..4].try_into().unwrap()) - 1;
        short[..4].copy_from_slice(&len.to_be_bytes());
        assert!(decode(&short).is_err());
    }
}
