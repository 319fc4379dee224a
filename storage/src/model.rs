//! The domain entities and the pages that list them, shaped as the contract's JSON.

use serde::{Deserialize, Serialize};

use crate::delta::Delta;
use crate::ids::{ChatId, MessageId, PostId, UserId};
use crate::password::PasswordHash;
use crate::time::Timestamp;

/// `{id, username, display_name, created_at}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub created_at: Timestamp,
}

/// What registration stores.
#[derive(Clone, Debug)]
pub struct NewUser {
    pub username: String,
    pub display_name: Option<String>,
    pub password: PasswordHash,
}

/// The relation between the caller and another user, after a friend request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FriendStatus {
    /// The request waits for the other side.
    Pending,
    /// Both sides agreed.
    Friends,
}

/// `{status}` as answered by `POST /v1/friends/{id}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendOutcome {
    pub status: FriendStatus,
}

/// `{friends, incoming, outgoing}`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct FriendLists {
    pub friends: Vec<User>,
    pub incoming: Vec<User>,
    pub outgoing: Vec<User>,
}

/// `{id, title, member_ids, created_by, created_at, last_offset}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chat {
    pub id: ChatId,
    pub title: String,
    pub member_ids: Vec<UserId>,
    pub created_by: UserId,
    pub created_at: Timestamp,
    /// The head offset of the `chat:{id}` topic.
    pub last_offset: u64,
}

/// What creating a chat asks for; the creator is added to `member_ids`.
#[derive(Clone, Debug, Default)]
pub struct NewChat {
    pub title: Option<String>,
    pub member_ids: Vec<UserId>,
}

/// `{id, chat_id, seq, author_id, body, created_at, edited_at?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: MessageId,
    pub chat_id: ChatId,
    pub seq: u64,
    pub author_id: UserId,
    pub body: String,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edited_at: Option<Timestamp>,
}

/// `{id, author_id, seq, body, created_at}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    pub id: PostId,
    pub author_id: UserId,
    pub seq: u64,
    pub body: String,
    pub created_at: Timestamp,
}

/// Newest-first page of messages; `next_before_seq` is null at the start of the chat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MessagePage {
    pub items: Vec<Message>,
    pub next_before_seq: Option<u64>,
}

/// Newest-first page of one author's posts.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostPage {
    pub items: Vec<Post>,
    pub next_before_seq: Option<u64>,
}

/// A page of chats, most recent activity first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatPage {
    pub items: Vec<Chat>,
    pub next_cursor: Option<String>,
}

/// A page of the feed, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeedPage {
    pub items: Vec<Post>,
    pub next_cursor: Option<String>,
}

/// Durable catch-up: deltas after an offset, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventPage {
    pub items: Vec<Delta>,
    /// The offset to pass as `after` next time (the last item's, or `after` itself).
    pub next_after: u64,
}
