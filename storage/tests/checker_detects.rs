//! The invariant checker must report corruption, not just bless healthy
//! files: each test breaks one invariant by hand and expects it named.

use std::sync::Arc;

use rusqlite::Connection;
use tidings_storage::conformance::{new_user, DynStore};
use tidings_storage::{NewChat, SqliteConfig, SqliteStore, Write};

struct Fixture {
    _dir: tempfile::TempDir,
    store: DynStore,
    raw: Connection,
}

async fn populated() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let config = SqliteConfig::in_dir(dir.path());
    let store: DynStore = Arc::new(SqliteStore::open(config.clone()).unwrap());
    let a = new_user(&store, "ca").await;
    let b = new_user(&store, "cb").await;
    store.request_friend(&Write::by(a.id), b.id).await.unwrap();
    store.request_friend(&Write::by(b.id), a.id).await.unwrap();
    let chat = store
        .create_chat(
            &Write::by(a.id),
            NewChat {
                title: None,
                member_ids: vec![b.id],
            },
        )
        .await
        .unwrap()
        .value;
    for i in 0..3 {
        store
            .post_message(
                &Write::by(a.id).with_key(format!("k{i}"), "fp"),
                chat.id,
                &format!("m{i}"),
            )
            .await
            .unwrap();
    }
    store.create_post(&Write::by(b.id), "post").await.unwrap();
    assert!(store.check().await.unwrap().is_empty());
    let raw = Connection::open(&config.path).unwrap();
    Fixture {
        _dir: dir,
        store,
        raw,
    }
}

async fn expect(f: &Fixture, sql: &str, invariant: &str) {
    f.raw.execute_batch(sql).unwrap();
    let found = f.store.check().await.unwrap();
    assert!(
        found.iter().any(|v| v.invariant == invariant),
        "expected {invariant} after `{sql}`, found {found:?}"
    );
}

#[tokio::test]
async fn detects_an_offset_gap() {
    let f = populated().await;
    expect(
        &f,
        "DELETE FROM events WHERE topic LIKE 'chat:%' AND offset = 2",
        "offset_gap",
    )
    .await;
}

#[tokio::test]
async fn detects_a_head_past_the_log() {
    let f = populated().await;
    expect(
        &f,
        "UPDATE topics SET head = head + 1 WHERE topic LIKE 'chat:%'",
        "topic_head_mismatch",
    )
    .await;
}

#[tokio::test]
async fn detects_asymmetric_friendship() {
    let f = populated().await;
    expect(
        &f,
        "DELETE FROM friendships WHERE (user_id, other_id) IN (SELECT user_id, other_id FROM friendships LIMIT 1)",
        "friendship_asymmetric",
    )
    .await;
}

#[tokio::test]
async fn detects_orphan_messages_and_lost_ones() {
    let f = populated().await;
    expect(
        &f,
        "INSERT INTO messages VALUES (424242, 1, 99, 1, 'x', 0, NULL)",
        "message_without_chat",
    )
    .await;
    expect(
        &f,
        "DELETE FROM messages WHERE chat_id != 424242 AND seq = 1",
        "message_created_lost",
    )
    .await;
}

#[tokio::test]
async fn detects_membership_drift() {
    let f = populated().await;
    expect(
        &f,
        "UPDATE chats SET member_count = member_count + 1",
        "member_count_mismatch",
    )
    .await;
    expect(
        &f,
        "INSERT INTO chat_members VALUES (777, 1, 0)",
        "membership_dangling",
    )
    .await;
}

#[tokio::test]
async fn detects_dangling_idempotency_records() {
    let f = populated().await;
    expect(
        &f,
        "UPDATE idempotency SET offset = offset + 100",
        "idempotency_dangling",
    )
    .await;
}

#[tokio::test]
async fn detects_mismatched_idempotency_answers() {
    let f = populated().await;
    expect(
        &f,
        "UPDATE idempotency SET answer = json_set(answer, '$.id', '1')",
        "idempotency_answer_mismatch",
    )
    .await;
}

#[tokio::test]
async fn detects_lost_posts() {
    let f = populated().await;
    expect(&f, "DELETE FROM posts", "post_created_lost").await;
}
