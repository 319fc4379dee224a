//! The result of a harness run, and how it is written down: `report.json`
//! (everything, timeline included) and `report.md` (the figures a person
//! reads), beside the charts in the run's results folder.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use super::verify::Problems;
use super::HarnessError;
use crate::latency::Summary;

/// One second of the run.
#[derive(Debug, Clone, Serialize)]
pub struct Tick {
    pub t_secs: f64,
    pub phase: String,
    pub connected: u64,
    pub deliveries_per_sec: f64,
    pub posts_per_sec: f64,
    /// Live send-to-receipt latency over this second.
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    /// RSS of each process, in the order of [`RunReport::processes`].
    pub rss_bytes: Vec<u64>,
}

/// Memory of the gateways.
#[derive(Debug, Clone, Serialize)]
pub struct Memory {
    pub gateways_before_bytes: u64,
    /// After the ramp and a short settle.
    pub gateways_loaded_bytes: u64,
    /// At the end of the hold or write phase.
    pub gateways_end_bytes: u64,
    /// The gateways' RSS growth from before to loaded, over the
    /// connections held: user space per connection, allocator included.
    pub bytes_per_connection: f64,
    /// Highest RSS seen of each process.
    pub peak_rss_bytes: Vec<(String, u64)>,
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct RunReport {
    pub scenario: String,
    pub clients: usize,
    pub chats: usize,
    pub workers: usize,
    pub per_worker_budget: u64,
    pub gateways: Vec<String>,
    pub apis: Vec<String>,
    pub connected_once: u64,
    pub connections_held: u64,
    pub connections_peak: u64,
    pub ramp_secs: f64,
    pub connects_per_sec: f64,
    pub messages_posted: u64,
    pub post_retries: u64,
    pub killed_gateway_pid: Option<u32>,
    /// Every verified delivery: live, replayed on resume, or fetched.
    pub deliveries: u64,
    pub deliveries_live: u64,
    pub deliveries_replayed: u64,
    /// Sum over clients of their chat's head minus its base.
    pub expected_deliveries: u64,
    pub write_secs: f64,
    /// From the first post until every worker reported.
    pub drained_secs: f64,
    pub deliveries_per_sec: f64,
    pub peak_deliveries_per_sec: f64,
    /// Live deliveries: writer's send to client's receipt.
    pub latency: Summary,
    /// Deliveries replayed after a reconnect (includes time away).
    pub replay_latency: Summary,
    pub reconnects: u64,
    pub connect_failures: u64,
    pub resyncs: u64,
    /// Sessions the server or the network ended, by reason.
    pub disconnects: Vec<(String, u64)>,
    pub problems: Problems,
    pub workers_without_report: usize,
    pub memory: Memory,
    pub processes: Vec<String>,
    pub timeline: Vec<Tick>,
}

impl RunReport {
    /// Whether every delivery was verified right and every worker reported.
    pub fn verified(&self) -> bool {
        self.problems.clean()
            && self.workers_without_report == 0
            && self.deliveries >= self.expected_deliveries
    }

    /// One line for the terminal.
    pub fn summary_line(&self) -> String {
        format!(
            "{}: {} clients ({} held, peak {}) over {} gateways by {} workers; {} posts, {}/{} deliveries verified ({:.0}/s, peak {:.0}/s); lost {} dup {} gaps {}; reconnects {}; live ms p50 {:.2} p99 {:.2} p99.9 {:.2}; gateway memory {:.0} B/connection",
            self.scenario,
            self.clients,
            self.connections_held,
            self.connections_peak,
            self.gateways.len(),
            self.workers,
            self.messages_posted,
            self.deliveries,
            self.expected_deliveries,
            self.deliveries_per_sec,
            self.peak_deliveries_per_sec,
            self.problems.lost,
            self.problems.duplicates,
            self.problems.gaps,
            self.reconnects,
            self.latency.p50_ms,
            self.latency.p99_ms,
            self.latency.p999_ms,
            self.memory.bytes_per_connection,
        )
    }

    /// The Markdown report.
    pub fn markdown(&self, command: &str) -> String {
        let mib = |b: u64| b as f64 / 1_048_576.0;
        let mut md = String::new();
        let _ = writeln!(md, "# Load run: `{}`\n", self.scenario);
        let _ = writeln!(md, "```\n{command}\n```\n");
        let verdict = if self.verified() {
            "every delivery verified"
        } else {
            "VERIFICATION FAILED"
        };
        let _ = writeln!(md, "**{verdict}**\n");
        let _ = writeln!(md, "| figure | value |\n|---|---|");
        let mut row = |k: &str, v: String| {
            let _ = writeln!(md, "| {k} | {v} |");
        };
        row(
            "clients / chats",
            format!("{} / {}", self.clients, self.chats),
        );
        row(
            "gateways / apis / workers",
            format!(
                "{} / {} / {} (≤ {} sockets each)",
                self.gateways.len(),
                self.apis.len(),
                self.workers,
                self.per_worker_budget
            ),
        );
        row(
            "connections held after ramp / peak",
            format!("{} / {}", self.connections_held, self.connections_peak),
        );
        row(
            "ramp",
            format!(
                "{:.1} s ({:.0} connections/s)",
                self.ramp_secs, self.connects_per_sec
            ),
        );
        row(
            "gateway memory per connection",
            format!(
                "{:.0} B (RSS {:.1} → {:.1} MiB)",
                self.memory.bytes_per_connection,
                mib(self.memory.gateways_before_bytes),
                mib(self.memory.gateways_loaded_bytes)
            ),
        );
        row(
            "messages posted (retries)",
            format!("{} ({})", self.messages_posted, self.post_retries),
        );
        row(
            "deliveries verified / expected",
            format!(
                "{} / {} ({} live, {} replayed or fetched)",
                self.deliveries,
                self.expected_deliveries,
                self.deliveries_live,
                self.deliveries_replayed
            ),
        );
        row(
            "deliveries/s (mean, peak)",
            format!(
                "{:.0} over {:.1} s, peak {:.0}",
                self.deliveries_per_sec, self.drained_secs, self.peak_deliveries_per_sec
            ),
        );
        row(
            "live latency ms p50 / p90 / p99 / p99.9 / max",
            format!(
                "{:.2} / {:.2} / {:.2} / {:.2} / {:.2}",
                self.latency.p50_ms,
                self.latency.p90_ms,
                self.latency.p99_ms,
                self.latency.p999_ms,
                self.latency.max_ms
            ),
        );
        row(
            "replayed latency ms p50 / p99 / max",
            format!(
                "{:.2} / {:.2} / {:.2}",
                self.replay_latency.p50_ms, self.replay_latency.p99_ms, self.replay_latency.max_ms
            ),
        );
        row(
            "lost / duplicated / gaps",
            format!(
                "{} / {} / {}",
                self.problems.lost, self.problems.duplicates, self.problems.gaps
            ),
        );
        row(
            "reconnects / connect failures / resyncs",
            format!(
                "{} / {} / {}",
                self.reconnects, self.connect_failures, self.resyncs
            ),
        );
        for (reason, n) in &self.disconnects {
            row("disconnects", format!("{n} × {reason}"));
        }
        if let Some(pid) = self.killed_gateway_pid {
            row("killed", format!("gateway-1 (pid {pid}) with SIGKILL"));
        }
        let _ = writeln!(
            md,
            "\n## Peak RSS per process\n\n| process | MiB |\n|---|---|"
        );
        for (name, bytes) in &self.memory.peak_rss_bytes {
            let _ = writeln!(md, "| {name} | {:.1} |", mib(*bytes));
        }
        let _ = writeln!(
            md,
            "\n![latency](latency.png)\n![connections](connections.png)\n![rss](rss.png)"
        );
        md
    }

    /// Writes `report.json` and `report.md` into `dir`.
    pub fn write(&self, dir: &Path, command: &str) -> Result<(), HarnessError> {
        std::fs::write(dir.join("report.json"), serde_json::to_vec_pretty(self)?)?;
        std::fs::write(dir.join("report.md"), self.markdown(command))?;
        Ok(())
    }
}
