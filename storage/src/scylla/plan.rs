//! A plan: everything one committed write changes, stored in the row of its
//! primary topic by the compare-and-set that commits it. Any process can
//! finish a plan from that row alone, so a write is all-or-nothing even when
//! its process dies right after the commit point.
//!
//! Every mutation carries the plan's write timestamp (`USING TIMESTAMP`),
//! and plans touching the same rows commit through the same topic row with
//! growing timestamps, so re-applying an old plan late can never overwrite
//! a newer change.

use serde::{Deserialize, Serialize};

use super::cql::{big, text, u64v, Cql, Values};
use scylla::statement::prepared::PreparedStatement;

/// One derived-row change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "m", rename_all = "snake_case")]
pub(crate) enum Mutation {
    PutFriendship {
        user: u64,
        other: u64,
        state: String,
        since: i64,
    },
    DelFriendship {
        user: u64,
        other: u64,
    },
    PutChat {
        id: u64,
        title: String,
        created_by: u64,
        created_at: i64,
    },
    TouchChat {
        id: u64,
        activity: u64,
    },
    PutMember {
        chat: u64,
        user: u64,
        joined_at: i64,
    },
    DelMember {
        chat: u64,
        user: u64,
    },
    PutMessage {
        chat: u64,
        seq: u64,
        id: u64,
        author: u64,
        body: String,
        created_at: i64,
    },
    EditMessage {
        chat: u64,
        seq: u64,
        body: String,
        edited_at: i64,
    },
    DelMessage {
        chat: u64,
        seq: u64,
        /// The bucket became empty (never the newest bucket).
        drop_bucket: bool,
    },
    PutPost {
        author: u64,
        seq: u64,
        id: u64,
        body: String,
        created_at: i64,
    },
    DelPost {
        author: u64,
        seq: u64,
        id: u64,
        drop_bucket: bool,
    },
}

/// An event of a plan. `offset` is 0 until it is appended.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct PlannedEvent {
    pub(crate) topic: String,
    pub(crate) event: String,
    /// Index into [`Plan::datas`] (a chat's view is shared by its members' events).
    pub(crate) data: usize,
    pub(crate) offset: u64,
}

/// The idempotency record a plan answers.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct AnswerRecord {
    pub(crate) user: u64,
    pub(crate) key: String,
    pub(crate) answer: String,
}

/// A committed write, as stored in its primary topic's row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) op: u64,
    pub(crate) primary: String,
    /// Write timestamp (µs) of every mutation of this plan.
    pub(crate) ts: i64,
    pub(crate) committed_at: i64,
    pub(crate) mutations: Vec<Mutation>,
    pub(crate) datas: Vec<serde_json::Value>,
    /// The event on the primary topic, its offset fixed by the commit.
    pub(crate) primary_event: Option<PlannedEvent>,
    /// Events on other topics, appended after the commit, each exactly once.
    pub(crate) secondary: Vec<PlannedEvent>,
    pub(crate) answer: Option<AnswerRecord>,
}

/// The event at a topic's head, kept in its row until the next append.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct LastEvent {
    pub(crate) offset: u64,
    pub(crate) op: u64,
    pub(crate) event: String,
    pub(crate) data: serde_json::Value,
    pub(crate) committed_at: i64,
    pub(crate) ts: i64,
}

/// The `events` row for one event.
pub(crate) fn event_row<'a>(
    cql: &'a Cql,
    topic: &str,
    e: &LastEvent,
) -> (&'a PreparedStatement, Values) {
    (
        &cql.st.put_event,
        vec![
            text(topic),
            big(cql.layout.event(e.offset)),
            u64v(e.offset),
            u64v(e.op),
            text(e.event.clone()),
            text(e.data.to_string()),
            big(e.committed_at),
            big(e.ts),
        ],
    )
}

impl Plan {
    /// The head event this plan leaves on `event.topic`.
    pub(crate) fn last_event(&self, event: &PlannedEvent) -> LastEvent {
        LastEvent {
            offset: event.offset,
            op: self.op,
            event: event.event.clone(),
            data: self.datas[event.data].clone(),
            committed_at: self.committed_at,
            ts: self.ts,
        }
    }

    /// The statements applying this plan's derived rows and its primary
    /// event; the event row comes last, so it is written only with the rest.
    pub(crate) fn statements<'a>(&self, cql: &'a Cql) -> Vec<(&'a PreparedStatement, Values)> {
        let st = &cql.st;
        let ts = big(self.ts);
        let mut out = Vec::new();
        for m in &self.mutations {
            match m {
                Mutation::PutFriendship {
                    user,
                    other,
                    state,
                    since,
                } => out.push((
                    &st.put_friendship,
                    vec![
                        u64v(*user),
                        u64v(*other),
                        text(state.clone()),
                        big(*since),
                        ts.clone(),
                    ],
                )),
                Mutation::DelFriendship { user, other } => out.push((
                    &st.del_friendship,
                    vec![ts.clone(), u64v(*user), u64v(*other)],
                )),
                Mutation::PutChat {
                    id,
                    title,
                    created_by,
                    created_at,
                } => out.push((
                    &st.put_chat,
                    vec![
                        u64v(*id),
                        text(title.clone()),
                        u64v(*created_by),
                        big(*created_at),
                        u64v(*id),
                        ts.clone(),
                    ],
                )),
                Mutation::TouchChat { id, activity } => {
                    out.push((&st.touch_chat, vec![ts.clone(), u64v(*activity), u64v(*id)]));
                }
                Mutation::PutMember {
                    chat,
                    user,
                    joined_at,
                } => {
                    out.push((
                        &st.put_member,
                        vec![u64v(*chat), u64v(*user), big(*joined_at), ts.clone()],
                    ));
                    out.push((
                        &st.put_user_chat,
                        vec![u64v(*user), u64v(*chat), ts.clone()],
                    ));
                }
                Mutation::DelMember { chat, user } => {
                    out.push((&st.del_member, vec![ts.clone(), u64v(*chat), u64v(*user)]));
                    out.push((
                        &st.del_user_chat,
                        vec![ts.clone(), u64v(*user), u64v(*chat)],
                    ));
                }
                Mutation::PutMessage {
                    chat,
                    seq,
                    id,
                    author,
                    body,
                    created_at,
                } => {
                    let bucket = big(cql.layout.message(*seq));
                    out.push((
                        &st.put_message,
                        vec![
                            u64v(*chat),
                            bucket.clone(),
                            u64v(*seq),
                            u64v(*id),
                            u64v(*author),
                            text(body.clone()),
                            big(*created_at),
                            ts.clone(),
                        ],
                    ));
                    out.push((
                        &st.put_message_bucket,
                        vec![u64v(*chat), bucket, ts.clone()],
                    ));
                }
                Mutation::EditMessage {
                    chat,
                    seq,
                    body,
                    edited_at,
                } => out.push((
                    &st.edit_message,
                    vec![
                        ts.clone(),
                        text(body.clone()),
                        big(*edited_at),
                        u64v(*chat),
                        big(cql.layout.message(*seq)),
                        u64v(*seq),
                    ],
                )),
                Mutation::DelMessage {
                    chat,
                    seq,
                    drop_bucket,
                } => {
                    let bucket = big(cql.layout.message(*seq));
                    out.push((
                        &st.del_message,
                        vec![ts.clone(), u64v(*chat), bucket.clone(), u64v(*seq)],
                    ));
                    if *drop_bucket {
                        out.push((
                            &st.del_message_bucket,
                            vec![ts.clone(), u64v(*chat), bucket],
                        ));
                    }
                }
                Mutation::PutPost {
                    author,
                    seq,
                    id,
                    body,
                    created_at,
                } => {
                    let bucket = big(cql.layout.post(*seq));
                    out.push((
                        &st.put_post,
                        vec![
                            u64v(*author),
                            bucket.clone(),
                            u64v(*seq),
                            u64v(*id),
                            text(body.clone()),
                            big(*created_at),
                            ts.clone(),
                        ],
                    ));
                    out.push((
                        &st.put_post_by_id,
                        vec![u64v(*id), u64v(*author), u64v(*seq), ts.clone()],
                    ));
                    out.push((&st.put_post_bucket, vec![u64v(*author), bucket, ts.clone()]));
                }
                Mutation::DelPost {
                    author,
                    seq,
                    id,
                    drop_bucket,
                } => {
                    let bucket = big(cql.layout.post(*seq));
                    out.push((
                        &st.del_post,
                        vec![ts.clone(), u64v(*author), bucket.clone(), u64v(*seq)],
                    ));
                    out.push((&st.del_post_by_id, vec![ts.clone(), u64v(*id)]));
                    if *drop_bucket {
                        out.push((&st.del_post_bucket, vec![ts.clone(), u64v(*author), bucket]));
                    }
                }
            }
        }
        if let Some(a) = &self.answer {
            out.push((
                &st.put_answer,
                vec![
                    ts.clone(),
                    text(a.answer.clone()),
                    u64v(a.user),
                    text(a.key.clone()),
                ],
            ));
        }
        if let Some(e) = &self.primary_event {
            out.push(event_row(cql, &self.primary, &self.last_event(e)));
        }
        out
    }
}
