//! One simulated client inside a worker: connect (from the worker's source
//! address) to its gateway, `resume` its chat topic from the last offset it
//! holds, verify every delta, record send-to-receipt latency, and on any
//! disconnect (its gateway died, or churn closed it on purpose) reconnect
//! with jittered backoff, moving to the next gateway after a failure.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hdrhistogram::Histogram;
use hyper::Method;
use serde_json::{json, Value};
use tidings_gateway::core::ws_codec::{self, OP_CLOSE, OP_PING, OP_PONG, OP_TEXT};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::watch;
use tokio::time::Instant;

use super::connect::open;
use super::plan::{source_ip, WorkerPlan};
use super::proto::Counters;
use super::verify::{Problems, TopicCheck, Verdict};
use crate::http::Conn;
use crate::latency::histogram;
use crate::ws_client::WsError;

/// What a worker's clients share: the plan, counters and histograms.
#[derive(Debug)]
pub struct Shared {
    pub plan: WorkerPlan,
    pub connected: AtomicU64,
    pub ever_connected: AtomicU64,
    pub deliveries: AtomicU64,
    pub replayed: AtomicU64,
    pub reconnects: AtomicU64,
    pub connect_failures: AtomicU64,
    pub resyncs: AtomicU64,
    pub problems: Mutex<Problems>,
    /// Why sessions ended other than by churn or completion.
    pub disconnects: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Live deliveries since the last report.
    pub hist: Mutex<Histogram<u64>>,
    /// Replayed or fetched deliveries since the last report.
    pub replay_hist: Mutex<Histogram<u64>>,
    /// Each seat's last verified offset.
    pub lasts: Vec<AtomicU64>,
    /// Every chat's head, once the writers are done.
    pub heads: OnceLock<HashMap<u64, u64>>,
}

impl Shared {
    /// Fresh state for `plan`.
    pub fn new(plan: WorkerPlan) -> Self {
        let lasts = plan.seats.iter().map(|s| AtomicU64::new(s.base)).collect();
        Self {
            plan,
            connected: AtomicU64::new(0),
            ever_connected: AtomicU64::new(0),
            deliveries: AtomicU64::new(0),
            replayed: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            connect_failures: AtomicU64::new(0),
            resyncs: AtomicU64::new(0),
            problems: Mutex::new(Problems::default()),
            disconnects: Mutex::new(std::collections::BTreeMap::new()),
            hist: Mutex::new(histogram()),
            replay_hist: Mutex::new(histogram()),
            lasts,
            heads: OnceLock::new(),
        }
    }

    /// The head seat `i` must reach, once known.
    pub fn head_of(&self, i: usize) -> Option<u64> {
        let seat = &self.plan.seats[i];
        self.heads
            .get()
            .map(|h| h.get(&seat.chat).copied().unwrap_or(seat.base))
    }

    /// A snapshot of the counters (without `lost`).
    pub fn counters(&self) -> Counters {
        let c = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Counters {
            connected: c(&self.connected),
            ever_connected: c(&self.ever_connected),
            deliveries: c(&self.deliveries),
            replayed: c(&self.replayed),
            reconnects: c(&self.reconnects),
            connect_failures: c(&self.connect_failures),
            resyncs: c(&self.resyncs),
            problems: *lock(&self.problems),
            disconnects: lock(&self.disconnects)
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
        }
    }
}

/// Locks a mutex, ignoring poisoning (a panicked client only loses its own data).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Unix time in microseconds.
pub fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as u64)
}

/// A tiny xorshift generator: a client's jitter needs no more, and it
/// costs 8 bytes per client instead of a full RNG's state.
#[derive(Debug, Clone, Copy)]
pub struct Jitter(u64);

impl Jitter {
    /// Seeded from anything (zero is mapped away).
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// A float in [0, 1).
    pub fn unit(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A duration uniformly between `lo` and `hi` milliseconds.
    pub fn millis(&mut self, lo: u64, hi: u64) -> Duration {
        Duration::from_millis(lo + ((hi - lo) as f64 * self.unit()) as u64)
    }

    /// An exponentially distributed duration with mean `mean` seconds.
    pub fn exp_secs(&mut self, mean: f64) -> Duration {
        Duration::from_secs_f64(-mean * (1.0 - self.unit()).ln())
    }
}

/// Why a session ended.
enum End {
    /// The chat's head is held: the client is finished.
    Done,
    /// Churn: closed on purpose; reconnect to the same gateway soon.
    Churn,
    /// The socket failed or the server closed it: try the next gateway.
    Lost(&'static str),
}

/// One client, from its first connect until it holds its chat's head.
pub async fn run(i: usize, shared: std::sync::Arc<Shared>, mut expect: watch::Receiver<bool>) {
    let plan = &shared.plan;
    let seat = &plan.seats[i];
    let topic = format!("chat:{}", seat.chat);
    let k = plan.gateways.len().max(1);
    let mut gw = (plan.first_gateway + i) % k;
    let mut check = TopicCheck::after(seat.base);
    let mut jitter = Jitter::new(((plan.worker as u64) << 32) ^ i as u64);
    let mut first = true;
    loop {
        if is_done(&shared, i, &check) {
            return;
        }
        let opened = match open(
            plan.gateways[gw],
            Some(source_ip(plan.worker, i)),
            &seat.token,
            Duration::from_secs(30),
        )
        .await
        {
            Ok(o) => o,
            Err(e) => {
                shared.connect_failures.fetch_add(1, Ordering::Relaxed);
                if let WsError::Refused(head) = &e {
                    // A refused token will be refused again: no retry storm.
                    tracing::warn!(seat = i, %head, "upgrade refused");
                    return;
                }
                gw = failover(gw, i, k);
                tokio::time::sleep(jitter.millis(100, 1000)).await;
                continue;
            }
        };
        if first {
            shared.ever_connected.fetch_add(1, Ordering::Relaxed);
        } else {
            shared.reconnects.fetch_add(1, Ordering::Relaxed);
        }
        shared.connected.fetch_add(1, Ordering::Relaxed);
        let churn_at = match plan.churn_mean_secs {
            Some(mean) if shared.heads.get().is_none() => {
                Some(Instant::now() + jitter.exp_secs(mean))
            }
            _ => None,
        };
        let mut s = Session {
            stream: opened.stream,
            buf: opened.leftover,
            topic: &topic,
            check: &mut check,
            shared: &shared,
            i,
            in_replay: false,
            resume: !first,
        };
        let end = s.run(churn_at, &mut expect).await;
        first = false;
        shared.connected.fetch_sub(1, Ordering::Relaxed);
        match end {
            End::Done => return,
            End::Churn => tokio::time::sleep(jitter.millis(200, 2000)).await,
            End::Lost(reason) => {
                *lock(&shared.disconnects).entry(reason).or_default() += 1;
                gw = failover(gw, i, k);
                tokio::time::sleep(jitter.millis(50, 500)).await;
            }
        }
    }
}

/// The gateway to try after `gw` failed for client `i`: another one, and
/// the clients of a dead gateway spread evenly over all the others (moving
/// them all to its neighbour would overflow that one's descriptor limit).
pub fn failover(gw: usize, i: usize, k: usize) -> usize {
    if k < 2 {
        return 0;
    }
    (gw + 1 + i % (k - 1)) % k
}

fn is_done(shared: &Shared, i: usize, check: &TopicCheck) -> bool {
    shared.head_of(i).is_some_and(|h| check.last() >= h)
}

struct Session<'a> {
    stream: TcpStream,
    buf: Vec<u8>,
    topic: &'a str,
    check: &'a mut TopicCheck,
    shared: &'a Shared,
    i: usize,
    /// Between our `resume` and the server's `resumed`: deltas are replays.
    in_replay: bool,
    /// Whether to open with `resume` (a reconnect) or `ping` (the first).
    resume: bool,
}

impl Session<'_> {
    async fn run(&mut self, churn_at: Option<Instant>, expect: &mut watch::Receiver<bool>) -> End {
        // The first frame releases the deltas a gateway holds for a new
        // connection. A client that has been connected before resumes from
        // its last offset; a new one has missed nothing (writes start once
        // every client is connected), so a ping does.
        let first = if self.resume {
            json!({"type": "resume", "offsets": {self.topic: self.check.last()}})
        } else {
            json!({"type": "ping"})
        };
        self.in_replay = self.resume;
        let frame = ws_codec::client_frame(OP_TEXT, true, first.to_string().as_bytes(), mask());
        if self.stream.write_all(&frame).await.is_err() {
            return End::Lost("write error");
        }
        let mut expect_open = true;
        loop {
            if let Some(end) = self.drain().await {
                return end;
            }
            if is_done(self.shared, self.i, self.check) {
                return End::Done;
            }
            let churning = churn_at.is_some() && self.shared.heads.get().is_none();
            tokio::select! {
                r = self.stream.readable() => {
                    if r.is_err() {
                        return End::Lost("read error");
                    }
                    let mut chunk = [0u8; 8192];
                    match self.stream.try_read(&mut chunk) {
                        Ok(0) => return End::Lost("eof"),
                        Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                        Err(_) => return End::Lost("read error"),
                    }
                }
                () = tokio::time::sleep_until(churn_at.unwrap_or_else(Instant::now)), if churning => {
                    return End::Churn;
                }
                r = expect.changed(), if expect_open => {
                    expect_open = r.is_ok();
                }
            }
        }
    }

    /// Handles every whole frame in the buffer.
    async fn drain(&mut self) -> Option<End> {
        let mut at = 0;
        let mut end = None;
        while let Ok(Some((frame, used))) = ws_codec::decode_server(&self.buf[at..]) {
            at += used;
            match frame.opcode {
                OP_TEXT => {
                    if let Ok(v) = serde_json::from_slice::<Value>(&frame.payload) {
                        self.frame(&v).await;
                    }
                }
                OP_PING => {
                    let pong = ws_codec::client_frame(OP_PONG, true, &frame.payload, mask());
                    if self.stream.write_all(&pong).await.is_err() {
                        end = Some(End::Lost("write error"));
                        break;
                    }
                }
                OP_CLOSE => {
                    end = Some(End::Lost(close_reason(&frame.payload)));
                    break;
                }
                _ => {}
            }
        }
        self.buf.drain(..at);
        if self.buf.is_empty() {
            // An idle client keeps no buffer.
            self.buf = Vec::new();
        }
        end
    }

    async fn frame(&mut self, v: &Value) {
        match v["type"].as_str() {
            Some("delta") if v["topic"] == self.topic => {
                let offset = v["offset"].as_u64().unwrap_or(0);
                let before = self.check.last();
                if let Some(verdict) = self.check.pushed(offset) {
                    if verdict != Verdict::Next {
                        tracing::warn!(
                            seat = self.i,
                            topic = self.topic,
                            after = before,
                            got = offset,
                            replay = self.in_replay,
                            resumed = self.resume,
                            ?verdict,
                            "wrong delivery"
                        );
                    }
                    self.count(verdict, v, self.in_replay);
                }
            }
            Some("resumed") => {
                self.in_replay = false;
                let resync = v["resync"]
                    .as_array()
                    .is_some_and(|a| a.iter().any(|t| t == self.topic));
                if resync {
                    self.shared.resyncs.fetch_add(1, Ordering::Relaxed);
                    self.catch_up().await;
                }
            }
            _ => {}
        }
    }

    fn count(&mut self, verdict: Verdict, v: &Value, replay: bool) {
        let shared = self.shared;
        lock(&shared.problems).note(verdict);
        shared.lasts[self.i].store(self.check.last(), Ordering::Relaxed);
        let sent = v["data"]["body"]
            .as_str()
            .and_then(|b| b.split(' ').next())
            .and_then(|b| b.parse::<u64>().ok());
        let latency = sent.map(|s| now_us().saturating_sub(s).max(1));
        if replay {
            shared.replayed.fetch_add(1, Ordering::Relaxed);
            if let Some(l) = latency {
                let _ = lock(&shared.replay_hist).record(l);
            }
        } else {
            shared.deliveries.fetch_add(1, Ordering::Relaxed);
            if let Some(l) = latency {
                let _ = lock(&shared.hist).record(l);
            }
        }
    }

    /// Fetches the topic over HTTP after a `resync` (the durable catch-up
    /// of the contract), verifying each delta like a pushed one.
    async fn catch_up(&mut self) {
        let apis = &self.shared.plan.apis;
        if apis.is_empty() {
            return;
        }
        let api = &apis[self.i % apis.len()];
        let token = &self.shared.plan.seats[self.i].token;
        for _attempt in 0..5 {
            let Ok(mut conn) = Conn::connect(api).await else {
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            };
            loop {
                let path = format!(
                    "/v1/topics/{}/events?after={}&limit=200",
                    self.topic,
                    self.check.last()
                );
                let Ok(page) = conn.ok(Method::GET, &path, Some(token), None).await else {
                    break;
                };
                let items = page["items"].as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    return;
                }
                for item in &items {
                    let verdict = self.check.fetched(item["offset"].as_u64().unwrap_or(0));
                    self.count(verdict, item, true);
                }
            }
        }
    }
}

/// A server close frame's reason, by its code.
fn close_reason(payload: &[u8]) -> &'static str {
    match payload {
        [a, b, ..] => match u16::from_be_bytes([*a, *b]) {
            1001 => "close 1001 going away (no heartbeat answer)",
            1009 => "close 1009 too big",
            1012 => "close 1012 restarting",
            4001 => "close 4001 token expired",
            4008 => "close 4008 slow consumer",
            _ => "close (other code)",
        },
        _ => "close (no code)",
    }
}

/// Client frames are masked; the key need not be secret here.
fn mask() -> [u8; 4] {
    [0x5a, 0x17, 0xc3, 0x08]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_gateways_clients_spread_over_all_the_others() {
        let k = 7;
        let mut load = vec![0; k];
        for i in 0..6000 {
            let next = failover(3, i, k);
            assert_ne!(next, 3);
            load[next] += 1;
        }
        assert!(
            load.iter().enumerate().all(|(g, n)| g == 3 || *n == 1000),
            "{load:?}"
        );
        assert_eq!(failover(0, 5, 1), 0);
    }

    #[test]
    fn jitter_stays_in_range_and_averages_its_mean() {
        let mut j = Jitter::new(7);
        for _ in 0..1000 {
            let d = j.millis(100, 200);
            assert!(d >= Duration::from_millis(100) && d <= Duration::from_millis(200));
        }
        let n = 20_000;
        let total: f64 = (0..n).map(|_| j.exp_secs(2.0).as_secs_f64()).sum();
        let mean = total / f64::from(n);
        assert!((1.8..2.2).contains(&mean), "mean {mean}");
    }
}
