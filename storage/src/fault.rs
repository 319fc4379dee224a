//! Fault injection: a [`Store`] wrapper that can be switched to fail every
//! call as [`StoreError::Unavailable`], as a store whose disk or cluster went
//! away would. Used to prove that callers answer 503 and change nothing.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use async_trait::async_trait;

use crate::check::Violation;
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, PostId, UserId};
use crate::model::*;
use crate::password::PasswordHash;
use crate::store::{Committed, Cursor, Store, Write};
use crate::topic::Topic;

/// Wraps a store; while `down` is set, every call fails without reaching it.
#[derive(Debug, Clone)]
pub struct FaultyStore<S> {
    inner: S,
    down: Arc<AtomicBool>,
}

impl<S: Store> FaultyStore<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            down: Arc::new(AtomicBool::new(false)),
        }
    }

    /// A switch that takes the store down (`true`) or brings it back.
    pub fn switch(&self) -> Arc<AtomicBool> {
        self.down.clone()
    }

    fn gate(&self) -> StoreResult<()> {
        if self.down.load(Ordering::SeqCst) {
            Err(StoreError::Unavailable(
                "injected fault: storage is down".into(),
            ))
        } else {
            Ok(())
        }
    }
}

#[async_trait]
impl<S: Store> Store for FaultyStore<S> {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }
    async fn create_user(&self, new: NewUser) -> StoreResult<User> {
        self.gate()?;
        self.inner.create_user(new).await
    }
    async fn user_credentials(&self, username: &str) -> StoreResult<(User, PasswordHash)> {
        self.gate()?;
        self.inner.user_credentials(username).await
    }
    async fn get_user(&self, id: UserId) -> StoreResult<User> {
        self.gate()?;
        self.inner.get_user(id).await
    }
    async fn find_user(&self, username: &str) -> StoreResult<User> {
        self.gate()?;
        self.inner.find_user(username).await
    }
    async fn request_friend(
        &self,
        w: &Write,
        target: UserId,
    ) -> StoreResult<Committed<FriendOutcome>> {
        self.gate()?;
        self.inner.request_friend(w, target).await
    }
    async fn remove_friend(&self, w: &Write, target: UserId) -> StoreResult<Committed<()>> {
        self.gate()?;
        self.inner.remove_friend(w, target).await
    }
    async fn list_friends(&self, user: UserId) -> StoreResult<FriendLists> {
        self.gate()?;
        self.inner.list_friends(user).await
    }
    async fn create_chat(&self, w: &Write, new: NewChat) -> StoreResult<Committed<Chat>> {
        self.gate()?;
        self.inner.create_chat(w, new).await
    }
    async fn list_chats(&self, user: UserId, page: Cursor) -> StoreResult<ChatPage> {
        self.gate()?;
        self.inner.list_chats(user, page).await
    }
    async fn get_chat(&self, viewer: UserId, chat: ChatId) -> StoreResult<Chat> {
        self.gate()?;
        self.inner.get_chat(viewer, chat).await
    }
    async fn add_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        self.gate()?;
        self.inner.add_member(w, chat, user).await
    }
    async fn remove_member(
        &self,
        w: &Write,
        chat: ChatId,
        user: UserId,
    ) -> StoreResult<Committed<()>> {
        self.gate()?;
        self.inner.remove_member(w, chat, user).await
    }
    async fn post_message(
        &self,
        w: &Write,
        chat: ChatId,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        self.gate()?;
        self.inner.post_message(w, chat, body).await
    }
    async fn list_messages(
        &self,
        viewer: UserId,
        chat: ChatId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<MessagePage> {
        self.gate()?;
        self.inner
            .list_messages(viewer, chat, before_seq, limit)
            .await
    }
    async fn edit_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
        body: &str,
    ) -> StoreResult<Committed<Message>> {
        self.gate()?;
        self.inner.edit_message(w, chat, seq, body).await
    }
    async fn delete_message(
        &self,
        w: &Write,
        chat: ChatId,
        seq: u64,
    ) -> StoreResult<Committed<()>> {
        self.gate()?;
        self.inner.delete_message(w, chat, seq).await
    }
    async fn create_post(&self, w: &Write, body: &str) -> StoreResult<Committed<Post>> {
        self.gate()?;
        self.inner.create_post(w, body).await
    }
    async fn list_posts(
        &self,
        viewer: UserId,
        author: UserId,
        before_seq: Option<u64>,
        limit: Option<u32>,
    ) -> StoreResult<PostPage> {
        self.gate()?;
        self.inner
            .list_posts(viewer, author, before_seq, limit)
            .await
    }
    async fn delete_post(&self, w: &Write, post: PostId) -> StoreResult<Committed<()>> {
        self.gate()?;
        self.inner.delete_post(w, post).await
    }
    async fn feed(&self, user: UserId, page: Cursor) -> StoreResult<FeedPage> {
        self.gate()?;
        self.inner.feed(user, page).await
    }
    async fn topic_events(
        &self,
        reader: UserId,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        self.gate()?;
        self.inner.topic_events(reader, topic, after, limit).await
    }
    async fn read_events(
        &self,
        topic: Topic,
        after: u64,
        limit: Option<u32>,
    ) -> StoreResult<EventPage> {
        self.gate()?;
        self.inner.read_events(topic, after, limit).await
    }
    async fn topic_head(&self, topic: Topic) -> StoreResult<u64> {
        self.gate()?;
        self.inner.topic_head(topic).await
    }
    async fn compact_topic(&self, topic: Topic, through: u64) -> StoreResult<()> {
        self.gate()?;
        self.inner.compact_topic(topic, through).await
    }
    async fn topic_recipients(&self, topic: Topic) -> StoreResult<Vec<UserId>> {
        self.gate()?;
        self.inner.topic_recipients(topic).await
    }
    async fn ping(&self) -> StoreResult<()> {
        self.gate()?;
        self.inner.ping().await
    }
    async fn check(&self) -> StoreResult<Vec<Violation>> {
        self.gate()?;
        self.inner.check().await
    }
}
