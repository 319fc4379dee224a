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
    let db = args.store.sqlite_config().path;
    if !db.exists() {
        bail!("no store at {}", db.display());
    }
    let runtime = tokio::runtime::Runtime::new()?;
    let violations = runtime.block_on(async {
        let store = args.store.open()?;
        anyhow::Ok(store.check().await?)
    })?;
    for v in &violations {
        println!("violation {v}");
    }
    println!(
        "checked {} invariants of {}: {} violation(s)",
        tidings_storage::sqlite::invariant_names().len(),
        db.display(),
        violations.len()
    );
    if !violations.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}
