//! The WebTransport sessions of a gateway, by user. Sessions are async
//! (quinn), so unlike WebSocket slots each has a task and a bounded queue;
//! the hub hands every delta to the queues of its recipients' sessions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tidings_storage::UserId;
use tokio::sync::mpsc;

use crate::core::encoded::EncodedDelta;

/// A session's inbox: a bounded queue of deltas, and a signal raised when
/// it overflowed (the session then closes with 4008).
#[derive(Debug, Clone)]
pub(crate) struct Inbox {
    pub(crate) deltas: mpsc::Sender<Arc<EncodedDelta>>,
    pub(crate) overflow: Arc<tokio::sync::Notify>,
}

/// user → (session id, inbox).
#[derive(Debug, Default)]
pub(crate) struct WtSessions {
    by_user: Mutex<HashMap<UserId, Vec<(u64, Inbox)>>>,
    next: AtomicU64,
}

impl WtSessions {
    pub(crate) fn add(&self, user: UserId, inbox: Inbox) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.by_user
            .lock()
            .entry(user)
            .or_default()
            .push((id, inbox));
        id
    }

    pub(crate) fn remove(&self, user: UserId, id: u64) {
        let mut map = self.by_user.lock();
        if let Some(v) = map.get_mut(&user) {
            v.retain(|(i, _)| *i != id);
            if v.is_empty() {
                map.remove(&user);
            }
        }
    }

    /// Queues `d` for every session of its recipients; a full queue marks
    /// the session a slow consumer.
    pub(crate) fn deliver(&self, d: &Arc<EncodedDelta>) {
        let map = self.by_user.lock();
        if map.is_empty() {
            return;
        }
        for user in d.recipients.iter() {
            if let Some(sessions) = map.get(user) {
                for (_, inbox) in sessions {
                    if inbox.deltas.try_send(d.clone()).is_err() {
                        inbox.overflow.notify_one();
                    }
                }
            }
        }
    }
}
