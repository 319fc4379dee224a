//! The invariant checker: every cross-row rule the write path maintains,
//! verified by queries over the whole file. Each query returns the rows that
//! break a rule; a healthy store returns none.

use rusqlite::Connection;

use crate::check::Violation;
use crate::error::StoreResult;

/// (invariant name, query returning one text column per violating row).
const CHECKS: &[(&str, &str)] = &[
    (
        "message_without_chat",
        "SELECT 'message ' || m.chat_id || '/' || m.seq || ' has no chat'
         FROM messages m LEFT JOIN chats c ON c.id = m.chat_id WHERE c.id IS NULL",
    ),
    (
        "message_author_unknown",
        "SELECT 'message ' || m.chat_id || '/' || m.seq || ' has unknown author ' || m.author_id
         FROM messages m LEFT JOIN users u ON u.id = m.author_id WHERE u.id IS NULL",
    ),
    (
        "message_seq_beyond_chat",
        "SELECT 'message ' || m.chat_id || '/' || m.seq || ' is past the chat''s last_seq ' || c.last_seq
         FROM messages m JOIN chats c ON c.id = m.chat_id WHERE m.seq > c.last_seq OR m.seq < 1",
    ),
    (
        "message_without_event",
        "SELECT 'message ' || m.chat_id || '/' || m.seq || ' has no message.created event'
         FROM messages m
         LEFT JOIN topics t ON t.topic = 'chat:' || m.chat_id
         LEFT JOIN (SELECT topic, json_extract(data, '$.seq') AS seq FROM events
                    WHERE event = 'message.created') e
           ON e.topic = 'chat:' || m.chat_id AND e.seq = m.seq
         WHERE e.topic IS NULL AND (t.topic IS NULL OR t.low = 1)",
    ),
    (
        "message_created_lost",
        "SELECT 'event ' || c.topic || '@' || c.offset || ' created message seq ' || c.seq
                || ' which is neither present nor deleted'
         FROM (SELECT topic, offset, json_extract(data, '$.chat_id') AS chat,
                      json_extract(data, '$.seq') AS seq
               FROM events WHERE event = 'message.created') c
         LEFT JOIN messages m ON m.chat_id = CAST(c.chat AS INTEGER) AND m.seq = c.seq
         LEFT JOIN (SELECT topic, json_extract(data, '$.seq') AS seq FROM events
                    WHERE event = 'message.deleted') d ON d.topic = c.topic AND d.seq = c.seq
         WHERE m.seq IS NULL AND d.seq IS NULL",
    ),
    (
        "post_created_lost",
        "SELECT 'event ' || c.topic || '@' || c.offset || ' created post ' || c.id
                || ' which is neither present nor deleted'
         FROM (SELECT topic, offset, json_extract(data, '$.id') AS id
               FROM events WHERE event = 'post.created') c
         LEFT JOIN posts p ON p.id = CAST(c.id AS INTEGER)
         LEFT JOIN (SELECT topic, json_extract(data, '$.id') AS id FROM events
                    WHERE event = 'post.deleted') d ON d.topic = c.topic AND d.id = c.id
         WHERE p.id IS NULL AND d.id IS NULL",
    ),
    (
        "post_author_unknown",
        "SELECT 'post ' || p.id || ' has unknown author ' || p.author_id
         FROM posts p LEFT JOIN users u ON u.id = p.author_id WHERE u.id IS NULL",
    ),
    (
        "post_seq_beyond_author",
        "SELECT 'post ' || p.id || ' seq ' || p.seq || ' is past its author''s post_seq ' || u.post_seq
         FROM posts p JOIN users u ON u.id = p.author_id WHERE p.seq > u.post_seq OR p.seq < 1",
    ),
    (
        "topic_head_mismatch",
        "SELECT 'topic ' || t.topic || ' head ' || t.head || ' but last event ' || ifnull(max(e.offset), 'none')
         FROM topics t LEFT JOIN events e ON e.topic = t.topic
         GROUP BY t.topic
         HAVING (t.low <= t.head AND ifnull(max(e.offset), -1) != t.head)
             OR (t.low > t.head AND count(e.offset) != 0)",
    ),
    (
        "offset_gap",
        "SELECT 'topic ' || t.topic || ' keeps offsets ' || t.low || '..' || t.head
                || ' but has ' || count(e.offset) || ' events from ' || ifnull(min(e.offset), 'none')
         FROM topics t LEFT JOIN events e ON e.topic = t.topic
         GROUP BY t.topic
         HAVING count(e.offset) != max(t.head - t.low + 1, 0)
             OR (count(e.offset) > 0 AND min(e.offset) != t.low)",
    ),
    (
        "event_without_topic",
        "SELECT 'event ' || e.topic || '@' || e.offset || ' has no topic row'
         FROM events e LEFT JOIN topics t ON t.topic = e.topic WHERE t.topic IS NULL",
    ),
    (
        "topic_owner_unknown",
        "SELECT 'topic ' || t.topic || ' names no existing chat or user'
         FROM topics t
         WHERE (t.topic LIKE 'chat:%' AND NOT EXISTS (SELECT 1 FROM chats c WHERE 'chat:' || c.id = t.topic))
            OR (t.topic LIKE 'user:%' AND NOT EXISTS (SELECT 1 FROM users u WHERE 'user:' || u.id = t.topic))
            OR (t.topic LIKE 'posts:%' AND NOT EXISTS (SELECT 1 FROM users u WHERE 'posts:' || u.id = t.topic))",
    ),
    (
        "friendship_asymmetric",
        "SELECT 'friendship ' || a.user_id || '->' || a.other_id || ' is ' || a.state
                || ' but the reverse is ' || ifnull(b.state, 'missing')
         FROM friendships a LEFT JOIN friendships b ON b.user_id = a.other_id AND b.other_id = a.user_id
         WHERE b.state IS NULL
            OR (a.state = 'friends' AND b.state != 'friends')
            OR (a.state = 'outgoing' AND b.state != 'incoming')
            OR (a.state = 'incoming' AND b.state != 'outgoing')",
    ),
    (
        "friendship_with_self_or_unknown",
        "SELECT 'friendship ' || f.user_id || '->' || f.other_id || ' is with oneself or an unknown user'
         FROM friendships f
         WHERE f.user_id = f.other_id
            OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = f.user_id)
            OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = f.other_id)",
    ),
    (
        "member_count_mismatch",
        "SELECT 'chat ' || c.id || ' counts ' || c.member_count || ' members but has ' || count(m.user_id)
         FROM chats c LEFT JOIN chat_members m ON m.chat_id = c.id
         GROUP BY c.id HAVING count(m.user_id) != c.member_count",
    ),
    (
        "membership_dangling",
        "SELECT 'membership ' || m.chat_id || '/' || m.user_id || ' names a missing chat or user'
         FROM chat_members m
         WHERE NOT EXISTS (SELECT 1 FROM chats c WHERE c.id = m.chat_id)
            OR NOT EXISTS (SELECT 1 FROM users u WHERE u.id = m.user_id)",
    ),
    (
        "chat_creator_unknown",
        "SELECT 'chat ' || c.id || ' was created by unknown user ' || c.created_by
         FROM chats c LEFT JOIN users u ON u.id = c.created_by WHERE u.id IS NULL",
    ),
    (
        "chat_created_unannounced",
        "SELECT 'chat ' || c.id || ' has no chat.created event for its creator'
         FROM chats c
         LEFT JOIN topics t ON t.topic = 'user:' || c.created_by
         LEFT JOIN (SELECT topic, json_extract(data, '$.id') AS id FROM events
                    WHERE event = 'chat.created') e
           ON e.topic = 'user:' || c.created_by AND e.id = CAST(c.id AS TEXT)
         WHERE e.topic IS NULL AND (t.topic IS NULL OR t.low = 1)",
    ),
    (
        "idempotency_dangling",
        "SELECT 'idempotency record ' || i.user_id || '/' || i.key || ' points at missing event '
                || i.topic || '@' || i.offset
         FROM idempotency i JOIN topics t ON t.topic = i.topic
         WHERE i.offset >= t.low AND NOT EXISTS (
             SELECT 1 FROM events e WHERE e.topic = i.topic AND e.offset = i.offset)",
    ),
    (
        "idempotency_answer_mismatch",
        "SELECT 'idempotency record ' || i.user_id || '/' || i.key || ' answered id '
                || json_extract(i.answer, '$.id') || ' but its event holds another'
         FROM idempotency i JOIN events e ON e.topic = i.topic AND e.offset = i.offset
         WHERE json_type(i.answer, '$.id') IS NOT NULL
           AND json_extract(i.answer, '$.id') != json_extract(e.data, '$.id')",
    ),
    (
        "idempotency_answer_unreadable",
        "SELECT 'idempotency record ' || i.user_id || '/' || i.key || ' has an unreadable answer'
         FROM idempotency i WHERE json_valid(i.answer) = 0",
    ),
    (
        "id_counter_behind",
        "SELECT 'the id counter ' || ifnull((SELECT value FROM meta WHERE key = 'last_id'), 0)
                || ' is below existing id ' || x.id
         FROM (SELECT max(id) AS id FROM (
                 SELECT max(id) AS id FROM users UNION ALL SELECT max(id) FROM chats
                 UNION ALL SELECT max(id) FROM posts UNION ALL SELECT max(id) FROM messages)) x
         WHERE x.id > ifnull((SELECT value FROM meta WHERE key = 'last_id'), 0)",
    ),
];

/// Runs every check in one read transaction (a consistent snapshot).
pub(crate) fn check(conn: &Connection) -> StoreResult<Vec<Violation>> {
    let tx = conn.unchecked_transaction()?;
    let mut found = Vec::new();
    for (name, sql) in CHECKS {
        let mut stmt = tx.prepare(sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            found.push(Violation::new(name, r.get::<_, String>(0)?));
        }
    }
    tx.finish()?;
    Ok(found)
}

/// The names of every invariant checked, for docs and tests.
pub fn invariant_names() -> Vec<&'static str> {
    CHECKS.iter().map(|(n, _)| *n).collect()
}
