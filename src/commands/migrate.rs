//! `tidings migrate`: apply pending schema migrations and report the version.

use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    if let Some(address) = args.store.scylla()? {
        let runtime = tokio::runtime::Runtime::new()?;
        let version = runtime.block_on(tidings_storage::scylla::migrate(&address))?;
        println!(
            "keyspace {} (replication {}) is at schema version {version}",
            address.keyspace, address.replication
        );
        return Ok(());
    }
    let config = args.store.sqlite_config();
    if let Some(dir) = config.path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let version = tidings_storage::SqliteStore::migrate(&config)?;
    println!(
        "sqlite store {} is at schema version {version}",
        config.path.display()
    );
    Ok(())
}
