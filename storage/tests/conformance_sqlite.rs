//! The shared conformance suite against the embedded SQLite backend, one
//! fresh database file per case.

use std::sync::Arc;

use tidings_storage::conformance::DynStore;
use tidings_storage::{SqliteConfig, SqliteStore};

async fn fresh_store() -> DynStore {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(SqliteConfig::in_dir(dir.path())).expect("open sqlite");
    // The directory must outlive the store; the OS cleans up after the test process.
    std::mem::forget(dir);
    Arc::new(store)
}

tidings_storage::conformance_suite!(fresh_store());

#[tokio::test]
async fn the_member_limit_is_configurable() {
    use tidings_storage::conformance::new_user;
    use tidings_storage::{NewChat, StoreError, Write};

    let dir = tempfile::tempdir().unwrap();
    let mut config = SqliteConfig::in_dir(dir.path());
    config.limits.max_chat_members = 3;
    let store: DynStore = Arc::new(SqliteStore::open(config).unwrap());
    let mut users = Vec::new();
    for _ in 0..4 {
        users.push(new_user(&store, "lim").await);
    }
    let members = |n: usize| NewChat {
        title: None,
        member_ids: users[1..=n].iter().map(|u| u.id).collect(),
    };
    let chat = store
        .create_chat(&Write::by(users[0].id), members(2))
        .await
        .unwrap()
        .value;
    assert_eq!(chat.member_ids.len(), 3);
    let too_many = store.create_chat(&Write::by(users[0].id), members(3)).await;
    assert!(
        matches!(too_many, Err(StoreError::Invalid { ref field, .. }) if field == "member_ids")
    );
    let full = store
        .add_member(&Write::by(users[0].id), chat.id, users[3].id)
        .await;
    assert!(matches!(full, Err(StoreError::Invalid { ref field, .. }) if field == "user_id"));
}
