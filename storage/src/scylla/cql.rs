//! The driver session, its execution profiles and every prepared statement.
//!
//! Two profiles: `quorum` (LOCAL_QUORUM, with LOCAL_SERIAL for the Paxos
//! phase of lightweight transactions) for everything, and `serial` (a
//! LOCAL_SERIAL read) to learn the outcome of a lightweight transaction whose
//! answer was lost. Plain mutations are marked idempotent (each carries its
//! own write timestamp) so the driver may retry them; lightweight
//! transactions are not, and are read back instead.

use std::sync::Arc;
use std::time::Duration;

use scylla::client::execution_profile::{ExecutionProfile, ExecutionProfileHandle};
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::response::query_result::QueryResult;
use scylla::statement::batch::{Batch, BatchType};
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::{Consistency, SerialConsistency};
use scylla::value::{CqlValue, Row};

use super::address::ScyllaAddress;
use super::schema::Layout;
use crate::error::{StoreError, StoreResult};

/// Bound values of one statement, in placeholder order.
pub(crate) type Values = Vec<Option<CqlValue>>;

pub(crate) fn big(v: i64) -> Option<CqlValue> {
    Some(CqlValue::BigInt(v))
}
pub(crate) fn int(v: i32) -> Option<CqlValue> {
    Some(CqlValue::Int(v))
}
pub(crate) fn text(v: impl Into<String>) -> Option<CqlValue> {
    Some(CqlValue::Text(v.into()))
}
pub(crate) fn u64v(v: u64) -> Option<CqlValue> {
    Some(CqlValue::BigInt(v as i64))
}

/// Maps a driver error to the store's "unavailable, nothing changed".
pub(crate) fn unavailable(e: impl std::fmt::Display) -> StoreError {
    StoreError::Unavailable(e.to_string())
}

macro_rules! statements {
    ($($name:ident: $kind:ident = $cql:expr;)*) => {
        /// Every statement, prepared once per process.
        #[derive(Debug)]
        pub(crate) struct Statements {
            $(pub(crate) $name: PreparedStatement,)*
        }

        impl Statements {
            async fn prepare(session: &Session, profiles: &Profiles, keyspace: &str) -> StoreResult<Self> {
                Ok(Self {
                    $($name: prepare(session, profiles, Kind::$kind, &$cql.replace("{ks}", keyspace)).await?,)*
                })
            }
        }
    };
}

#[derive(Clone, Copy, Debug)]
enum Kind {
    Read,
    Serial,
    Mutation,
    Lwt,
}

statements! {
    username: Read = "SELECT user_id, display_name, password_hash, created_at FROM {ks}.usernames WHERE username = ?";
    username_serial: Serial = "SELECT user_id FROM {ks}.usernames WHERE username = ?";
    claim_username: Lwt = "INSERT INTO {ks}.usernames (username, user_id, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?) IF NOT EXISTS";
    all_usernames: Read = "SELECT username, user_id, display_name, password_hash, created_at FROM {ks}.usernames";
    user: Read = "SELECT username, display_name, created_at FROM {ks}.users WHERE id = ?";
    put_user: Mutation = "INSERT INTO {ks}.users (id, username, display_name, password_hash, created_at) VALUES (?, ?, ?, ?, ?)";
    all_users: Read = "SELECT id, username FROM {ks}.users";

    friendship: Read = "SELECT state FROM {ks}.friendships WHERE user_id = ? AND other_id = ?";
    friendships_of: Read = "SELECT other_id, state, since FROM {ks}.friendships WHERE user_id = ?";
    all_friendships: Read = "SELECT user_id, other_id, state FROM {ks}.friendships";
    put_friendship: Mutation = "INSERT INTO {ks}.friendships (user_id, other_id, state, since) VALUES (?, ?, ?, ?) USING TIMESTAMP ?";
    del_friendship: Mutation = "DELETE FROM {ks}.friendships USING TIMESTAMP ? WHERE user_id = ? AND other_id = ?";

    chat: Read = "SELECT title, created_by, created_at, activity FROM {ks}.chats WHERE id = ?";
    all_chats: Read = "SELECT id FROM {ks}.chats";
    put_chat: Mutation = "INSERT INTO {ks}.chats (id, title, created_by, created_at, activity) VALUES (?, ?, ?, ?, ?) USING TIMESTAMP ?";
    touch_chat: Mutation = "UPDATE {ks}.chats USING TIMESTAMP ? SET activity = ? WHERE id = ?";
    member: Read = "SELECT joined_at FROM {ks}.chat_members WHERE chat_id = ? AND user_id = ?";
    members: Read = "SELECT user_id, joined_at FROM {ks}.chat_members WHERE chat_id = ?";
    all_members: Read = "SELECT chat_id, user_id FROM {ks}.chat_members";
    put_member: Mutation = "INSERT INTO {ks}.chat_members (chat_id, user_id, joined_at) VALUES (?, ?, ?) USING TIMESTAMP ?";
    del_member: Mutation = "DELETE FROM {ks}.chat_members USING TIMESTAMP ? WHERE chat_id = ? AND user_id = ?";
    chats_of: Read = "SELECT chat_id FROM {ks}.user_chats WHERE user_id = ?";
    all_user_chats: Read = "SELECT user_id, chat_id FROM {ks}.user_chats";
    put_user_chat: Mutation = "INSERT INTO {ks}.user_chats (user_id, chat_id) VALUES (?, ?) USING TIMESTAMP ?";
    del_user_chat: Mutation = "DELETE FROM {ks}.user_chats USING TIMESTAMP ? WHERE user_id = ? AND chat_id = ?";

    message: Read = "SELECT id, author_id, body, created_at, edited_at FROM {ks}.messages WHERE chat_id = ? AND bucket = ? AND seq = ?";
    messages_before: Read = "SELECT seq, id, author_id, body, created_at, edited_at FROM {ks}.messages WHERE chat_id = ? AND bucket = ? AND seq < ? LIMIT ?";
    all_messages: Read = "SELECT chat_id, bucket, seq FROM {ks}.messages";
    put_message: Mutation = "INSERT INTO {ks}.messages (chat_id, bucket, seq, id, author_id, body, created_at) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?";
    edit_message: Mutation = "UPDATE {ks}.messages USING TIMESTAMP ? SET body = ?, edited_at = ? WHERE chat_id = ? AND bucket = ? AND seq = ?";
    del_message: Mutation = "DELETE FROM {ks}.messages USING TIMESTAMP ? WHERE chat_id = ? AND bucket = ? AND seq = ?";
    message_buckets: Read = "SELECT bucket FROM {ks}.message_buckets WHERE chat_id = ? AND bucket <= ? LIMIT ?";
    all_message_buckets: Read = "SELECT chat_id, bucket FROM {ks}.message_buckets";
    put_message_bucket: Mutation = "INSERT INTO {ks}.message_buckets (chat_id, bucket) VALUES (?, ?) USING TIMESTAMP ?";
    del_message_bucket: Mutation = "DELETE FROM {ks}.message_buckets USING TIMESTAMP ? WHERE chat_id = ? AND bucket = ?";

    post_by_id: Read = "SELECT author_id, seq FROM {ks}.posts_by_id WHERE id = ?";
    all_posts_by_id: Read = "SELECT id, author_id, seq FROM {ks}.posts_by_id";
    posts_before: Read = "SELECT seq, id, body, created_at FROM {ks}.posts WHERE author_id = ? AND bucket = ? AND seq < ? LIMIT ?";
    all_posts: Read = "SELECT author_id, bucket, seq, id FROM {ks}.posts";
    put_post: Mutation = "INSERT INTO {ks}.posts (author_id, bucket, seq, id, body, created_at) VALUES (?, ?, ?, ?, ?, ?) USING TIMESTAMP ?";
    put_post_by_id: Mutation = "INSERT INTO {ks}.posts_by_id (id, author_id, seq) VALUES (?, ?, ?) USING TIMESTAMP ?";
    del_post: Mutation = "DELETE FROM {ks}.posts USING TIMESTAMP ? WHERE author_id = ? AND bucket = ? AND seq = ?";
    del_post_by_id: Mutation = "DELETE FROM {ks}.posts_by_id USING TIMESTAMP ? WHERE id = ?";
    post_buckets: Read = "SELECT bucket FROM {ks}.post_buckets WHERE author_id = ? AND bucket <= ? LIMIT ?";
    all_post_buckets: Read = "SELECT author_id, bucket FROM {ks}.post_buckets";
    put_post_bucket: Mutation = "INSERT INTO {ks}.post_buckets (author_id, bucket) VALUES (?, ?) USING TIMESTAMP ?";
    del_post_bucket: Mutation = "DELETE FROM {ks}.post_buckets USING TIMESTAMP ? WHERE author_id = ? AND bucket = ?";

    topic: Read = "SELECT version, head, low, seq, ts, pending_op, pending, last_op, last_primary, last FROM {ks}.topics WHERE topic = ?";
    topic_serial: Serial = "SELECT version, head, low, seq, ts, pending_op, pending, last_op, last_primary, last FROM {ks}.topics WHERE topic = ?";
    all_topics: Read = "SELECT version, head, low, seq, ts, pending_op, pending, last_op, last_primary, last, topic FROM {ks}.topics";
    topic_insert: Lwt = "INSERT INTO {ks}.topics (topic, version, head, low, seq, ts, pending_op, pending, last_op, last_primary, last) VALUES (?, ?, ?, 1, ?, ?, ?, ?, ?, ?, ?) IF NOT EXISTS";
    topic_cas: Lwt = "UPDATE {ks}.topics SET version = ?, head = ?, seq = ?, ts = ?, pending_op = ?, pending = ?, last_op = ?, last_primary = ?, last = ? WHERE topic = ? IF version = ?";
    topic_append: Lwt = "UPDATE {ks}.topics SET version = ?, head = ?, ts = ?, last_op = ?, last_primary = ?, last = ? WHERE topic = ? IF version = ?";
    topic_clear: Lwt = "UPDATE {ks}.topics SET pending_op = 0, pending = '' WHERE topic = ? IF pending_op = ?";
    topic_low: Lwt = "UPDATE {ks}.topics SET low = ? WHERE topic = ? IF low = ?";

    events_after: Read = "SELECT offset, event, data, committed_at FROM {ks}.events WHERE topic = ? AND bucket = ? AND offset > ? LIMIT ?";
    event_op: Read = "SELECT op FROM {ks}.events WHERE topic = ? AND bucket = ? AND offset = ?";
    event_offsets: Read = "SELECT offset FROM {ks}.events WHERE topic = ? AND bucket = ?";
    put_event: Mutation = "INSERT INTO {ks}.events (topic, bucket, offset, op, event, data, committed_at) VALUES (?, ?, ?, ?, ?, ?, ?) USING TIMESTAMP ?";
    drop_event_bucket: Mutation = "DELETE FROM {ks}.events WHERE topic = ? AND bucket = ?";
    drop_events_through: Mutation = "DELETE FROM {ks}.events WHERE topic = ? AND bucket = ? AND offset <= ?";

    idempotency: Read = "SELECT fingerprint, op, primary_topic, answer, created_at FROM {ks}.idempotency WHERE user_id = ? AND key = ?";
    claim_idempotency: Lwt = "INSERT INTO {ks}.idempotency (user_id, key, fingerprint, op, primary_topic, created_at) VALUES (?, ?, ?, ?, ?, ?) IF NOT EXISTS USING TTL 86400";
    take_idempotency: Lwt = "UPDATE {ks}.idempotency USING TTL 86400 SET op = ?, created_at = ? WHERE user_id = ? AND key = ? IF op = ?";
    release_idempotency: Lwt = "DELETE FROM {ks}.idempotency WHERE user_id = ? AND key = ? IF op = ?";
    put_answer: Mutation = "UPDATE {ks}.idempotency USING TTL 86400 AND TIMESTAMP ? SET answer = ? WHERE user_id = ? AND key = ?";

    ping: Read = "SELECT release_version FROM system.local";
    claim_node: Lwt = "INSERT INTO {ks}.id_nodes (node, owner) VALUES (?, ?) IF NOT EXISTS USING TTL 60";
    renew_node: Lwt = "UPDATE {ks}.id_nodes USING TTL 60 SET owner = ? WHERE node = ? IF owner = ?";
}

#[derive(Debug)]
struct Profiles {
    quorum: ExecutionProfileHandle,
    serial: ExecutionProfileHandle,
}

async fn prepare(
    session: &Session,
    profiles: &Profiles,
    kind: Kind,
    cql: &str,
) -> StoreResult<PreparedStatement> {
    let mut p = session
        .prepare(cql)
        .await
        .map_err(|e| StoreError::Unavailable(format!("cannot prepare {cql:?}: {e}")))?;
    match kind {
        Kind::Read => {
            p.set_execution_profile_handle(Some(profiles.quorum.clone()));
            p.set_is_idempotent(true);
        }
        Kind::Serial => {
            p.set_execution_profile_handle(Some(profiles.serial.clone()));
            p.set_is_idempotent(true);
        }
        Kind::Mutation => {
            p.set_execution_profile_handle(Some(profiles.quorum.clone()));
            p.set_is_idempotent(true);
        }
        Kind::Lwt => {
            p.set_execution_profile_handle(Some(profiles.quorum.clone()));
            p.set_is_idempotent(false);
        }
    }
    Ok(p)
}

/// A connected session with the keyspace selected and statements prepared.
#[derive(Debug)]
pub(crate) struct Cql {
    pub(crate) session: Session,
    pub(crate) st: Statements,
    /// The keyspace's bucket sizes.
    pub(crate) layout: Layout,
    quorum: ExecutionProfileHandle,
}

/// Connects without selecting a keyspace (for migrations).
pub(crate) async fn connect(address: &ScyllaAddress) -> StoreResult<Session> {
    let quorum = quorum_profile(address);
    SessionBuilder::new()
        .known_nodes(&address.nodes)
        .default_execution_profile_handle(quorum.into_handle())
        .connection_timeout(Duration::from_secs(5))
        .build()
        .await
        .map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot connect to {}: {e}",
                address.nodes.join(",")
            ))
        })
}

fn quorum_profile(_address: &ScyllaAddress) -> ExecutionProfile {
    ExecutionProfile::builder()
        .consistency(Consistency::LocalQuorum)
        .serial_consistency(Some(SerialConsistency::LocalSerial))
        .request_timeout(Some(Duration::from_secs(12)))
        .build()
}

impl Cql {
    /// Connects, selects the keyspace and prepares every statement.
    pub(crate) async fn open(address: &ScyllaAddress) -> StoreResult<Arc<Self>> {
        let session = connect(address).await?;
        let version = super::migrate::schema_version(&session, &address.keyspace).await;
        if version != Some(super::schema::SCHEMA_VERSION) {
            return Err(StoreError::Unavailable(format!(
                "keyspace {} is at schema version {} but this build needs {}: run `tidings migrate --store {address}`",
                address.keyspace,
                version.map_or_else(|| "none".to_owned(), |v| v.to_string()),
                super::schema::SCHEMA_VERSION
            )));
        }
        let layout = super::migrate::layout(&session, &address.keyspace)
            .await?
            .ok_or_else(|| {
                StoreError::Unavailable(format!(
                    "keyspace {} has no layout row: run `tidings migrate --store {address}`",
                    address.keyspace
                ))
            })?;
        let profiles = Profiles {
            quorum: quorum_profile(address).into_handle(),
            serial: ExecutionProfile::builder()
                .consistency(Consistency::LocalSerial)
                .serial_consistency(Some(SerialConsistency::LocalSerial))
                .request_timeout(Some(Duration::from_secs(12)))
                .build()
                .into_handle(),
        };
        let st = Box::pin(Statements::prepare(&session, &profiles, &address.keyspace)).await?;
        Ok(Arc::new(Self {
            session,
            st,
            layout,
            quorum: profiles.quorum,
        }))
    }

    /// Runs one statement.
    pub(crate) async fn run(&self, p: &PreparedStatement, v: Values) -> StoreResult<QueryResult> {
        self.session
            .execute_unpaged(p, v)
            .await
            .map_err(unavailable)
    }

    /// Runs a read and returns its untyped rows.
    pub(crate) async fn rows(&self, p: &PreparedStatement, v: Values) -> StoreResult<Vec<Row>> {
        let result = self.run(p, v).await?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        rows.rows::<Row>()
            .map_err(unavailable)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unavailable)
    }

    /// Runs a read over a whole table, page by page (checker scans).
    pub(crate) async fn scan(&self, p: &PreparedStatement) -> StoreResult<Vec<Row>> {
        use futures::TryStreamExt;
        let pager = self
            .session
            .execute_iter(p.clone(), ())
            .await
            .map_err(unavailable)?;
        pager
            .rows_stream::<Row>()
            .map_err(unavailable)?
            .try_collect()
            .await
            .map_err(unavailable)
    }

    /// The first row of a read, if any.
    pub(crate) async fn row(&self, p: &PreparedStatement, v: Values) -> StoreResult<Option<Row>> {
        Ok(self.rows(p, v).await?.into_iter().next())
    }

    /// Runs a lightweight transaction; `Ok(true)` when it applied. An error
    /// means its outcome is unknown: the caller reads back.
    pub(crate) async fn lwt(&self, p: &PreparedStatement, v: Values) -> StoreResult<bool> {
        let result = self
            .session
            .execute_unpaged(p, v)
            .await
            .map_err(unavailable)?;
        let rows = result.into_rows_result().map_err(unavailable)?;
        let row = rows
            .rows::<Row>()
            .map_err(unavailable)?
            .next()
            .transpose()
            .map_err(unavailable)?;
        Ok(matches!(
            row.and_then(|r| r.columns.into_iter().next().flatten()),
            Some(CqlValue::Boolean(true))
        ))
    }

    /// Applies mutations in logged batches: each batch is atomic across
    /// partitions (not isolated). Large plans are cut into several batches
    /// below Cassandra's batch size limit; they are re-applied whole if a
    /// process dies between them (every mutation is idempotent).
    pub(crate) async fn apply(
        &self,
        mutations: Vec<(&PreparedStatement, Values)>,
    ) -> StoreResult<()> {
        const MAX_STATEMENTS: usize = 64;
        const MAX_BYTES: usize = 40 * 1024;
        let mut batch = Batch::new(BatchType::Logged);
        let mut values: Vec<Values> = Vec::new();
        let mut bytes = 0;
        for (p, v) in mutations {
            let size: usize = v.iter().map(value_size).sum();
            if !values.is_empty() && (values.len() >= MAX_STATEMENTS || bytes + size > MAX_BYTES) {
                self.run_batch(&batch, &values).await?;
                batch = Batch::new(BatchType::Logged);
                values.clear();
                bytes = 0;
            }
            batch.append_statement(p.clone());
            values.push(v);
            bytes += size;
        }
        if !values.is_empty() {
            self.run_batch(&batch, &values).await?;
        }
        Ok(())
    }

    async fn run_batch(&self, batch: &Batch, values: &[Values]) -> StoreResult<()> {
        let mut batch = batch.clone();
        batch.set_execution_profile_handle(Some(self.quorum.clone()));
        batch.set_is_idempotent(true);
        self.session
            .batch(&batch, values)
            .await
            .map(|_| ())
            .map_err(unavailable)
    }
}

fn value_size(v: &Option<CqlValue>) -> usize {
    match v {
        Some(CqlValue::Text(s)) => s.len() + 8,
        _ => 12,
    }
}

/// Typed access to the columns of an untyped row.
pub(crate) trait RowExt {
    fn i64_at(&self, i: usize) -> Option<i64>;
    fn text_at(&self, i: usize) -> Option<String>;
}

impl RowExt for Row {
    fn i64_at(&self, i: usize) -> Option<i64> {
        match self.columns.get(i) {
            Some(Some(CqlValue::BigInt(v))) => Some(*v),
            Some(Some(CqlValue::Int(v))) => Some(i64::from(*v)),
            _ => None,
        }
    }
    fn text_at(&self, i: usize) -> Option<String> {
        match self.columns.get(i) {
            Some(Some(CqlValue::Text(v) | CqlValue::Ascii(v))) => Some(v.clone()),
            _ => None,
        }
    }
}
