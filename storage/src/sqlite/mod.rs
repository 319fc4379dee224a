//! The embedded SQLite backend: one file in WAL mode.
//!
//! - [`writer`]: one writer thread with group commit; each operation is a
//!   savepoint inside a batch transaction, so it commits whole or not at all.
//! - [`tx`]: id minting, event appends (gap-free offsets) and idempotency.
//! - [`writes`] / [`reads`]: the operations themselves.
//! - [`schema`]: tables and migrations; [`checker`]: the invariant queries.
//!
//! Several processes may open the same file: SQLite's write lock serializes
//! their batches, and offsets and ids are assigned under that lock.

mod checker;
mod reads;
mod rows;
mod schema;
mod tx;
mod writer;
mod writes;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use parking_lot::Mutex;
use rusqlite::{Connection, OpenFlags};

pub use checker::invariant_names;
pub use schema::SCHEMA_VERSION;

use crate::check::Violation;
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, PostId, UserId};
use crate::limits::Limits;
use crate::model::*;
use crate::password::PasswordHash;
use crate::store::{Answer, Committed, Cursor, Store, Write};
use crate::time::Timestamp;
use crate::topic::Topic;
use writer::Writer;

/// The database file inside a data directory.
pub const DB_FILE: &str = "tidings.db";

/// How hard a commit is made durable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Durability {
    /// fsync the WAL at every (group) commit: survives power loss.
    #[default]
    Full,
    /// Survives process crashes (the WAL is in the OS cache) but a power loss
    /// may drop the last commits.
    Normal,
}

/// How to open the store.
#[derive(Clone, Debug)]
pub struct SqliteConfig {
    pub path: PathBuf,
    pub limits: Limits,
    pub durability: Durability,
    /// Most operations committed together by one fsync.
    pub max_batch: usize,
    /// Read connections kept open.
    pub readers: usize,
    /// How long to wait for another process's write lock.
    pub busy_timeout: Duration,
}

impl SqliteConfig {
    /// Defaults for the database file at `path`.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            limits: Limits::default(),
            durability: Durability::Full,
            max_batch: 512,
            readers: 4,
            busy_timeout: Duration::from_secs(10),
        }
    }

    /// Defaults for `tidings.db` inside the data directory `dir`.
    pub fn in_dir(dir: impl AsRef<Path>) -> Self {
        Self::new(dir.as_ref().join(DB_FILE))
    }
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Unavailable(e.to_string())
    }
}

/// The SQLite-backed [`Store`].
#[derive(Debug, Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    config: SqliteConfig,
    writer: Writer,
    readers: Mutex<Vec<Connection>>,
}

fn open_connection(config: &SqliteConfig, read_only: bool) -> StoreResult<Connection> {
    let flags = if read_only {
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX
    } else {
        OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX
    };
    let conn = Connection::open_with_flags(&config.path, flags).map_err(|e| {
        StoreError::Unavailable(format!("cannot open {}: {e}", config.path.display()))
    })?;
    conn.busy_timeout(config.busy_timeout)?;
    if !read_only {
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(
            None,
            "synchronous",
            match config.durability {
                Durability::Full => "FULL",
                Durability::Normal => "NORMAL",
            },
        )?;
    }
    conn.pragma_update(None, "foreign_keys", "OFF")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) and migrates the database, then starts the writer.
    pub fn open(config: SqliteConfig) -> StoreResult<Self> {
        if let Some(dir) = config.path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
        }
        let mut conn = open_connection(&config, false)?;
        schema::migrate(&mut conn)?;
        let writer = Writer::spawn(conn, config.max_batch)
            .map_err(|e| StoreError::Unavailable(format!("cannot start the writer: {e}")))?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                writer,
                readers: Mutex::new(Vec::new()),
            }),
        })
    }

    /// Applies pending migrations to the file at `config.path` and returns the version.
    pub fn migrate(config: &SqliteConfig) -> StoreResult<u32> {
        let mut conn = open_connection(config, false)?;
        schema::migrate(&mut conn)
    }

    /// Runs a write in the next group commit.
    async fn write<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection, &Limits, Timestamp) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        self.inner
            .writer
            .write(move |conn| op(conn, &inner.config.limits, Timestamp::now()))
            .await
    }

    /// Runs an idempotent write in the next group commit.
    async fn write_once<T, F>(&self, w: &Write, op: F) -> StoreResult<Committed<T>>
    where
        F: FnOnce(&Connection, &Limits, &Write, Timestamp) -> StoreResult<Committed<T>>
            + Send
            + 'static,
        T: Answer,
    {
        let w = w.clone();
        self.write(move |conn, limits, now| {
            tx::idempotent(conn, &w, now, |conn| op(conn, limits, &w, now))
        })
        .await
    }

    /// Runs a read on a pooled read connection, off the async threads.
    async fn read<T, F>(&self, op: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let pooled = inner.readers.lock().pop();
            let conn = match pooled {
                Some(c) => c,
                None => open_connection(&inner.config, true)?,
            };
            let result = op(&conn);
            let mut pool = inner.readers.lock();
            if pool.len() < inner.config.readers {
                pool.push(conn);
            }
            result
        })
        .await
        .map_err(|e| StoreError::Unavailable(format!("read task failed: {e}")))?
    }

    /// Runs `f` on the write connection inside a transaction of its own. For
    /// bulk loading benchmark data; nothing is validated.
    pub async fn bulk<T, F>(&self, f: F) -> StoreResult<T>
    where
        F: FnOnce(&Connection) -> StoreResult<T> + Send + 'static,
        T: Send + 'static,
    {
        self.write(move |conn, _, _| f(conn)).await
    }
}

#[async_trait]
impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        self.write(move |conn, limits, now| writes::create_user(conn, limits, &new, now))
            .await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<(User, PasswordHash)> {
        let username = username.to_owned();
        self.read(move |conn| {
            let found = rusqlite::OptionalExtension::optional(
                conn.prepare_cached(
                    "SELECT id, username, display_name, created_at, password_hash FROM users WHERE username = ?1",
                )?
                .query_row([&username], |r| {
                    Ok((rows::user_from_row(r)?, r.get::<_, String>(4)?))
                }),
            )?;
            let (user, hash) = found
                .ok_or_else(|| StoreError::NotFound(format!("user {username:?} not found")))?;
            Ok((user, PasswordHash::from_stored(hash)))
        })
        .await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        self.read(move |conn| rows::user(conn, id)).await
    }

    async fn find_user(&self, username: &str) -> StoreResult<User> {
        let username = username.to_owned();
        self.read(move |conn| {
            rusqlite::OptionalExtension::optional(
                conn.prepare_cached(&format!(
                    "SELECT {} FROM users WHERE username = ?1",
                    rows::USER_COLS
                ))?
                .query_row([&username], rows::user_from_row),
            )?
            .ok_or_else(|| StoreError::NotFound(format!("user {username:?} not found")))
        })
        .await
    }

    async fn request_friend(
        &self,
        w: &Write,
        target: UserId,
    ) -> StoreResult<Committed<FriendOutcome>> {
        self.write_once(w, move |conn, _, w, now| {
            writes::request_friend(conn, w, target, now)
        })
        .await
    }

    async fn remove_friend(&self, w: &Write, target: UserId) -> StoreResult<Committed<()>> {
        self.write_once(w, move |conn, _, w, now| {
            writes::remove_friend(conn, w, target, now)
        })
        .await
    }

    async fn list_friends(&self, user: UserId) -> StoreResult<FriendLists> {
        self.read(move |conn| reads::list_friends(conn, user)).await
    }

    async fn create_chat(&self, w: &Write, new: NewChat) -> StoreResult<Committed<Chat>> {
        self.write_once(w, move |conn, limits, w, now| {
            writes::create_chat(conn, limits, w, &new, now)
        })
        .await
    }

    async fn list_chats(&self, user: UserId, page: Cursor) -> StoreResult<ChatPage> {
        self.read(move |conn| reads::list_chats(conn, user, &page))
            .await
    }

    async fn get_chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat> {
        self.read(move |conn| rows::chat_for_member(conn, chat, viewer))
            .await
    }

    async fn add_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        self.write_once(w, move |conn, limits, w, now| {
            writes::add_member(conn, limits, w, chat, user, now)
        })
        .await
    }

    async fn remove_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        self.write_once(w, move |conn, _, w, now| {
            writes::remove_member(conn, w, chat, user, now)
        })
        .await
    }

    async fn post_message(
        &self,
        w: &Write,
        chat: ChatId,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        let body = body.to_owned();
        self.write_once(w, move |conn, limits, w, now| {
            writes::post_message(conn, limits, w, chat, &body, now)
        })
        .await
    }

    async fn list_messages(
        &self,
        viewer: UserId,
        chat: ChatId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<MessagePage> {
        self.read(move |conn| reads::list_messages(conn, viewer, chat, before_seq, limit))
            .await
    }

    async fn edit_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        let body = body.to_owned();
        self.write_once(w, move |conn, limits, w, now| {
            writes::edit_message(conn, limits, w, chat, seq, &body, now)
        })
        .await
    }

    async fn delete_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
    ) -> StoreResult<Committed<()>> {
        self.write_once(w, move |conn, _, w, now| {
            writes::delete_message(conn, w, chat, seq, now)
        })
        .await
    }

    async fn create_post(&self, w: &Write, body: &str) -> StoreResult<Committed<Post>> {
        let body = body.to_owned();
        self.write_once(w, move |conn, limits, w, now| {
            writes::create_post(conn, limits, w, &body, now)
        })
        .await
    }

    async fn list_posts(
        &self,
        viewer: UserId,
        author: UserId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<PostPage> {
        self.read(move |conn| reads::list_posts(conn, viewer, author, before_seq, limit))
            .await
    }

    async fn delete_post(&self, w: &Write, post: PostId) -> StoreResult<Committed<()>> {
        self.write_once(w, move |conn, _, w, now| {
            writes::delete_post(conn, w, post, now)
        })
        .await
    }

    async fn feed(&self, user: UserId, page: Cursor) -> StoreResult<FeedPage> {
        self.read(move |conn| reads::feed(conn, user, &page)).await
    }

    async fn topic_events(
        &self,
        reader: UserId,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        self.read(move |conn| reads::topic_events(conn, reader, topic, after, limit))
            .await
    }

    async fn read_events(
        &self,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        self.read(move |conn| {
            let limit = crate::limits::page_limit(limit)?;
            reads::read_events(conn, topic, after, limit)
        })
        .await
    }

    async fn topic_head(&self, topic: Topic) -> StoreResult<u64> {
        self.read(move |conn| rows::topic_head(conn, topic)).await
    }

    async fn compact_topic(&self, topic: Topic, through: u64) -> StoreResult<()> {
        self.write(move |conn, _, _| reads::compact_topic(conn, topic, through))
            .await
    }

    async fn topic_recipients(&self, topic: Topic) -> StoreResult<Vec<UserId>> {
        self.read(move |conn| rows::recipients(conn, topic)).await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.read(|conn| {
            conn.query_row("SELECT 1", [], |_| Ok(()))?;
            Ok(())
        })
        .await
    }

    async fn check(&self) -> StoreResult<Vec<Violation>> {
        self.read(checker::check).await
    }
}
