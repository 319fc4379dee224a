//! The message-write benchmark: `clients` users, each on its own keep-alive
//! connection, post messages to their own chat as fast as the api answers,
//! for `duration`. Latency is measured per request from send to answer.

use std::time::{Duration, Instant};

use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;

use crate::http::{Conn, HttpError};
use crate::latency::{histogram, Summary};

/// What to run.
#[derive(Debug, Clone)]
pub struct WritesPlan {
    pub base_url: String,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub body_bytes: usize,
    pub progress: bool,
}

/// What it measured (after the warm-up).
#[derive(Debug, Clone, Serialize)]
pub struct WritesReport {
    pub clients: usize,
    pub seconds: f64,
    pub messages: u64,
    pub errors: u64,
    pub messages_per_sec: f64,
    pub latency: Summary,
}

struct Writer {
    conn: Conn,
    token: String,
    chat: String,
}

async fn provision(plan: &WritesPlan, i: usize, run: u64) -> Result<Writer, HttpError> {
    let mut conn = Conn::connect(&plan.base_url).await?;
    let username = format!("w{run:x}_{i}");
    let session = conn
        .ok(
            Method::POST,
            "/v1/auth/register",
            None,
            Some(&json!({"username": username, "password": "load-test-password"})),
        )
        .await?;
    let token = session["token"].as_str().unwrap_or_default().to_owned();
    let chat = conn
        .ok(
            Method::POST,
            "/v1/chats",
            Some(&token),
            Some(&json!({"title": "bench"})),
        )
        .await?;
    Ok(Writer {
        conn,
        token,
        chat: chat["id"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Runs the benchmark.
pub async fn run(plan: WritesPlan) -> Result<WritesReport, HttpError> {
    let run_id = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64 & 0xff_ffff);
    let mut writers = Vec::with_capacity(plan.clients);
    for i in 0..plan.clients {
        writers.push(provision(&plan, i, run_id).await?);
    }
    let bar = if plan.progress {
        ProgressBar::new((plan.warmup + plan.duration).as_secs())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len}s  {msg}").expect("static template"),
    );
    let start = Instant::now();
    let measure_from = start + plan.warmup;
    let end = measure_from + plan.duration;
    let body = "x".repeat(plan.body_bytes.max(1));
    let sent = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut tasks = Vec::new();
    for mut w in writers {
        let body = body.clone();
        let sent = sent.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram();
            let mut errors = 0u64;
            let path = format!("/v1/chats/{}/messages", w.chat);
            let payload = json!({ "body": body });
            loop {
                let t0 = Instant::now();
                if t0 >= end {
                    break;
                }
                let r = w
                    .conn
                    .call(Method::POST, &path, Some(&w.token), Some(&payload))
                    .await;
                let took = t0.elapsed();
                sent.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if t0 < measure_from {
                    continue;
                }
                match r {
                    Ok((status, _)) if status.as_u16() == 201 => {
                        let _ = h.record(took.as_micros().max(1) as u64);
                    }
                    _ => errors += 1,
                }
            }
            (h, errors)
        }));
    }
    let ticker = {
        let bar = bar.clone();
        let sent = sent.clone();
        tokio::spawn(async move {
            let mut last = 0;
            loop {
                tokio::time::sleep(Duration::from_secs(1)).await;
                let now = sent.load(std::sync::atomic::Ordering::Relaxed);
                bar.set_message(format!("{} msg/s", now - last));
                last = now;
                bar.inc(1);
            }
        })
    };
    let mut merged = histogram();
    let mut errors = 0;
    for t in tasks {
        if let Ok((h, e)) = t.await {
            let _ = merged.add(&h);
            errors += e;
        }
    }
    ticker.abort();
    bar.finish_and_clear();
    let seconds = plan.duration.as_secs_f64();
    Ok(WritesReport {
        clients: plan.clients,
        seconds,
        messages: merged.len(),
        errors,
        messages_per_sec: merged.len() as f64 / seconds,
        latency: Summary::of(&merged),
    })
}
