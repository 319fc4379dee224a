//! `tidings loadtest`: load scenarios against a running Tidings.

use std::time::Duration;

use tidings_loadtest::writes::{self, WritesPlan};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Scenario {
    /// Concurrent clients posting chat messages through the api: throughput
    /// and latency percentiles. Run the server with `--rate-per-sec 0`.
    Writes(WritesArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct WritesArgs {
    /// Base URL of the api.
    #[arg(long, env = "TIDINGS_URL", default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Concurrent clients (one user, chat and connection each).
    #[arg(long, default_value_t = 64)]
    pub(crate) clients: usize,
    /// Measured seconds.
    #[arg(long, default_value_t = 20)]
    pub(crate) duration: u64,
    /// Seconds run before measuring.
    #[arg(long, default_value_t = 3)]
    pub(crate) warmup: u64,
    /// Message body size in bytes.
    #[arg(long, default_value_t = 64)]
    pub(crate) body_bytes: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new()?;
    match &args.scenario {
        Scenario::Writes(w) => {
            let report = runtime.block_on(writes::run(WritesPlan {
                base_url: w.url.clone(),
                clients: w.clients,
                duration: Duration::from_secs(w.duration),
                warmup: Duration::from_secs(w.warmup),
                body_bytes: w.body_bytes,
                progress: !w.json,
            }))?;
            if w.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} clients, {:.0} s: {} messages ({:.0}/s), {} errors; latency ms p50 {:.2} p90 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}",
                    report.clients,
                    report.seconds,
                    report.messages,
                    report.messages_per_sec,
                    report.errors,
                    report.latency.p50_ms,
                    report.latency.p90_ms,
                    report.latency.p99_ms,
                    report.latency.p999_ms,
                    report.latency.max_ms
                );
            }
            Ok(())
        }
    }
}
