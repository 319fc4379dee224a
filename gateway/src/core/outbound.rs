//! The bytes a socket could not take yet. Empty (and unallocated) while the
//! socket keeps up; bounded in bytes, so a slow consumer costs at most the
//! bound before it is closed with 4008.

use std::collections::VecDeque;
use std::sync::Arc;

/// Unsent frames, the first possibly partly written.
#[derive(Debug, Default)]
pub struct Outbound {
    frames: VecDeque<Arc<[u8]>>,
    /// Bytes of the front frame already written.
    front_written: usize,
    bytes: usize,
}

/// The queue passed its bound.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Overflow;

impl Outbound {
    /// Queues `frame` unless that would pass `max_bytes`.
    pub fn push(&mut self, frame: Arc<[u8]>, max_bytes: usize) -> Result<(), Overflow> {
        if self.bytes + frame.len() > max_bytes {
            return Err(Overflow);
        }
        self.bytes += frame.len();
        self.frames.push_back(frame);
        Ok(())
    }

    /// The unwritten bytes of the front frame.
    pub fn front(&self) -> Option<&[u8]> {
        self.frames.front().map(|f| &f[self.front_written..])
    }

    /// Records that `n` bytes of the front were written.
    pub fn advance(&mut self, n: usize) {
        self.bytes -= n;
        self.front_written += n;
        if let Some(f) = self.frames.front() {
            if self.front_written >= f.len() {
                self.frames.pop_front();
                self.front_written = 0;
            }
        }
    }

    /// Drops every frame but the front one (which may be partly written).
    pub fn keep_front_only(&mut self) {
        while self.frames.len() > 1 {
            if let Some(f) = self.frames.pop_back() {
                self.bytes -= f.len();
            }
        }
    }

    /// Whether a frame is partly written (nothing else may be sent before it ends).
    pub fn mid_frame(&self) -> bool {
        self.front_written > 0
    }

    pub fn is_empty(&self) -> bool {
        self.frames.is_empty()
    }

    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_partial_writes_and_bounds() {
        let mut q = Outbound::default();
        q.push(Arc::from(&b"hello"[..]), 8).unwrap();
        assert_eq!(q.push(Arc::from(&b"world"[..]), 8), Err(Overflow));
        q.advance(2);
        assert_eq!(q.front(), Some(&b"llo"[..]));
        q.push(Arc::from(&b"abc"[..]), 8).unwrap();
        q.advance(3);
        assert_eq!(q.front(), Some(&b"abc"[..]));
        q.advance(3);
        assert!(q.is_empty());
        assert_eq!(q.bytes(), 0);
    }
}
