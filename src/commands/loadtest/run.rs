//! `tidings loadtest run --scenario NAME`: the orchestrated, multi-process
//! load test. It provisions users and chats straight into the store,
//! starts worker processes (each within its descriptor budget) that
//! connect over every gateway, writes through the api, verifies every
//! delivery, and leaves a report and charts in `results/<UTC>-<scenario>/`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::Context;
use rand::{Rng, SeedableRng};
use tidings_loadtest::harness::run::RunPlan;
use tidings_loadtest::harness::writer::ChatTarget;
use tidings_loadtest::harness::{budget, plan::WorkerSeat, plots, run};
use tidings_storage::password::HashCost;
use tidings_storage::{NewChat, NewUser, PasswordHash, Write};

/// The scenarios.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scenario {
    /// Connect N and hold them: gateway memory per connection.
    Idle,
    /// Large group chats (`--chat-size`): deliveries/s and latency.
    Fanout,
    /// Many small chats, sizes uniform in `--min-chat..=--max-chat`.
    Chatty,
    /// Chatty, while clients disconnect and resume with their last offsets.
    Churn,
    /// Chatty, and `kill -9` of the first gateway mid-run: its clients
    /// reconnect to the others and resume.
    Kill,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Self::Idle => "idle",
            Self::Fanout => "fanout",
            Self::Chatty => "chatty",
            Self::Churn => "churn",
            Self::Kill => "kill",
        }
    }
}

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[arg(long, env = "TIDINGS_LOAD_SCENARIO", value_enum)]
    pub(crate) scenario: Scenario,
    /// A cluster's environment file (`ops/cluster` writes DATA/cluster.env):
    /// gateways, apis, their pids and the data directory.
    #[arg(long, env = "TIDINGS_CLUSTER_ENV")]
    pub(crate) cluster_env: Option<PathBuf>,
    /// The store to provision into (ignored with --cluster-env, which names it).
    #[command(flatten)]
    pub(crate) store: crate::store_args::StoreArgs,
    /// Gateway WebSocket addresses (without --cluster-env).
    #[arg(
        long,
        env = "TIDINGS_LOAD_WS",
        value_delimiter = ',',
        default_value = "127.0.0.1:8080"
    )]
    pub(crate) ws: Vec<SocketAddr>,
    /// Api base URLs (without --cluster-env).
    #[arg(
        long,
        env = "TIDINGS_LOAD_API",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    pub(crate) api: Vec<String>,
    /// Gateway pids whose RSS is followed (without --cluster-env).
    #[arg(long, env = "TIDINGS_LOAD_GATEWAY_PIDS", value_delimiter = ',')]
    pub(crate) gateway_pids: Vec<u32>,
    /// Api pids whose RSS is followed (without --cluster-env).
    #[arg(long, env = "TIDINGS_LOAD_API_PIDS", value_delimiter = ',')]
    pub(crate) api_pids: Vec<u32>,
    /// Clients (one user and one WebSocket each).
    #[arg(long, env = "TIDINGS_LOAD_USERS", default_value_t = 2000)]
    pub(crate) users: usize,
    /// Members per chat (fanout).
    #[arg(long, env = "TIDINGS_LOAD_CHAT_SIZE", default_value_t = 1000)]
    pub(crate) chat_size: usize,
    /// Smallest chat (chatty, churn, kill).
    #[arg(long, env = "TIDINGS_LOAD_MIN_CHAT", default_value_t = 2)]
    pub(crate) min_chat: usize,
    /// Largest chat (chatty, churn, kill).
    #[arg(long, env = "TIDINGS_LOAD_MAX_CHAT", default_value_t = 50)]
    pub(crate) max_chat: usize,
    /// Messages per second, over all chats.
    #[arg(long, env = "TIDINGS_LOAD_RATE", default_value_t = 200.0)]
    pub(crate) rate: f64,
    /// Concurrent writer connections.
    #[arg(long, env = "TIDINGS_LOAD_WRITERS", default_value_t = 16)]
    pub(crate) writers: usize,
    /// Seconds of writing.
    #[arg(long, env = "TIDINGS_LOAD_WRITE_SECS", default_value_t = 20)]
    pub(crate) write_secs: u64,
    /// Seconds an idle run holds its connections.
    #[arg(long, env = "TIDINGS_LOAD_HOLD_SECS", default_value_t = 10)]
    pub(crate) hold_secs: u64,
    /// New connections per second, over all workers.
    #[arg(long, env = "TIDINGS_LOAD_RAMP", default_value_t = 2000.0)]
    pub(crate) ramp: f64,
    /// Churn: mean seconds between one client's disconnects.
    #[arg(long, env = "TIDINGS_LOAD_CHURN_SECS", default_value_t = 8.0)]
    pub(crate) churn_secs: f64,
    /// Kill: seconds into the writes when the first gateway is killed
    /// (default: a third of --write-secs).
    #[arg(long, env = "TIDINGS_LOAD_KILL_AFTER")]
    pub(crate) kill_after: Option<u64>,
    /// Fewest worker processes (more are started when the descriptor
    /// budget requires it).
    #[arg(long, env = "TIDINGS_LOAD_WORKERS", default_value_t = 1)]
    pub(crate) workers: usize,
    /// Descriptors each worker keeps free below the hard `ulimit -n`.
    #[arg(long, env = "TIDINGS_LOAD_FD_MARGIN", default_value_t = budget::MARGIN)]
    pub(crate) fd_margin: u64,
    /// Most seconds to wait for every client to connect.
    #[arg(long, env = "TIDINGS_LOAD_CONNECT_TIMEOUT", default_value_t = 300)]
    pub(crate) connect_timeout: u64,
    /// Most seconds, after the writes, for clients to reach their heads.
    #[arg(long, env = "TIDINGS_LOAD_DRAIN_SECS", default_value_t = 120)]
    pub(crate) drain_secs: u64,
    /// Where results folders are created.
    #[arg(long, env = "TIDINGS_LOAD_RESULTS", default_value = "results")]
    pub(crate) results: PathBuf,
    /// Seed of the chat-size draw.
    #[arg(long, env = "TIDINGS_LOAD_SEED", default_value_t = 1)]
    pub(crate) seed: u64,
    /// Also post to an unwatched chat every 5 s, to keep deltas flowing on
    /// every api-to-gateway bus connection (older builds' bus idled out and
    /// lost the next delta; the bus now has keep-alives of its own).
    #[arg(long, env = "TIDINGS_LOAD_BUS_KEEPALIVE_POSTS")]
    pub(crate) bus_keepalive_posts: bool,
    /// No progress bar (for scripts and CI logs).
    #[arg(long, env = "TIDINGS_LOAD_QUIET")]
    pub(crate) quiet: bool,
}

/// What a cluster.env names.
#[derive(Debug, Default)]
struct ClusterEnv {
    gateways: Vec<SocketAddr>,
    apis: Vec<String>,
    pids: Vec<u32>,
    data: Option<PathBuf>,
}

fn read_cluster_env(path: &Path) -> anyhow::Result<ClusterEnv> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut env = ClusterEnv::default();
    for line in text.lines() {
        let Some((k, v)) = line.split_once('=') else {
            continue;
        };
        let v = v.trim().trim_matches('"');
        let list = || v.split([',', ' ']).filter(|s| !s.is_empty());
        match k.trim() {
            "GATEWAYS" => env.gateways = list().map(str::parse).collect::<Result<_, _>>()?,
            "APIS" => env.apis = list().map(str::to_owned).collect(),
            "PIDS" => env.pids = list().map(str::parse).collect::<Result<_, _>>()?,
            "DATA" => env.data = Some(PathBuf::from(v)),
            _ => {}
        }
    }
    anyhow::ensure!(
        !env.gateways.is_empty(),
        "no GATEWAYS in {}",
        path.display()
    );
    Ok(env)
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    let mut store = args.store.clone();
    let (gateways, apis, gateway_pids, api_pids) = if let Some(path) = &args.cluster_env {
        let env = read_cluster_env(path)?;
        if let Some(d) = env.data {
            store.data = d;
        }
        // ops/cluster starts the gateways first, then the apis.
        let k = env.gateways.len().min(env.pids.len());
        (
            env.gateways,
            env.apis,
            env.pids[..k].to_vec(),
            env.pids[k..].to_vec(),
        )
    } else {
        (
            args.ws.clone(),
            args.api.clone(),
            args.gateway_pids.clone(),
            args.api_pids.clone(),
        )
    };
    anyhow::ensure!(args.users > 0, "--users must be positive");
    let scenario = args.scenario;
    if scenario == Scenario::Kill {
        anyhow::ensure!(
            gateways.len() >= 2 && !gateway_pids.is_empty(),
            "kill needs at least two gateways and their pids (--cluster-env)"
        );
    }
    let hard = budget::hard_limit();
    let per_worker = budget::per_worker(hard, args.fd_margin);
    let out_dir = args
        .results
        .join(format!("{}-{}", utc_stamp(), scenario.name()));
    let runtime = tokio::runtime::Runtime::new()?;
    let started = std::time::Instant::now();
    let (seats, chats, keepalive) = runtime.block_on(provision(args, &store))?;
    eprintln!(
        "provisioned {} users in {} chats in {:.1} s; {} gateways, {} apis; hard fd limit {:?}: {} sockets per worker",
        seats.len(),
        chats.len(),
        started.elapsed().as_secs_f64(),
        gateways.len(),
        apis.len(),
        hard,
        per_worker
    );
    let plan = RunPlan {
        scenario: scenario.name().to_owned(),
        exe: std::env::current_exe()?,
        seats,
        chats,
        gateways,
        gateway_pids,
        apis,
        api_pids,
        per_worker,
        min_workers: args.workers.max(1),
        ramp_per_sec: args.ramp,
        rate_per_sec: if scenario == Scenario::Idle {
            0.0
        } else {
            args.rate
        },
        writers: args.writers,
        write_secs: args.write_secs,
        hold_secs: args.hold_secs,
        churn_mean_secs: (scenario == Scenario::Churn).then_some(args.churn_secs),
        kill_after_secs: (scenario == Scenario::Kill)
            .then(|| args.kill_after.unwrap_or(args.write_secs / 3)),
        connect_timeout_secs: args.connect_timeout,
        drain_secs: args.drain_secs,
        out_dir: out_dir.clone(),
        progress: !args.quiet,
        bus_keepalive: args.bus_keepalive_posts.then_some(keepalive),
    };
    let report = runtime.block_on(run::run(plan))?;
    let command = std::env::args().collect::<Vec<_>>().join(" ");
    report.write(&out_dir, &command)?;
    let text = plots::draw_all(&report, &out_dir)?;
    println!("{}", report.summary_line());
    println!(
        "results in {}{}",
        out_dir.display(),
        if text {
            ""
        } else {
            " (charts without text: no font found)"
        }
    );
    anyhow::ensure!(
        report.verified(),
        "verification failed: lost {}, duplicated {}, gaps {}, {} of {} deliveries, {} workers without a report",
        report.problems.lost,
        report.problems.duplicates,
        report.problems.gaps,
        report.deliveries,
        report.expected_deliveries,
        report.workers_without_report
    );
    Ok(())
}

/// Creates the users and chats straight in the store (many writes in flight,
/// so the store's group commit batches them) and mints the tokens.
async fn provision(
    args: &Args,
    store_args: &crate::store_args::StoreArgs,
) -> anyhow::Result<(Vec<WorkerSeat>, Vec<ChatTarget>, ChatTarget)> {
    let mut store_args = store_args.clone();
    let largest = match args.scenario {
        Scenario::Fanout => args.chat_size,
        _ => args.max_chat,
    };
    store_args.max_chat_members = store_args.max_chat_members.max(largest.min(100_000) as u32);
    let store = store_args.open().await?;
    let key = tidings_wire::TokenKey::load_or_create(&store_args.data.join("token.key"))?;
    let exp = tidings_wire::token::now_unix_s() + 24 * 3600;
    let hash = PasswordHash::hash("load-test-password", HashCost::Fast);
    let run = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() & 0xffff_ffff);

    let mut ids = Vec::with_capacity(args.users);
    let mut tasks = tokio::task::JoinSet::new();
    for chunk_start in (0..args.users).step_by(512) {
        for i in chunk_start..(chunk_start + 512).min(args.users) {
            let (store, hash) = (store.clone(), hash.clone());
            tasks.spawn(async move {
                store
                    .create_user(NewUser {
                        username: format!("l{run:x}_{i}"),
                        display_name: None,
                        password: hash,
                    })
                    .await
                    .map(|u| (i, u.id))
            });
        }
        while let Some(r) = tasks.join_next().await {
            ids.push(r??);
        }
    }
    ids.sort_unstable_by_key(|(i, _)| *i);
    let ids: Vec<_> = ids.into_iter().map(|(_, id)| id).collect();

    // Chat sizes: fixed for fanout, uniform in [min, max] otherwise.
    let mut rng = rand::rngs::StdRng::seed_from_u64(args.seed);
    let mut groups = Vec::new();
    let mut at = 0;
    while at < ids.len() {
        let size = match args.scenario {
            Scenario::Fanout => args.chat_size.max(1),
            _ => rng.gen_range(args.min_chat.max(1)..=args.max_chat.max(args.min_chat.max(1))),
        };
        let end = (at + size).min(ids.len());
        groups.push(ids[at..end].to_vec());
        at = end;
    }
    let mut chats = Vec::with_capacity(groups.len());
    for batch in groups.chunks(256) {
        let mut tasks = tokio::task::JoinSet::new();
        for group in batch {
            let (store, group) = (store.clone(), group.clone());
            tasks.spawn(async move {
                let chat = store
                    .create_chat(
                        &Write::by(group[0]),
                        NewChat {
                            title: Some("load".into()),
                            member_ids: group.clone(),
                        },
                    )
                    .await?
                    .value;
                Ok::<_, tidings_storage::StoreError>((chat, group))
            });
        }
        while let Some(r) = tasks.join_next().await {
            chats.push(r??);
        }
    }
    chats.sort_unstable_by_key(|(c, _)| c.id.0);
    let mut seats = Vec::with_capacity(ids.len());
    let mut targets = Vec::with_capacity(chats.len());
    for (chat, group) in &chats {
        targets.push(ChatTarget {
            chat: chat.id.0,
            token: key.issue(group[0], exp),
        });
        for id in group {
            seats.push(WorkerSeat {
                token: key.issue(*id, exp),
                chat: chat.id.0,
                base: chat.last_offset,
            });
        }
    }
    // The keep-alive chat: one member, no client.
    let lone = store
        .create_user(NewUser {
            username: format!("l{run:x}_keepalive"),
            display_name: None,
            password: hash,
        })
        .await?;
    let chat = store
        .create_chat(
            &Write::by(lone.id),
            NewChat {
                title: Some("keep-alive".into()),
                member_ids: vec![lone.id],
            },
        )
        .await?
        .value;
    let keepalive = ChatTarget {
        chat: chat.id.0,
        token: key.issue(lone.id, exp),
    };
    Ok((seats, targets, keepalive))
}

/// `YYYYMMDDTHHMMSSZ` for now, without a calendar library.
fn utc_stamp() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}
