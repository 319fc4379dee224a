//! The read operations. Lists page through bounded partitions and skip
//! empty buckets by walking the bucket index tables.

use futures::stream::{self, StreamExt, TryStreamExt};

use super::cql::{big, int, text, u64v, Cql, RowExt};
use super::rows;
use super::Inner;
use crate::delta::{Delta, EventKind};
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, PostId, UserId};
use crate::limits::page_limit;
use crate::model::*;
use crate::password::PasswordHash;
use crate::store::Cursor;
use crate::time::Timestamp;
use crate::topic::Topic;

pub(crate) async fn put_user(cql: &Cql, user: &User, hash: &str) -> StoreResult<()> {
    cql.run(
        &cql.st.put_user,
        vec![
            u64v(user.id.0),
            text(user.username.clone()),
            text(user.display_name.clone()),
            text(hash),
            big(user.created_at.millis()),
        ],
    )
    .await
    .map(|_| ())
}

pub(crate) async fn user_credentials(
    s: &Inner,
    username: &str,
) -> StoreResult<(User, PasswordHash)> {
    let cql = &s.engine.cql;
    let row = cql
        .row(&cql.st.username, vec![text(username)])
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("user {username:?} not found")))?;
    let user = User {
        id: UserId(row.i64_at(0).unwrap_or(0) as u64),
        username: username.to_owned(),
        display_name: row.text_at(1).unwrap_or_default(),
        created_at: Timestamp(row.i64_at(3).unwrap_or(0)),
    };
    let hash = row.text_at(2).unwrap_or_default();
    if rows::user(cql, user.id).await?.is_none() {
        put_user(cql, &user, &hash).await?;
    }
    Ok((user, PasswordHash::from_stored(hash)))
}

pub(crate) async fn list_friends(s: &Inner, user: UserId) -> StoreResult<FriendLists> {
    let cql = &s.engine.cql;
    let mut links = rows::friendships(cql, user).await?;
    links.sort_by_key(|(id, _, since)| (*since, *id));
    let users =
        futures::future::try_join_all(links.iter().map(|(id, _, _)| rows::user(cql, *id))).await?;
    let mut lists = FriendLists::default();
    for ((_, state, _), u) in links.iter().zip(users) {
        let Some(u) = u else { continue };
        match state.as_str() {
            "friends" => lists.friends.push(u),
            "incoming" => lists.incoming.push(u),
            _ => lists.outgoing.push(u),
        }
    }
    Ok(lists)
}

fn parse_cursor(cursor: Option<&str>) -> StoreResult<Option<u64>> {
    match cursor {
        None | Some("") => Ok(None),
        Some(c) => c
            .parse::<u64>()
            .ok()
            .filter(|v| *v <= i64::MAX as u64)
            .map(Some)
            .ok_or_else(|| StoreError::invalid("cursor", "is not a cursor this server gave out")),
    }
}

async fn head_of(s: &Inner, topic: Topic) -> StoreResult<u64> {
    Ok(s.engine.topic(&topic.to_string(), false).await?.head)
}

pub(crate) async fn chat(s: &Inner, chat: ChatId) -> StoreResult<Chat> {
    let cql = &s.engine.cql;
    let members = rows::member_ids(cql, chat).await?;
    let head = head_of(s, Topic::Chat(chat)).await?;
    rows::chat_view(cql, chat, members, head).await
}

pub(crate) async fn get_chat(s: &Inner, viewer: UserId, id: ChatId) -> StoreResult<Chat> {
    if !rows::is_member(&s.engine.cql, id, viewer).await? {
        return Err(rows::chat_not_found(id));
    }
    chat(s, id).await
}

/// A user's chats, most recent activity first. Costs one read per chat the
/// user is in (the activity order changes with every message, so it is not
/// kept as an index).
pub(crate) async fn list_chats(s: &Inner, user: UserId, page: &Cursor) -> StoreResult<ChatPage> {
    let limit = page_limit(page.limit)? as usize;
    let before = parse_cursor(page.cursor.as_deref())?.unwrap_or(u64::MAX);
    let cql = &s.engine.cql;
    let ids: Vec<ChatId> = cql
        .rows(&cql.st.chats_of, vec![u64v(user.0)])
        .await?
        .iter()
        .filter_map(|r| r.i64_at(0).map(|v| ChatId(v as u64)))
        .collect();
    let mut found: Vec<(u64, ChatId)> =
        stream::iter(ids)
            .map(|id| async move {
                Ok::<_, StoreError>(rows::chat_row(cql, id).await?.map(|r| (r.3, id)))
            })
            .buffer_unordered(32)
            .try_filter_map(|x| async move { Ok(x) })
            .try_collect()
            .await?;
    found.retain(|(activity, _)| *activity < before);
    found.sort_unstable_by(|a, b| b.cmp(a));
    let more = found.len() > limit;
    found.truncate(limit);
    let items = futures::future::try_join_all(found.iter().map(|(_, id)| chat(s, *id))).await?;
    Ok(ChatPage {
        items,
        next_cursor: if more {
            found.last().map(|(a, _)| a.to_string())
        } else {
            None
        },
    })
}

/// The listed buckets of one owner, newest first, a few at a time: empty
/// buckets are never listed, so paging never reads them.
struct BucketWalk<'a> {
    cql: &'a Cql,
    listing: &'a scylla::statement::prepared::PreparedStatement,
    owner: u64,
    next: Option<i64>,
}

impl<'a> BucketWalk<'a> {
    fn new(
        cql: &'a Cql,
        listing: &'a scylla::statement::prepared::PreparedStatement,
        owner: u64,
        from: i64,
    ) -> Self {
        Self {
            cql,
            listing,
            owner,
            next: Some(from),
        }
    }

    async fn chunk(&mut self) -> StoreResult<Vec<i64>> {
        const CHUNK: usize = 16;
        let Some(from) = self.next else {
            return Ok(Vec::new());
        };
        let listed: Vec<i64> = self
            .cql
            .rows(
                self.listing,
                vec![u64v(self.owner), big(from), int(CHUNK as i32)],
            )
            .await?
            .iter()
            .filter_map(|r| r.i64_at(0))
            .collect();
        self.next = match listed.last() {
            Some(last) if listed.len() == CHUNK && *last > 0 => Some(last - 1),
            _ => None,
        };
        Ok(listed)
    }
}

pub(crate) async fn list_messages(
    s: &Inner,
    viewer: UserId,
    chat: ChatId,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> StoreResult<MessagePage> {
    let limit = page_limit(limit)? as usize;
    let cql = &s.engine.cql;
    if !rows::is_member(cql, chat, viewer).await? {
        return Err(rows::chat_not_found(chat));
    }
    let before = before_seq.unwrap_or(u64::MAX).min(i64::MAX as u64);
    let mut items = Vec::new();
    if before > 0 {
        let mut walk = BucketWalk::new(
            cql,
            &cql.st.message_buckets,
            chat.0,
            cql.layout.message(before - 1),
        );
        'walk: loop {
            let buckets = walk.chunk().await?;
            if buckets.is_empty() {
                break;
            }
            for b in buckets {
                let want = limit + 1 - items.len();
                let found = cql
                    .rows(
                        &cql.st.messages_before,
                        vec![u64v(chat.0), big(b), u64v(before), int(want as i32)],
                    )
                    .await?;
                for r in &found {
                    let seq = r.i64_at(0).unwrap_or(0) as u64;
                    items.push(rows::message_from_row(chat, seq, r, 1));
                }
                if items.len() > limit {
                    break 'walk;
                }
            }
        }
    }
    let more = items.len() > limit;
    items.truncate(limit);
    let next_before_seq = if more {
        items.last().map(|m| m.seq)
    } else {
        None
    };
    Ok(MessagePage {
        items,
        next_before_seq,
    })
}

/// Posts are visible to their author and the author's friends.
async fn may_see_posts(cql: &Cql, viewer: UserId, author: UserId) -> StoreResult<()> {
    rows::existing_user(cql, author).await?;
    if viewer != author
        && rows::friendship(cql, viewer, author).await?.as_deref() != Some("friends")
    {
        return Err(StoreError::Forbidden(
            "posts are visible to the author and their friends".into(),
        ));
    }
    Ok(())
}

/// Newest-first posts of `author` with seq below `before` and id below
/// `below_id`, at most `want`.
async fn author_posts(
    cql: &Cql,
    author: UserId,
    before: u64,
    below_id: u64,
    want: usize,
) -> StoreResult<Vec<Post>> {
    let mut out = Vec::new();
    if before == 0 {
        return Ok(out);
    }
    let mut walk = BucketWalk::new(
        cql,
        &cql.st.post_buckets,
        author.0,
        cql.layout.post(before - 1),
    );
    loop {
        let buckets = walk.chunk().await?;
        if buckets.is_empty() {
            return Ok(out);
        }
        for b in buckets {
            let found = cql
                .rows(
                    &cql.st.posts_before,
                    vec![
                        u64v(author.0),
                        big(b),
                        u64v(before),
                        int(cql.layout.post_bucket.min(i32::MAX as u64) as i32),
                    ],
                )
                .await?;
            for r in &found {
                let id = r.i64_at(1).unwrap_or(0) as u64;
                // Ids follow seqs; the cursor of the feed is an id.
                if id >= below_id {
                    continue;
                }
                out.push(Post {
                    id: PostId(id),
                    author_id: author,
                    seq: r.i64_at(0).unwrap_or(0) as u64,
                    body: r.text_at(2).unwrap_or_default(),
                    created_at: Timestamp(r.i64_at(3).unwrap_or(0)),
                });
                if out.len() >= want {
                    return Ok(out);
                }
            }
        }
    }
}

pub(crate) async fn list_posts(
    s: &Inner,
    viewer: UserId,
    author: UserId,
    before_seq: Option<u64>,
    limit: Option<u32>,
) -> StoreResult<PostPage> {
    let limit = page_limit(limit)? as usize;
    let cql = &s.engine.cql;
    may_see_posts(cql, viewer, author).await?;
    let before = before_seq.unwrap_or(u64::MAX).min(i64::MAX as u64);
    let mut items = author_posts(cql, author, before, u64::MAX, limit + 1).await?;
    let more = items.len() > limit;
    items.truncate(limit);
    let next_before_seq = if more {
        items.last().map(|p| p.seq)
    } else {
        None
    };
    Ok(PostPage {
        items,
        next_before_seq,
    })
}

/// Merges the newest posts of the user and each friend below the cursor.
pub(crate) async fn feed(s: &Inner, user: UserId, page: &Cursor) -> StoreResult<FeedPage> {
    let limit = page_limit(page.limit)? as usize;
    let before = parse_cursor(page.cursor.as_deref())?.unwrap_or(u64::MAX);
    let cql = &s.engine.cql;
    let mut authors = vec![user];
    authors.extend(rows::friend_ids(cql, user).await?);
    let per_author: Vec<Vec<Post>> = stream::iter(authors)
        .map(|a| author_posts(cql, a, i64::MAX as u64, before, limit + 1))
        .buffer_unordered(16)
        .try_collect()
        .await?;
    let mut merged: Vec<Post> = per_author.into_iter().flatten().collect();
    merged.sort_by_key(|p| std::cmp::Reverse(p.id));
    let more = merged.len() > limit;
    merged.truncate(limit);
    let next_cursor = if more {
        merged.last().map(|p| p.id.to_string())
    } else {
        None
    };
    Ok(FeedPage {
        items: merged,
        next_cursor,
    })
}

pub(crate) async fn may_read_topic(s: &Inner, reader: UserId, topic: Topic) -> StoreResult<()> {
    let cql = &s.engine.cql;
    match topic {
        Topic::Chat(chat) => {
            if rows::is_member(cql, chat, reader).await? {
                Ok(())
            } else {
                Err(StoreError::NotFound(format!("topic {topic} not found")))
            }
        }
        Topic::User(user) if user == reader => Ok(()),
        Topic::User(_) => Err(StoreError::Forbidden(
            "a user topic is readable only by that user".into(),
        )),
        Topic::Posts(author) => may_see_posts(cql, reader, author).await,
    }
}

/// Events after `after`, oldest first. A missing event means a write died
/// between its commit and its event row: settling the topic finishes it.
pub(crate) async fn read_events(
    s: &Inner,
    topic: Topic,
    after: u64,
    limit: Option<u32>,
) -> StoreResult<EventPage> {
    let limit = u64::from(page_limit(limit)?);
    let name = topic.to_string();
    for attempt in 0..2 {
        let row = s.engine.topic(&name, false).await?;
        if !row.exists || after >= row.head {
            return Ok(EventPage {
                items: Vec::new(),
                next_after: after,
            });
        }
        if after + 1 < row.low {
            return Err(StoreError::Gone(format!(
                "events of {topic} before offset {} were compacted; refetch its state",
                row.low
            )));
        }
        let until = row.head.min(after + limit);
        let items = events_between(&s.engine.cql, topic, &name, after, until).await?;
        let complete = items.len() as u64 == until - after
            && items
                .iter()
                .enumerate()
                .all(|(i, d)| d.offset == after + 1 + i as u64);
        if complete {
            let next_after = items.last().map_or(after, |d| d.offset);
            return Ok(EventPage { items, next_after });
        }
        if attempt == 0 {
            s.engine.settle(&name, &row).await?;
        }
    }
    Err(StoreError::Unavailable(format!(
        "events of {topic} are not all readable yet; retry"
    )))
}

async fn events_between(
    cql: &Cql,
    topic: Topic,
    name: &str,
    after: u64,
    until: u64,
) -> StoreResult<Vec<Delta>> {
    let mut items = Vec::new();
    let mut cursor = after;
    for b in cql.layout.event(after + 1)..=cql.layout.event(until) {
        let want = (until - cursor) as i64;
        if want <= 0 {
            break;
        }
        let found = cql
            .rows(
                &cql.st.events_after,
                vec![
                    text(name),
                    big(b),
                    u64v(cursor),
                    int(want.min(i64::from(i32::MAX)) as i32),
                ],
            )
            .await?;
        for r in &found {
            let offset = r.i64_at(0).unwrap_or(0) as u64;
            if offset > until {
                break;
            }
            let event = r.text_at(1).unwrap_or_default();
            let kind = EventKind::parse(&event).ok_or_else(|| {
                StoreError::Unavailable(format!("unknown stored event {event:?}"))
            })?;
            let data = serde_json::from_str(&r.text_at(2).unwrap_or_default())
                .map_err(|e| StoreError::Unavailable(format!("corrupt stored event: {e}")))?;
            items.push(Delta::new(
                topic,
                offset,
                kind,
                data,
                Timestamp(r.i64_at(3).unwrap_or(0)),
            ));
            cursor = offset;
        }
    }
    Ok(items)
}

/// Drops events through `through`; the row's `low` moves first, so readers
/// answer gone rather than a gap.
pub(crate) async fn compact_topic(s: &Inner, topic: Topic, through: u64) -> StoreResult<()> {
    let cql = &s.engine.cql;
    let name = topic.to_string();
    loop {
        let row = s.engine.topic(&name, false).await?;
        if !row.exists {
            return Ok(());
        }
        let low = (through + 1).min(row.head + 1);
        if low <= row.low {
            return Ok(());
        }
        if !cql
            .lwt(
                &cql.st.topic_low,
                vec![u64v(low), text(name.clone()), u64v(row.low)],
            )
            .await?
        {
            continue;
        }
        let last = low - 1;
        let mut drops = Vec::new();
        for b in cql.layout.event(row.low)..=cql.layout.event(last) {
            if ((b + 1) as u64) * cql.layout.event_bucket - 1 <= last {
                drops.push((&cql.st.drop_event_bucket, vec![text(name.clone()), big(b)]));
            } else {
                drops.push((
                    &cql.st.drop_events_through,
                    vec![text(name.clone()), big(b), u64v(last)],
                ));
            }
        }
        for (st, v) in drops {
            cql.run(st, v).await?;
        }
        return Ok(());
    }
}

pub(crate) async fn topic_recipients(s: &Inner, topic: Topic) -> StoreResult<Vec<UserId>> {
    let cql = &s.engine.cql;
    match topic {
        Topic::Chat(chat) => rows::member_ids(cql, chat).await,
        Topic::User(user) => Ok(vec![user]),
        Topic::Posts(author) => {
            let mut ids = vec![author];
            ids.extend(rows::friend_ids(cql, author).await?);
            Ok(ids)
        }
    }
}
