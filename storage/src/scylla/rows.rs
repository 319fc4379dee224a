//! Row lookups shared by reads and by the planning step of writes.

use scylla::value::Row;

use super::cql::{big, int, u64v, Cql, RowExt};
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, MessageId, PostId, UserId};
use crate::model::{Chat, Message, User};
use crate::time::Timestamp;

pub(crate) async fn user(cql: &Cql, id: UserId) -> StoreResult<Option<User>> {
    let row = cql.row(&cql.st.user, vec![u64v(id.0)]).await?;
    Ok(row.map(|r| User {
        id,
        username: r.text_at(0).unwrap_or_default(),
        display_name: r.text_at(1).unwrap_or_default(),
        created_at: Timestamp(r.i64_at(2).unwrap_or(0)),
    }))
}

pub(crate) async fn existing_user(cql: &Cql, id: UserId) -> StoreResult<User> {
    user(cql, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {id} not found")))
}

/// The state of `user`'s side of a friendship: `friends`, `outgoing`, `incoming`.
pub(crate) async fn friendship(
    cql: &Cql,
    user: UserId,
    other: UserId,
) -> StoreResult<Option<String>> {
    let row = cql
        .row(&cql.st.friendship, vec![u64v(user.0), u64v(other.0)])
        .await?;
    Ok(row.and_then(|r| r.text_at(0)))
}

/// `(other, state, since)` for every friendship row of `user`.
pub(crate) async fn friendships(
    cql: &Cql,
    user: UserId,
) -> StoreResult<Vec<(UserId, String, i64)>> {
    Ok(cql
        .rows(&cql.st.friendships_of, vec![u64v(user.0)])
        .await?
        .iter()
        .map(|r| {
            (
                UserId(r.i64_at(0).unwrap_or(0) as u64),
                r.text_at(1).unwrap_or_default(),
                r.i64_at(2).unwrap_or(0),
            )
        })
        .collect())
}

pub(crate) async fn friend_ids(cql: &Cql, user: UserId) -> StoreResult<Vec<UserId>> {
    Ok(friendships(cql, user)
        .await?
        .into_iter()
        .filter(|(_, s, _)| s == "friends")
        .map(|(id, _, _)| id)
        .collect())
}

pub(crate) async fn is_member(cql: &Cql, chat: ChatId, user: UserId) -> StoreResult<bool> {
    Ok(cql
        .row(&cql.st.member, vec![u64v(chat.0), u64v(user.0)])
        .await?
        .is_some())
}

/// Members in the order they joined (then by id).
pub(crate) async fn member_ids(cql: &Cql, chat: ChatId) -> StoreResult<Vec<UserId>> {
    let mut members: Vec<(i64, u64)> = cql
        .rows(&cql.st.members, vec![u64v(chat.0)])
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(1).unwrap_or(0), r.i64_at(0)? as u64)))
        .collect();
    members.sort_unstable();
    Ok(members.into_iter().map(|(_, id)| UserId(id)).collect())
}

pub(crate) fn chat_not_found(chat: ChatId) -> StoreError {
    StoreError::NotFound(format!("chat {chat} not found"))
}

/// `(title, created_by, created_at, activity)`.
pub(crate) async fn chat_row(
    cql: &Cql,
    chat: ChatId,
) -> StoreResult<Option<(String, UserId, Timestamp, u64)>> {
    let row = cql.row(&cql.st.chat, vec![u64v(chat.0)]).await?;
    Ok(row.map(|r| {
        (
            r.text_at(0).unwrap_or_default(),
            UserId(r.i64_at(1).unwrap_or(0) as u64),
            Timestamp(r.i64_at(2).unwrap_or(0)),
            r.i64_at(3).unwrap_or(0) as u64,
        )
    }))
}

/// A chat as the contract shows it; `members` and `head` as given.
pub(crate) async fn chat_view(
    cql: &Cql,
    chat: ChatId,
    members: Vec<UserId>,
    head: u64,
) -> StoreResult<Chat> {
    let (title, created_by, created_at, _) = chat_row(cql, chat)
        .await?
        .ok_or_else(|| chat_not_found(chat))?;
    Ok(Chat {
        id: chat,
        title,
        member_ids: members,
        created_by,
        created_at,
        last_offset: head,
    })
}

pub(crate) fn message_from_row(chat: ChatId, seq: u64, r: &Row, at: usize) -> Message {
    Message {
        id: MessageId(r.i64_at(at).unwrap_or(0) as u64),
        chat_id: chat,
        seq,
        author_id: UserId(r.i64_at(at + 1).unwrap_or(0) as u64),
        body: r.text_at(at + 2).unwrap_or_default(),
        created_at: Timestamp(r.i64_at(at + 3).unwrap_or(0)),
        edited_at: r.i64_at(at + 4).map(Timestamp),
    }
}

pub(crate) async fn message(cql: &Cql, chat: ChatId, seq: u64) -> StoreResult<Option<Message>> {
    let row = cql
        .row(
            &cql.st.message,
            vec![u64v(chat.0), big(cql.layout.message(seq)), u64v(seq)],
        )
        .await?;
    Ok(row.map(|r| message_from_row(chat, seq, &r, 0)))
}

/// `(author, seq)` of a post.
pub(crate) async fn post_owner(cql: &Cql, id: PostId) -> StoreResult<Option<(UserId, u64)>> {
    let row = cql.row(&cql.st.post_by_id, vec![u64v(id.0)]).await?;
    Ok(row.map(|r| {
        (
            UserId(r.i64_at(0).unwrap_or(0) as u64),
            r.i64_at(1).unwrap_or(0) as u64,
        )
    }))
}

/// Whether a message or post bucket holds rows other than `except`.
pub(crate) async fn bucket_holds_others(
    cql: &Cql,
    st: &scylla::statement::prepared::PreparedStatement,
    owner: u64,
    bucket: i64,
    except: u64,
) -> StoreResult<bool> {
    // The probe pages below the bucket's top seq: any row other than `except`.
    let rows = cql
        .rows(st, vec![u64v(owner), big(bucket), big(i64::MAX), int(2)])
        .await?;
    Ok(rows.iter().any(|r| r.i64_at(0) != Some(except as i64)))
}
