//! `tidings crashtest`: proves that no write is half-done after a crash and
//! that nothing acknowledged is lost.
//!
//! It starts a worker process (random mixed operations from several tasks),
//! lets it run for a random moment, SIGKILLs it, and repeats. Then it runs the
//! invariant checker and looks up every delta any worker acknowledged.

pub(crate) mod burst;
pub(crate) mod report;
pub(crate) mod worker;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use indicatif::{ProgressBar, ProgressStyle};
use rand::{Rng, SeedableRng};
use tidings_storage::Topic;

use crate::store_args::StoreArgs;
use report::{Acked, ACK, READY};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// How many times to kill a worker.
    #[arg(long, env = "TIDINGS_CRASH_KILLS", default_value_t = 200)]
    pub(crate) kills: usize,
    /// Longest a worker runs before it is killed, in milliseconds.
    #[arg(long, default_value_t = 60)]
    pub(crate) max_run_ms: u64,
    /// Seed for kill timing and the workers' operation mix.
    #[arg(long, default_value_t = 1)]
    pub(crate) seed: u64,
    /// Hide the progress bar (for logs).
    #[arg(long)]
    pub(crate) quiet: bool,
    /// Workers keep going when storage fails (for node-loss runs on a cluster).
    #[arg(long)]
    pub(crate) tolerate_outages: bool,
}

/// What one kill cycle produced.
struct Cycle {
    acked: Vec<Acked>,
    killed_running: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("locating the tidings binary")?;
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let started = Instant::now();
    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(args.kills as u64)
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} kills  {msg}  [{elapsed_precise}]")
            .expect("static template"),
    );
    let mut acked = Vec::new();
    let mut mid_run = 0;
    for i in 0..args.kills {
        let delay = Duration::from_millis(rng.gen_range(0..=args.max_run_ms));
        let cycle = kill_cycle(&exe, args, args.seed * 100_000 + i as u64, delay)?;
        mid_run += usize::from(cycle.killed_running);
        acked.extend(cycle.acked);
        bar.set_message(format!("{} acknowledged deltas", acked.len()));
        bar.inc(1);
    }
    bar.finish_and_clear();

    let runtime = tokio::runtime::Runtime::new()?;
    let (violations, missing) = runtime.block_on(Box::pin(verify(&args.store, &acked)))?;
    for v in &violations {
        println!("violation {v}");
    }
    for m in &missing {
        println!("lost {m}");
    }
    println!(
        "crashtest: {} kills ({} mid-run), {} acknowledged deltas, {} lost, {} violation(s), {:.1}s",
        args.kills,
        mid_run,
        acked.len(),
        missing.len(),
        violations.len(),
        started.elapsed().as_secs_f64()
    );
    if !violations.is_empty() || !missing.is_empty() {
        bail!("the store did not survive the kills intact");
    }
    Ok(())
}

fn kill_cycle(
    exe: &std::path::Path,
    args: &Args,
    seed: u64,
    delay: Duration,
) -> anyhow::Result<Cycle> {
    let mut child = Command::new(exe)
        .arg("crashtest-worker")
        .args(args.store.to_args())
        .args(args.tolerate_outages.then_some("--tolerate-outages"))
        .arg("--seed")
        .arg(seed.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .context("starting a crashtest worker")?;
    let stdout = child.stdout.take().context("worker stdout")?;
    let (ready_tx, ready_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut acked = Vec::new();
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line == READY {
                let _ = ready_tx.send(());
            } else if let Some(json) = line.strip_prefix(ACK) {
                // A line cut by the kill is not an acknowledgement.
                if let Ok(a) = serde_json::from_str::<Acked>(json) {
                    acked.push(a);
                }
            }
        }
        acked
    });
    // Kill at a random moment of the operations, not during start-up.
    let ready = ready_rx.recv_timeout(Duration::from_secs(30)).is_ok();
    if ready {
        std::thread::sleep(delay);
    }
    let killed_running = child.try_wait()?.is_none();
    if killed_running {
        child.kill().context("SIGKILL")?;
    }
    let status = child.wait()?;
    let acked = reader
        .join()
        .map_err(|_| anyhow::anyhow!("reader thread panicked"))?;
    if !killed_running {
        bail!("the worker exited by itself ({status}) instead of running until killed");
    }
    if !ready {
        bail!("the worker did not become ready within 30s");
    }
    Ok(Cycle {
        acked,
        killed_running,
    })
}

/// Runs the checker, and looks up each acknowledged delta in the event log.
async fn verify(store: &StoreArgs, acked: &[Acked]) -> anyhow::Result<(Vec<String>, Vec<String>)> {
    let store = store.open().await?;
    let violations = store
        .check()
        .await?
        .iter()
        .map(ToString::to_string)
        .collect();
    let mut missing = Vec::new();
    for a in acked {
        let topic: Topic = a.topic.parse()?;
        let page = store.read_events(topic, a.offset - 1, Some(1)).await?;
        let found = page.items.first().filter(|d| d.offset == a.offset);
        let same = found.is_some_and(|d| {
            d.event.as_str() == a.event
                && d.data.get("id").and_then(|v| v.as_str()) == a.id.as_deref()
        });
        if !same {
            missing.push(format!("{a:?} (found {found:?})"));
        }
    }
    Ok((violations, missing))
}
