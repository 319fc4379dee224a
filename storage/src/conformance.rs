//! The conformance suite every [`Store`] backend must pass.
//!
//! Each case is a public async function taking a fresh or shared store; cases
//! create their own uniquely named users, so they may share one database (a
//! Cassandra keyspace) or get one each (a temporary SQLite file). A backend's
//! test file expands them all with [`conformance_suite!`](crate::conformance_suite):
//!
//! ```ignore
//! tidings_storage::conformance_suite!(async { my_backend().await });
//! ```

use std::collections::HashSet;
use std::sync::Arc;

use crate::delta::EventKind;
use crate::error::StoreError;
use crate::ids::{ChatId, PostId, UserId};
use crate::model::*;
use crate::password::{HashCost, PasswordHash};
use crate::store::{Cursor, Store, Write};
use crate::topic::Topic;

/// A shared handle to the store under test.
pub type DynStore = Arc<dyn Store>;

/// Expands every conformance case into a `#[tokio::test]` using `$make`
/// (an expression evaluating to a future of a [`DynStore`]).
#[macro_export]
macro_rules! conformance_suite {
    (@ignored $make:expr) => {
        $crate::conformance_suite!(@list [ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"] $make);
    };
    ($make:expr) => {
        $crate::conformance_suite!(@list [allow(unused)] $make);
    };
    (@list $attr:tt $make:expr) => {
        $crate::conformance_suite!(@cases $attr $make;
            users_register_and_lookup,
            friends_request_accept_remove,
            chats_create_and_membership,
            chat_member_limit,
            messages_create_edit_delete,
            message_paging_edges,
            posts_and_visibility,
            feed_merges_self_and_friends,
            two_writers_on_one_chat,
            idempotency_replays,
            topic_events_catch_up,
            failed_writes_change_nothing,
            deltas_carry_recipients,
            checker_finds_nothing
        );
    };
    (@cases $attr:tt $make:expr; $($case:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            #$attr
            async fn $case() {
                let store: $crate::conformance::DynStore = $make.await;
                $crate::conformance::$case(store).await;
            }
        )*
    };
}

fn unique(prefix: &str) -> String {
    format!("{prefix}_{:010x}", rand::random::<u64>() & 0xff_ffff_ffff)
}

/// Registers a user with a unique name starting with `prefix`.
pub async fn new_user(store: &DynStore, prefix: &str) -> User {
    store
        .create_user(NewUser {
            username: unique(prefix),
            display_name: Some(format!("{prefix} display")),
            password: PasswordHash::hash("password1", HashCost::Fast),
        })
        .await
        .expect("register")
}

fn by(u: &User) -> Write {
    Write::by(u.id)
}

#[track_caller]
fn assert_not_found<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::NotFound(_))),
        "expected not found, got {r:?}"
    );
}

#[track_caller]
fn assert_forbidden<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Forbidden(_))),
        "expected forbidden, got {r:?}"
    );
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, StoreError>) {
    assert!(
        matches!(r, Err(StoreError::Conflict(_))),
        "expected conflict, got {r:?}"
    );
}

#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(r: Result<T, StoreError>, field: &str) {
    match r {
        Err(StoreError::Invalid { field: f, .. }) if f == field => {}
        other => panic!("expected invalid {field}, got {other:?}"),
    }
}

async fn befriend(store: &DynStore, a: &User, b: &User) {
    store.request_friend(&by(a), b.id).await.expect("request");
    let r = store.request_friend(&by(b), a.id).await.expect("accept");
    assert_eq!(r.value.status, FriendStatus::Friends);
}

async fn chat_with(store: &DynStore, owner: &User, others: &[&User]) -> Chat {
    store
        .create_chat(
            &by(owner),
            NewChat {
                title: Some("a chat".into()),
                member_ids: others.iter().map(|u| u.id).collect(),
            },
        )
        .await
        .expect("create chat")
        .value
}

async fn all_events(store: &DynStore, reader: UserId, topic: Topic) -> Vec<crate::Delta> {
    let mut after = 0;
    let mut out = Vec::new();
    loop {
        let page = store
            .topic_events(reader, topic, after, Some(200))
            .await
            .expect("events");
        if page.items.is_empty() {
            return out;
        }
        after = page.next_after;
        out.extend(page.items);
    }
}

#[track_caller]
fn assert_gap_free(events: &[crate::Delta]) {
    for (i, d) in events.iter().enumerate() {
        assert_eq!(
            d.offset,
            i as u64 + 1,
            "offsets must be 1, 2, 3, ... without gaps"
        );
    }
}

pub async fn users_register_and_lookup(store: DynStore) {
    let name = unique("alice");
    let user = store
        .create_user(NewUser {
            username: name.clone(),
            display_name: None,
            password: PasswordHash::hash("s3cret-pass", HashCost::Fast),
        })
        .await
        .unwrap();
    assert_eq!(user.username, name);
    assert_eq!(
        user.display_name, name,
        "display name defaults to the username"
    );
    assert_eq!(store.get_user(user.id).await.unwrap(), user);
    assert_eq!(store.find_user(&name).await.unwrap(), user);
    let (found, hash) = store.user_credentials(&name).await.unwrap();
    assert_eq!(found, user);
    assert!(hash.verify("s3cret-pass"));
    assert!(!hash.verify("wrong-pass"));

    let dup = store
        .create_user(NewUser {
            username: name.clone(),
            display_name: None,
            password: PasswordHash::hash("another1", HashCost::Fast),
        })
        .await;
    assert_conflict(dup);
    let bad = store
        .create_user(NewUser {
            username: "No Caps".into(),
            display_name: None,
            password: PasswordHash::hash("another1", HashCost::Fast),
        })
        .await;
    assert_invalid(bad, "username");
    let long_name = store
        .create_user(NewUser {
            username: unique("dn"),
            display_name: Some("x".repeat(65)),
            password: PasswordHash::hash("another1", HashCost::Fast),
        })
        .await;
    assert_invalid(long_name, "display_name");
    assert_not_found(store.get_user(UserId(1)).await);
    assert_not_found(store.find_user("nobody_by_this_name").await);
    assert_not_found(store.user_credentials("nobody_by_this_name").await);
    let other = new_user(&store, "bob").await;
    assert!(other.id > user.id, "ids are time ordered");
}

pub async fn friends_request_accept_remove(store: DynStore) {
    let a = new_user(&store, "fa").await;
    let b = new_user(&store, "fb").await;
    let sent = store.request_friend(&by(&a), b.id).await.unwrap();
    assert_eq!(sent.value.status, FriendStatus::Pending);
    let kinds: Vec<_> = sent
        .deltas
        .iter()
        .map(|d| (d.delta.topic, d.delta.event))
        .collect();
    assert_eq!(
        kinds,
        vec![
            (Topic::User(a.id), EventKind::FriendRequested),
            (Topic::User(b.id), EventKind::FriendRequested)
        ]
    );
    let again = store.request_friend(&by(&a), b.id).await.unwrap();
    assert_eq!(again.value.status, FriendStatus::Pending);
    assert!(
        again.deltas.is_empty(),
        "a repeated request changes nothing"
    );

    let la = store.list_friends(a.id).await.unwrap();
    assert_eq!(la.outgoing, vec![b.clone()]);
    assert!(la.incoming.is_empty() && la.friends.is_empty());
    let lb = store.list_friends(b.id).await.unwrap();
    assert_eq!(lb.incoming, vec![a.clone()]);

    let accepted = store.request_friend(&by(&b), a.id).await.unwrap();
    assert_eq!(accepted.value.status, FriendStatus::Friends);
    assert!(accepted
        .deltas
        .iter()
        .all(|d| d.delta.event == EventKind::FriendAccepted));
    assert_eq!(
        store.list_friends(a.id).await.unwrap().friends,
        vec![b.clone()]
    );
    assert_eq!(
        store.list_friends(b.id).await.unwrap().friends,
        vec![a.clone()]
    );
    let noop = store.request_friend(&by(&a), b.id).await.unwrap();
    assert_eq!(noop.value.status, FriendStatus::Friends);
    assert!(noop.deltas.is_empty());

    assert_invalid(store.request_friend(&by(&a), a.id).await, "user_id");
    assert_not_found(store.request_friend(&by(&a), UserId(7)).await);

    let removed = store.remove_friend(&by(&b), a.id).await.unwrap();
    assert_eq!(removed.deltas.len(), 2);
    assert_eq!(
        store.list_friends(a.id).await.unwrap(),
        FriendLists::default()
    );
    assert_eq!(
        store.list_friends(b.id).await.unwrap(),
        FriendLists::default()
    );
    assert_not_found(store.remove_friend(&by(&b), a.id).await);

    // Declining an incoming request, and cancelling an outgoing one.
    let c = new_user(&store, "fc").await;
    store.request_friend(&by(&c), a.id).await.unwrap();
    store.remove_friend(&by(&a), c.id).await.unwrap();
    assert_eq!(
        store.list_friends(c.id).await.unwrap(),
        FriendLists::default()
    );
    store.request_friend(&by(&c), a.id).await.unwrap();
    store.remove_friend(&by(&c), a.id).await.unwrap();
    assert_eq!(
        store.list_friends(a.id).await.unwrap(),
        FriendLists::default()
    );
    let events = all_events(&store, a.id, Topic::User(a.id)).await;
    assert_gap_free(&events);
}

pub async fn chats_create_and_membership(store: DynStore) {
    let owner = new_user(&store, "co").await;
    let m1 = new_user(&store, "cm").await;
    let outsider = new_user(&store, "cx").await;
    let created = store
        .create_chat(
            &by(&owner),
            NewChat {
                title: Some("trip".into()),
                member_ids: vec![m1.id, m1.id, owner.id],
            },
        )
        .await
        .unwrap();
    let chat = created.value.clone();
    assert_eq!(chat.title, "trip");
    assert_eq!(
        chat.member_ids,
        vec![owner.id, m1.id],
        "creator first, no duplicates"
    );
    assert_eq!(chat.created_by, owner.id);
    assert_eq!(chat.last_offset, 0);
    let announced: Vec<_> = created.deltas.iter().map(|d| d.delta.topic).collect();
    assert_eq!(announced, vec![Topic::User(owner.id), Topic::User(m1.id)]);
    assert!(created
        .deltas
        .iter()
        .all(|d| d.delta.event == EventKind::ChatCreated));

    assert_eq!(store.get_chat(m1.id, chat.id).await.unwrap(), chat);
    assert_not_found(store.get_chat(outsider.id, chat.id).await);
    assert_not_found(store.get_chat(owner.id, ChatId(99)).await);

    let untitled = store
        .create_chat(&by(&owner), NewChat::default())
        .await
        .unwrap()
        .value;
    assert_eq!(untitled.title, "");
    assert_eq!(untitled.member_ids, vec![owner.id]);
    assert_invalid(
        store
            .create_chat(
                &by(&owner),
                NewChat {
                    title: Some("t".repeat(101)),
                    member_ids: vec![],
                },
            )
            .await,
        "title",
    );
    assert_invalid(
        store
            .create_chat(
                &by(&owner),
                NewChat {
                    title: None,
                    member_ids: vec![UserId(5)],
                },
            )
            .await,
        "member_ids",
    );

    // Most recent activity first: a message moves `chat` above `untitled`.
    let page = store.list_chats(owner.id, Cursor::default()).await.unwrap();
    assert_eq!(
        page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![untitled.id, chat.id]
    );
    store.post_message(&by(&m1), chat.id, "hi").await.unwrap();
    let page = store.list_chats(owner.id, Cursor::default()).await.unwrap();
    assert_eq!(
        page.items.iter().map(|c| c.id).collect::<Vec<_>>(),
        vec![chat.id, untitled.id]
    );
    assert_eq!(page.next_cursor, None);
    let first = store
        .list_chats(
            owner.id,
            Cursor {
                limit: Some(1),
                cursor: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(first.items.len(), 1);
    let second = store
        .list_chats(
            owner.id,
            Cursor {
                limit: Some(1),
                cursor: first.next_cursor.clone(),
            },
        )
        .await
        .unwrap();
    assert_eq!(second.items[0].id, untitled.id);
    assert_eq!(second.next_cursor, None);
    assert_invalid(
        store
            .list_chats(
                owner.id,
                Cursor {
                    limit: Some(1),
                    cursor: Some("zz".into()),
                },
            )
            .await,
        "cursor",
    );
    assert!(store
        .list_chats(outsider.id, Cursor::default())
        .await
        .unwrap()
        .items
        .is_empty());

    // Adding members.
    assert_not_found(store.add_member(&by(&outsider), chat.id, outsider.id).await);
    assert_not_found(store.add_member(&by(&owner), chat.id, UserId(3)).await);
    assert_conflict(store.add_member(&by(&owner), chat.id, m1.id).await);
    let added = store
        .add_member(&by(&m1), chat.id, outsider.id)
        .await
        .unwrap();
    let events: Vec<_> = added
        .deltas
        .iter()
        .map(|d| (d.delta.topic, d.delta.event))
        .collect();
    assert_eq!(
        events,
        vec![
            (Topic::Chat(chat.id), EventKind::ChatMemberAdded),
            (Topic::User(outsider.id), EventKind::ChatJoined)
        ]
    );
    let now = store.get_chat(outsider.id, chat.id).await.unwrap();
    assert_eq!(now.member_ids, vec![owner.id, m1.id, outsider.id]);
    assert_eq!(now.last_offset, 2, "message.created then chat.member_added");

    // Removing: only the creator removes others; anyone may leave.
    assert_forbidden(store.remove_member(&by(&m1), chat.id, outsider.id).await);
    assert_not_found(store.remove_member(&by(&owner), chat.id, UserId(3)).await);
    let left = store.remove_member(&by(&m1), chat.id, m1.id).await.unwrap();
    assert_eq!(left.deltas[0].delta.event, EventKind::ChatMemberRemoved);
    assert_eq!(left.deltas[1].delta.event, EventKind::ChatLeft);
    assert_not_found(store.get_chat(m1.id, chat.id).await);
    store
        .remove_member(&by(&owner), chat.id, outsider.id)
        .await
        .unwrap();
    assert_eq!(
        store.get_chat(owner.id, chat.id).await.unwrap().member_ids,
        vec![owner.id]
    );
    assert_not_found(store.remove_member(&by(&m1), chat.id, owner.id).await);
    let events = all_events(&store, owner.id, Topic::Chat(chat.id)).await;
    assert_gap_free(&events);
    assert_eq!(events.len(), 4);
}

pub async fn chat_member_limit(store: DynStore) {
    // The default limit is 1000 members; creating beyond it is refused whole.
    let owner = new_user(&store, "lim").await;
    let ids: Vec<UserId> = (0..1000).map(|i| UserId(1_000_000 + i)).collect();
    assert_invalid(
        store
            .create_chat(
                &by(&owner),
                NewChat {
                    title: None,
                    member_ids: ids,
                },
            )
            .await,
        "member_ids",
    );
    assert!(store
        .list_chats(owner.id, Cursor::default())
        .await
        .unwrap()
        .items
        .is_empty());
}

pub async fn messages_create_edit_delete(store: DynStore) {
    let a = new_user(&store, "ma").await;
    let b = new_user(&store, "mb").await;
    let outsider = new_user(&store, "mx").await;
    let chat = chat_with(&store, &a, &[&b]).await;
    let m1 = store.post_message(&by(&a), chat.id, "hello").await.unwrap();
    assert_eq!(m1.value.seq, 1);
    assert_eq!(m1.value.body, "hello");
    assert_eq!(m1.value.author_id, a.id);
    assert_eq!(m1.value.edited_at, None);
    assert_eq!(m1.deltas.len(), 1);
    assert_eq!(m1.deltas[0].delta.topic, Topic::Chat(chat.id));
    assert_eq!(m1.deltas[0].delta.offset, 1);
    assert_eq!(m1.deltas[0].delta.event, EventKind::MessageCreated);
    let m2 = store
        .post_message(&by(&b), chat.id, "héllo ✓")
        .await
        .unwrap();
    assert_eq!(m2.value.seq, 2);

    assert_not_found(
        store
            .post_message(&by(&outsider), chat.id, "let me in")
            .await,
    );
    assert_not_found(store.post_message(&by(&a), ChatId(42), "nowhere").await);
    assert_invalid(store.post_message(&by(&a), chat.id, "").await, "body");
    assert_invalid(
        store
            .post_message(&by(&a), chat.id, &"x".repeat(4001))
            .await,
        "body",
    );
    assert!(store
        .post_message(&by(&a), chat.id, &"x".repeat(4000))
        .await
        .is_ok());

    assert_forbidden(store.edit_message(&by(&b), chat.id, 1, "mine now").await);
    assert_not_found(store.edit_message(&by(&outsider), chat.id, 1, "x").await);
    assert_not_found(store.edit_message(&by(&a), chat.id, 99, "x").await);
    assert_invalid(store.edit_message(&by(&a), chat.id, 1, "").await, "body");
    let edited = store
        .edit_message(&by(&a), chat.id, 1, "hello, edited")
        .await
        .unwrap();
    assert_eq!(edited.value.body, "hello, edited");
    assert!(edited.value.edited_at.is_some());
    assert_eq!(edited.deltas[0].delta.event, EventKind::MessageEdited);

    assert_forbidden(store.delete_message(&by(&a), chat.id, 2).await);
    let deleted = store.delete_message(&by(&b), chat.id, 2).await.unwrap();
    assert_eq!(deleted.deltas[0].delta.event, EventKind::MessageDeleted);
    assert_not_found(store.delete_message(&by(&b), chat.id, 2).await);
    assert_not_found(store.edit_message(&by(&b), chat.id, 2, "gone").await);

    let page = store
        .list_messages(b.id, chat.id, None, None)
        .await
        .unwrap();
    let seqs: Vec<u64> = page.items.iter().map(|m| m.seq).collect();
    assert_eq!(seqs, vec![3, 1]);
    assert_eq!(page.items[1].body, "hello, edited");
    assert_eq!(page.next_before_seq, None);
    assert_not_found(store.list_messages(outsider.id, chat.id, None, None).await);

    let events = all_events(&store, a.id, Topic::Chat(chat.id)).await;
    assert_gap_free(&events);
    let kinds: Vec<_> = events.iter().map(|d| d.event).collect();
    assert_eq!(
        kinds,
        vec![
            EventKind::MessageCreated,
            EventKind::MessageCreated,
            EventKind::MessageCreated,
            EventKind::MessageEdited,
            EventKind::MessageDeleted
        ]
    );
    assert_eq!(store.get_chat(a.id, chat.id).await.unwrap().last_offset, 5);
}

pub async fn message_paging_edges(store: DynStore) {
    let a = new_user(&store, "pa").await;
    let chat = chat_with(&store, &a, &[]).await;
    // Empty.
    let empty = store
        .list_messages(a.id, chat.id, None, None)
        .await
        .unwrap();
    assert!(empty.items.is_empty());
    assert_eq!(empty.next_before_seq, None);
    // Exactly one page.
    for i in 1..=5 {
        store
            .post_message(&by(&a), chat.id, &format!("m{i}"))
            .await
            .unwrap();
    }
    let one = store
        .list_messages(a.id, chat.id, None, Some(5))
        .await
        .unwrap();
    assert_eq!(one.items.len(), 5);
    assert_eq!(
        one.next_before_seq, None,
        "nothing older than a full page: no cursor"
    );
    // Deleted messages in the middle are skipped; pages stay full.
    for i in 6..=12 {
        store
            .post_message(&by(&a), chat.id, &format!("m{i}"))
            .await
            .unwrap();
    }
    for seq in [4, 5, 6, 9] {
        store.delete_message(&by(&a), chat.id, seq).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_messages(a.id, chat.id, before, Some(3))
            .await
            .unwrap();
        assert!(page.items.len() <= 3);
        seen.extend(page.items.iter().map(|m| m.seq));
        match page.next_before_seq {
            Some(next) => before = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, vec![12, 11, 10, 8, 7, 3, 2, 1]);
    let tail = store
        .list_messages(a.id, chat.id, Some(1), None)
        .await
        .unwrap();
    assert!(tail.items.is_empty());
    assert_eq!(tail.next_before_seq, None);
    assert_invalid(
        store.list_messages(a.id, chat.id, None, Some(0)).await,
        "limit",
    );
    assert_invalid(
        store.list_messages(a.id, chat.id, None, Some(201)).await,
        "limit",
    );
    let max = store
        .list_messages(a.id, chat.id, None, Some(200))
        .await
        .unwrap();
    assert_eq!(max.items.len(), 8);
}

pub async fn posts_and_visibility(store: DynStore) {
    let a = new_user(&store, "poa").await;
    let friend = new_user(&store, "pof").await;
    let stranger = new_user(&store, "pos").await;
    befriend(&store, &a, &friend).await;
    let p1 = store.create_post(&by(&a), "first post").await.unwrap();
    assert_eq!(p1.value.seq, 1);
    assert_eq!(p1.deltas[0].delta.topic, Topic::Posts(a.id));
    assert_eq!(p1.deltas[0].delta.event, EventKind::PostCreated);
    let p2 = store.create_post(&by(&a), "second post").await.unwrap();
    assert_eq!(p2.value.seq, 2);
    assert_invalid(store.create_post(&by(&a), "").await, "body");
    assert_invalid(
        store.create_post(&by(&a), &"p".repeat(10_001)).await,
        "body",
    );

    let page = store.list_posts(friend.id, a.id, None, None).await.unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![2, 1]
    );
    assert_eq!(page.next_before_seq, None);
    let own = store.list_posts(a.id, a.id, None, Some(1)).await.unwrap();
    assert_eq!(own.items[0].seq, 2);
    assert_eq!(own.next_before_seq, Some(2));
    assert_forbidden(store.list_posts(stranger.id, a.id, None, None).await);
    assert_not_found(store.list_posts(a.id, UserId(12), None, None).await);

    assert_forbidden(store.delete_post(&by(&friend), p1.value.id).await);
    assert_not_found(store.delete_post(&by(&a), PostId(77)).await);
    let del = store.delete_post(&by(&a), p1.value.id).await.unwrap();
    assert_eq!(del.deltas[0].delta.event, EventKind::PostDeleted);
    assert_not_found(store.delete_post(&by(&a), p1.value.id).await);
    let page = store.list_posts(a.id, a.id, None, None).await.unwrap();
    assert_eq!(
        page.items.iter().map(|p| p.seq).collect::<Vec<_>>(),
        vec![2]
    );
    let events = all_events(&store, friend.id, Topic::Posts(a.id)).await;
    assert_gap_free(&events);
    assert_eq!(events.len(), 3);
}

pub async fn feed_merges_self_and_friends(store: DynStore) {
    let me = new_user(&store, "fdm").await;
    let f1 = new_user(&store, "fd1").await;
    let f2 = new_user(&store, "fd2").await;
    let stranger = new_user(&store, "fdx").await;
    befriend(&store, &me, &f1).await;
    befriend(&store, &me, &f2).await;
    let mut expected = Vec::new();
    for i in 0..7 {
        let author = [&me, &f1, &f2, &stranger][i % 4];
        let p = store
            .create_post(&by(author), &format!("post {i}"))
            .await
            .unwrap()
            .value;
        if author.id != stranger.id {
            expected.push(p.id);
        }
    }
    expected.reverse();
    let mut got = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .feed(
                me.id,
                Cursor {
                    limit: Some(2),
                    cursor: cursor.clone(),
                },
            )
            .await
            .unwrap();
        got.extend(page.items.iter().map(|p| p.id));
        match page.next_cursor {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(got, expected, "self and friends, newest first, each once");
    let empty = store.feed(stranger.id, Cursor::default()).await.unwrap();
    assert_eq!(
        empty.items.len(),
        1,
        "a user without friends sees their own posts"
    );
    assert_invalid(
        store
            .feed(
                me.id,
                Cursor {
                    limit: None,
                    cursor: Some("-1".into()),
                },
            )
            .await,
        "cursor",
    );
}

pub async fn two_writers_on_one_chat(store: DynStore) {
    let a = new_user(&store, "wa").await;
    let b = new_user(&store, "wb").await;
    let chat = chat_with(&store, &a, &[&b]).await;
    const EACH: usize = 60;
    let mut tasks = Vec::new();
    for writer in [a.clone(), b.clone()] {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut offsets = Vec::new();
            for i in 0..EACH {
                let c = store
                    .post_message(&by(&writer), chat.id, &format!("{} {i}", writer.username))
                    .await
                    .unwrap();
                offsets.push(c.deltas[0].delta.offset);
            }
            offsets
        }));
    }
    let mut offsets = Vec::new();
    for t in tasks {
        let mine = t.await.unwrap();
        assert!(
            mine.windows(2).all(|w| w[0] < w[1]),
            "one writer's offsets increase"
        );
        offsets.extend(mine);
    }
    offsets.sort_unstable();
    assert_eq!(offsets, (1..=2 * EACH as u64).collect::<Vec<_>>());
    let events = all_events(&store, a.id, Topic::Chat(chat.id)).await;
    assert_gap_free(&events);
    let mut seqs: Vec<u64> = events
        .iter()
        .map(|d| d.data["seq"].as_u64().unwrap())
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, (1..=2 * EACH as u64).collect::<Vec<_>>());
}

pub async fn idempotency_replays(store: DynStore) {
    let a = new_user(&store, "ia").await;
    let b = new_user(&store, "ib").await;
    let chat = chat_with(&store, &a, &[&b]).await;
    let w = by(&a).with_key("k-1", "POST /messages {hello}");
    let first = store.post_message(&w, chat.id, "hello").await.unwrap();
    assert!(!first.replayed);
    let again = store.post_message(&w, chat.id, "hello").await.unwrap();
    assert!(again.replayed);
    assert!(again.deltas.is_empty(), "a replay emits no delta");
    assert_eq!(again.value, first.value);
    assert_eq!(store.topic_head(Topic::Chat(chat.id)).await.unwrap(), 1);
    assert_conflict(
        store
            .post_message(
                &by(&a).with_key("k-1", "POST /messages {other}"),
                chat.id,
                "other",
            )
            .await,
    );
    // Keys are per user: b may use the same key for its own request.
    let theirs = store
        .post_message(
            &by(&b).with_key("k-1", "POST /messages {hello}"),
            chat.id,
            "hello",
        )
        .await
        .unwrap();
    assert!(!theirs.replayed);
    assert_eq!(theirs.value.seq, 2);
    // A failed request records nothing: the retry runs for real.
    let wf = by(&a).with_key("k-2", "bad");
    assert_invalid(store.post_message(&wf, chat.id, "").await, "body");
    let later = store
        .post_message(&by(&a).with_key("k-2", "bad"), chat.id, "now fine")
        .await
        .unwrap();
    assert!(!later.replayed);
    // Unit answers replay too.
    let wf = by(&a).with_key("f-1", "friend");
    let r1 = store.request_friend(&wf, b.id).await.unwrap();
    let r2 = store.request_friend(&wf, b.id).await.unwrap();
    assert!(r2.replayed && r2.deltas.is_empty());
    assert_eq!(r1.value, r2.value);
    let wp = by(&a).with_key("p-1", "post");
    let p1 = store.create_post(&wp, "once").await.unwrap();
    let p2 = store.create_post(&wp, "once").await.unwrap();
    assert_eq!(p1.value, p2.value);
    assert_eq!(
        store
            .list_posts(a.id, a.id, None, None)
            .await
            .unwrap()
            .items
            .len(),
        1
    );
    assert_invalid(
        store
            .create_post(&by(&a).with_key("k".repeat(65), "x"), "too long key")
            .await,
        "Idempotency-Key",
    );
}

pub async fn topic_events_catch_up(store: DynStore) {
    let a = new_user(&store, "ta").await;
    let b = new_user(&store, "tb").await;
    let chat = chat_with(&store, &a, &[]).await;
    for i in 0..10 {
        store
            .post_message(&by(&a), chat.id, &format!("n{i}"))
            .await
            .unwrap();
    }
    let topic = Topic::Chat(chat.id);
    let page = store.topic_events(a.id, topic, 3, Some(4)).await.unwrap();
    assert_eq!(
        page.items.iter().map(|d| d.offset).collect::<Vec<_>>(),
        vec![4, 5, 6, 7]
    );
    assert_eq!(page.next_after, 7);
    assert_eq!(page.items[0].data["body"], "n3");
    let tail = store.topic_events(a.id, topic, 10, None).await.unwrap();
    assert!(tail.items.is_empty());
    assert_eq!(tail.next_after, 10);
    assert_not_found(store.topic_events(b.id, topic, 0, None).await);
    assert_forbidden(store.topic_events(b.id, Topic::User(a.id), 0, None).await);
    assert_forbidden(store.topic_events(b.id, Topic::Posts(a.id), 0, None).await);
    assert!(store
        .topic_events(b.id, Topic::User(b.id), 0, None)
        .await
        .unwrap()
        .items
        .is_empty());
    assert_eq!(store.topic_head(topic).await.unwrap(), 10);
    assert_eq!(store.topic_head(Topic::Chat(ChatId(5))).await.unwrap(), 0);

    store.compact_topic(topic, 4).await.unwrap();
    assert!(matches!(
        store.topic_events(a.id, topic, 2, None).await,
        Err(StoreError::Gone(_))
    ));
    let kept = store.topic_events(a.id, topic, 4, None).await.unwrap();
    assert_eq!(kept.items.first().map(|d| d.offset), Some(5));
    let next = store
        .post_message(&by(&a), chat.id, "after compaction")
        .await
        .unwrap();
    assert_eq!(next.deltas[0].delta.offset, 11);
    assert!(store.check().await.unwrap().is_empty());
}

pub async fn failed_writes_change_nothing(store: DynStore) {
    let a = new_user(&store, "xa").await;
    let b = new_user(&store, "xb").await;
    let chat = chat_with(&store, &a, &[&b]).await;
    store
        .post_message(&by(&b), chat.id, "theirs")
        .await
        .unwrap();
    let heads = |store: DynStore| async move {
        (
            store.topic_head(Topic::Chat(chat.id)).await.unwrap(),
            store.topic_head(Topic::User(a.id)).await.unwrap(),
            store.topic_head(Topic::Posts(a.id)).await.unwrap(),
        )
    };
    let before = heads(store.clone()).await;
    let _ = store.post_message(&by(&a), chat.id, "").await.unwrap_err();
    let _ = store
        .edit_message(&by(&a), chat.id, 1, "not mine")
        .await
        .unwrap_err();
    let _ = store.delete_message(&by(&a), chat.id, 1).await.unwrap_err();
    let _ = store.add_member(&by(&a), chat.id, b.id).await.unwrap_err();
    let _ = store
        .remove_member(&by(&b), chat.id, a.id)
        .await
        .unwrap_err();
    let _ = store.create_post(&by(&a), "").await.unwrap_err();
    let _ = store.request_friend(&by(&a), a.id).await.unwrap_err();
    let _ = store.remove_friend(&by(&a), b.id).await.unwrap_err();
    assert_eq!(heads(store.clone()).await, before);
    let page = store
        .list_messages(a.id, chat.id, None, None)
        .await
        .unwrap();
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].body, "theirs");
    assert_eq!(
        store
            .get_chat(a.id, chat.id)
            .await
            .unwrap()
            .member_ids
            .len(),
        2
    );
    // The next successful write takes the next offset: no gap was burned.
    let next = store.post_message(&by(&a), chat.id, "ok").await.unwrap();
    assert_eq!(next.deltas[0].delta.offset, before.0 + 1);
}

pub async fn deltas_carry_recipients(store: DynStore) {
    let a = new_user(&store, "ra").await;
    let b = new_user(&store, "rb").await;
    let c = new_user(&store, "rc").await;
    befriend(&store, &a, &b).await;
    let post = store.create_post(&by(&a), "to friends").await.unwrap();
    let set = |v: &[UserId]| v.iter().copied().collect::<HashSet<_>>();
    assert_eq!(set(&post.deltas[0].recipients), set(&[a.id, b.id]));
    assert_eq!(
        set(&store.topic_recipients(Topic::Posts(a.id)).await.unwrap()),
        set(&[a.id, b.id])
    );
    let chat = chat_with(&store, &a, &[&b, &c]).await;
    let msg = store.post_message(&by(&c), chat.id, "all").await.unwrap();
    assert_eq!(set(&msg.deltas[0].recipients), set(&[a.id, b.id, c.id]));
    let removed = store.remove_member(&by(&a), chat.id, c.id).await.unwrap();
    assert_eq!(
        set(&removed.deltas[0].recipients),
        set(&[a.id, b.id, c.id]),
        "the removed member hears of it"
    );
    assert_eq!(removed.deltas[1].recipients, vec![c.id]);
    let msg = store
        .post_message(&by(&b), chat.id, "without c")
        .await
        .unwrap();
    assert_eq!(set(&msg.deltas[0].recipients), set(&[a.id, b.id]));
    assert_eq!(
        store.topic_recipients(Topic::User(c.id)).await.unwrap(),
        vec![c.id]
    );
}

pub async fn checker_finds_nothing(store: DynStore) {
    let a = new_user(&store, "ka").await;
    let b = new_user(&store, "kb").await;
    befriend(&store, &a, &b).await;
    let chat = chat_with(&store, &a, &[&b]).await;
    let w = by(&a).with_key("chk", "x");
    store.post_message(&w, chat.id, "one").await.unwrap();
    store.post_message(&by(&b), chat.id, "two").await.unwrap();
    store
        .edit_message(&by(&b), chat.id, 2, "two!")
        .await
        .unwrap();
    store.delete_message(&by(&a), chat.id, 1).await.unwrap();
    store.create_post(&by(&b), "p").await.unwrap();
    store.remove_member(&by(&a), chat.id, b.id).await.unwrap();
    store.ping().await.unwrap();
    let found = store.check().await.unwrap();
    assert!(found.is_empty(), "violations: {found:?}");
}
