//! Bulk-loaded stores for benchmarks. Loading 10^7 rows takes a while, so a
//! loaded database is kept under `target/tidings-bench/` and reused.

use std::path::{Path, PathBuf};

use rusqlite::params;
use tidings_storage::{ChatId, SqliteConfig, SqliteStore, StoreError, UserId};

/// The ids a paging fixture holds.
#[derive(Debug, Clone, Copy)]
pub struct PagingFixture {
    pub viewer: UserId,
    pub small_chat: ChatId,
    pub big_chat: ChatId,
    pub small_len: u64,
    pub big_len: u64,
}

/// Where benchmark databases live.
pub fn bench_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    target.join("tidings-bench")
}

/// Opens (loading on first use) a store with a chat of `small_len` and a
/// chat of `big_len` messages, both readable by one viewer.
pub async fn paging_store(small_len: u64, big_len: u64) -> (SqliteStore, PagingFixture) {
    let dir = bench_dir().join(format!("paging-{small_len}-{big_len}"));
    let done = dir.join("loaded");
    let fixture = PagingFixture {
        viewer: UserId(1),
        small_chat: ChatId(10),
        big_chat: ChatId(20),
        small_len,
        big_len,
    };
    if !done.exists() {
        let _ = std::fs::remove_dir_all(&dir);
    }
    let store = SqliteStore::open(SqliteConfig::in_dir(&dir)).expect("open bench store");
    if !done.exists() {
        eprintln!(
            "bulk-loading {big_len} + {small_len} messages into {} (once)",
            dir.display()
        );
        let started = std::time::Instant::now();
        store
            .bulk(move |conn| load(conn, fixture))
            .await
            .expect("bulk load");
        std::fs::write(&done, b"ok").expect("mark loaded");
        eprintln!("loaded in {:.1}s", started.elapsed().as_secs_f64());
    }
    (store, fixture)
}

fn load(conn: &rusqlite::Connection, f: PagingFixture) -> Result<(), StoreError> {
    conn.execute(
        "INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?1, 'bench', 'bench', 'x', 0)",
        [f.viewer.as_i64()],
    )?;
    for (chat, len) in [(f.small_chat, f.small_len), (f.big_chat, f.big_len)] {
        conn.execute(
            "INSERT INTO chats (id, title, created_by, created_at, member_count, last_seq, activity) VALUES (?1, '', ?2, 0, 1, ?3, ?1)",
            params![chat.as_i64(), f.viewer.as_i64(), len as i64],
        )?;
        conn.execute(
            "INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES (?1, ?2, 0)",
            params![chat.as_i64(), f.viewer.as_i64()],
        )?;
        let mut insert = conn.prepare(
            "INSERT INTO messages (chat_id, seq, id, author_id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?;
        for seq in 1..=len {
            let id = (chat.get() << 32) + seq;
            insert.execute(params![
                chat.as_i64(),
                seq as i64,
                id as i64,
                f.viewer.as_i64(),
                format!("message number {seq} of a long conversation"),
                seq as i64
            ])?;
        }
    }
    Ok(())
}
