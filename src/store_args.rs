//! Which store to open: the embedded SQLite file in `--data`, or a ScyllaDB
//! (or Cassandra) cluster with `--store scylla://host:port/keyspace`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::Context;
use tidings_storage::conformance::DynStore;
use tidings_storage::sqlite::Durability;
use tidings_storage::{Limits, ScyllaAddress, ScyllaStore, SqliteConfig, SqliteStore};

/// Flags naming the store.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct StoreArgs {
    /// Data directory: the embedded store's tidings.db, and local files
    /// (token key, bus certificate) for every store.
    #[arg(long, env = "TIDINGS_DATA", default_value = "./data")]
    pub(crate) data: PathBuf,
    /// A cluster instead of the embedded store:
    /// `scylla://host:port[,host:port...]/keyspace[?replication=3&dc=dc1]`.
    /// One keyspace per environment; `tidings migrate` creates it.
    #[arg(long = "store", env = "TIDINGS_STORE", value_name = "URL")]
    pub(crate) cluster: Option<String>,
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
        config.limits = self.limits();
        config.durability = if self.sqlite_sync == "normal" {
            Durability::Normal
        } else {
            Durability::Full
        };
        config
    }

    fn limits(&self) -> Limits {
        Limits {
            max_chat_members: self.max_chat_members as usize,
            ..Limits::default()
        }
    }

    /// The cluster address, when `--store` names one.
    pub(crate) fn scylla(&self) -> anyhow::Result<Option<ScyllaAddress>> {
        self.cluster
            .as_deref()
            .map(|url| ScyllaAddress::parse(url).map_err(|e| anyhow::anyhow!("--store: {e}")))
            .transpose()
    }

    /// What the store is, for logs: the SQLite file or the cluster address.
    pub(crate) fn describe(&self) -> String {
        match &self.cluster {
            Some(url) => url.clone(),
            None => format!("embedded SQLite in {}", self.data.display()),
        }
    }

    /// Opens the store. The embedded store migrates itself; a cluster's
    /// keyspace must have been migrated (`tidings migrate`), unless
    /// `migrate` is set (`tidings dev`, a single process).
    pub(crate) async fn open_with(&self, migrate: bool) -> anyhow::Result<DynStore> {
        match self.scylla()? {
            None => {
                let store = SqliteStore::open(self.sqlite_config())
                    .with_context(|| format!("opening the store in {}", self.data.display()))?;
                Ok(Arc::new(store))
            }
            Some(address) => {
                if migrate {
                    tidings_storage::scylla::migrate(&address)
                        .await
                        .with_context(|| format!("migrating {address}"))?;
                }
                let store = ScyllaStore::open(&address, self.limits())
                    .await
                    .with_context(|| format!("opening {address}"))?;
                Ok(Arc::new(store))
            }
        }
    }

    /// Opens the store without migrating a cluster.
    pub(crate) async fn open(&self) -> anyhow::Result<DynStore> {
        self.open_with(false).await
    }

    /// The flags that name this same store, for child processes.
    pub(crate) fn to_args(&self) -> Vec<OsString> {
        let mut args = vec!["--data".into(), self.data.clone().into_os_string()];
        if let Some(url) = &self.cluster {
            args.push("--store".into());
            args.push(url.into());
        }
        args.push("--max-chat-members".into());
        args.push(self.max_chat_members.to_string().into());
        args
    }
}
