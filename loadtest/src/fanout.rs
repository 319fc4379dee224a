//! The fan-out benchmark: `users` WebSocket clients in chats of
//! `chat_size`, and writers posting `messages` per chat through the HTTP api
//! at `rate` messages/s in total. Every client verifies its chat's offsets
//! (no loss, no duplicate, in order) and records the latency from the
//! writer's send (a timestamp in the body) to its own receipt.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hyper::Method;
use indicatif::{ProgressBar, ProgressStyle};
use serde::Serialize;
use serde_json::json;
use tidings_gateway::core::ws_codec::{self, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::http::{Conn, HttpError};
use crate::latency::{histogram, Summary};
use crate::ws_client::connect_idle;

/// One client: its token and its chat.
#[derive(Debug, Clone)]
pub struct Seat {
    pub token: String,
    pub chat: String,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct FanoutPlan {
    pub api: String,
    pub gateways: Vec<SocketAddr>,
    /// Every client, grouped by chat; the first seat of each chat writes.
    pub seats: Vec<Seat>,
    pub messages_per_chat: u64,
    pub rate_per_sec: u64,
    pub progress: bool,
}

/// What it measured.
#[derive(Debug, Clone, Serialize)]
pub struct FanoutReport {
    pub clients: usize,
    pub chats: usize,
    pub messages_posted: u64,
    pub deliveries: u64,
    pub expected_deliveries: u64,
    pub lost: u64,
    pub duplicates_or_disorder: u64,
    pub seconds: f64,
    pub deliveries_per_sec: f64,
    /// `seconds` runs from the first post to the last delivery.
    /// Writer's send to client's receipt.
    pub latency: Summary,
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

struct Tally {
    connected: AtomicU64,
    deliveries: AtomicU64,
    problems: AtomicU64,
    /// Unix µs of the latest delivery.
    last_delivery_us: AtomicU64,
}

async fn client(
    server: SocketAddr,
    seat: Seat,
    expect: u64,
    tally: Arc<Tally>,
) -> (Histogram<u64>, u64) {
    let mut h = histogram();
    let Ok(mut stream) = connect_idle(server, None, &seat.token).await else {
        tally.problems.fetch_add(1, Ordering::Relaxed);
        tally.connected.fetch_add(1, Ordering::Relaxed);
        return (h, 0);
    };
    tally.connected.fetch_add(1, Ordering::Relaxed);
    let topic = format!("chat:{}", seat.chat);
    let mut last = 0u64;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = vec![0u8; 16 * 1024];
    while last < expect {
        while let Ok(Some((frame, used))) = ws_codec::decode_server(&buf) {
            buf.drain(..used);
            match frame.opcode {
                OP_TEXT => {
                    let Ok(v) = serde_json::from_slice::<serde_json::Value>(&frame.payload) else {
                        continue;
                    };
                    if v["type"] != "delta" || v["topic"] != topic.as_str() {
                        continue;
                    }
                    let offset = v["offset"].as_u64().unwrap_or(0);
                    if offset != last + 1 {
                        tally.problems.fetch_add(1, Ordering::Relaxed);
                    }
                    last = last.max(offset);
                    tally.deliveries.fetch_add(1, Ordering::Relaxed);
                    let now = now_us();
                    tally.last_delivery_us.fetch_max(now, Ordering::Relaxed);
                    if let Some(sent) = v["data"]["body"]
                        .as_str()
                        .and_then(|b| b.parse::<u64>().ok())
                    {
                        let _ = h.record(now.saturating_sub(sent).max(1));
                    }
                }
                OP_PING => {
                    let pong = ws_codec::client_frame(OP_PONG, true, &frame.payload, [3, 1, 4, 1]);
                    let _ = stream.write_all(&pong).await;
                }
                OP_CLOSE => return (h, last),
                _ => {}
            }
        }
        match tokio::time::timeout(Duration::from_secs(30), stream.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => break,
        }
    }
    (h, last)
}

/// Runs the benchmark.
pub async fn run(plan: FanoutPlan) -> Result<FanoutReport, HttpError> {
    let tally = Arc::new(Tally {
        connected: AtomicU64::new(0),
        deliveries: AtomicU64::new(0),
        problems: AtomicU64::new(0),
        last_delivery_us: AtomicU64::new(0),
    });
    let mut chats: Vec<(String, String)> = Vec::new();
    for s in &plan.seats {
        if chats.last().map(|(c, _)| c) != Some(&s.chat) {
            chats.push((s.chat.clone(), s.token.clone()));
        }
    }
    let bar = if plan.progress {
        ProgressBar::new(plan.seats.len() as u64)
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}").expect("static template"),
    );
    bar.set_message("connecting");
    let mut clients = Vec::with_capacity(plan.seats.len());
    for (i, seat) in plan.seats.iter().enumerate() {
        let server = plan.gateways[i % plan.gateways.len()];
        clients.push(tokio::spawn(client(
            server,
            seat.clone(),
            plan.messages_per_chat,
            tally.clone(),
        )));
        bar.inc(1);
        if i % 256 == 255 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    // Every client connected, and past its resume window, before writing.
    let connect_deadline = Instant::now() + Duration::from_secs(300);
    while tally.connected.load(Ordering::Relaxed) < plan.seats.len() as u64
        && Instant::now() < connect_deadline
    {
        bar.set_position(tally.connected.load(Ordering::Relaxed));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    bar.set_position(0);
    bar.set_length(plan.messages_per_chat * chats.len() as u64);
    bar.set_message("posting");
    let started_us = now_us();
    let interval = Duration::from_secs_f64(1.0 / plan.rate_per_sec.max(1) as f64);
    let writers = 16.min(chats.len()).max(1);
    let posted = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for w in 0..writers {
        let mine: Vec<(String, String)> = chats.iter().skip(w).step_by(writers).cloned().collect();
        let api = plan.api.clone();
        let posted = posted.clone();
        let bar = bar.clone();
        let per = plan.messages_per_chat;
        let gap = interval * writers as u32;
        tasks.push(tokio::spawn(async move {
            let mut conn = Conn::connect(&api).await?;
            let mut next = Instant::now();
            for _ in 0..per {
                for (chat, token) in &mine {
                    next += gap;
                    tokio::time::sleep_until(next.into()).await;
                    let body = json!({"body": now_us().to_string()});
                    conn.ok(
                        Method::POST,
                        &format!("/v1/chats/{chat}/messages"),
                        Some(token),
                        Some(&body),
                    )
                    .await?;
                    posted.fetch_add(1, Ordering::Relaxed);
                    bar.inc(1);
                }
            }
            Ok::<(), HttpError>(())
        }));
    }
    for t in tasks {
        if let Ok(r) = t.await {
            r?;
        }
    }
    let mut merged = histogram();
    let mut lost = 0;
    for c in clients {
        if let Ok((h, last)) = c.await {
            let _ = merged.add(&h);
            lost += plan.messages_per_chat.saturating_sub(last);
        }
    }
    let seconds = tally
        .last_delivery_us
        .load(Ordering::Relaxed)
        .saturating_sub(started_us) as f64
        / 1e6;
    bar.finish_and_clear();
    let deliveries = tally.deliveries.load(Ordering::Relaxed);
    Ok(FanoutReport {
        clients: plan.seats.len(),
        chats: chats.len(),
        messages_posted: posted.load(Ordering::Relaxed),
        deliveries,
        expected_deliveries: plan.messages_per_chat * plan.seats.len() as u64,
        lost,
        duplicates_or_disorder: tally.problems.load(Ordering::Relaxed),
        seconds,
        deliveries_per_sec: deliveries as f64 / seconds,
        latency: Summary::of(&merged),
    })
}
