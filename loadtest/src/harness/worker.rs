//! A worker process: runs its plan's clients, ramping at the planned rate,
//! prints a progress line every `report_ms`, and once the parent sends the
//! chats' heads waits for every client to hold its head, prints the final
//! tally (with what was lost) and returns. Bounded by the plan's deadline.

use std::io::Write as _;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

use super::client::{self, lock, Shared};
use super::histo;
use super::plan::WorkerPlan;
use super::proto::{ParentLine, WorkerLine};
use super::HarnessError;
use crate::latency::histogram;

/// Runs the worker to its end.
pub async fn run(plan: WorkerPlan) -> Result<(), HarnessError> {
    let started = Instant::now();
    let deadline = started + Duration::from_secs(plan.deadline_secs);
    let report_every = Duration::from_millis(plan.report_ms.max(100));
    let ramp = plan.ramp_per_sec.max(1.0);
    let n = plan.seats.len();
    let shared = Arc::new(Shared::new(plan));
    let (tx, rx) = watch::channel(false);
    let orphaned = Arc::new(Notify::new());
    tokio::spawn(read_parent(shared.clone(), tx, orphaned.clone()));
    let reporter = {
        let shared = shared.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(report_every);
            tick.tick().await;
            loop {
                tick.tick().await;
                if emit(&shared, false).is_err() {
                    return;
                }
            }
        })
    };
    let clients = {
        let shared = shared.clone();
        async move {
            let mut handles = Vec::with_capacity(n);
            for i in 0..n {
                let due = started + Duration::from_secs_f64(i as f64 / ramp);
                tokio::time::sleep_until(due).await;
                handles.push(tokio::spawn(client::run(i, shared.clone(), rx.clone())));
            }
            drop(rx);
            for h in handles {
                let _ = h.await;
            }
        }
    };
    tokio::select! {
        () = clients => {}
        () = tokio::time::sleep_until(deadline) => {
            tracing::warn!("worker deadline reached before every client finished");
        }
        () = orphaned.notified() => {
            tracing::warn!("parent went away");
        }
    }
    reporter.abort();
    emit(&shared, true)?;
    Ok(())
}

/// Waits for the parent's `expect` line; a closed stdin means the parent died.
async fn read_parent(shared: Arc<Shared>, tx: watch::Sender<bool>, orphaned: Arc<Notify>) {
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        match serde_json::from_str::<ParentLine>(&line) {
            Ok(ParentLine::Expect { heads }) => {
                let _ = shared.heads.set(heads.into_iter().collect());
                let _ = tx.send(true);
            }
            Err(e) => tracing::warn!(%e, "bad line from the parent"),
        }
    }
    if shared.heads.get().is_none() {
        orphaned.notify_one();
    }
}

/// Prints a progress (or the final) line with the latencies since the last one.
fn emit(shared: &Shared, last: bool) -> Result<(), HarnessError> {
    let hist = std::mem::replace(&mut *lock(&shared.hist), histogram());
    let replay = std::mem::replace(&mut *lock(&shared.replay_hist), histogram());
    let mut counters = shared.counters();
    let line = if last {
        counters.problems.lost = (0..shared.plan.seats.len())
            .map(|i| {
                let head = shared.head_of(i).unwrap_or(shared.plan.seats[i].base);
                head.saturating_sub(shared.lasts[i].load(Ordering::Relaxed))
            })
            .sum();
        WorkerLine::Final {
            complete: shared.heads.get().is_some(),
            counters,
            hist: histo::encode(&hist)?,
            replay_hist: histo::encode(&replay)?,
        }
    } else {
        WorkerLine::Progress {
            counters,
            hist: histo::encode(&hist)?,
            replay_hist: histo::encode(&replay)?,
        }
    };
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, &line)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}
