//! Building blocks used inside a write transaction: id minting, event
//! appends with gap-free offsets, and idempotency records.

use rusqlite::{params, Connection, OptionalExtension};

use crate::delta::{CommittedDelta, Delta, EventKind};
use crate::error::{StoreError, StoreResult};
use crate::ids::{id_floor_at, UserId};
use crate::store::{Answer, Committed, Write};
use crate::time::Timestamp;
use crate::topic::Topic;

/// Mints the next id: time-ordered, and unique across every process writing
/// this file because it is read and bumped under SQLite's write lock.
pub(crate) fn next_id(conn: &Connection, now: Timestamp) -> StoreResult<u64> {
    let last: Option<i64> = conn
        .prepare_cached("SELECT value FROM meta WHERE key = 'last_id'")?
        .query_row([], |r| r.get(0))
        .optional()?;
    let id = id_floor_at(now.millis()).max(last.unwrap_or(0) as u64 + 1);
    conn.prepare_cached(
        "INSERT INTO meta (key, value) VALUES ('last_id', ?1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
    )?
    .execute([id as i64])?;
    Ok(id)
}

/// Appends one event to `topic` at the next offset and returns it as a delta.
/// The head bump and the event row are in the caller's transaction, so the
/// offset exists exactly when the change does: no gap, no duplicate.
pub(crate) fn append_event(
    conn: &Connection,
    topic: Topic,
    event: EventKind,
    data: serde_json::Value,
    recipients: Vec<UserId>,
    now: Timestamp,
) -> StoreResult<CommittedDelta> {
    let name = topic.to_string();
    let offset: i64 = conn
        .prepare_cached(
            "INSERT INTO topics (topic, head) VALUES (?1, 1)
             ON CONFLICT (topic) DO UPDATE SET head = head + 1
             RETURNING head",
        )?
        .query_row([&name], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO events (topic, offset, event, data, committed_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        name,
        offset,
        event.as_str(),
        data.to_string(),
        now.millis()
    ])?;
    Ok(CommittedDelta {
        delta: Delta::new(topic, offset as u64, event, data, now),
        recipients,
    })
}

/// Runs `op` exactly once per idempotency key: a replay with the same key and
/// request answers the recorded result with no deltas; the same key on a
/// different request is a conflict. The record is written in the same
/// transaction as the change it answers.
pub(crate) fn idempotent<T: Answer>(
    conn: &Connection,
    w: &Write,
    now: Timestamp,
    op: impl FnOnce(&Connection) -> StoreResult<Committed<T>>,
) -> StoreResult<Committed<T>> {
    let Some(idem) = &w.idempotency else {
        return op(conn);
    };
    if idem.key.is_empty() || idem.key.chars().count() > 64 {
        return Err(StoreError::invalid(
            "Idempotency-Key",
            "must be 1-64 characters",
        ));
    }
    let prior: Option<(String, String)> = conn
        .prepare_cached(
            "SELECT fingerprint, answer FROM idempotency WHERE user_id = ?1 AND key = ?2",
        )?
        .query_row(params![w.actor.as_i64(), idem.key], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .optional()?;
    if let Some((fingerprint, answer)) = prior {
        if fingerprint != idem.fingerprint {
            return Err(StoreError::Conflict(
                "this Idempotency-Key was already used for a different request".into(),
            ));
        }
        let value = serde_json::from_str(&answer)
            .map_err(|e| StoreError::Unavailable(format!("corrupt idempotency record: {e}")))?;
        return Ok(Committed {
            value,
            deltas: Vec::new(),
            replayed: true,
        });
    }
    let committed = op(conn)?;
    let answer = serde_json::to_string(&committed.value)
        .map_err(|e| StoreError::Unavailable(format!("unserializable answer: {e}")))?;
    let first = committed.deltas.first().map(|d| &d.delta);
    conn.prepare_cached(
        "INSERT INTO idempotency (user_id, key, fingerprint, answer, topic, offset, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        w.actor.as_i64(),
        idem.key,
        idem.fingerprint,
        answer,
        first.map(|d| d.topic.to_string()),
        first.map(|d| d.offset as i64),
        now.millis()
    ])?;
    Ok(committed)
}
