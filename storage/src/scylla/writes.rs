//! The write operations: each validates against current rows and drafts
//! its changes; [`Engine::commit`](super::commit::Engine::commit) makes them
//! all-or-nothing. Domain rules are the same as the embedded backend's.

use serde_json::json;

use super::commit::{Ctx, Draft, Outcome, WantEvent};
use super::cql::{big, text, u64v, Cql, RowExt};
use super::idempotency::idempotent;
use super::plan::Mutation;
use super::rows;
use super::Inner;
use crate::delta::EventKind;
use crate::error::{StoreError, StoreResult};
use crate::ids::{ChatId, MessageId, PostId, UserId};
use crate::model::{Chat, FriendOutcome, FriendStatus, Message, NewChat, NewUser, Post, User};
use crate::store::{Answer, Committed, Write};
use crate::time::Timestamp;
use crate::topic::Topic;
use std::future::Future;

/// Commits one write on `primary`, exactly once under `w`'s idempotency key.
async fn commit_on<T, F, Fut>(
    s: &Inner,
    w: &Write,
    primary: Topic,
    build: F,
) -> StoreResult<Committed<T>>
where
    T: Answer,
    F: Fn(Ctx) -> Fut + Send + Sync,
    Fut: Future<Output = StoreResult<Outcome<T>>> + Send,
{
    idempotent(
        s,
        w,
        |_| primary,
        |op, claim| s.engine.commit(primary, op, claim, &build),
    )
    .await
}

fn event(topic: Topic, event: EventKind, data: usize, recipients: Vec<UserId>) -> WantEvent {
    WantEvent {
        topic,
        event,
        data,
        recipients,
    }
}

/// Puts each event on `primary` as the primary event and the rest as secondary.
fn place<T>(draft: &mut Draft<T>, primary: Topic, events: Vec<WantEvent>) {
    for e in events {
        if e.topic == primary && draft.primary_event.is_none() {
            draft.primary_event = Some(e);
        } else {
            draft.secondary.push(e);
        }
    }
}

/// Friendship writes of a pair commit through the lower user's topic, so
/// both directions serialize on one row.
fn pair_topic(a: UserId, b: UserId) -> Topic {
    Topic::User(a.min(b))
}

fn to_json<T: serde::Serialize>(v: &T) -> StoreResult<serde_json::Value> {
    serde_json::to_value(v)
        .map_err(|e| StoreError::Unavailable(format!("could not encode event data: {e}")))
}

/// Puts the actor's own deltas first, as the embedded backend orders them.
fn actor_first<T>(mut c: Committed<T>, actor: UserId) -> Committed<T> {
    c.deltas
        .sort_by_key(|d| d.delta.topic != Topic::User(actor));
    c
}

pub(crate) async fn request_friend(
    s: &Inner,
    w: &Write,
    target: UserId,
) -> StoreResult<Committed<FriendOutcome>> {
    let me = w.actor;
    if target == me {
        return Err(StoreError::invalid(
            "user_id",
            "you cannot befriend yourself",
        ));
    }
    let primary = pair_topic(me, target);
    let cql: &Cql = &s.engine.cql;
    let c = commit_on(s, w, primary, move |ctx: Ctx| async move {
        let them = rows::existing_user(cql, target).await?;
        let me_user = rows::existing_user(cql, me).await?;
        let (mine, theirs, kind, status) = match rows::friendship(cql, me, target).await?.as_deref()
        {
            Some("friends") => {
                return Ok(Outcome::Unchanged(FriendOutcome {
                    status: FriendStatus::Friends,
                }))
            }
            Some("outgoing") => {
                return Ok(Outcome::Unchanged(FriendOutcome {
                    status: FriendStatus::Pending,
                }))
            }
            Some("incoming") => (
                "friends",
                "friends",
                EventKind::FriendAccepted,
                FriendStatus::Friends,
            ),
            _ => (
                "outgoing",
                "incoming",
                EventKind::FriendRequested,
                FriendStatus::Pending,
            ),
        };
        let mut d = Draft::new(FriendOutcome { status }, ctx.seq);
        let since = ctx.now.millis();
        d.mutations.push(Mutation::PutFriendship {
            user: me.0,
            other: target.0,
            state: mine.into(),
            since,
        });
        d.mutations.push(Mutation::PutFriendship {
            user: target.0,
            other: me.0,
            state: theirs.into(),
            since,
        });
        let (for_me, for_them) = if kind == EventKind::FriendAccepted {
            (json!({"user": them}), json!({"user": me_user}))
        } else {
            (
                json!({"user": them, "direction": "outgoing"}),
                json!({"user": me_user, "direction": "incoming"}),
            )
        };
        let a = d.data(for_me);
        let b = d.data(for_them);
        place(
            &mut d,
            primary,
            vec![
                event(Topic::User(me), kind, a, vec![me]),
                event(Topic::User(target), kind, b, vec![target]),
            ],
        );
        Ok(Outcome::Change(d))
    })
    .await?;
    Ok(actor_first(c, me))
}

fn flip(state: &str) -> &str {
    match state {
        "outgoing" => "incoming",
        "incoming" => "outgoing",
        other => other,
    }
}

pub(crate) async fn remove_friend(
    s: &Inner,
    w: &Write,
    target: UserId,
) -> StoreResult<Committed<()>> {
    let me = w.actor;
    let primary = pair_topic(me, target);
    let cql: &Cql = &s.engine.cql;
    let c = commit_on(s, w, primary, move |ctx: Ctx| async move {
        let Some(prior) = rows::friendship(cql, me, target).await? else {
            return Err(StoreError::NotFound(format!(
                "no friendship or request with user {target}"
            )));
        };
        let mut d = Draft::new((), ctx.seq);
        d.mutations.push(Mutation::DelFriendship {
            user: me.0,
            other: target.0,
        });
        d.mutations.push(Mutation::DelFriendship {
            user: target.0,
            other: me.0,
        });
        let a = d.data(json!({"user_id": target, "was": prior}));
        let b = d.data(json!({"user_id": me, "was": flip(&prior)}));
        place(
            &mut d,
            primary,
            vec![
                event(Topic::User(me), EventKind::FriendRemoved, a, vec![me]),
                event(
                    Topic::User(target),
                    EventKind::FriendRemoved,
                    b,
                    vec![target],
                ),
            ],
        );
        Ok(Outcome::Change(d))
    })
    .await?;
    Ok(actor_first(c, me))
}

pub(crate) async fn create_chat(
    s: &Inner,
    w: &Write,
    new: &NewChat,
) -> StoreResult<Committed<Chat>> {
    let title = new.title.clone().unwrap_or_default();
    s.limits.chat_title(&title)?;
    let mut members = vec![w.actor];
    for id in &new.member_ids {
        if !members.contains(id) {
            members.push(*id);
        }
    }
    s.limits.chat_size("member_ids", members.len())?;
    let cql: &Cql = &s.engine.cql;
    let found =
        futures::future::try_join_all(members.iter().map(|id| rows::user(cql, *id))).await?;
    if let Some((id, _)) = members.iter().zip(&found).find(|(_, u)| u.is_none()) {
        return Err(StoreError::invalid(
            "member_ids",
            format!("user {id} does not exist"),
        ));
    }
    let (members, title) = (&members, &title);
    let actor = w.actor;
    idempotent(
        s,
        w,
        |op| Topic::Chat(ChatId(op)),
        |op, claim| {
            let primary = Topic::Chat(ChatId(op));
            s.engine
                .commit(primary, op, claim, move |ctx: Ctx| async move {
                    let id = ChatId(ctx.op);
                    let chat = Chat {
                        id,
                        title: title.clone(),
                        member_ids: members.clone(),
                        created_by: actor,
                        created_at: ctx.now,
                        last_offset: 0,
                    };
                    let mut d = Draft::new(chat.clone(), 0);
                    d.mutations.push(Mutation::PutChat {
                        id: id.0,
                        title: title.clone(),
                        created_by: actor.0,
                        created_at: ctx.now.millis(),
                    });
                    for m in members {
                        d.mutations.push(Mutation::PutMember {
                            chat: id.0,
                            user: m.0,
                            joined_at: ctx.now.millis(),
                        });
                    }
                    let data = d.data(to_json(&chat)?);
                    for m in members {
                        d.secondary.push(event(
                            Topic::User(*m),
                            EventKind::ChatCreated,
                            data,
                            vec![*m],
                        ));
                    }
                    Ok(Outcome::Change(d))
                })
        },
    )
    .await
}

pub(crate) async fn add_member(
    s: &Inner,
    w: &Write,
    chat: ChatId,
    user: UserId,
) -> StoreResult<Committed<()>> {
    let primary = Topic::Chat(chat);
    let cql: &Cql = &s.engine.cql;
    let limits = &s.limits;
    let actor = w.actor;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        if !rows::is_member(cql, chat, actor).await? {
            return Err(rows::chat_not_found(chat));
        }
        if rows::user(cql, user).await?.is_none() {
            return Err(StoreError::NotFound(format!("user {user} not found")));
        }
        let mut members = rows::member_ids(cql, chat).await?;
        if members.contains(&user) {
            return Err(StoreError::Conflict(format!(
                "user {user} is already a member of chat {chat}"
            )));
        }
        limits.chat_size("user_id", members.len() + 1)?;
        members.push(user);
        let mut d = Draft::new((), ctx.seq);
        d.mutations.push(Mutation::PutMember {
            chat: chat.0,
            user: user.0,
            joined_at: ctx.now.millis(),
        });
        d.mutations.push(Mutation::TouchChat {
            id: chat.0,
            activity: ctx.op,
        });
        let added = d.data(json!({"chat_id": chat, "user_id": user, "by": actor}));
        let view = rows::chat_view(cql, chat, members.clone(), ctx.offset).await?;
        let joined = d.data(to_json(&view)?);
        d.primary_event = Some(event(primary, EventKind::ChatMemberAdded, added, members));
        d.secondary.push(event(
            Topic::User(user),
            EventKind::ChatJoined,
            joined,
            vec![user],
        ));
        Ok(Outcome::Change(d))
    })
    .await
}

pub(crate) async fn remove_member(
    s: &Inner,
    w: &Write,
    chat: ChatId,
    user: UserId,
) -> StoreResult<Committed<()>> {
    let primary = Topic::Chat(chat);
    let cql: &Cql = &s.engine.cql;
    let actor = w.actor;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        let members = rows::member_ids(cql, chat).await?;
        if !members.contains(&actor) {
            return Err(rows::chat_not_found(chat));
        }
        if !members.contains(&user) {
            return Err(StoreError::NotFound(format!(
                "user {user} is not a member of chat {chat}"
            )));
        }
        if user != actor {
            let (_, creator, _, _) = rows::chat_row(cql, chat)
                .await?
                .ok_or_else(|| rows::chat_not_found(chat))?;
            if creator != actor {
                return Err(StoreError::Forbidden(
                    "only the chat's creator can remove other members".into(),
                ));
            }
        }
        let mut d = Draft::new((), ctx.seq);
        d.mutations.push(Mutation::DelMember {
            chat: chat.0,
            user: user.0,
        });
        d.mutations.push(Mutation::TouchChat {
            id: chat.0,
            activity: ctx.op,
        });
        // The removed user hears of their own removal on the chat topic too.
        let mut recipients: Vec<UserId> = members.into_iter().filter(|m| *m != user).collect();
        recipients.push(user);
        let removed = d.data(json!({"chat_id": chat, "user_id": user, "by": actor}));
        let left = d.data(json!({"chat_id": chat}));
        d.primary_event = Some(event(
            primary,
            EventKind::ChatMemberRemoved,
            removed,
            recipients,
        ));
        d.secondary.push(event(
            Topic::User(user),
            EventKind::ChatLeft,
            left,
            vec![user],
        ));
        Ok(Outcome::Change(d))
    })
    .await
}

pub(crate) async fn post_message(
    s: &Inner,
    w: &Write,
    chat: ChatId,
    body: &str,
) -> StoreResult<Committed<Message>> {
    let primary = Topic::Chat(chat);
    let cql: &Cql = &s.engine.cql;
    let limits = &s.limits;
    let actor = w.actor;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        // The member list answers both "may the actor post?" and "who receives it?".
        let members = rows::member_ids(cql, chat).await?;
        if !members.contains(&actor) {
            return Err(rows::chat_not_found(chat));
        }
        limits.message_body(body)?;
        let seq = ctx.seq + 1;
        let message = Message {
            id: MessageId(ctx.op),
            chat_id: chat,
            seq,
            author_id: actor,
            body: body.to_owned(),
            created_at: ctx.now,
            edited_at: None,
        };
        let mut d = Draft::new(message.clone(), seq);
        d.mutations.push(Mutation::PutMessage {
            chat: chat.0,
            seq,
            id: ctx.op,
            author: actor.0,
            body: body.to_owned(),
            created_at: ctx.now.millis(),
        });
        d.mutations.push(Mutation::TouchChat {
            id: chat.0,
            activity: ctx.op,
        });
        let data = d.data(to_json(&message)?);
        d.primary_event = Some(event(primary, EventKind::MessageCreated, data, members));
        Ok(Outcome::Change(d))
    })
    .await
}

/// The message, if the actor may change it: members only (not-found
/// otherwise), and only its author (forbidden otherwise).
async fn own_message(
    cql: &Cql,
    actor: UserId,
    chat: ChatId,
    seq: u64,
) -> StoreResult<(Message, Vec<UserId>)> {
    let members = rows::member_ids(cql, chat).await?;
    if !members.contains(&actor) {
        return Err(rows::chat_not_found(chat));
    }
    let message = rows::message(cql, chat, seq)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("message {seq} of chat {chat} not found")))?;
    if message.author_id != actor {
        return Err(StoreError::Forbidden(
            "only the author can change a message".into(),
        ));
    }
    Ok((message, members))
}

pub(crate) async fn edit_message(
    s: &Inner,
    w: &Write,
    chat: ChatId,
    seq: u64,
    body: &str,
) -> StoreResult<Committed<Message>> {
    let primary = Topic::Chat(chat);
    let cql: &Cql = &s.engine.cql;
    let limits = &s.limits;
    let actor = w.actor;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        let (mut message, members) = own_message(cql, actor, chat, seq).await?;
        limits.message_body(body)?;
        message.body = body.to_owned();
        message.edited_at = Some(ctx.now);
        let mut d = Draft::new(message.clone(), ctx.seq);
        d.mutations.push(Mutation::EditMessage {
            chat: chat.0,
            seq,
            body: body.to_owned(),
            edited_at: ctx.now.millis(),
        });
        let data = d.data(to_json(&message)?);
        d.primary_event = Some(event(primary, EventKind::MessageEdited, data, members));
        Ok(Outcome::Change(d))
    })
    .await
}

pub(crate) async fn delete_message(
    s: &Inner,
    w: &Write,
    chat: ChatId,
    seq: u64,
) -> StoreResult<Committed<()>> {
    let primary = Topic::Chat(chat);
    let cql: &Cql = &s.engine.cql;
    let actor = w.actor;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        let (message, members) = own_message(cql, actor, chat, seq).await?;
        let bucket = cql.layout.message(seq);
        // The newest bucket stays listed: new messages land in it.
        let drop_bucket = bucket < cql.layout.message(ctx.seq)
            && !rows::bucket_holds_others(cql, &cql.st.messages_before, chat.0, bucket, seq)
                .await?;
        let mut d = Draft::new((), ctx.seq);
        d.mutations.push(Mutation::DelMessage {
            chat: chat.0,
            seq,
            drop_bucket,
        });
        let data = d.data(json!({"chat_id": chat, "seq": seq, "id": message.id}));
        d.primary_event = Some(event(primary, EventKind::MessageDeleted, data, members));
        Ok(Outcome::Change(d))
    })
    .await
}

async fn post_recipients(cql: &Cql, author: UserId) -> StoreResult<Vec<UserId>> {
    let mut ids = vec![author];
    ids.extend(rows::friend_ids(cql, author).await?);
    Ok(ids)
}

pub(crate) async fn create_post(s: &Inner, w: &Write, body: &str) -> StoreResult<Committed<Post>> {
    let actor = w.actor;
    let primary = Topic::Posts(actor);
    let cql: &Cql = &s.engine.cql;
    let limits = &s.limits;
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        limits.post_body(body)?;
        rows::existing_user(cql, actor).await?;
        let seq = ctx.seq + 1;
        let post = Post {
            id: PostId(ctx.op),
            author_id: actor,
            seq,
            body: body.to_owned(),
            created_at: ctx.now,
        };
        let mut d = Draft::new(post.clone(), seq);
        d.mutations.push(Mutation::PutPost {
            author: actor.0,
            seq,
            id: ctx.op,
            body: body.to_owned(),
            created_at: ctx.now.millis(),
        });
        let data = d.data(to_json(&post)?);
        let recipients = post_recipients(cql, actor).await?;
        d.primary_event = Some(event(primary, EventKind::PostCreated, data, recipients));
        Ok(Outcome::Change(d))
    })
    .await
}

pub(crate) async fn delete_post(s: &Inner, w: &Write, id: PostId) -> StoreResult<Committed<()>> {
    let cql: &Cql = &s.engine.cql;
    let (author, _) = rows::post_owner(cql, id)
        .await?
        .ok_or_else(|| StoreError::NotFound(format!("post {id} not found")))?;
    if author != w.actor {
        return Err(StoreError::Forbidden(
            "only the author can delete a post".into(),
        ));
    }
    let primary = Topic::Posts(author);
    commit_on(s, w, primary, move |ctx: Ctx| async move {
        let (_, seq) = rows::post_owner(cql, id)
            .await?
            .ok_or_else(|| StoreError::NotFound(format!("post {id} not found")))?;
        let bucket = cql.layout.post(seq);
        let drop_bucket = bucket < cql.layout.post(ctx.seq)
            && !rows::bucket_holds_others(cql, &cql.st.posts_before, author.0, bucket, seq).await?;
        let mut d = Draft::new((), ctx.seq);
        d.mutations.push(Mutation::DelPost {
            author: author.0,
            seq,
            id: id.0,
            drop_bucket,
        });
        let data = d.data(json!({"id": id, "author_id": author, "seq": seq}));
        let recipients = post_recipients(cql, author).await?;
        d.primary_event = Some(event(primary, EventKind::PostDeleted, data, recipients));
        Ok(Outcome::Change(d))
    })
    .await
}

/// Registration: its commit point is a username claim (which carries the
/// whole user) rather than a topic row.
pub(crate) async fn create_user(s: &Inner, new: &NewUser) -> StoreResult<User> {
    s.limits.username(&new.username)?;
    let display_name = new
        .display_name
        .clone()
        .unwrap_or_else(|| new.username.clone());
    s.limits.display_name(&display_name)?;
    let cql = &s.engine.cql;
    let id = UserId(s.ids.next());
    let now = Timestamp::now();
    let claim = vec![
        text(new.username.clone()),
        u64v(id.0),
        text(display_name.clone()),
        text(new.password.as_str()),
        big(now.millis()),
    ];
    let claimed = match cql.lwt(&cql.st.claim_username, claim).await {
        Ok(applied) => applied,
        Err(e) => {
            let owner = cql
                .row(&cql.st.username_serial, vec![text(new.username.clone())])
                .await
                .map_err(|_| {
                    StoreError::Unavailable(format!("{} ({e})", super::commit::UNKNOWN))
                })?;
            match owner.and_then(|r| r.i64_at(0)) {
                Some(owner) => owner as u64 == id.0,
                None => return Err(StoreError::Unavailable(format!("registration failed: {e}"))),
            }
        }
    };
    if !claimed {
        return Err(StoreError::Conflict(format!(
            "username {:?} is taken",
            new.username
        )));
    }
    let user = User {
        id,
        username: new.username.clone(),
        display_name,
        created_at: now,
    };
    // The claim is the commit point; the by-id row is derived from it and
    // rebuilt by a lookup or `tidings check` if this process dies first.
    super::reads::put_user(cql, &user, new.password.as_str()).await?;
    Ok(user)
}
