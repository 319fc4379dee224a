//! `tidings loadtest`: load scenarios against a running Tidings.

use std::time::Duration;

use tidings_loadtest::idle::{self, IdlePlan};
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
    /// Hold N idle WebSocket connections to one server process and report
    /// its resident-memory growth per connection, and handshakes/s.
    Idle(IdleArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdleArgs {
    /// The server's host:port (the WebSocket endpoint is /v1/ws).
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub(crate) server: std::net::SocketAddr,
    /// The server's process id (its RSS is measured).
    #[arg(long)]
    pub(crate) server_pid: u32,
    /// The server's token key file (tokens for synthetic users are minted with it).
    #[arg(long)]
    pub(crate) token_key_file: std::path::PathBuf,
    /// Connections to hold (one process holds about `ulimit -n` sockets).
    #[arg(long, default_value_t = 19_000)]
    pub(crate) connections: usize,
    /// Distinct users the connections belong to.
    #[arg(long, default_value_t = 19_000)]
    pub(crate) users: usize,
    /// Handshakes in flight at once.
    #[arg(long, default_value_t = 200)]
    pub(crate) concurrency: usize,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
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
        Scenario::Idle(a) => {
            let key = tidings_wire::TokenKey::load_or_create(&a.token_key_file)?;
            let exp = tidings_wire::token::now_unix_s() + 24 * 3600;
            let tokens = (1..=a.users.max(1) as u64)
                .map(|u| key.issue(tidings_storage::UserId(1_000_000_000 + u), exp))
                .collect();
            let report = runtime.block_on(idle::run(IdlePlan {
                server: a.server,
                server_pid: a.server_pid,
                connections: a.connections,
                tokens,
                concurrency: a.concurrency.max(1),
                settle: Duration::from_secs(2),
                progress: !a.json,
            }))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} idle connections: server RSS {:.1} MiB -> {:.1} MiB = {:.0} bytes per connection; {:.0} handshakes/s",
                    report.connections,
                    report.rss_before_bytes as f64 / 1048576.0,
                    report.rss_after_bytes as f64 / 1048576.0,
                    report.bytes_per_connection,
                    report.handshakes_per_sec
                );
            }
            Ok(())
        }
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
