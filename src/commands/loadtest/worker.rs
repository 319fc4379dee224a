//! `tidings loadtest worker --plan FILE` (hidden): one worker process of a
//! harness run, started by `tidings loadtest run`; it speaks JSON lines on
//! stdin and stdout.

use std::path::PathBuf;

use tidings_loadtest::harness::{budget, plan::WorkerPlan, worker};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The plan file the parent wrote.
    #[arg(long)]
    pub(crate) plan: PathBuf,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    // The parent sized this worker to the hard limit; use all of it.
    budget::raise_soft_limit()?;
    let plan = WorkerPlan::load(&args.plan)?;
    tracing::info!(
        worker = plan.worker,
        seats = plan.seats.len(),
        "worker starting"
    );
    // One thread per worker: the parent runs several, and the box has few cores.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(worker::run(plan))?;
    Ok(())
}
