//! The write operations, each run inside one transaction (a savepoint of a
//! group commit). Each validates first, then writes rows and appends its
//! events; any error rolls the whole operation back.

use rusqlite::{params, Connection};
use serde_json::json;

use super::rows;
use super::tx::{append_event, next_id};
use crate::delta::{CommittedDelta, EventKind};
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, MessageId, PostId, UserId};
use crate::limits::Limits;
use crate::model::{Chat, FriendOutcome, FriendStatus, Message, NewChat, NewUser, Post, User};
use crate::store::{Committed, Write};
use crate::time::Timestamp;
use crate::topic::Topic;

pub(crate) fn create_user(
    conn: &Connection,
    limits: &Limits,
    new: &NewUser,
    now: Timestamp,
) -> StoreResult<User> {
    limits.username(&new.username)?;
    let display_name = new
        .display_name
        .clone()
        .unwrap_or_else(|| new.username.clone());
    limits.display_name(&display_name)?;
    let taken = conn
        .prepare_cached("SELECT 1 FROM users WHERE username = ?1")?
        .exists([&new.username])?;
    if taken {
        return Err(StoreError::Conflict(format!(
            "username {:?} is taken",
            new.username
        )));
    }
    let id = UserId(next_id(conn, now)?);
    conn.prepare_cached(
        "INSERT INTO users (id, username, display_name, password_hash, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id.as_i64(),
        new.username,
        display_name,
        new.password.as_str(),
        now.millis()
    ])?;
    Ok(User {
        id,
        username: new.username.clone(),
        display_name,
        created_at: now,
    })
}

fn set_friendship(
    conn: &Connection,
    user: UserId,
    other: UserId,
    state: &str,
    now: Timestamp,
) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO friendships (user_id, other_id, state, since) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT (user_id, other_id) DO UPDATE SET state = excluded.state, since = excluded.since",
    )?
    .execute(params![user.as_i64(), other.as_i64(), state, now.millis()])?;
    Ok(())
}

fn user_event(
    conn: &Connection,
    user: UserId,
    event: EventKind,
    data: serde_json::Value,
    now: Timestamp,
) -> StoreResult<CommittedDelta> {
    append_event(conn, Topic::User(user), event, data, vec![user], now)
}

pub(crate) fn request_friend(
    conn: &Connection,
    w: &Write,
    target: UserId,
    now: Timestamp,
) -> StoreResult<Committed<FriendOutcome>> {
    let me = w.actor;
    if target == me {
        return Err(StoreError::invalid(
            "user_id",
            "you cannot befriend yourself",
        ));
    }
    let them = rows::user(conn, target)?;
    let me_user = rows::user(conn, me)?;
    match rows::friendship(conn, me, target)?.as_deref() {
        Some("friends") => Ok(Committed::new(
            FriendOutcome {
                status: FriendStatus::Friends,
            },
            vec![],
        )),
        Some("outgoing") => Ok(Committed::new(
            FriendOutcome {
                status: FriendStatus::Pending,
            },
            vec![],
        )),
        Some("incoming") => {
            set_friendship(conn, me, target, "friends", now)?;
            set_friendship(conn, target, me, "friends", now)?;
            let deltas = vec![
                user_event(
                    conn,
                    me,
                    EventKind::FriendAccepted,
                    json!({"user": them}),
                    now,
                )?,
                user_event(
                    conn,
                    target,
                    EventKind::FriendAccepted,
                    json!({"user": me_user}),
                    now,
                )?,
            ];
            Ok(Committed::new(
                FriendOutcome {
                    status: FriendStatus::Friends,
                },
                deltas,
            ))
        }
        _ => {
            set_friendship(conn, me, target, "outgoing", now)?;
            set_friendship(conn, target, me, "incoming", now)?;
            let deltas = vec![
                user_event(
                    conn,
                    me,
                    EventKind::FriendRequested,
                    json!({"user": them, "direction": "outgoing"}),
                    now,
                )?,
                user_event(
                    conn,
                    target,
                    EventKind::FriendRequested,
                    json!({"user": me_user, "direction": "incoming"}),
                    now,
                )?,
            ];
            Ok(Committed::new(
                FriendOutcome {
                    status: FriendStatus::Pending,
                },
                deltas,
            ))
        }
    }
}

pub(crate) fn remove_friend(
    conn: &Connection,
    w: &Write,
    target: UserId,
    now: Timestamp,
) -> StoreResult<Committed<()>> {
    let me = w.actor;
    let Some(prior) = rows::friendship(conn, me, target)? else {
        return Err(StoreError::NotFound(format!(
            "no friendship or request with user {target}"
        )));
    };
    conn.prepare_cached(
        "DELETE FROM friendships WHERE (user_id = ?1 AND other_id = ?2) OR (user_id = ?2 AND other_id = ?1)",
    )?
    .execute([me.as_i64(), target.as_i64()])?;
    let deltas = vec![
        user_event(
            conn,
            me,
            EventKind::FriendRemoved,
            json!({"user_id": target, "was": prior}),
            now,
        )?,
        user_event(
            conn,
            target,
            EventKind::FriendRemoved,
            json!({"user_id": me, "was": flip(&prior)}),
            now,
        )?,
    ];
    Ok(Committed::new((), deltas))
}

fn flip(state: &str) -> &str {
    match state {
        "outgoing" => "incoming",
        "incoming" => "outgoing",
        other => other,
    }
}

/// Moves a chat to the top of its members' chat lists.
fn touch_chat(conn: &Connection, chat: ChatId, now: Timestamp) -> StoreResult<()> {
    let stamp = next_id(conn, now)?;
    conn.prepare_cached("UPDATE chats SET activity = ?2 WHERE id = ?1")?
        .execute([chat.as_i64(), stamp as i64])?;
    Ok(())
}

fn insert_member(conn: &Connection, chat: ChatId, user: UserId, now: Timestamp) -> StoreResult<()> {
    conn.prepare_cached(
        "INSERT INTO chat_members (chat_id, user_id, joined_at) VALUES (?1, ?2, ?3)",
    )?
    .execute(params![chat.as_i64(), user.as_i64(), now.millis()])?;
    Ok(())
}

pub(crate) fn create_chat(
    conn: &Connection,
    limits: &Limits,
    w: &Write,
    new: &NewChat,
    now: Timestamp,
) -> StoreResult<Committed<Chat>> {
    let title = new.title.clone().unwrap_or_default();
    limits.chat_title(&title)?;
    let mut members = vec![w.actor];
    for id in &new.member_ids {
        if !members.contains(id) {
            members.push(*id);
        }
    }
    limits.chat_size("member_ids", members.len())?;
    for id in &members {
        if !rows::user_exists(conn, *id)? {
            return Err(StoreError::invalid(
                "member_ids",
                format!("user {id} does not exist"),
            ));
        }
    }
    let id = ChatId(next_id(conn, now)?);
    conn.prepare_cached(
        "INSERT INTO chats (id, title, created_by, created_at, member_count, activity) VALUES (?1, ?2, ?3, ?4, ?5, ?1)",
    )?
    .execute(params![
        id.as_i64(),
        title,
        w.actor.as_i64(),
        now.millis(),
        members.len() as i64
    ])?;
    for m in &members {
        insert_member(conn, id, *m, now)?;
    }
    let chat = Chat {
        id,
        title,
        member_ids: members.clone(),
        created_by: w.actor,
        created_at: now,
        last_offset: 0,
    };
    let data = serde_json::to_value(&chat).map_err(json_err)?;
    let mut deltas = Vec::with_capacity(members.len());
    for m in &members {
        deltas.push(user_event(
            conn,
            *m,
            EventKind::ChatCreated,
            data.clone(),
            now,
        )?);
    }
    Ok(Committed::new(chat, deltas))
}

pub(crate) fn add_member(
    conn: &Connection,
    limits: &Limits,
    w: &Write,
    chat: ChatId,
    user: UserId,
    now: Timestamp,
) -> StoreResult<Committed<()>> {
    if !rows::is_member(conn, chat, w.actor)? {
        return Err(rows::chat_not_found(chat));
    }
    if !rows::user_exists(conn, user)? {
        return Err(StoreError::NotFound(format!("user {user} not found")));
    }
    if rows::is_member(conn, chat, user)? {
        return Err(StoreError::Conflict(format!(
            "user {user} is already a member of chat {chat}"
        )));
    }
    let count: i64 = conn
        .prepare_cached("SELECT member_count FROM chats WHERE id = ?1")?
        .query_row([chat.as_i64()], |r| r.get(0))?;
    limits.chat_size("user_id", count as usize + 1)?;
    insert_member(conn, chat, user, now)?;
    conn.prepare_cached("UPDATE chats SET member_count = member_count + 1 WHERE id = ?1")?
        .execute([chat.as_i64()])?;
    touch_chat(conn, chat, now)?;
    let members = rows::member_ids(conn, chat)?;
    let mut deltas = vec![append_event(
        conn,
        Topic::Chat(chat),
        EventKind::ChatMemberAdded,
        json!({"chat_id": chat, "user_id": user, "by": w.actor}),
        members,
        now,
    )?];
    let view = rows::chat_row(conn, chat)?;
    let data = serde_json::to_value(&view).map_err(json_err)?;
    deltas.push(user_event(conn, user, EventKind::ChatJoined, data, now)?);
    Ok(Committed::new((), deltas))
}

pub(crate) fn remove_member(
    conn: &Connection,
    w: &Write,
    chat: ChatId,
    user: UserId,
    now: Timestamp,
) -> StoreResult<Committed<()>> {
    if !rows::is_member(conn, chat, w.actor)? {
        return Err(rows::chat_not_found(chat));
    }
    if !rows::is_member(conn, chat, user)? {
        return Err(StoreError::NotFound(format!(
            "user {user} is not a member of chat {chat}"
        )));
    }
    if user != w.actor {
        let creator: i64 = conn
            .prepare_cached("SELECT created_by FROM chats WHERE id = ?1")?
            .query_row([chat.as_i64()], |r| r.get(0))?;
        if UserId::from_i64(creator) != w.actor {
            return Err(StoreError::Forbidden(
                "only the chat's creator can remove other members".into(),
            ));
        }
    }
    conn.prepare_cached("DELETE FROM chat_members WHERE chat_id = ?1 AND user_id = ?2")?
        .execute([chat.as_i64(), user.as_i64()])?;
    conn.prepare_cached("UPDATE chats SET member_count = member_count - 1 WHERE id = ?1")?
        .execute([chat.as_i64()])?;
    touch_chat(conn, chat, now)?;
    // The removed user hears of their own removal on the chat topic too.
    let mut recipients = rows::member_ids(conn, chat)?;
    recipients.push(user);
    let deltas = vec![
        append_event(
            conn,
            Topic::Chat(chat),
            EventKind::ChatMemberRemoved,
            json!({"chat_id": chat, "user_id": user, "by": w.actor}),
            recipients,
            now,
        )?,
        user_event(
            conn,
            user,
            EventKind::ChatLeft,
            json!({"chat_id": chat}),
            now,
        )?,
    ];
    Ok(Committed::new((), deltas))
}

pub(crate) fn post_message(
    conn: &Connection,
    limits: &Limits,
    w: &Write,
    chat: ChatId,
    body: &str,
    now: Timestamp,
) -> StoreResult<Committed<Message>> {
    // The member list answers both "may the actor post?" and "who receives it?".
    let members = rows::member_ids(conn, chat)?;
    if !members.contains(&w.actor) {
        return Err(rows::chat_not_found(chat));
    }
    limits.message_body(body)?;
    let id = MessageId(next_id(conn, now)?);
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE chats SET last_seq = last_seq + 1, activity = ?2 WHERE id = ?1 RETURNING last_seq",
        )?
        .query_row([chat.as_i64(), id.as_i64()], |r| r.get(0))?;
    conn.prepare_cached(
        "INSERT INTO messages (chat_id, seq, id, author_id, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        chat.as_i64(),
        seq,
        id.as_i64(),
        w.actor.as_i64(),
        body,
        now.millis()
    ])?;
    let message = Message {
        id,
        chat_id: chat,
        seq: seq as u64,
        author_id: w.actor,
        body: body.to_owned(),
        created_at: now,
        edited_at: None,
    };
    let data = serde_json::to_value(&message).map_err(json_err)?;
    let delta = append_event(
        conn,
        Topic::Chat(chat),
        EventKind::MessageCreated,
        data,
        members,
        now,
    )?;
    Ok(Committed::new(message, vec![delta]))
}

/// The message, if the actor may change it: members only (not-found
/// otherwise), and only its author (forbidden otherwise).
fn own_message(conn: &Connection, w: &Write, chat: ChatId, seq: u64) -> StoreResult<Message> {
    if !rows::is_member(conn, chat, w.actor)? {
        return Err(rows::chat_not_found(chat));
    }
    let message = rows::message(conn, chat, seq)?;
    if message.author_id != w.actor {
        return Err(StoreError::Forbidden(
            "only the author can change a message".into(),
        ));
    }
    Ok(message)
}

pub(crate) fn edit_message(
    conn: &Connection,
    limits: &Limits,
    w: &Write,
    chat: ChatId,
    seq: u64,
    body: &str,
    now: Timestamp,
) -> StoreResult<Committed<Message>> {
    let mut message = own_message(conn, w, chat, seq)?;
    limits.message_body(body)?;
    conn.prepare_cached(
        "UPDATE messages SET body = ?3, edited_at = ?4 WHERE chat_id = ?1 AND seq = ?2",
    )?
    .execute(params![chat.as_i64(), seq as i64, body, now.millis()])?;
    message.body = body.to_owned();
    message.edited_at = Some(now);
    let data = serde_json::to_value(&message).map_err(json_err)?;
    let members = rows::member_ids(conn, chat)?;
    let delta = append_event(
        conn,
        Topic::Chat(chat),
        EventKind::MessageEdited,
        data,
        members,
        now,
    )?;
    Ok(Committed::new(message, vec![delta]))
}

pub(crate) fn delete_message(
    conn: &Connection,
    w: &Write,
    chat: ChatId,
    seq: u64,
    now: Timestamp,
) -> StoreResult<Committed<()>> {
    let message = own_message(conn, w, chat, seq)?;
    conn.prepare_cached("DELETE FROM messages WHERE chat_id = ?1 AND seq = ?2")?
        .execute(params![chat.as_i64(), seq as i64])?;
    let members = rows::member_ids(conn, chat)?;
    let delta = append_event(
        conn,
        Topic::Chat(chat),
        EventKind::MessageDeleted,
        json!({"chat_id": chat, "seq": seq, "id": message.id}),
        members,
        now,
    )?;
    Ok(Committed::new((), vec![delta]))
}

pub(crate) fn create_post(
    conn: &Connection,
    limits: &Limits,
    w: &Write,
    body: &str,
    now: Timestamp,
) -> StoreResult<Committed<Post>> {
    limits.post_body(body)?;
    let seq: i64 = conn
        .prepare_cached(
            "UPDATE users SET post_seq = post_seq + 1 WHERE id = ?1 RETURNING post_seq",
        )?
        .query_row([w.actor.as_i64()], |r| r.get(0))
        .map_err(|e| match e {
            rusqlite::Error::QueryReturnedNoRows => {
                StoreError::NotFound(format!("user {} not found", w.actor))
            }
            e => e.into(),
        })?;
    let id = PostId(next_id(conn, now)?);
    conn.prepare_cached(
        "INSERT INTO posts (id, author_id, seq, body, created_at) VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![
        id.as_i64(),
        w.actor.as_i64(),
        seq,
        body,
        now.millis()
    ])?;
    let post = Post {
        id,
        author_id: w.actor,
        seq: seq as u64,
        body: body.to_owned(),
        created_at: now,
    };
    let data = serde_json::to_value(&post).map_err(json_err)?;
    let topic = Topic::Posts(w.actor);
    let recipients = rows::recipients(conn, topic)?;
    let delta = append_event(conn, topic, EventKind::PostCreated, data, recipients, now)?;
    Ok(Committed::new(post, vec![delta]))
}

pub(crate) fn delete_post(
    conn: &Connection,
    w: &Write,
    id: PostId,
    now: Timestamp,
) -> StoreResult<Committed<()>> {
    let post = rows::post(conn, id)?;
    if post.author_id != w.actor {
        return Err(StoreError::Forbidden(
            "only the author can delete a post".into(),
        ));
    }
    conn.prepare_cached("DELETE FROM posts WHERE id = ?1")?
        .execute([id.as_i64()])?;
    let topic = Topic::Posts(w.actor);
    let recipients = rows::recipients(conn, topic)?;
    let delta = append_event(
        conn,
        topic,
        EventKind::PostDeleted,
        json!({"id": id, "author_id": post.author_id, "seq": post.seq}),
        recipients,
        now,
    )?;
    Ok(Committed::new((), vec![delta]))
}

fn json_err(e: serde_json::Error) -> StoreError {
    StoreError::Unavailable(format!("could not encode event data: {e}"))
}
