//! The ScyllaDB backend (also runs on Apache Cassandra 5.0: same CQL).
//!
//! - [`address`]: `scylla://host:port/keyspace` and replication settings.
//! - [`schema`] / [`migrate`]: tables with bounded, bucketed partitions, and
//!   idempotent migrations.
//! - `cql`: the driver session, execution profiles, prepared statements.
//! - `commit`: the commit protocol that makes every write all-or-nothing
//!   (a lightweight transaction on one topic row, then idempotent
//!   roll-forward of the plan it stored); `plan`: what a write changes.
//! - `idempotency`: exactly-once writes under an `Idempotency-Key`.
//! - `writes`, `reads`, `rows`: the operations; `checker`: `tidings check`.
//! - `idgen`: ids minted by many processes (leased node numbers).

pub mod address;
mod checker;
mod commit;
mod cql;
mod idempotency;
mod idgen;
pub mod migrate;
mod plan;
mod reads;
mod rows;
pub mod schema;
mod writes;

use std::sync::Arc;

use async_trait::async_trait;

pub use address::{Replication, ScyllaAddress};
pub use checker::INVARIANTS;
pub use migrate::migrate;

use crate::check::Violation;
use crate::error::StoreResult;
use crate::ids::{ChatId, PostId, UserId};
use crate::limits::Limits;
use crate::model::*;
use crate::password::PasswordHash;
use crate::store::{Committed, Cursor, Store, Write};
use crate::topic::Topic;

/// The ScyllaDB-backed [`Store`].
#[derive(Debug, Clone)]
pub struct ScyllaStore {
    inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) engine: commit::Engine,
    pub(crate) ids: Arc<idgen::IdGen>,
    pub(crate) limits: Limits,
}

impl ScyllaStore {
    /// Connects to the keyspace named by `address` (created by `migrate`).
    /// Starting while a node is down works: the open is retried a few
    /// times, as the driver learns which nodes answer.
    pub async fn open(address: &ScyllaAddress, limits: Limits) -> StoreResult<Self> {
        let mut attempt = 0;
        let cql = loop {
            attempt += 1;
            match Box::pin(cql::Cql::open(address)).await {
                Ok(cql) => break cql,
                Err(e) if attempt < 5 => {
                    tracing::warn!(error = %e, attempt, "opening the cluster store failed; retrying");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
                Err(e) => return Err(e),
            }
        };
        let ids = idgen::IdGen::lease(cql.clone()).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                engine: commit::Engine::new(cql),
                ids,
                limits,
            }),
        })
    }
}

#[async_trait]
impl Store for ScyllaStore {
    fn backend(&self) -> &'static str {
        "scylla"
    }

    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        writes::create_user(&self.inner, &new).await
    }

    async fn user_credentials(&self, username: &str) -> StoreResult<(User, PasswordHash)> {
        reads::user_credentials(&self.inner, username).await
    }

    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        rows::existing_user(&self.inner.engine.cql, id).await
    }

    async fn find_user(&self, username: &str) -> StoreResult<User> {
        Ok(reads::user_credentials(&self.inner, username).await?.0)
    }

    async fn request_friend(
        &self,
        w: &Write,
        target: UserId,
    ) -> StoreResult<Committed<FriendOutcome>> {
        writes::request_friend(&self.inner, w, target).await
    }

    async fn remove_friend(&self, w: &Write, target: UserId) -> StoreResult<Committed<()>> {
        writes::remove_friend(&self.inner, w, target).await
    }

    async fn list_friends(&self, user: UserId) -> StoreResult<FriendLists> {
        reads::list_friends(&self.inner, user).await
    }

    async fn create_chat(&self, w: &Write, new: NewChat) -> StoreResult<Committed<Chat>> {
        writes::create_chat(&self.inner, w, &new).await
    }

    async fn list_chats(&self, user: UserId, page: Cursor) -> StoreResult<ChatPage> {
        reads::list_chats(&self.inner, user, &page).await
    }

    async fn get_chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat> {
        reads::get_chat(&self.inner, viewer, chat).await
    }

    async fn add_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        writes::add_member(&self.inner, w, chat, user).await
    }

    async fn remove_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        writes::remove_member(&self.inner, w, chat, user).await
    }

    async fn post_message(
        &self,
        w: &Write,
        chat: ChatId,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        writes::post_message(&self.inner, w, chat, body).await
    }

    async fn list_messages(
        &self,
        viewer: UserId,
        chat: ChatId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<MessagePage> {
        reads::list_messages(&self.inner, viewer, chat, before_seq, limit).await
    }

    async fn edit_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        writes::edit_message(&self.inner, w, chat, seq, body).await
    }

    async fn delete_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
    ) -> StoreResult<Committed<()>> {
        writes::delete_message(&self.inner, w, chat, seq).await
    }

    async fn create_post(&self, w: &Write, body: &str) -> StoreResult<Committed<Post>> {
        writes::create_post(&self.inner, w, body).await
    }

    async fn list_posts(
        &self,
        viewer: UserId,
        author: UserId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<PostPage> {
        reads::list_posts(&self.inner, viewer, author, before_seq, limit).await
    }

    async fn delete_post(&self, w: &Write, post: PostId) -> StoreResult<Committed<()>> {
        writes::delete_post(&self.inner, w, post).await
    }

    async fn feed(&self, user: UserId, page: Cursor) -> StoreResult<FeedPage> {
        reads::feed(&self.inner, user, &page).await
    }

    async fn topic_events(
        &self,
        reader: UserId,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        reads::may_read_topic(&self.inner, reader, topic).await?;
        reads::read_events(&self.inner, topic, after, limit).await
    }

    async fn read_events(
        &self,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        reads::read_events(&self.inner, topic, after, limit).await
    }

    async fn topic_head(&self, topic: Topic) -> StoreResult<u64> {
        Ok(self
            .inner
            .engine
            .topic(&topic.to_string(), false)
            .await?
            .head)
    }

    async fn compact_topic(&self, topic: Topic, through: u64) -> StoreResult<()> {
        reads::compact_topic(&self.inner, topic, through).await
    }

    async fn topic_recipients(&self, topic: Topic) -> StoreResult<Vec<UserId>> {
        reads::topic_recipients(&self.inner, topic).await
    }

    async fn ping(&self) -> StoreResult<()> {
        let cql = &self.inner.engine.cql;
        cql.run(&cql.st.ping, Vec::new()).await.map(|_| ())
    }

    async fn check(&self) -> StoreResult<Vec<Violation>> {
        checker::check(&self.inner).await
    }
}
