//! Row lookups shared by reads and writes.

use rusqlite::{params, Connection, OptionalExtension, Row};

use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, MessageId, PostId, UserId};
use crate::model::{Chat, Message, Post, User};
use crate::time::Timestamp;
use crate::topic::Topic;

pub(crate) const USER_COLS: &str = "id, username, display_name, created_at";

pub(crate) fn user_from_row(r: &Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: UserId::from_i64(r.get(0)?),
        username: r.get(1)?,
        display_name: r.get(2)?,
        created_at: Timestamp(r.get(3)?),
    })
}

pub(crate) fn user(conn: &Connection, id: UserId) -> StoreResult<User> {
    conn.prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE id = ?1"))?
        .query_row([id.as_i64()], user_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("user {id} not found")))
}

pub(crate) fn user_exists(conn: &Connection, id: UserId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM users WHERE id = ?1")?
        .exists([id.as_i64()])?)
}

/// The relation row from `user` to `other`: `outgoing`, `incoming` or `friends`.
pub(crate) fn friendship(
    conn: &Connection,
    user: UserId,
    other: UserId,
) -> StoreResult<Option<String>> {
    Ok(conn
        .prepare_cached("SELECT state FROM friendships WHERE user_id = ?1 AND other_id = ?2")?
        .query_row([user.as_i64(), other.as_i64()], |r| r.get(0))
        .optional()?)
}

pub(crate) fn friend_ids(conn: &Connection, user: UserId) -> StoreResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT other_id FROM friendships WHERE user_id = ?1 AND state = 'friends' ORDER BY other_id",
    )?;
    let ids = stmt
        .query_map([user.as_i64()], |r| Ok(UserId::from_i64(r.get(0)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

pub(crate) fn member_ids(conn: &Connection, chat: ChatId) -> StoreResult<Vec<UserId>> {
    let mut stmt = conn.prepare_cached(
        "SELECT user_id FROM chat_members WHERE chat_id = ?1 ORDER BY joined_at, user_id",
    )?;
    let ids = stmt
        .query_map([chat.as_i64()], |r| Ok(UserId::from_i64(r.get(0)?)))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(ids)
}

pub(crate) fn is_member(conn: &Connection, chat: ChatId, user: UserId) -> StoreResult<bool> {
    Ok(conn
        .prepare_cached("SELECT 1 FROM chat_members WHERE chat_id = ?1 AND user_id = ?2")?
        .exists([chat.as_i64(), user.as_i64()])?)
}

pub(crate) fn topic_head(conn: &Connection, topic: Topic) -> StoreResult<u64> {
    let head: Option<i64> = conn
        .prepare_cached("SELECT head FROM topics WHERE topic = ?1")?
        .query_row([topic.to_string()], |r| r.get(0))
        .optional()?;
    Ok(head.unwrap_or(0) as u64)
}

/// The chat, if it exists and `viewer` is a member; not-found otherwise, so a
/// chat's existence is not leaked to outsiders.
pub(crate) fn chat_for_member(
    conn: &Connection,
    chat: ChatId,
    viewer: UserId,
) -> StoreResult<Chat> {
    if !is_member(conn, chat, viewer)? {
        return Err(chat_not_found(chat));
    }
    chat_row(conn, chat)
}

pub(crate) fn chat_not_found(chat: ChatId) -> StoreError {
    StoreError::NotFound(format!("chat {chat} not found"))
}

pub(crate) fn chat_row(conn: &Connection, chat: ChatId) -> StoreResult<Chat> {
    let row: Option<(String, i64, i64)> = conn
        .prepare_cached("SELECT title, created_by, created_at FROM chats WHERE id = ?1")?
        .query_row([chat.as_i64()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let (title, created_by, created_at) = row.ok_or_else(|| chat_not_found(chat))?;
    Ok(Chat {
        id: chat,
        title,
        member_ids: member_ids(conn, chat)?,
        created_by: UserId::from_i64(created_by),
        created_at: Timestamp(created_at),
        last_offset: topic_head(conn, Topic::Chat(chat))?,
    })
}

pub(crate) const MESSAGE_COLS: &str = "chat_id, seq, id, author_id, body, created_at, edited_at";

pub(crate) fn message_from_row(r: &Row<'_>) -> rusqlite::Result<Message> {
    Ok(Message {
        chat_id: ChatId::from_i64(r.get(0)?),
        seq: r.get::<_, i64>(1)? as u64,
        id: MessageId::from_i64(r.get(2)?),
        author_id: UserId::from_i64(r.get(3)?),
        body: r.get(4)?,
        created_at: Timestamp(r.get(5)?),
        edited_at: r.get::<_, Option<i64>>(6)?.map(Timestamp),
    })
}

pub(crate) fn message(conn: &Connection, chat: ChatId, seq: u64) -> StoreResult<Message> {
    conn.prepare_cached(&format!(
        "SELECT {MESSAGE_COLS} FROM messages WHERE chat_id = ?1 AND seq = ?2"
    ))?
    .query_row(params![chat.as_i64(), seq as i64], message_from_row)
    .optional()?
    .ok_or_else(|| StoreError::NotFound(format!("message {seq} of chat {chat} not found")))
}

pub(crate) const POST_COLS: &str = "id, author_id, seq, body, created_at";

pub(crate) fn post_from_row(r: &Row<'_>) -> rusqlite::Result<Post> {
    Ok(Post {
        id: PostId::from_i64(r.get(0)?),
        author_id: UserId::from_i64(r.get(1)?),
        seq: r.get::<_, i64>(2)? as u64,
        body: r.get(3)?,
        created_at: Timestamp(r.get(4)?),
    })
}

pub(crate) fn post(conn: &Connection, id: PostId) -> StoreResult<Post> {
    conn.prepare_cached(&format!("SELECT {POST_COLS} FROM posts WHERE id = ?1"))?
        .query_row([id.as_i64()], post_from_row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound(format!("post {id} not found")))
}

/// Who receives deltas of `topic` now.
pub(crate) fn recipients(conn: &Connection, topic: Topic) -> StoreResult<Vec<UserId>> {
    match topic {
        Topic::Chat(chat) => member_ids(conn, chat),
        Topic::User(user) => Ok(vec![user]),
        Topic::Posts(author) => {
            let mut ids = vec![author];
            ids.extend(friend_ids(conn, author)?);
            Ok(ids)
        }
    }
}
