//! One shard: an epoll loop (mio) on its own thread, owning a slab of
//! connection slots.
//!
//! An idle connection is a [`Conn`]: the socket, the user, a few counters
//! and two empty `Option<Box<..>>`s, with no task, no read buffer and no
//! write buffer. Reads go through the shard's one buffer; bytes a socket
//! cannot take wait in a bounded per-connection queue that exists only while
//! it is non-empty. Commands (new sockets, deltas, shutdown) arrive over a
//! crossbeam channel, with a mio `Waker` to interrupt the poll.

use std::io::{self, Read, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token, Waker};
use parking_lot::Mutex;
use slab::Slab;
use tidings_storage::{Topic, UserId};
use tidings_wire::token::{now_unix_s, TokenError};
use tidings_wire::TokenKey;

use crate::config::GatewayConfig;
use crate::core::delivered::Delivered;
use crate::core::encoded::EncodedDelta;
use crate::core::frames::{self, ClientMessage, FrameError};
use crate::core::http_upgrade;
use crate::core::outbound::Outbound;
use crate::core::resume;
use crate::core::ring::ReplayRing;
use crate::core::user_index::UserIndex;
use crate::core::ws_codec::{self, DecodeError, Decoded};
use crate::metrics::GatewayMetrics;

const WAKE: Token = Token(usize::MAX);

/// Close codes of the contract.
pub mod close_code {
    pub const NORMAL: u16 = 1000;
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL: u16 = 1002;
    pub const TOO_BIG: u16 = 1009;
    pub const RESTARTING: u16 = 1012;
    pub const TOKEN_EXPIRED: u16 = 4001;
    pub const SLOW_CONSUMER: u16 = 4008;
}

/// A socket that finished its upgrade, handed to a shard.
#[derive(Debug)]
pub struct Adopted {
    pub stream: std::net::TcpStream,
    pub user: UserId,
    /// Token expiry, Unix seconds: the connection closes with 4001 then.
    pub token_exp: u64,
    /// Bytes the client sent right after the upgrade request.
    pub leftover: Vec<u8>,
}

/// What the shard needs to answer upgrade requests itself.
#[derive(Debug)]
pub(crate) struct HandshakeCtx {
    pub(crate) key: tidings_wire::TokenKey,
    pub(crate) registry: prometheus::Registry,
}

#[derive(Debug)]
pub(crate) enum ShardMsg {
    Adopt(Adopted),
    /// A fresh socket whose upgrade request the shard reads and answers.
    Accept(std::net::TcpStream, Arc<HandshakeCtx>),
    Deliver(Arc<EncodedDelta>),
    Shutdown,
}

/// The handle other threads use to reach a shard.
#[derive(Debug)]
pub(crate) struct ShardHandle {
    tx: Sender<ShardMsg>,
    waker: Arc<Waker>,
    pub(crate) open: Arc<AtomicUsize>,
    join: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ShardHandle {
    pub(crate) fn send(&self, msg: ShardMsg) {
        if self.tx.send(msg).is_ok() {
            let _ = self.waker.wake();
        }
    }

    pub(crate) fn join(&self) {
        if let Some(j) = self.join.lock().take() {
            let _ = j.join();
        }
    }
}

/// Per-connection state kept only while needed.
#[derive(Debug, Default)]
struct ConnExtra {
    /// A frame split across reads.
    partial: Vec<u8>,
    /// A fragmented message being assembled.
    fragments: Vec<u8>,
    delivered: Delivered,
    /// Live deltas held between `hello` and the client's first frame.
    held: Vec<Arc<EncodedDelta>>,
    held_bytes: usize,
}

/// One connection slot.
#[derive(Debug)]
struct Conn {
    stream: TcpStream,
    user: UserId,
    /// Unix seconds, truncated: valid until 2106.
    token_exp: u32,
    /// Seconds since shard start of the last byte received.
    last_rx: u32,
    pinged: bool,
    wants_write: bool,
    /// Between `hello` and the client's first frame (or a short deadline),
    /// live deltas are held, not sent: a client about to resume must get
    /// every topic in offset order from its own offset, not from whatever
    /// happened to arrive first.
    awaiting: bool,
    /// Distinguishes this connection from a later one in the same slot.
    session: u32,
    /// Still reading the HTTP upgrade request (no user yet).
    handshaking: bool,
    /// A close frame was sent: input is discarded until the peer closes
    /// (or a short deadline passes), so our close frame is not lost to a reset.
    closing: bool,
    out: Option<Box<Outbound>>,
    extra: Option<Box<ConnExtra>>,
}

impl Conn {
    fn extra(&mut self) -> &mut ConnExtra {
        self.extra.get_or_insert_with(Default::default)
    }
}

/// What to do with a connection after handling its input.
enum Verdict {
    Keep,
    Close(Option<u16>),
}

struct Shard {
    id: usize,
    poll: Poll,
    rx: Receiver<ShardMsg>,
    conns: Slab<Conn>,
    index: UserIndex,
    ring: Arc<Mutex<ReplayRing>>,
    config: Arc<GatewayConfig>,
    metrics: GatewayMetrics,
    started: Instant,
    node: String,
    sessions: u64,
    rbuf: Vec<u8>,
    open: Arc<AtomicUsize>,
    shard_label: String,
    /// Connections still in their resume window: (deadline, slot, session).
    settling: std::collections::VecDeque<(Instant, usize, u32)>,
    handshake: Option<Arc<HandshakeCtx>>,
}

/// Starts shard `id` on its own thread.
pub(crate) fn spawn(
    id: usize,
    node: String,
    ring: Arc<Mutex<ReplayRing>>,
    config: Arc<GatewayConfig>,
    metrics: GatewayMetrics,
) -> io::Result<ShardHandle> {
    let poll = Poll::new()?;
    let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
    let (tx, rx) = crossbeam_channel::bounded(64 * 1024);
    let open = Arc::new(AtomicUsize::new(0));
    let shard = Shard {
        id,
        poll,
        rx,
        // Reserved up front: growing by doubling would leave the old copies
        // as freed-but-resident memory. Untouched slots cost address space only.
        conns: Slab::with_capacity(config.expected_connections / config.shards.max(1)),
        index: UserIndex::default(),
        ring,
        rbuf: vec![0; config.max_frame_bytes + 16],
        config,
        metrics,
        started: Instant::now(),
        node,
        sessions: 0,
        open: open.clone(),
        shard_label: id.to_string(),
        settling: std::collections::VecDeque::new(),
        handshake: None,
    };
    let join = std::thread::Builder::new()
        .name(format!("gateway-shard-{id}"))
        .spawn(move || shard.run())?;
    Ok(ShardHandle {
        tx,
        waker,
        open,
        join: Mutex::new(Some(join)),
    })
}

impl Shard {
    fn now_s(&self) -> u32 {
        self.started.elapsed().as_secs() as u32
    }

    fn run(mut self) {
        let mut events = Events::with_capacity(1024);
        let sweep_every = (self.config.heartbeat / 2).max(Duration::from_millis(100));
        let mut last_sweep = Instant::now();
        loop {
            let mut timeout = sweep_every.min(Duration::from_secs(1));
            if let Some((deadline, _, _)) = self.settling.front() {
                timeout = timeout.min(deadline.saturating_duration_since(Instant::now()));
            }
            if let Err(e) = self.poll.poll(&mut events, Some(timeout)) {
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                tracing::error!(shard = self.id, error = %e, "poll failed; shard stops");
                return;
            }
            for ev in &events {
                if ev.token() == WAKE {
                    continue;
                }
                let slot = ev.token().0;
                if ev.is_readable() || ev.is_read_closed() {
                    self.on_readable(slot);
                }
                if ev.is_writable() && self.conns.contains(slot) {
                    self.flush(slot);
                }
            }
            // Commands are drained on every wake-up, and on timeouts too.
            while let Ok(msg) = self.rx.try_recv() {
                match msg {
                    ShardMsg::Adopt(a) => self.adopt(a),
                    ShardMsg::Accept(stream, ctx) => {
                        self.handshake.get_or_insert(ctx);
                        self.accept(stream);
                    }
                    ShardMsg::Deliver(d) => self.deliver(&d),
                    ShardMsg::Shutdown => {
                        self.close_all(close_code::RESTARTING);
                        return;
                    }
                }
            }
            self.settle_expired();
            if last_sweep.elapsed() >= sweep_every {
                last_sweep = Instant::now();
                self.sweep();
            }
        }
    }

    /// Registers a socket in a new slot (not yet an open connection).
    fn register(&mut self, stream: std::net::TcpStream, handshaking: bool) -> Option<usize> {
        if let Err(e) = stream.set_nonblocking(true) {
            tracing::debug!(error = %e, "socket unusable");
            return None;
        }
        let _ = stream.set_nodelay(true);
        let mut stream = TcpStream::from_std(stream);
        let now = self.now_s();
        let entry = self.conns.vacant_entry();
        let slot = entry.key();
        if let Err(e) = self
            .poll
            .registry()
            .register(&mut stream, Token(slot), Interest::READABLE)
        {
            tracing::debug!(error = %e, "cannot register socket");
            return None;
        }
        entry.insert(Conn {
            stream,
            user: UserId(0),
            token_exp: 0,
            last_rx: now,
            pinged: false,
            wants_write: false,
            awaiting: false,
            session: 0,
            handshaking,
            closing: false,
            out: None,
            extra: None,
        });
        Some(slot)
    }

    fn adopt(&mut self, a: Adopted) {
        if let Some(slot) = self.register(a.stream, false) {
            self.open_connection(slot, a.user, a.token_exp, &a.leftover);
        }
    }

    fn accept(&mut self, stream: std::net::TcpStream) {
        if let Some(slot) = self.register(stream, true) {
            // The request may already be there.
            self.on_readable(slot);
        }
    }

    /// A slot becomes an open connection of `user`: hello, then frames.
    fn open_connection(&mut self, slot: usize, user: UserId, token_exp: u64, leftover: &[u8]) {
        self.sessions += 1;
        let session_no = self.sessions as u32;
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.user = user;
        conn.token_exp = token_exp.min(u64::from(u32::MAX)) as u32;
        conn.handshaking = false;
        conn.awaiting = true;
        conn.session = session_no;
        conn.extra = None;
        self.index.add(user, slot as u32);
        self.open.fetch_add(1, Ordering::Relaxed);
        self.metrics
            .connections
            .with_label_values(&["ws", &self.shard_label])
            .inc();
        self.settling
            .push_back((Instant::now() + RESUME_WINDOW, slot, session_no));
        let session = format!("{}-{}-{}", self.node, self.id, self.sessions);
        let hello = frames::hello(user, &session, self.config.heartbeat.as_millis() as u64);
        if !self.send(slot, ws_codec::text(&hello).into()) {
            return;
        }
        if !leftover.is_empty() {
            let verdict = self.consume(slot, leftover);
            self.apply(slot, verdict);
        }
    }

    /// Reads the upgrade request of a handshaking slot and answers it.
    fn on_handshake_bytes(&mut self, slot: usize, bytes: &[u8]) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        // Usually the whole request arrives in one read: parse it from the
        // shard's buffer and allocate nothing for this connection.
        let pending = conn.extra.as_mut().filter(|e| !e.partial.is_empty());
        let joined;
        let request: &[u8] = match pending {
            Some(extra) => {
                extra.partial.extend_from_slice(bytes);
                joined = std::mem::take(&mut extra.partial);
                &joined
            }
            None => bytes,
        };
        let (req, used) = match http_upgrade::parse(request) {
            http_upgrade::Parsed::Partial => {
                let keep = request.to_vec();
                if let Some(conn) = self.conns.get_mut(slot) {
                    conn.extra().partial = keep;
                }
                return;
            }
            http_upgrade::Parsed::Invalid => {
                let answer = http_upgrade::error(
                    400,
                    "Bad Request",
                    "bad_request",
                    "not an HTTP/1.1 request",
                );
                self.answer_and_close(slot, answer);
                return;
            }
            http_upgrade::Parsed::Complete(req, used) => (req, used),
        };
        let leftover = request[used..].to_vec();
        let Some(ctx) = self.handshake.clone() else {
            self.remove(slot, None);
            return;
        };
        let answer = match req.path.as_str() {
            "/v1/ws" => {
                let verified = req.token().map(|t| {
                    (
                        ctx.key.verify(t, now_unix_s()),
                        TokenKey::expiry(t).unwrap_or(0),
                    )
                });
                match verified {
                    Some((Ok(user), exp)) => {
                        match (&req.ws_key, req.upgrade_websocket && req.version_13) {
                            (Some(key), true) if req.method == "GET" => {
                                let ok = http_upgrade::switching_protocols(key);
                                if !self.send(slot, ok.into()) {
                                    return;
                                }
                                self.metrics
                                    .handshakes
                                    .with_label_values(&["ws", "ok"])
                                    .inc();
                                self.open_connection(slot, user, exp, &leftover);
                                return;
                            }
                            _ => http_upgrade::error(
                                400,
                                "Bad Request",
                                "bad_request",
                                "a WebSocket upgrade (version 13) is required",
                            ),
                        }
                    }
                    Some((Err(TokenError::Expired), _)) => http_upgrade::error(
                        401,
                        "Unauthorized",
                        "unauthorized",
                        "the token has expired",
                    ),
                    Some((Err(_), _)) => http_upgrade::error(
                        401,
                        "Unauthorized",
                        "unauthorized",
                        "the token is invalid",
                    ),
                    None => http_upgrade::error(
                        401,
                        "Unauthorized",
                        "unauthorized",
                        "a token is required",
                    ),
                }
            }
            "/healthz" => {
                http_upgrade::response(200, "OK", "application/json", br#"{"status":"ok"}"#)
            }
            "/metrics" => {
                let mut text = Vec::new();
                let _ = prometheus::Encoder::encode(
                    &prometheus::TextEncoder::new(),
                    &ctx.registry.gather(),
                    &mut text,
                );
                http_upgrade::response(200, "OK", "text/plain; version=0.0.4", &text)
            }
            other => http_upgrade::error(
                404,
                "Not Found",
                "not_found",
                &format!("no such path {other}"),
            ),
        };
        if req.path == "/v1/ws" {
            self.metrics
                .handshakes
                .with_label_values(&["ws", "refused"])
                .inc();
        }
        self.answer_and_close(slot, answer);
    }

    /// Sends a final HTTP answer, then closes once it is written.
    fn answer_and_close(&mut self, slot: usize, answer: Vec<u8>) {
        if !self.send(slot, answer.into()) {
            return;
        }
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        conn.closing = true;
        conn.extra = None;
        conn.last_rx = self.started.elapsed().as_secs() as u32;
        if conn.out.is_none() {
            let _ = conn.stream.shutdown(std::net::Shutdown::Write);
        }
    }

    fn on_readable(&mut self, slot: usize) {
        let mut rbuf = std::mem::take(&mut self.rbuf);
        while let Some(conn) = self.conns.get_mut(slot) {
            if conn.closing {
                match conn.stream.read(&mut rbuf) {
                    Ok(0) => {
                        self.release(slot);
                        break;
                    }
                    Ok(_) => continue,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => {
                        self.release(slot);
                        break;
                    }
                }
            }
            match conn.stream.read(&mut rbuf) {
                Ok(0) => {
                    self.remove(slot, None);
                    break;
                }
                Ok(n) if conn.handshaking => {
                    self.on_handshake_bytes(slot, &rbuf[..n]);
                }
                Ok(n) => {
                    conn.last_rx = self.started.elapsed().as_secs() as u32;
                    conn.pinged = false;
                    let verdict = self.consume(slot, &rbuf[..n]);
                    if !self.apply(slot, verdict) {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.remove(slot, None);
                    break;
                }
            }
        }
        self.rbuf = rbuf;
    }

    /// Returns whether the connection is still open.
    fn apply(&mut self, slot: usize, verdict: Verdict) -> bool {
        match verdict {
            Verdict::Keep => self.conns.contains(slot),
            Verdict::Close(code) => {
                self.remove(slot, code);
                false
            }
        }
    }

    /// Decodes and handles every whole frame in `bytes` (after any partial one).
    fn consume(&mut self, slot: usize, bytes: &[u8]) -> Verdict {
        let max = self.config.max_frame_bytes;
        let Some(conn) = self.conns.get_mut(slot) else {
            return Verdict::Keep;
        };
        let mut owned;
        let mut data: &[u8] = bytes;
        if let Some(extra) = conn.extra.as_mut().filter(|e| !e.partial.is_empty()) {
            owned = std::mem::take(&mut extra.partial);
            owned.extend_from_slice(bytes);
            data = &owned;
        } else {
            owned = Vec::new();
        }
        let _ = &owned;
        let mut at = 0;
        while at < data.len() {
            match ws_codec::decode(&data[at..], max) {
                Ok(Decoded::Frame(frame, used)) => {
                    at += used;
                    match self.on_frame(slot, frame) {
                        Verdict::Keep => {}
                        close => return close,
                    }
                }
                Ok(Decoded::Incomplete) => break,
                Err(DecodeError::TooBig) => return Verdict::Close(Some(close_code::TOO_BIG)),
                Err(DecodeError::Protocol) => return Verdict::Close(Some(close_code::PROTOCOL)),
            }
        }
        if at < data.len() {
            let rest = data[at..].to_vec();
            if let Some(conn) = self.conns.get_mut(slot) {
                conn.extra().partial = rest;
            }
        }
        Verdict::Keep
    }

    fn on_frame(&mut self, slot: usize, frame: ws_codec::ClientFrame) -> Verdict {
        let max = self.config.max_frame_bytes;
        match frame.opcode {
            ws_codec::OP_TEXT | ws_codec::OP_CONTINUATION => {
                let Some(conn) = self.conns.get_mut(slot) else {
                    return Verdict::Keep;
                };
                let message = if frame.opcode == ws_codec::OP_TEXT && frame.fin {
                    frame.payload
                } else {
                    let extra = conn.extra();
                    if frame.opcode == ws_codec::OP_TEXT {
                        extra.fragments.clear();
                    }
                    if extra.fragments.len() + frame.payload.len() > max {
                        return Verdict::Close(Some(close_code::TOO_BIG));
                    }
                    extra.fragments.extend_from_slice(&frame.payload);
                    if !frame.fin {
                        return Verdict::Keep;
                    }
                    std::mem::take(&mut extra.fragments)
                };
                self.on_message(slot, &message);
                Verdict::Keep
            }
            ws_codec::OP_BINARY => {
                let e = FrameError {
                    code: "bad_frame",
                    message: "frames are JSON text; binary frames are not accepted".into(),
                };
                self.send(slot, ws_codec::text(&frames::error(&e)).into());
                Verdict::Keep
            }
            ws_codec::OP_PING => {
                self.send(slot, ws_codec::pong(&frame.payload).into());
                Verdict::Keep
            }
            ws_codec::OP_CLOSE => Verdict::Close(Some(close_code::NORMAL)),
            _ => Verdict::Keep, // pong: liveness was already noted
        }
    }

    fn on_message(&mut self, slot: usize, payload: &[u8]) {
        let parsed = frames::parse_client(payload);
        let resuming = matches!(parsed, Ok(ClientMessage::Resume { .. }));
        if !resuming {
            self.settle(slot);
        }
        match parsed {
            Ok(ClientMessage::Ping) => {
                self.send(slot, ws_codec::text(&frames::pong()).into());
            }
            Ok(ClientMessage::Resume { offsets }) => match frames::resume_topics(&offsets) {
                Ok(topics) if topics.len() <= self.config.max_resume_topics => {
                    self.resume(slot, &topics);
                }
                Ok(_) => {
                    let e = FrameError {
                        code: "bad_frame",
                        message: format!(
                            "a resume names at most {} topics",
                            self.config.max_resume_topics
                        ),
                    };
                    self.send(slot, ws_codec::text(&frames::error(&e)).into());
                }
                Err(e) => {
                    self.send(slot, ws_codec::text(&frames::error(&e)).into());
                }
            },
            Err(e) => {
                self.send(slot, ws_codec::text(&frames::error(&e)).into());
            }
        }
    }

    /// Replays each topic from the ring (only deltas this user was a
    /// recipient of), then answers `resumed`.
    fn resume(&mut self, slot: usize, topics: &[(Topic, u64)]) {
        let Some(user) = self.conns.get(slot).map(|c| c.user) else {
            return;
        };
        let plan = {
            let ring = self.ring.lock();
            let Some(conn) = self.conns.get_mut(slot) else {
                return;
            };
            resume::plan(&ring, &mut conn.extra().delivered, user, topics)
        };
        self.metrics.resyncs.inc_by(plan.resync.len() as u64);
        for e in &plan.deltas {
            if !self.send_delta(slot, e) {
                return;
            }
        }
        let (recovered, resync) = (plan.recovered, plan.resync);
        self.settle(slot);
        self.send(
            slot,
            ws_codec::text(&frames::resumed(&recovered, &resync)).into(),
        );
    }

    /// Ends a connection's resume window: held deltas go out, in order,
    /// skipping any a replay already sent.
    fn settle(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if !conn.awaiting {
            return;
        }
        conn.awaiting = false;
        let held = conn
            .extra
            .as_mut()
            .map(|e| {
                e.held_bytes = 0;
                std::mem::take(&mut e.held)
            })
            .unwrap_or_default();
        for d in held {
            let fresh = self
                .conns
                .get_mut(slot)
                .is_some_and(|c| c.extra().delivered.admit(d.topic, d.offset));
            if fresh && !self.send_delta(slot, &d) {
                return;
            }
        }
    }

    fn settle_expired(&mut self) {
        let now = Instant::now();
        while let Some(&(deadline, slot, session)) = self.settling.front() {
            if deadline > now {
                break;
            }
            self.settling.pop_front();
            if self.conns.get(slot).is_some_and(|c| c.session == session) {
                self.settle(slot);
            }
        }
    }

    fn deliver(&mut self, d: &Arc<EncodedDelta>) {
        let mut targets = Vec::new();
        for &user in d.recipients.iter() {
            targets.extend_from_slice(self.index.slots(user));
        }
        let max_held = self.config.max_outbound_bytes;
        for slot in targets {
            let slot = slot as usize;
            if let Some(conn) = self.conns.get_mut(slot).filter(|c| c.awaiting) {
                let extra = conn.extra();
                extra.held_bytes += d.frame.len();
                extra.held.push(d.clone());
                if extra.held_bytes > max_held {
                    self.remove(slot, Some(close_code::SLOW_CONSUMER));
                }
                continue;
            }
            let fresh = self
                .conns
                .get_mut(slot)
                .is_some_and(|c| c.extra().delivered.admit(d.topic, d.offset));
            if fresh {
                self.send_delta(slot, d);
            }
        }
    }

    fn send_delta(&mut self, slot: usize, d: &EncodedDelta) -> bool {
        let ok = self.send(slot, d.frame.clone());
        if ok {
            self.metrics.deliveries.inc();
            self.metrics.delivered_bytes.inc_by(d.frame.len() as u64);
            let now_ms = tidings_storage::Timestamp::now().millis();
            let latency = (now_ms - d.committed_at_ms).max(0) as f64 / 1000.0;
            self.metrics.delivery_latency.observe(latency);
        }
        ok
    }

    /// Writes or queues `frame`; closes with 4008 past the queue bound.
    /// Returns whether the connection is still open.
    fn send(&mut self, slot: usize, frame: Arc<[u8]>) -> bool {
        let max = self.config.max_outbound_bytes;
        let Some(conn) = self.conns.get_mut(slot) else {
            return false;
        };
        let queued = conn.out.as_ref().is_some_and(|o| !o.is_empty());
        if !queued {
            match conn.stream.write(&frame) {
                Ok(n) if n == frame.len() => return true,
                Ok(n) => {
                    let out = conn.out.get_or_insert_with(Default::default);
                    let _ = out.push(frame, usize::MAX);
                    out.advance(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    let out = conn.out.get_or_insert_with(Default::default);
                    let _ = out.push(frame, usize::MAX);
                }
                Err(_) => {
                    self.remove(slot, None);
                    return false;
                }
            }
        } else {
            let out = conn.out.get_or_insert_with(Default::default);
            if out.push(frame, max).is_err() {
                self.remove(slot, Some(close_code::SLOW_CONSUMER));
                return false;
            }
        }
        if !conn.wants_write {
            conn.wants_write = true;
            let _ = self.poll.registry().reregister(
                &mut conn.stream,
                Token(slot),
                Interest::READABLE | Interest::WRITABLE,
            );
        }
        true
    }

    fn flush(&mut self, slot: usize) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        let Some(out) = conn.out.as_mut() else {
            return;
        };
        while let Some(front) = out.front() {
            match conn.stream.write(front) {
                Ok(0) => break,
                Ok(n) => out.advance(n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.remove(slot, None);
                    return;
                }
            }
        }
        if out.is_empty() {
            // Drained: free the queue and stop asking for writability.
            conn.out = None;
            conn.wants_write = false;
            if conn.closing {
                // The close frame went out last.
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            }
            let _ =
                self.poll
                    .registry()
                    .reregister(&mut conn.stream, Token(slot), Interest::READABLE);
        }
    }

    /// Pings idle connections, drops dead ones, closes expired tokens (4001).
    fn sweep(&mut self) {
        let now = self.now_s();
        let now_unix = now_unix_s();
        let hb = self.config.heartbeat.as_secs().max(1) as u32;
        let mut ping = Vec::new();
        let mut expired = Vec::new();
        let mut dead = Vec::new();
        let mut lingered = Vec::new();
        let mut slow_handshakes = Vec::new();
        let handshake_secs = self.config.handshake_timeout.as_secs().max(1) as u32;
        for (slot, conn) in &self.conns {
            if conn.handshaking && !conn.closing {
                if now.saturating_sub(conn.last_rx) >= handshake_secs {
                    slow_handshakes.push(slot);
                }
            } else if conn.closing {
                if now.saturating_sub(conn.last_rx) >= CLOSE_LINGER_SECS {
                    lingered.push(slot);
                }
            } else if u64::from(conn.token_exp) <= now_unix {
                expired.push(slot);
            } else if now.saturating_sub(conn.last_rx) >= 2 * hb {
                dead.push(slot);
            } else if now.saturating_sub(conn.last_rx) >= hb && !conn.pinged {
                ping.push(slot);
            }
        }
        for slot in lingered {
            self.release(slot);
        }
        for slot in slow_handshakes {
            self.remove(slot, None);
        }
        for slot in expired {
            self.remove(slot, Some(close_code::TOKEN_EXPIRED));
        }
        for slot in dead {
            self.remove(slot, Some(close_code::GOING_AWAY));
        }
        for slot in ping {
            if let Some(c) = self.conns.get_mut(slot) {
                c.pinged = true;
            }
            self.send(slot, ws_codec::ping().into());
        }
    }

    fn close_all(&mut self, code: u16) {
        let slots: Vec<usize> = self.conns.iter().map(|(s, _)| s).collect();
        for slot in slots {
            self.remove(slot, Some(code));
            self.release(slot);
        }
    }

    /// Closes a connection. With a `code`, a close frame is sent when it can
    /// be sent cleanly (not in the middle of another frame) and the slot
    /// lingers briefly, discarding input, so the peer reads the frame instead
    /// of a reset. Without one, the socket is dropped at once.
    fn remove(&mut self, slot: usize, code: Option<u16>) {
        let Some(conn) = self.conns.get_mut(slot) else {
            return;
        };
        if conn.closing {
            return;
        }
        if conn.handshaking {
            conn.closing = true;
            self.release(slot);
            return;
        }
        conn.closing = true;
        let user = conn.user;
        if let Some(code) = code {
            let close = ws_codec::close(code, "");
            match conn.out.as_mut().filter(|o| o.mid_frame()) {
                // A frame is half written: finish it, then the close frame,
                // dropping everything queued behind it; shut down once flushed.
                Some(out) => {
                    out.keep_front_only();
                    let _ = out.push(close.into(), usize::MAX);
                }
                None => {
                    conn.out = None;
                    let _ = conn.stream.write(&close);
                    let _ = conn.stream.shutdown(std::net::Shutdown::Write);
                    if conn.wants_write {
                        conn.wants_write = false;
                        let _ = self.poll.registry().reregister(
                            &mut conn.stream,
                            Token(slot),
                            Interest::READABLE,
                        );
                    }
                }
            }
            conn.extra = None;
            conn.last_rx = self.started.elapsed().as_secs() as u32;
            self.metrics
                .closes
                .with_label_values(&[&code.to_string()])
                .inc();
        }
        self.index.remove(user, slot as u32);
        self.open.fetch_sub(1, Ordering::Relaxed);
        self.metrics
            .connections
            .with_label_values(&["ws", &self.shard_label])
            .dec();
        if code.is_none() {
            self.release(slot);
        }
    }

    /// Frees the slot and the socket of a connection already removed.
    fn release(&mut self, slot: usize) {
        if !self.conns.get(slot).is_some_and(|c| c.closing) {
            return;
        }
        let mut conn = self.conns.remove(slot);
        let _ = self.poll.registry().deregister(&mut conn.stream);
    }
}

/// How long after `hello` live deltas wait for the client's first frame
/// (normally its `resume`).
const RESUME_WINDOW: Duration = Duration::from_millis(500);

/// Seconds a closed connection lingers for the peer's close.
const CLOSE_LINGER_SECS: u32 = 2;
