//! Which store to open: `--data DIR` for the embedded SQLite file.

use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tidings_storage::conformance::DynStore;
use tidings_storage::sqlite::Durability;
use tidings_storage::{SqliteConfig, SqliteStore};

/// Flags naming the store.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StoreArgs {
    /// Data directory of the embedded store (holds tidings.db).
    #[arg(long, env = "TIDINGS_DATA", default_value = "./data")]
    pub(crate) data: PathBuf,
    /// SQLite durability: `full` fsyncs every group commit (survives power
    /// loss); `normal` survives process crashes but may lose the last
    /// commits on power loss.
    #[arg(long, env = "TIDINGS_SQLITE_SYNC", default_value = "full", value_parser = ["full", "normal"])]
    pub(crate) sqlite_sync: String,
    /// Members a chat may hold (the contract allows up to 100,000).
    #[arg(long, env = "TIDINGS_MAX_CHAT_MEMBERS", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub(crate) max_chat_members: u32,
}

impl StoreArgs {
    /// The SQLite configuration for `--data`.
    pub(crate) fn sqlite_config(&self) -> SqliteConfig {
        let mut config = SqliteConfig::in_dir(&self.data);
        config.limits.max_chat_members = self.max_chat_members as usize;
        config.durability = if self.sqlite_sync == "normal" {
            Durability::Normal
        } else {
            Durability::Full
        };
        config
    }

    /// Opens (and migrates) the store.
    pub(crate) fn open(&self) -> anyhow::Result<DynStore> {
        let store = SqliteStore::open(self.sqlite_config())
            .with_context(|| format!("opening the store in {}", self.data.display()))?;
        Ok(Arc::new(store))
    }
}
