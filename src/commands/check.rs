//! `tidings check`: run the invariant checker and print every violation.
//! Exits 0 when none is found and 1 otherwise.

use anyhow::bail;

use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let scylla = args.store.scylla()?;
    let db = args.store.sqlite_config().path;
    if scylla.is_none() && !db.exists() {
        bail!("no store at {}", db.display());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let violations = runtime.block_on(Box::pin(async {
        let store = args.store.open().await?;
        anyhow::Ok(store.check().await?)
    }))?;
    for v in &violations {
        println!("violation {v}");
    }
    let invariants = if scylla.is_some() {
        tidings_storage::scylla::INVARIANTS.len()
    } else {
        tidings_storage::sqlite::invariant_names().len()
    };
    println!(
        "checked {invariants} invariants of {}: {} violation(s)",
        args.store.describe(),
        violations.len()
    );
    if !violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
