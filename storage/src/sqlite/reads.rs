//! The read operations. Every list is paged by a key the index is ordered by,
//! so a page costs O(log n + page) whatever the list's length.

use rusqlite::{params, Connection};

use super::rows;
use crate::delta::{Delta, EventKind};
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, UserId};
use crate::limits::page_limit;
use crate::model::{ChatPage, EventPage, FeedPage, FriendLists, MessagePage, Post, PostPage};
use crate::store::Cursor;
use crate::time::Timestamp;
use crate::topic::Topic;

pub(crate) fn list_friends(conn: &Connection, user: UserId) -> StoreResult<FriendLists> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT f.state, {cols} FROM friendships f JOIN users u ON u.id = f.other_id
         WHERE f.user_id = ?1 ORDER BY f.since, u.id",
        cols = "u.id, u.username, u.display_name, u.created_at"
    ))?;
    let mut lists = FriendLists::default();
    let mut q = stmt.query([user.as_i64()])?;
    while let Some(r) = q.next()? {
        let state: String = r.get(0)?;
        let u = crate::model::User {
            id: UserId::from_i64(r.get(1)?),
            username: r.get(2)?,
            display_name: r.get(3)?,
            created_at: Timestamp(r.get(4)?),
        };
        match state.as_str() {
            "friends" => lists.friends.push(u),
            "incoming" => lists.incoming.push(u),
            _ => lists.outgoing.push(u),
        }
    }
    Ok(lists)
}

fn parse_cursor(field: &str, cursor: Option<&str>) -> StoreResult<Option<i64>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= i64::MAX as u64)
            .map(|v| Some(v as i64))
            .ok_or_else(|| StoreError::invalid(field, "is not a cursor this server gave out")),
    }
}

pub(crate) fn list_chats(conn: &Connection, user: UserId, page: &Cursor) -> StoreResult<ChatPage> {
    let limit = page_limit(page.limit)?;
    let before = parse_cursor("cursor", page.cursor.as_deref())?.unwrap_or(i64::MAX);
    let mut stmt = conn.prepare_cached(
        "SELECT c.id, c.activity FROM chat_members m JOIN chats c ON c.id = m.chat_id
         WHERE m.user_id = ?1 AND c.activity < ?2
         ORDER BY c.activity DESC LIMIT ?3",
    )?;
    let found = stmt
        .query_map(params![user.as_i64(), before, limit + 1], |r| {
            Ok((ChatId::from_i64(r.get(0)?), r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let more = found.len() > limit as usize;
    let mut items = Vec::with_capacity(limit as usize);
    let mut last = None;
    for (id, activity) in found.into_iter().take(limit as usize) {
        items.push(rows::chat_row(conn, id)?);
        last = Some(activity);
    }
    Ok(ChatPage {
        items,
        next_cursor: if more {
            last.map(|a| a.to_string())
        } else {
            None
        },
    })
}

pub(crate) fn list_messages(
    conn: &Connection,
    viewer: UserId,
    chat: ChatId,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> StoreResult<MessagePage> {
    let limit = page_limit(limit)?;
    if !rows::is_member(conn, chat, viewer)? {
        return Err(rows::chat_not_found(chat));
    }
    let before = before_seq.map_or(i64::MAX, |s| s.min(i64::MAX as u64) as i64);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM messages WHERE chat_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        rows::MESSAGE_COLS
    ))?;
    let items = stmt
        .query_map(
            params![chat.as_i64(), before, limit],
            rows::message_from_row,
        )?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_before_seq = next_before(
        conn,
        "SELECT 1 FROM messages WHERE chat_id = ?1 AND seq < ?2",
        chat.as_i64(),
        items.last().map(|m| m.seq),
        items.len() as u32 == limit,
    )?;
    Ok(MessagePage {
        items,
        next_before_seq,
    })
}

/// The cursor for the next page: the last seq shown, or null when nothing older exists.
fn next_before(
    conn: &Connection,
    probe: &str,
    owner: i64,
    last_seq: Option<u64>,
    full: bool,
) -> StoreResult<Option<u64>> {
    let Some(last) = last_seq else {
        return Ok(None);
    };
    if !full {
        return Ok(None);
    }
    let more = conn
        .prepare_cached(probe)?
        .exists(params![owner, last as i64])?;
    Ok(more.then_some(last))
}

/// Posts are visible to their author and the author's friends.
fn may_see_posts(conn: &Connection, viewer: UserId, author: UserId) -> StoreResult<()> {
    if !rows::user_exists(conn, author)? {
        return Err(StoreError::NotFound(format!("user {author} not found")));
    }
    if viewer != author && rows::friendship(conn, viewer, author)?.as_deref() != Some("friends") {
        return Err(StoreError::Forbidden(
            "posts are visible to the author and their friends".into(),
        ));
    }
    Ok(())
}

pub(crate) fn list_posts(
    conn: &Connection,
    viewer: UserId,
    author: UserId,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> StoreResult<PostPage> {
    let limit = page_limit(limit)?;
    may_see_posts(conn, viewer, author)?;
    let before = before_seq.map_or(i64::MAX, |s| s.min(i64::MAX as u64) as i64);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM posts WHERE author_id = ?1 AND seq < ?2 ORDER BY seq DESC LIMIT ?3",
        rows::POST_COLS
    ))?;
    let items = stmt
        .query_map(params![author.as_i64(), before, limit], rows::post_from_row)?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let next_before_seq = next_before(
        conn,
        "SELECT 1 FROM posts WHERE author_id = ?1 AND seq < ?2",
        author.as_i64(),
        items.last().map(|p| p.seq),
        items.len() as u32 == limit,
    )?;
    Ok(PostPage {
        items,
        next_before_seq,
    })
}

/// The feed merges the newest `limit` posts of each author (self and
/// friends) below the cursor: each author costs one bounded index range.
pub(crate) fn feed(conn: &Connection, user: UserId, page: &Cursor) -> StoreResult<FeedPage> {
    let limit = page_limit(page.limit)? as usize;
    let before = parse_cursor("cursor", page.cursor.as_deref())?.unwrap_or(i64::MAX);
    let mut authors = vec![user];
    authors.extend(rows::friend_ids(conn, user)?);
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {} FROM posts WHERE author_id = ?1 AND id < ?2 ORDER BY id DESC LIMIT ?3",
        rows::POST_COLS
    ))?;
    let mut merged: Vec<Post> = Vec::new();
    for author in authors {
        let posts = stmt
            .query_map(
                params![author.as_i64(), before, limit as i64 + 1],
                rows::post_from_row,
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        merged.extend(posts);
    }
    merged.sort_by_key(|p| std::cmp::Reverse(p.id));
    let more = merged.len() > limit;
    merged.truncate(limit);
    let next_cursor = if more {
        merged.last().map(|p: &Post| p.id.to_string())
    } else {
        None
    };
    Ok(FeedPage {
        items: merged,
        next_cursor,
    })
}

/// Who may read a topic's events: a chat's current members, a user
/// themselves, and an author's friends for their posts.
pub(crate) fn may_read_topic(conn: &Connection, reader: UserId, topic: Topic) -> StoreResult<()> {
    match topic {
        Topic::Chat(chat) => {
            if rows::is_member(conn, chat, reader)? {
                Ok(())
            } else {
                Err(StoreError::NotFound(format!("topic {topic} not found")))
            }
        }
        Topic::User(user) if user == reader => Ok(()),
        Topic::User(_) => Err(StoreError::Forbidden(
            "a user topic is readable only by that user".into(),
        )),
        Topic::Posts(author) => may_see_posts(conn, reader, author),
    }
}

pub(crate) fn topic_events(
    conn: &Connection,
    reader: UserId,
    topic: Topic,
    after: u64,
    limit: Option<u32>,
) -> StoreResult<EventPage> {
    let limit = page_limit(limit)?;
    may_read_topic(conn, reader, topic)?;
    read_events(conn, topic, after, limit)
}

/// The events of `topic` after `after`, with no reader check.
pub(crate) fn read_events(
    conn: &Connection,
    topic: Topic,
    after: u64,
    limit: u32,
) -> StoreResult<EventPage> {
    let name = topic.to_string();
    let low: Option<i64> = rusqlite::OptionalExtension::optional(
        conn.prepare_cached("SELECT low FROM topics WHERE topic = ?1")?
            .query_row([&name], |r| r.get(0)),
    )?;
    if let Some(low) = low {
        if after + 1 < low as u64 {
            return Err(StoreError::Gone(format!(
                "events of {topic} before offset {low} were compacted; refetch its state"
            )));
        }
    }
    let mut stmt = conn.prepare_cached(
        "SELECT offset, event, data, committed_at FROM events
         WHERE topic = ?1 AND offset > ?2 ORDER BY offset LIMIT ?3",
    )?;
    let after_i = after.min(i64::MAX as u64) as i64;
    let mut items = Vec::new();
    let mut q = stmt.query(params![name, after_i, limit])?;
    while let Some(r) = q.next()? {
        let event: String = r.get(1)?;
        let data: String = r.get(2)?;
        let event = EventKind::parse(&event)
            .ok_or_else(|| StoreError::Unavailable(format!("unknown stored event {event:?}")))?;
        let data = serde_json::from_str(&data)
            .map_err(|e| StoreError::Unavailable(format!("corrupt stored event: {e}")))?;
        items.push(Delta::new(
            topic,
            r.get::<_, i64>(0)? as u64,
            event,
            data,
            Timestamp(r.get(3)?),
        ));
    }
    let next_after = items.last().map_or(after, |d| d.offset);
    Ok(EventPage { items, next_after })
}

/// Drops events of `topic` up to and including `through`; later reads of them answer gone.
pub(crate) fn compact_topic(conn: &Connection, topic: Topic, through: u64) -> StoreResult<()> {
    let name = topic.to_string();
    conn.prepare_cached("DELETE FROM events WHERE topic = ?1 AND offset <= ?2")?
        .execute(params![name, through as i64])?;
    conn.prepare_cached(
        "UPDATE topics SET low = max(low, min(?2 + 1, head + 1)) WHERE topic = ?1",
    )?
    .execute(params![name, through as i64])?;
    Ok(())
}
