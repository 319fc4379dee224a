//! `tidings loadtest`: load scenarios against a running Tidings. `run` is
//! the orchestrated multi-process harness; `writes`, `fanout`, `idle` and
//! `idle-wt` are single-process benchmarks.

mod run;
mod worker;

use std::time::Duration;

use tidings_loadtest::fanout::{self, FanoutPlan, Seat};
use tidings_loadtest::idle::{self, IdlePlan};
use tidings_loadtest::writes::{self, WritesPlan};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    pub(crate) scenario: Scenario,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Scenario {
    /// The orchestrated harness: provisions users and chats, runs worker
    /// processes over every gateway, writes, verifies every delivery, and
    /// writes a report and charts (scenarios idle, fanout, chatty, churn, kill).
    Run(run::Args),
    /// One worker process of `run` (started by it).
    #[command(hide = true)]
    Worker(worker::Args),
    /// Concurrent clients posting chat messages through the api: throughput
    /// and latency percentiles. Run the server with `--rate-per-sec 0`.
    Writes(WritesArgs),
    /// Hold N idle WebSocket connections to one server process and report
    /// its resident-memory growth per connection, and handshakes/s.
    Idle(IdleArgs),
    /// Chats of many members; writers post through the api; every client
    /// verifies every delivery; deliveries/s and send-to-receipt latency.
    /// Provisions users and chats straight into the server's store.
    Fanout(FanoutArgs),
    /// Hold N idle WebTransport sessions to one gateway and report its RSS
    /// growth per session.
    IdleWt(IdleWtArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdleWtArgs {
    /// The gateway's WebTransport base URL.
    #[arg(long, default_value = "https://127.0.0.1:8081")]
    pub(crate) url: String,
    /// SHA-256 of the gateway's certificate (as it prints it).
    #[arg(long)]
    pub(crate) cert_hash: String,
    #[arg(long)]
    pub(crate) server_pid: u32,
    #[arg(long)]
    pub(crate) token_key_file: std::path::PathBuf,
    #[arg(long, default_value_t = 2000)]
    pub(crate) sessions: usize,
}

#[derive(Debug, clap::Args)]
pub(crate) struct FanoutArgs {
    /// The server's data directory (users, chats and tokens are provisioned there).
    #[command(flatten)]
    pub(crate) store: crate::store_args::StoreArgs,
    /// Base URL of an api node.
    #[arg(long, env = "TIDINGS_URL", default_value = "http://127.0.0.1:8080")]
    pub(crate) url: String,
    /// Gateway addresses (host:port), comma-separated; clients spread over them.
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:8080")]
    pub(crate) ws: Vec<std::net::SocketAddr>,
    /// WebSocket clients (one user each).
    #[arg(long, default_value_t = 2000)]
    pub(crate) users: usize,
    /// Members per chat.
    #[arg(long, default_value_t = 100)]
    pub(crate) chat_size: usize,
    /// Messages posted to each chat.
    #[arg(long, default_value_t = 20)]
    pub(crate) messages: u64,
    /// Messages per second across all chats.
    #[arg(long, default_value_t = 200)]
    pub(crate) rate: u64,
    /// Print the report as JSON.
    #[arg(long)]
    pub(crate) json: bool,
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
    /// Seconds to wait before each RSS reading.
    #[arg(long, default_value_t = 2)]
    pub(crate) settle_secs: u64,
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
    match &args.scenario {
        Scenario::Run(a) => return run::run(a),
        Scenario::Worker(a) => return worker::run(a),
        _ => {}
    }
    let runtime = tokio::runtime::Runtime::new()?;
    match &args.scenario {
        Scenario::Run(_) | Scenario::Worker(_) => Ok(()),
        Scenario::IdleWt(a) => {
            let key = tidings_wire::TokenKey::load_or_create(&a.token_key_file)?;
            let exp = tidings_wire::token::now_unix_s() + 24 * 3600;
            let tokens: Vec<String> = (1..=a.sessions as u64)
                .map(|u| key.issue(tidings_storage::UserId(2_000_000_000 + u), exp))
                .collect();
            let report = runtime
                .block_on(tidings_loadtest::idle_wt::run(
                    &a.url,
                    &a.cert_hash,
                    a.server_pid,
                    &tokens,
                    Duration::from_secs(2),
                ))
                .map_err(anyhow::Error::msg)?;
            println!("{}", serde_json::to_string_pretty(&report)?);
            Ok(())
        }
        Scenario::Fanout(a) => {
            let seats = runtime.block_on(provision_fanout(a))?;
            let report = runtime.block_on(fanout::run(FanoutPlan {
                api: a.url.clone(),
                gateways: a.ws.clone(),
                seats,
                messages_per_chat: a.messages,
                rate_per_sec: a.rate,
                progress: !a.json,
            }))?;
            if a.json {
                println!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                println!(
                    "{} clients in {} chats: {} posted, {}/{} delivered ({:.0}/s), {} lost, {} out of order; send-to-receipt ms p50 {:.2} p99 {:.2} p99.9 {:.2} max {:.2}",
                    report.clients,
                    report.chats,
                    report.messages_posted,
                    report.deliveries,
                    report.expected_deliveries,
                    report.deliveries_per_sec,
                    report.lost,
                    report.duplicates_or_disorder,
                    report.latency.p50_ms,
                    report.latency.p99_ms,
                    report.latency.p999_ms,
                    report.latency.max_ms
                );
            }
            anyhow::ensure!(
                report.lost == 0 && report.duplicates_or_disorder == 0,
                "deliveries were lost, duplicated or out of order"
            );
            Ok(())
        }
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
                settle: Duration::from_secs(a.settle_secs),
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

/// Creates `users` users in chats of `chat_size` directly in the store, and
/// mints their tokens with the server's key.
async fn provision_fanout(a: &FanoutArgs) -> anyhow::Result<Vec<Seat>> {
    use tidings_storage::password::HashCost;
    use tidings_storage::{NewChat, NewUser, PasswordHash, Write};

    let store = a.store.open().await?;
    let key = tidings_wire::TokenKey::load_or_create(&a.store.data.join("token.key"))?;
    let exp = tidings_wire::token::now_unix_s() + 24 * 3600;
    let hash = PasswordHash::hash("load-test-password", HashCost::Fast);
    let run = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() & 0xffff_ffff);
    let mut seats = Vec::with_capacity(a.users);
    let mut ids = Vec::new();
    for i in 0..a.users {
        let user = store
            .create_user(NewUser {
                username: format!("f{run:x}_{i}"),
                display_name: None,
                password: hash.clone(),
            })
            .await?;
        ids.push(user.id);
    }
    for group in ids.chunks(a.chat_size.max(1)) {
        let chat = store
            .create_chat(
                &Write::by(group[0]),
                NewChat {
                    title: Some("fanout".into()),
                    member_ids: group.to_vec(),
                },
            )
            .await?
            .value;
        for id in group {
            seats.push(Seat {
                token: key.issue(*id, exp),
                chat: chat.id.to_string(),
            });
        }
    }
    Ok(seats)
}
