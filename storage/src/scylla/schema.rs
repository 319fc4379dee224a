//! The CQL schema and its migrations.
//!
//! Every partition is bounded whatever the activity:
//! - `messages` and `posts` are keyed `((owner, bucket), seq)` with
//!   [`MESSAGE_BUCKET`] / [`POST_BUCKET`] consecutive seqs per bucket, and
//!   `message_buckets` / `post_buckets` list the buckets that hold rows, so
//!   paging walks only those;
//! - `events` is keyed `((topic, bucket), offset)` with [`EVENT_BUCKET`]
//!   offsets per bucket;
//! - `topics` holds one row per topic: the compare-and-set point of every
//!   write (see `commit`), with the last event and plan as plain columns.
//!
//! No table uses a collection column. Migrations are `IF NOT EXISTS`
//! statements recorded in `schema_migrations`, so `tidings migrate` may run
//! any number of times.

/// Consecutive message seqs per `messages` partition. At the 4,000-character
/// body limit (16 KB of UTF-8 at most) a partition stays below 70 MB.
pub const MESSAGE_BUCKET: u64 = 4096;
/// Consecutive post seqs per `posts` partition.
pub const POST_BUCKET: u64 = 4096;
/// Consecutive offsets per `events` partition. Events are a few hundred bytes
/// to ~25 KB (a chat of 1,000 members), so a partition stays below 30 MB.
pub const EVENT_BUCKET: u64 = 1024;

/// The bucket holding `seq` (seqs and offsets start at 1).
pub fn bucket_of(seq: u64, size: u64) -> i64 {
    (seq / size) as i64
}

/// Bucket sizes of one keyspace: chosen when `migrate` creates it (the
/// `scylla://` address may set them) and fixed from then on, since rows
/// already written sit in buckets of that size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub message_bucket: u64,
    pub post_bucket: u64,
    pub event_bucket: u64,
}

impl Default for Layout {
    fn default() -> Self {
        Self {
            message_bucket: MESSAGE_BUCKET,
            post_bucket: POST_BUCKET,
            event_bucket: EVENT_BUCKET,
        }
    }
}

impl Layout {
    /// The bucket of message `seq`.
    pub fn message(&self, seq: u64) -> i64 {
        bucket_of(seq, self.message_bucket)
    }
    /// The bucket of post `seq`.
    pub fn post(&self, seq: u64) -> i64 {
        bucket_of(seq, self.post_bucket)
    }
    /// The bucket of event `offset`.
    pub fn event(&self, offset: u64) -> i64 {
        bucket_of(offset, self.event_bucket)
    }
}

/// The latest schema version.
pub const SCHEMA_VERSION: i32 = 1;

/// Migrations in order: `(version, statements)`.
pub(crate) const MIGRATIONS: &[(i32, &[&str])] = &[(
    1,
    &[
        // The username claim is the commit point of registration and
        // carries the whole user; `users` is derived from it.
        "CREATE TABLE IF NOT EXISTS usernames (
            username text PRIMARY KEY, user_id bigint, display_name text,
            password_hash text, created_at bigint)",
        "CREATE TABLE IF NOT EXISTS users (
            id bigint PRIMARY KEY, username text, display_name text,
            password_hash text, created_at bigint)",
        "CREATE TABLE IF NOT EXISTS friendships (
            user_id bigint, other_id bigint, state text, since bigint,
            PRIMARY KEY (user_id, other_id))",
        "CREATE TABLE IF NOT EXISTS chats (
            id bigint PRIMARY KEY, title text, created_by bigint,
            created_at bigint, activity bigint)",
        "CREATE TABLE IF NOT EXISTS chat_members (
            chat_id bigint, user_id bigint, joined_at bigint,
            PRIMARY KEY (chat_id, user_id))",
        "CREATE TABLE IF NOT EXISTS user_chats (
            user_id bigint, chat_id bigint, PRIMARY KEY (user_id, chat_id))",
        "CREATE TABLE IF NOT EXISTS messages (
            chat_id bigint, bucket bigint, seq bigint, id bigint,
            author_id bigint, body text, created_at bigint, edited_at bigint,
            PRIMARY KEY ((chat_id, bucket), seq))
            WITH CLUSTERING ORDER BY (seq DESC)",
        "CREATE TABLE IF NOT EXISTS message_buckets (
            chat_id bigint, bucket bigint, PRIMARY KEY (chat_id, bucket))
            WITH CLUSTERING ORDER BY (bucket DESC)",
        "CREATE TABLE IF NOT EXISTS posts (
            author_id bigint, bucket bigint, seq bigint, id bigint,
            body text, created_at bigint,
            PRIMARY KEY ((author_id, bucket), seq))
            WITH CLUSTERING ORDER BY (seq DESC)",
        "CREATE TABLE IF NOT EXISTS post_buckets (
            author_id bigint, bucket bigint, PRIMARY KEY (author_id, bucket))
            WITH CLUSTERING ORDER BY (bucket DESC)",
        "CREATE TABLE IF NOT EXISTS posts_by_id (
            id bigint PRIMARY KEY, author_id bigint, seq bigint)",
        "CREATE TABLE IF NOT EXISTS topics (
            topic text PRIMARY KEY, version bigint, head bigint, low bigint,
            seq bigint, ts bigint, pending_op bigint, pending text,
            last_op bigint, last_primary text, last text)",
        "CREATE TABLE IF NOT EXISTS events (
            topic text, bucket bigint, offset bigint, op bigint, event text,
            data text, committed_at bigint,
            PRIMARY KEY ((topic, bucket), offset))",
        "CREATE TABLE IF NOT EXISTS idempotency (
            user_id bigint, key text, fingerprint text, op bigint,
            primary_topic text, answer text, created_at bigint,
            PRIMARY KEY ((user_id, key)))",
        // Leases on the node field of minted ids, so two live processes never
        // mint the same id.
        "CREATE TABLE IF NOT EXISTS id_nodes (node int PRIMARY KEY, owner text)",
        // One row: the keyspace's bucket sizes (see `Layout`).
        "CREATE TABLE IF NOT EXISTS layout (
            id int PRIMARY KEY, message_bucket bigint, post_bucket bigint,
            event_bucket bigint)",
    ],
)];
