//! `tidings check` on a cluster: first repair what crashed writers left
//! (finish every committed plan, rebuild by-id user rows from username
//! claims), then scan every table for broken cross-row invariants.
//!
//! The scans read whole tables: this is an operator's tool for a quiet
//! keyspace, not something to run against live traffic.

use std::collections::{HashMap, HashSet};

use super::cql::{big, text, RowExt};

use super::commit::TopicRow;
use super::Inner;
use crate::check::Violation;
use crate::error::StoreResult;

/// The invariants checked, by name.
pub const INVARIANTS: &[&str] = &[
    "user_claim",
    "friendship_symmetry",
    "member_index",
    "member_of_missing_chat",
    "offset_gap",
    "event_beyond_head",
    "message_seq",
    "message_bucket_unlisted",
    "post_index",
    "post_bucket_unlisted",
    "plan_unfinished",
];

/// Finishes every committed plan and rebuilds derived user rows.
pub(crate) async fn repair(s: &Inner) -> StoreResult<usize> {
    let cql = &s.engine.cql;
    let mut repaired = 0;
    for r in cql.scan(&cql.st.all_topics).await? {
        let Some(name) = r.text_at(10) else { continue };
        let row = TopicRow::from_row(&r);
        if row.pending_op.is_some() {
            s.engine.settle(&name, &row).await?;
            repaired += 1;
        }
    }
    let users: HashSet<i64> = cql
        .scan(&cql.st.all_users)
        .await?
        .iter()
        .filter_map(|r| r.i64_at(0))
        .collect();
    for r in cql.scan(&cql.st.all_usernames).await? {
        let Some(id) = r.i64_at(1) else { continue };
        if !users.contains(&id) {
            cql.run(
                &cql.st.put_user,
                vec![
                    big(id),
                    text(r.text_at(0).unwrap_or_default()),
                    text(r.text_at(2).unwrap_or_default()),
                    text(r.text_at(3).unwrap_or_default()),
                    big(r.i64_at(4).unwrap_or(0)),
                ],
            )
            .await?;
            repaired += 1;
        }
    }
    Ok(repaired)
}

pub(crate) async fn check(s: &Inner) -> StoreResult<Vec<Violation>> {
    let repaired = repair(s).await?;
    if repaired > 0 {
        tracing::info!(
            repaired,
            "finished writes that crashed processes left behind"
        );
    }
    let cql = &s.engine.cql;
    let mut out = Vec::new();

    // Users: every claim has its row and every row its claim.
    let claims: HashMap<String, i64> = cql
        .scan(&cql.st.all_usernames)
        .await?
        .iter()
        .filter_map(|r| Some((r.text_at(0)?, r.i64_at(1)?)))
        .collect();
    for r in cql.scan(&cql.st.all_users).await? {
        let (Some(id), Some(name)) = (r.i64_at(0), r.text_at(1)) else {
            continue;
        };
        if claims.get(&name) != Some(&id) {
            out.push(Violation::new(
                "user_claim",
                format!("user {id} ({name:?}) has no username claim"),
            ));
        }
    }

    // Friendships mirror each other.
    let links: HashMap<(i64, i64), String> = cql
        .scan(&cql.st.all_friendships)
        .await?
        .iter()
        .filter_map(|r| Some(((r.i64_at(0)?, r.i64_at(1)?), r.text_at(2)?)))
        .collect();
    for ((a, b), state) in &links {
        let want = match state.as_str() {
            "outgoing" => "incoming",
            "incoming" => "outgoing",
            other => other,
        };
        if links.get(&(*b, *a)).map(String::as_str) != Some(want) {
            out.push(Violation::new(
                "friendship_symmetry",
                format!(
                    "{a}->{b} is {state} but {b}->{a} is {:?}",
                    links.get(&(*b, *a))
                ),
            ));
        }
    }

    // Membership and its per-user index agree; chats exist.
    let members: HashSet<(i64, i64)> = cql
        .scan(&cql.st.all_members)
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(0)?, r.i64_at(1)?)))
        .collect();
    let index: HashSet<(i64, i64)> = cql
        .scan(&cql.st.all_user_chats)
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(1)?, r.i64_at(0)?)))
        .collect();
    for pair in members.symmetric_difference(&index) {
        out.push(Violation::new(
            "member_index",
            format!(
                "chat {} user {}: in only one of chat_members and user_chats",
                pair.0, pair.1
            ),
        ));
    }
    let chats: HashSet<i64> = cql
        .scan(&cql.st.all_chats)
        .await?
        .iter()
        .filter_map(|r| r.i64_at(0))
        .collect();
    for (chat, user) in &members {
        if !chats.contains(chat) {
            out.push(Violation::new(
                "member_of_missing_chat",
                format!("user {user} in missing chat {chat}"),
            ));
        }
    }

    // Topics: events exactly low..=head, no plan left half-applied.
    let mut seqs: HashMap<String, u64> = HashMap::new();
    for r in cql.scan(&cql.st.all_topics).await? {
        let Some(name) = r.text_at(10) else { continue };
        let row = TopicRow::from_row(&r);
        seqs.insert(name.clone(), row.seq);
        if let Some(plan) = row.plan()? {
            if !plan.secondary.is_empty() {
                out.push(Violation::new(
                    "plan_unfinished",
                    format!("{name}: op {:?} still pending", row.pending_op),
                ));
            }
        }
        if row.head == 0 {
            continue;
        }
        let mut offsets = Vec::new();
        for b in cql.layout.event(row.low)..=cql.layout.event(row.head) + 1 {
            for e in cql
                .rows(&cql.st.event_offsets, vec![text(name.clone()), big(b)])
                .await?
            {
                if let Some(o) = e.i64_at(0) {
                    offsets.push(o as u64);
                }
            }
        }
        offsets.sort_unstable();
        let want: Vec<u64> = (row.low..=row.head).collect();
        let kept: Vec<u64> = offsets
            .iter()
            .copied()
            .filter(|o| *o >= row.low && *o <= row.head)
            .collect();
        if kept != want {
            out.push(Violation::new(
                "offset_gap",
                format!(
                    "{name}: {} events for offsets {}..={}",
                    kept.len(),
                    row.low,
                    row.head
                ),
            ));
        }
        if let Some(o) = offsets.iter().find(|o| **o > row.head) {
            out.push(Violation::new(
                "event_beyond_head",
                format!("{name}: event {o} beyond head {}", row.head),
            ));
        }
    }

    // Messages: seq within the chat's counter, bucket listed.
    let listed: HashSet<(i64, i64)> = cql
        .scan(&cql.st.all_message_buckets)
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(0)?, r.i64_at(1)?)))
        .collect();
    for r in cql.scan(&cql.st.all_messages).await? {
        let (Some(chat), Some(bucket), Some(seq)) = (r.i64_at(0), r.i64_at(1), r.i64_at(2)) else {
            continue;
        };
        let top = seqs.get(&format!("chat:{chat}")).copied().unwrap_or(0);
        if seq as u64 > top || bucket != cql.layout.message(seq as u64) {
            out.push(Violation::new(
                "message_seq",
                format!("chat {chat} message {seq} (counter {top})"),
            ));
        }
        if !listed.contains(&(chat, bucket)) {
            out.push(Violation::new(
                "message_bucket_unlisted",
                format!("chat {chat} bucket {bucket}"),
            ));
        }
    }

    // Posts: both tables agree, bucket listed.
    let by_id: HashMap<i64, (i64, i64)> = cql
        .scan(&cql.st.all_posts_by_id)
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(0)?, (r.i64_at(1)?, r.i64_at(2)?))))
        .collect();
    let post_buckets: HashSet<(i64, i64)> = cql
        .scan(&cql.st.all_post_buckets)
        .await?
        .iter()
        .filter_map(|r| Some((r.i64_at(0)?, r.i64_at(1)?)))
        .collect();
    let mut seen = 0;
    for r in cql.scan(&cql.st.all_posts).await? {
        let (Some(author), Some(bucket), Some(seq), Some(id)) =
            (r.i64_at(0), r.i64_at(1), r.i64_at(2), r.i64_at(3))
        else {
            continue;
        };
        seen += 1;
        let top = seqs.get(&format!("posts:{author}")).copied().unwrap_or(0);
        if by_id.get(&id) != Some(&(author, seq))
            || seq as u64 > top
            || bucket != cql.layout.post(seq as u64)
        {
            out.push(Violation::new(
                "post_index",
                format!("post {id} of {author} seq {seq}"),
            ));
        }
        if !post_buckets.contains(&(author, bucket)) {
            out.push(Violation::new(
                "post_bucket_unlisted",
                format!("author {author} bucket {bucket}"),
            ));
        }
    }
    if seen != by_id.len() {
        out.push(Violation::new(
            "post_index",
            format!("{} posts but {} by-id rows", seen, by_id.len()),
        ));
    }
    Ok(out)
}
