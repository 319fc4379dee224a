//! The shared conformance suite against a real Cassandra 5.0 / ScyllaDB node.
//!
//! Needs a node: `ops/test` starts one with `ops/cassandra` and sets
//! `TIDINGS_TEST_SCYLLA=scylla://127.0.0.1:9042/<keyspace>`. Without that
//! variable these tests are ignored by `cargo test`; run with `--ignored`
//! and the variable set, they fail if the node cannot be reached. All cases
//! share one keyspace (each creates its own users), migrated once; the whole
//! suite runs a second time on a keyspace with tiny buckets (16 messages or
//! posts, 8 events), so every case crosses partition boundaries.

use std::sync::Arc;

use tidings_storage::conformance::DynStore;
use tidings_storage::scylla::{migrate, ScyllaAddress};
use tidings_storage::{Limits, ScyllaStore};
use tokio::sync::OnceCell;

static MIGRATED: OnceCell<ScyllaAddress> = OnceCell::const_new();
static MIGRATED_SMALL: OnceCell<ScyllaAddress> = OnceCell::const_new();

async fn migrated(cell: &OnceCell<ScyllaAddress>, suffix: &str, options: &str) -> ScyllaAddress {
    cell.get_or_init(|| async {
        let url = std::env::var("TIDINGS_TEST_SCYLLA")
            .expect("TIDINGS_TEST_SCYLLA=scylla://host:port/keyspace names the test node");
        let address =
            ScyllaAddress::parse(&format!("{url}{suffix}{options}")).expect("a scylla:// address");
        migrate(&address).await.expect("migrate the test keyspace");
        address
    })
    .await
    .clone()
}

async fn address() -> ScyllaAddress {
    migrated(&MIGRATED, "", "").await
}

async fn open(address: ScyllaAddress) -> DynStore {
    Arc::new(
        ScyllaStore::open(&address, Limits::default())
            .await
            .expect("open the scylla store"),
    )
}

async fn store() -> DynStore {
    open(address().await).await
}

async fn small_buckets() -> DynStore {
    let address = migrated(
        &MIGRATED_SMALL,
        "_small",
        "?message_bucket=16&post_bucket=16&event_bucket=8",
    )
    .await;
    open(address).await
}

mod suite {
    use super::store;
    tidings_storage::conformance_suite!(@ignored store());
}

mod suite_small_buckets {
    use super::small_buckets;
    tidings_storage::conformance_suite!(@ignored small_buckets());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"]
async fn migrate_twice_changes_nothing() {
    let address = address().await;
    assert_eq!(
        migrate(&address).await.unwrap(),
        tidings_storage::scylla::schema::SCHEMA_VERSION
    );
    assert_eq!(
        migrate(&address).await.unwrap(),
        tidings_storage::scylla::schema::SCHEMA_VERSION
    );
}

/// Paging crosses message buckets (16 seqs each here), and a bucket whose
/// messages were all deleted drops out of the listing that paging walks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a Cassandra or ScyllaDB node (ops/test starts one)"]
async fn paging_crosses_buckets_and_skips_an_emptied_one() {
    use tidings_storage::conformance::new_user;
    use tidings_storage::{NewChat, Write};

    const MESSAGE_BUCKET: u64 = 16;
    let store = small_buckets().await;
    let owner = new_user(&store, "bkt").await;
    let w = Write::by(owner.id);
    let chat = store
        .create_chat(&w, NewChat::default())
        .await
        .unwrap()
        .value;
    // Seqs 1..=2*B+5: buckets 0 (1..B-1), 1 (B..2B-1) and 2 (2B..).
    let total = 2 * MESSAGE_BUCKET + 5;
    for seq in 1..=total {
        store
            .post_message(&w, chat.id, &format!("m{seq}"))
            .await
            .unwrap();
    }
    for seq in MESSAGE_BUCKET..2 * MESSAGE_BUCKET {
        store.delete_message(&w, chat.id, seq).await.unwrap();
    }
    let mut seen = Vec::new();
    let mut before = None;
    loop {
        let page = store
            .list_messages(owner.id, chat.id, before, Some(7))
            .await
            .unwrap();
        seen.extend(page.items.iter().map(|m| m.seq));
        match page.next_before_seq {
            Some(b) => before = Some(b),
            None => break,
        }
    }
    let want: Vec<u64> = (1..MESSAGE_BUCKET)
        .chain(2 * MESSAGE_BUCKET..=total)
        .rev()
        .collect();
    assert_eq!(seen, want);
    assert!(store.check().await.unwrap().is_empty());
}
