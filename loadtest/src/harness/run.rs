//! The parent of a harness run: splits the clients over worker processes,
//! follows their progress lines, ramps, writes, kills a gateway if asked,
//! tells the workers the chats' heads, collects their final tallies, and
//! builds the report. Every phase has a time bound.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hdrhistogram::Histogram;
use indicatif::{ProgressBar, ProgressStyle};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, Command};
use tokio::sync::mpsc;
use tokio::time::Instant;

use super::client::lock;
use super::plan::{WorkerPlan, WorkerSeat};
use super::proto::{Counters, ParentLine, WorkerLine};
use super::report::{Memory, RunReport, Tick};
use super::rss::{self, Watched};
use super::verify::Problems;
use super::writer::{self, ChatTarget, WritePlan};
use super::{budget, histo, HarnessError};
use crate::latency::{histogram, Summary};

/// Everything a run needs; the binary provisions the seats.
#[derive(Debug, Clone)]
pub struct RunPlan {
    pub scenario: String,
    /// This binary: workers are `exe loadtest worker --plan FILE`.
    pub exe: PathBuf,
    pub seats: Vec<WorkerSeat>,
    /// One member's token per chat, for the writers.
    pub chats: Vec<ChatTarget>,
    pub gateways: Vec<SocketAddr>,
    pub gateway_pids: Vec<u32>,
    pub apis: Vec<String>,
    pub api_pids: Vec<u32>,
    /// Sockets one worker may hold.
    pub per_worker: u64,
    pub min_workers: usize,
    pub ramp_per_sec: f64,
    pub rate_per_sec: f64,
    pub writers: usize,
    pub write_secs: u64,
    /// Idle: how long connections are held after the ramp.
    pub hold_secs: u64,
    pub churn_mean_secs: Option<f64>,
    /// SIGKILL the first gateway this many seconds into the writes.
    pub kill_after_secs: Option<u64>,
    pub connect_timeout_secs: u64,
    pub drain_secs: u64,
    pub out_dir: PathBuf,
    pub progress: bool,
    /// A chat no client watches, posted to every few seconds from start to
    /// end, when asked for (see `--bus-keepalive-posts`).
    pub bus_keepalive: Option<ChatTarget>,
}

/// What the monitor gathers from the workers' lines.
#[derive(Debug)]
struct Agg {
    latest: Vec<Counters>,
    finals: Vec<Option<Counters>>,
    total: Histogram<u64>,
    total_replay: Histogram<u64>,
    /// Live latencies since the last tick.
    interval: Histogram<u64>,
    timeline: Vec<Tick>,
    phase: &'static str,
    /// Workers whose final tally was not checked against the heads.
    incomplete: usize,
}

impl Agg {
    fn sum(&self) -> Counters {
        let mut s = Counters::default();
        for c in &self.latest {
            s.connected += c.connected;
            s.ever_connected += c.ever_connected;
            s.deliveries += c.deliveries;
            s.replayed += c.replayed;
            s.reconnects += c.reconnects;
            s.connect_failures += c.connect_failures;
            s.resyncs += c.resyncs;
            s.problems.add(&c.problems);
        }
        s
    }
}

struct Worker {
    child: Child,
    stdin: Option<ChildStdin>,
}

/// Runs the scenario end to end.
pub async fn run(plan: RunPlan) -> Result<RunReport, HarnessError> {
    std::fs::create_dir_all(&plan.out_dir)?;
    let n = plan.seats.len();
    let workers = plan
        .min_workers
        .max(budget::workers_for(n as u64, plan.per_worker) as usize);
    let per = n.div_ceil(workers).max(1);
    anyhow_like(
        per as u64 <= plan.per_worker,
        "more sockets per worker than its budget",
    )?;
    let mut watched: Vec<Watched> = Vec::new();
    for (i, pid) in plan.gateway_pids.iter().enumerate() {
        watched.push(Watched {
            name: format!("gateway-{}", i + 1),
            pid: *pid,
        });
    }
    for (i, pid) in plan.api_pids.iter().enumerate() {
        watched.push(Watched {
            name: format!("api-{}", i + 1),
            pid: *pid,
        });
    }
    let rss_before = rss::sample(&watched);
    let gateways_before = rss::sum_of(&watched, &rss_before, "gateway");

    // Workers, each with its slice of seats.
    let plans_dir = plan.out_dir.join("plans");
    std::fs::create_dir_all(&plans_dir)?;
    let (tx, mut rx) = mpsc::unbounded_channel::<(usize, WorkerLine)>();
    let mut procs = Vec::with_capacity(workers);
    let deadline_secs =
        plan.connect_timeout_secs + plan.write_secs + plan.hold_secs + plan.drain_secs + 60;
    for w in 0..workers {
        let from = (w * per).min(n);
        let to = ((w + 1) * per).min(n);
        let wp = WorkerPlan {
            worker: w,
            seats: plan.seats[from..to].to_vec(),
            gateways: plan.gateways.clone(),
            first_gateway: from % plan.gateways.len().max(1),
            apis: plan.apis.clone(),
            ramp_per_sec: plan.ramp_per_sec / workers as f64,
            churn_mean_secs: plan.churn_mean_secs,
            report_ms: 1000,
            deadline_secs,
        };
        let path = plans_dir.join(format!("worker-{w}.json"));
        wp.save(&path)?;
        let log = std::fs::File::create(plan.out_dir.join(format!("worker-{w}.log")))?;
        let mut child = Command::new(&plan.exe)
            .args(["loadtest", "worker", "--plan"])
            .arg(&path)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()?;
        if let Some(pid) = child.id() {
            watched.push(Watched {
                name: format!("worker-{w}"),
                pid,
            });
        }
        let stdout = child
            .stdout
            .take()
            .ok_or_else(|| HarnessError::Other("no stdout".into()))?;
        let tx = tx.clone();
        tokio::spawn(async move {
            let mut lines = tokio::io::BufReader::new(stdout).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                match serde_json::from_str::<WorkerLine>(&line) {
                    Ok(l) => {
                        let _ = tx.send((w, l));
                    }
                    Err(e) => tracing::warn!(worker = w, %e, "unreadable worker line"),
                }
            }
        });
        let stdin = child.stdin.take();
        procs.push(Worker { child, stdin });
    }
    drop(tx);

    let agg = Arc::new(Mutex::new(Agg {
        latest: vec![Counters::default(); workers],
        finals: vec![None; workers],
        total: histogram(),
        total_replay: histogram(),
        interval: histogram(),
        timeline: Vec::new(),
        phase: "connecting",
        incomplete: 0,
    }));
    let bar = if plan.progress {
        ProgressBar::new(n as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} connected  {msg}")
            .expect("static template")
            .progress_chars("=> "),
    );
    let started = Instant::now();
    let posted = Arc::new(AtomicU64::new(0));
    let keepalive = plan.bus_keepalive.clone().map(|target| {
        let apis = plan.apis.clone();
        tokio::spawn(async move {
            let mut n = 0u64;
            loop {
                for api in &apis {
                    if let Err(e) = writer::post_once(api, &target, &format!("keepalive {n}")).await
                    {
                        tracing::debug!(%e, "keep-alive post failed");
                    }
                }
                n += 1;
                tokio::time::sleep(Duration::from_secs(5)).await;
            }
        })
    });
    // The monitor: merges worker lines, and once a second samples memory,
    // appends a tick to the timeline and redraws the bar.
    let monitor = {
        let (agg, bar, watched, posted) =
            (agg.clone(), bar.clone(), watched.clone(), posted.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            let mut prev_delivered = 0u64;
            let mut prev_posted = 0u64;
            loop {
                tokio::select! {
                    line = rx.recv() => {
                        let Some((w, line)) = line else { break };
                        let mut a = lock(&agg);
                        let (counters, hist, replay, last) = match line {
                            WorkerLine::Progress { counters, hist, replay_hist } => (counters, hist, replay_hist, None),
                            WorkerLine::Final { complete, counters, hist, replay_hist } => {
                                if !complete {
                                    tracing::warn!(worker = w, "worker stopped before it knew the heads");
                                }
                                (counters, hist, replay_hist, Some(complete))
                            }
                        };
                        if let Ok(h) = histo::decode(&hist) {
                            let _ = a.total.add(&h);
                            let _ = a.interval.add(&h);
                        }
                        if let Ok(h) = histo::decode(&replay) {
                            let _ = a.total_replay.add(&h);
                        }
                        if let Some(complete) = last {
                            a.finals[w] = Some(counters.clone());
                            if !complete {
                                a.incomplete += 1;
                            }
                        }
                        a.latest[w] = counters;
                    }
                    _ = tick.tick() => {
                        let rss = rss::sample(&watched);
                        let mut a = lock(&agg);
                        let s = a.sum();
                        let delivered = s.deliveries + s.replayed;
                        let p = posted.load(Ordering::Relaxed);
                        let q = |h: &Histogram<u64>, q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
                        let t = Tick {
                            t_secs: started.elapsed().as_secs_f64(),
                            phase: a.phase.to_owned(),
                            connected: s.connected,
                            deliveries_per_sec: delivered.saturating_sub(prev_delivered) as f64,
                            posts_per_sec: p.saturating_sub(prev_posted) as f64,
                            p50_ms: q(&a.interval, 0.5),
                            p99_ms: q(&a.interval, 0.99),
                            p999_ms: q(&a.interval, 0.999),
                            rss_bytes: rss,
                        };
                        prev_delivered = delivered;
                        prev_posted = p;
                        a.interval.reset();
                        bar.set_position(s.connected);
                        bar.set_message(format!(
                            "{}  {:.0} deliveries/s  p99 {:.1} ms  {} reconnects  {} wrong",
                            t.phase, t.deliveries_per_sec, t.p99_ms, s.reconnects,
                            s.problems.duplicates + s.problems.gaps
                        ));
                        a.timeline.push(t);
                    }
                }
            }
        })
    };
    let set_phase = |p: &'static str| lock(&agg).phase = p;

    // Ramp: wait until every client has connected once.
    let connect_deadline = started + Duration::from_secs(plan.connect_timeout_secs);
    while Instant::now() < connect_deadline {
        let s = lock(&agg).sum();
        if s.ever_connected >= n as u64 {
            break;
        }
        if lock(&agg).finals.iter().all(Option::is_some) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let ramp_secs = started.elapsed().as_secs_f64();
    set_phase("settling");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = lock(&agg).sum().connected;
    let rss_loaded = rss::sample(&watched);
    let gateways_loaded = rss::sum_of(&watched, &rss_loaded, "gateway");

    // Load: hold idle, or write (maybe killing a gateway on the way).
    let write_started = Instant::now();
    let delivered_before = {
        let s = lock(&agg).sum();
        s.deliveries + s.replayed
    };
    let mut retries = 0;
    let mut killed = None;
    if plan.rate_per_sec > 0.0 && plan.write_secs > 0 {
        set_phase("writing");
        let wp = WritePlan {
            apis: plan.apis.clone(),
            chats: plan.chats.clone(),
            rate_per_sec: plan.rate_per_sec,
            duration: Duration::from_secs(plan.write_secs),
            writers: plan.writers,
            run_tag: format!("{}-{}", plan.scenario, crate::harness::client::now_us()),
        };
        let writing = tokio::spawn(writer::run(wp, posted.clone()));
        if let (Some(after), Some(&pid)) = (plan.kill_after_secs, plan.gateway_pids.first()) {
            tokio::time::sleep(Duration::from_secs(after)).await;
            if let Some(p) = rustix::process::Pid::from_raw(pid as i32) {
                tracing::info!(pid, "SIGKILL gateway-1");
                rustix::process::kill_process(p, rustix::process::Signal::KILL)
                    .map_err(std::io::Error::from)?;
                killed = Some(pid);
            }
        }
        retries = writing
            .await
            .map_err(|e| HarnessError::Other(e.to_string()))??;
    } else {
        set_phase("holding");
        tokio::time::sleep(Duration::from_secs(plan.hold_secs)).await;
    }
    let rss_held = rss::sample(&watched);
    let write_secs = write_started.elapsed().as_secs_f64();

    // Verify: tell every worker the heads; each finishes when its clients
    // hold them (or its drain deadline passes) and reports what is missing.
    set_phase("draining");
    let heads: HashMap<u64, u64> = if posted.load(Ordering::Relaxed) > 0 {
        writer::heads(&plan.apis, &plan.chats).await?
    } else {
        plan.seats.iter().map(|s| (s.chat, s.base)).collect()
    };
    let expected: u64 = plan
        .seats
        .iter()
        .map(|s| {
            heads
                .get(&s.chat)
                .copied()
                .unwrap_or(s.base)
                .saturating_sub(s.base)
        })
        .sum();
    let line = serde_json::to_string(&ParentLine::Expect {
        heads: heads.into_iter().collect(),
    })? + "\n";
    for p in &mut procs {
        if let Some(stdin) = p.stdin.as_mut() {
            let _ = stdin.write_all(line.as_bytes()).await;
            let _ = stdin.flush().await;
        }
    }
    let drain_deadline = Instant::now() + Duration::from_secs(plan.drain_secs + 30);
    while Instant::now() < drain_deadline && !lock(&agg).finals.iter().all(Option::is_some) {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let drained_secs = write_started.elapsed().as_secs_f64();
    for p in &mut procs {
        drop(p.stdin.take());
        if tokio::time::timeout(Duration::from_secs(10), p.child.wait())
            .await
            .is_err()
        {
            let _ = p.child.kill().await;
        }
    }
    // Let the monitor take the last lines, then stop it.
    tokio::time::sleep(Duration::from_millis(1200)).await;
    monitor.abort();
    if let Some(k) = keepalive {
        k.abort();
    }
    bar.finish_and_clear();
    let _ = std::fs::remove_dir_all(&plans_dir);

    let a = lock(&agg);
    let missing_finals = a.finals.iter().filter(|f| f.is_none()).count() + a.incomplete;
    let mut problems = Problems::default();
    let mut totals = Counters::default();
    for c in a.finals.iter().flatten() {
        problems.add(&c.problems);
        totals.deliveries += c.deliveries;
        totals.replayed += c.replayed;
        totals.reconnects += c.reconnects;
        totals.connect_failures += c.connect_failures;
        totals.resyncs += c.resyncs;
        totals.ever_connected += c.ever_connected;
        for (reason, n) in &c.disconnects {
            match totals.disconnects.iter_mut().find(|(r, _)| r == reason) {
                Some((_, m)) => *m += n,
                None => totals.disconnects.push((reason.clone(), *n)),
            }
        }
    }
    let delivered = totals.deliveries + totals.replayed;
    let peak = a.timeline.iter().map(|t| t.connected).max().unwrap_or(0);
    let gateways_held = rss::sum_of(&watched, &rss_held, "gateway");
    Ok(RunReport {
        scenario: plan.scenario.clone(),
        clients: n,
        chats: plan.chats.len(),
        workers,
        per_worker_budget: plan.per_worker,
        gateways: plan.gateways.iter().map(ToString::to_string).collect(),
        apis: plan.apis.clone(),
        connected_once: totals.ever_connected,
        connections_held: held,
        connections_peak: peak,
        ramp_secs,
        connects_per_sec: held as f64 / ramp_secs.max(1e-9),
        messages_posted: posted.load(Ordering::Relaxed),
        post_retries: retries,
        killed_gateway_pid: killed,
        deliveries: delivered,
        deliveries_live: totals.deliveries,
        deliveries_replayed: totals.replayed,
        expected_deliveries: expected,
        write_secs,
        drained_secs,
        deliveries_per_sec: delivered.saturating_sub(delivered_before.min(delivered)) as f64
            / drained_secs.max(1e-9),
        peak_deliveries_per_sec: a
            .timeline
            .iter()
            .map(|t| t.deliveries_per_sec)
            .fold(0.0, f64::max),
        latency: Summary::of(&a.total),
        replay_latency: Summary::of(&a.total_replay),
        reconnects: totals.reconnects,
        connect_failures: totals.connect_failures,
        resyncs: totals.resyncs,
        disconnects: totals.disconnects.clone(),
        problems,
        workers_without_report: missing_finals,
        memory: Memory {
            gateways_before_bytes: gateways_before,
            gateways_loaded_bytes: gateways_loaded,
            gateways_end_bytes: gateways_held,
            bytes_per_connection: gateways_loaded.saturating_sub(gateways_before) as f64
                / held.max(1) as f64,
            peak_rss_bytes: watched
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    let peak = a
                        .timeline
                        .iter()
                        .filter_map(|t| t.rss_bytes.get(i))
                        .max()
                        .copied();
                    (w.name.clone(), peak.unwrap_or(0))
                })
                .collect(),
        },
        processes: watched.iter().map(|w| w.name.clone()).collect(),
        timeline: a.timeline.clone(),
    })
}

fn anyhow_like(ok: bool, what: &str) -> Result<(), HarnessError> {
    if ok {
        Ok(())
    } else {
        Err(HarnessError::Other(what.to_owned()))
    }
}
