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
