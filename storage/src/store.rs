//! The `Store` interface: one call per API-level operation.
//!
//! Writes take a [`Write`] (who acts, and an optional idempotency key) and
//! return [`Committed`]: the result plus the deltas that committed with it.
//! A failed call returns a [`StoreError`] and has changed nothing. A replayed
//! idempotent call returns the first call's result and no deltas.

use async_trait::async_trait;
use serde::{de::DeserializeOwned, Serialize};

use crate::check::Violation;
use crate::delta::CommittedDelta;
use crate::error::StoreResult;
use crate::ids::{ChatId, PostId, UserId};
use crate::model::*;
use crate::password::PasswordHash;
use crate::topic::Topic;

/// A client-chosen key that makes a retried write exactly-once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Idempotency {
    /// The client's `Idempotency-Key` (at most 64 characters).
    pub key: String,
    /// A digest of the request (method, path, body); reusing a key for a
    /// different request is a conflict, not a replay.
    pub fingerprint: String,
}

/// Who performs a write, and how it may be retried.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    pub actor: UserId,
    pub idempotency: Option<Idempotency>,
}

impl Write {
    /// A write by `actor` without an idempotency key.
    pub fn by(actor: UserId) -> Self {
        Self {
            actor,
            idempotency: None,
        }
    }

    /// The same write, made exactly-once under `key`.
    pub fn with_key(mut self, key: impl Into<String>, fingerprint: impl Into<String>) -> Self {
        self.idempotency = Some(Idempotency {
            key: key.into(),
            fingerprint: fingerprint.into(),
        });
        self
    }
}

/// The outcome of a committed write.
#[derive(Clone, Debug, PartialEq)]
pub struct Committed<T> {
    pub value: T,
    /// The deltas this write appended, in commit order; empty on a replay.
    pub deltas: Vec<CommittedDelta>,
    /// True when an idempotency key answered from the first call's record.
    pub replayed: bool,
}

impl<T> Committed<T> {
    /// A fresh commit.
    pub fn new(value: T, deltas: Vec<CommittedDelta>) -> Self {
        Self {
            value,
            deltas,
            replayed: false,
        }
    }
}

/// Values a write can answer with, so an idempotency record can keep them.
pub trait Answer: Serialize + DeserializeOwned + Send + 'static {}
impl<T: Serialize + DeserializeOwned + Send + 'static> Answer for T {}

/// A page request for the cursor-paged lists.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cursor {
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

/// Every operation of the contract, on some backend.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// A short name for logs and metrics (`sqlite`, `scylla`).
    fn backend(&self) -> &'static str;

    // ---- users ----
    /// Registers a user; the username is unique.
    async fn create_user(&self, new: NewUser) -> StoreResult<User>;
    /// A user and the stored hash, for login.
    async fn user_credentials(&self, username: &str) -> StoreResult<(User, PasswordHash)>;
    async fn get_user(&self, id: UserId) -> StoreResult<User>;
    async fn find_user(&self, username: &str) -> StoreResult<User>;

    // ---- friends ----
    /// Sends a request to `target`, or accepts theirs.
    async fn request_friend(
        &self,
        w: &Write,
        target: UserId,
    ) -> StoreResult<Committed<FriendOutcome>>;
    /// Unfriends, cancels an outgoing request or declines an incoming one.
    async fn remove_friend(&self, w: &Write, target: UserId) -> StoreResult<Committed<()>>;
    async fn list_friends(&self, user: UserId) -> StoreResult<FriendLists>;

    // ---- chats ----
    async fn create_chat(&self, w: &Write, new: NewChat) -> StoreResult<Committed<Chat>>;
    /// The chats `user` is a member of, most recent activity first.
    async fn list_chats(&self, user: UserId, page: Cursor) -> StoreResult<ChatPage>;
    /// A chat `viewer` is a member of (not-found otherwise).
    async fn get_chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat>;
    async fn add_member(&self, w: &Write, chat: ChatId, user: UserId)
        -> StoreResult<Committed<()>>;
    /// Removes `user`, or leaves when `user` is the actor.
    async fn remove_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>>;

    // ---- messages ----
    async fn post_message(
        &self,
        w: &Write,
        chat: ChatId,
        body: &str,
    ) -> StoreResult<Committed<Message>>;
    /// Newest first, strictly before `before_seq` when given.
    async fn list_messages(
        &self,
        viewer: UserId,
        chat: ChatId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<MessagePage>;
    async fn edit_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
        body: &str,
    ) -> StoreResult<Committed<Message>>;
    async fn delete_message(&self, w: &Write, chat: ChatId, seq: u64)
        -> StoreResult<Committed<()>>;

    // ---- posts ----
    async fn create_post(&self, w: &Write, body: &str) -> StoreResult<Committed<Post>>;
    /// One author's posts, newest first; visible to the author and friends.
    async fn list_posts(
        &self,
        viewer: UserId,
        author: UserId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<PostPage>;
    async fn delete_post(&self, w: &Write, post: PostId) -> StoreResult<Committed<()>>;
    /// Posts of `user` and their friends, newest first.
    async fn feed(&self, user: UserId, page: Cursor) -> StoreResult<FeedPage>;

    // ---- the event log ----
    /// Deltas of `topic` after `after`, oldest first, if `reader` may read it.
    async fn topic_events(
        &self,
        reader: UserId,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage>;
    /// Deltas of `topic` after `after`, oldest first, with no reader check:
    /// for internal consumers (the gateway's gap fill, verification tools).
    async fn read_events(
        &self,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage>;
    /// The head offset of `topic` (0 when it has no events).
    async fn topic_head(&self, topic: Topic) -> StoreResult<u64>;
    /// Drops the events of `topic` through offset `through` (retention);
    /// catch-up from before the kept range then answers gone.
    async fn compact_topic(&self, topic: Topic, through: u64) -> StoreResult<()>;
    /// Who receives deltas of `topic` now.
    async fn topic_recipients(&self, topic: Topic) -> StoreResult<Vec<UserId>>;

    // ---- operations ----
    /// Succeeds when storage answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
    /// Every cross-row invariant violation found; empty when all hold.
    async fn check(&self) -> StoreResult<Vec<Violation>>;
}
