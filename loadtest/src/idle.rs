//! The idle-memory benchmark: open N WebSocket connections to one server
//! process, hold them idle, and report the growth of that process's
//! resident memory divided by N (user space, allocator overhead included).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use tokio::net::TcpStream;

use crate::ws_client::{connect_idle, WsError};

/// What to run.
#[derive(Debug, Clone)]
pub struct IdlePlan {
    pub server: SocketAddr,
    pub server_pid: u32,
    pub connections: usize,
    /// Tokens to connect with (cycled).
    pub tokens: Vec<String>,
    pub concurrency: usize,
    pub settle: Duration,
    pub progress: bool,
}

/// What it measured.
#[derive(Debug, Clone, Serialize)]
pub struct IdleReport {
    pub connections: usize,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_connection: f64,
    /// Connections that could not be opened after three tries.
    pub failed: usize,
    pub connect_seconds: f64,
    pub handshakes_per_sec: f64,
}

/// Resident set size of `pid`, in bytes.
pub fn rss_bytes(pid: u32) -> std::io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0);
    Ok(kb * 1024)
}

/// Runs the benchmark and keeps the sockets open until it returns.
pub async fn run(plan: IdlePlan) -> Result<IdleReport, WsError> {
    tokio::time::sleep(plan.settle).await;
    let before = rss_bytes(plan.server_pid)?;
    let bar = if plan.progress {
        ProgressBar::new(plan.connections as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} connections  {per_sec}")
            .expect("static template"),
    );
    let started = Instant::now();
    let mut held: Vec<TcpStream> = Vec::with_capacity(plan.connections);
    let mut failed = 0;
    let mut next = 0;
    while next < plan.connections {
        let batch: Vec<_> = (next..(next + plan.concurrency).min(plan.connections))
            .map(|i| {
                let token = plan.tokens[i % plan.tokens.len()].clone();
                let server = plan.server;
                tokio::spawn(async move {
                    // A starved generator can miss the server's handshake
                    // timeout; try again rather than give up the run.
                    let mut last = None;
                    for _ in 0..3 {
                        match connect_idle(server, None, &token).await {
                            Ok(s) => return Ok(s),
                            Err(e) => last = Some(e),
                        }
                    }
                    Err(last.unwrap_or(WsError::NoHello))
                })
            })
            .collect();
        for t in batch {
            match t.await {
                Ok(Ok(s)) => held.push(s),
                Ok(Err(WsError::Refused(head))) => return Err(WsError::Refused(head)),
                Ok(Err(_)) | Err(_) => failed += 1,
            }
            bar.inc(1);
        }
        next += plan.concurrency;
    }
    let connect_seconds = started.elapsed().as_secs_f64();
    bar.finish_and_clear();
    tokio::time::sleep(plan.settle).await;
    let after = rss_bytes(plan.server_pid)?;
    let report = IdleReport {
        connections: held.len(),
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_connection: (after.saturating_sub(before)) as f64 / held.len().max(1) as f64,
        failed,
        connect_seconds,
        handshakes_per_sec: held.len() as f64 / connect_seconds,
    };
    drop(held);
    Ok(report)
}
