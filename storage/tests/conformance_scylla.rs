//! The shared conformance suite against a real Cassandra 5.0 / ScyllaDB node.
//!
//! Needs a node: `ops/test` starts one with `ops/cassandra` and sets
//! `TIDINGS_TEST_SCYLLA=scylla://127.0.0.1:9042/<keyspace>`. Without that
//! variable these tests are ignored by `cargo test`; run with `--ignored`
//! and the variable set, they fail if the node cannot be reached. All cases
//! share one keyspace (each creates its own users), migrated once.

use std::sync::Arc;

use tidings_storage::conformance::DynStore;
use tidings_storage::scylla::{migrate, ScyllaAddress};
use tidings_storage::{Limits, ScyllaStore};
use tokio::sync::OnceCell;

static MIGRATED: OnceCell<ScyllaAddress> = OnceCell::const_new();

async fn address() -> ScyllaAddress {
    MIGRATED
        .get_or_init(|| async {
            let url = std::env::var("TIDINGS_TEST_SCYLLA")
                .expect("TIDINGS_TEST_SCYLLA=scylla://host:port/keyspace names the test node");
            let address = ScyllaAddress::parse(&url).expect("a scylla:// address");
            migrate(&address).await.expect("migrate the test keyspace");
            address
        })
        .await
        .clone()
}

async fn store() -> DynStore {
    let address = address().await;
    Arc::new(
        ScyllaStore::open(&address, Limits::default())
            .await
            .expect("open the scylla store"),
    )
}

mod suite {
    use super::store;
    tidings_storage::conformance_suite!(@ignored store());
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
