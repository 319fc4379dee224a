//! The SQLite schema and its migrations.
//!
//! Lists that grow without bound (a chat's messages, an author's posts, a
//! topic's events) are rows keyed by `(owner, position)` in B-tree tables, never
//! a list inside one row: appending and paging touch O(log n) pages whatever the
//! size. Migrations are numbered and tracked in `PRAGMA user_version`.

use rusqlite::Connection;

use crate::error::StoreResult;

/// Each entry moves the schema from version `i` to `i + 1`.
const MIGRATIONS: &[&str] = &[
    // 1: the initial schema.
    r#"
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) WITHOUT ROWID;

    CREATE TABLE users (
        id            INTEGER PRIMARY KEY,
        username      TEXT NOT NULL UNIQUE,
        display_name  TEXT NOT NULL,
        password_hash TEXT NOT NULL,
        created_at    INTEGER NOT NULL,
        post_seq      INTEGER NOT NULL DEFAULT 0
    );

    -- One row per direction: (a, b, 'outgoing') pairs with (b, a, 'incoming'),
    -- (a, b, 'friends') with (b, a, 'friends').
    CREATE TABLE friendships (
        user_id  INTEGER NOT NULL,
        other_id INTEGER NOT NULL,
        state    TEXT NOT NULL CHECK (state IN ('outgoing', 'incoming', 'friends')),
        since    INTEGER NOT NULL,
        PRIMARY KEY (user_id, other_id)
    ) WITHOUT ROWID;

    CREATE TABLE chats (
        id           INTEGER PRIMARY KEY,
        title        TEXT NOT NULL,
        created_by   INTEGER NOT NULL,
        created_at   INTEGER NOT NULL,
        member_count INTEGER NOT NULL,
        last_seq     INTEGER NOT NULL DEFAULT 0,
        activity     INTEGER NOT NULL
    );

    CREATE TABLE chat_members (
        chat_id   INTEGER NOT NULL,
        user_id   INTEGER NOT NULL,
        joined_at INTEGER NOT NULL,
        PRIMARY KEY (chat_id, user_id)
    ) WITHOUT ROWID;
    CREATE INDEX chat_members_by_user ON chat_members (user_id, chat_id);

    CREATE TABLE messages (
        chat_id    INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        id         INTEGER NOT NULL,
        author_id  INTEGER NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        edited_at  INTEGER,
        PRIMARY KEY (chat_id, seq)
    ) WITHOUT ROWID;

    CREATE TABLE posts (
        id         INTEGER PRIMARY KEY,
        author_id  INTEGER NOT NULL,
        seq        INTEGER NOT NULL,
        body       TEXT NOT NULL,
        created_at INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX posts_by_author_seq ON posts (author_id, seq);
    CREATE INDEX posts_by_author_id ON posts (author_id, id);

    -- head: the last offset assigned; low: the first offset still kept.
    CREATE TABLE topics (
        topic TEXT PRIMARY KEY,
        head  INTEGER NOT NULL,
        low   INTEGER NOT NULL DEFAULT 1
    ) WITHOUT ROWID;

    CREATE TABLE events (
        topic        TEXT NOT NULL,
        offset       INTEGER NOT NULL,
        event        TEXT NOT NULL,
        data         TEXT NOT NULL,
        committed_at INTEGER NOT NULL,
        PRIMARY KEY (topic, offset)
    ) WITHOUT ROWID;

    -- answer: the JSON result replayed; topic/offset: the first delta it emitted.
    CREATE TABLE idempotency (
        user_id     INTEGER NOT NULL,
        key         TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        answer      TEXT NOT NULL,
        topic       TEXT,
        offset      INTEGER,
        created_at  INTEGER NOT NULL,
        PRIMARY KEY (user_id, key)
    ) WITHOUT ROWID;
    "#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

/// Applies the migrations this file is missing, each in its own transaction.
/// Safe to run from several processes at once: `BEGIN IMMEDIATE` serializes them.
pub(crate) fn migrate(conn: &mut Connection) -> StoreResult<u32> {
    loop {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let version: u32 = tx.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let Some(sql) = MIGRATIONS.get(version as usize) else {
            tx.commit()?;
            return Ok(version);
        };
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
        tracing::info!(version = version + 1, "applied sqlite migration");
    }
}
