//! The gateway's defences and recovery, over real sockets against an
//! in-process gateway: expired tokens (4001), slow consumers (4008), dead
//! clients, half-open handshakes, the per-address handshake limit, and
//! offset gaps filled from storage or given up as resync.

use std::sync::Arc;
use std::time::Duration;

use tidings_gateway::core::ws_codec::{self, OP_CLOSE, OP_PING, OP_TEXT};
use tidings_gateway::{GapSource, Gateway, GatewayConfig};
use tidings_storage::conformance::new_user;
use tidings_storage::{
    ChatId, CommittedDelta, Delta, EventKind, NewChat, SqliteConfig, SqliteStore, Store, Timestamp,
    Topic, UserId, Write,
};
use tidings_wire::token::now_unix_s;
use tidings_wire::TokenKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

struct Node {
    addr: String,
    gateway: Gateway,
    key: TokenKey,
}

async fn start(config: GatewayConfig, gaps: Option<GapSource>) -> Node {
    let registry = prometheus::Registry::new();
    let gateway = Gateway::start(config, &registry, gaps).unwrap();
    let key = TokenKey::generate();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    gateway.listen(listener, key.clone(), registry).unwrap();
    Node { addr, gateway, key }
}

/// A bare client: the upgrade by hand, frames through the sans-IO codec.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

enum Got {
    Text(serde_json::Value),
    Ping,
    Close(u16),
    Eof,
}

impl Client {
    async fn open(addr: &str, token: &str) -> Result<Self, String> {
        let mut stream = TcpStream::connect(addr).await.unwrap();
        let req = format!(
            "GET /v1/ws?token={token} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        stream.write_all(req.as_bytes()).await.unwrap();
        let mut buf = Vec::new();
        loop {
            let mut chunk = [0u8; 4096];
            let n = stream.read(&mut chunk).await.unwrap();
            if n == 0 {
                return Err("closed during the handshake".into());
            }
            buf.extend_from_slice(&chunk[..n]);
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                if !head.starts_with("HTTP/1.1 101") {
                    return Err(head);
                }
                buf.drain(..end + 4);
                return Ok(Self { stream, buf });
            }
        }
    }

    async fn next(&mut self) -> Got {
        loop {
            if let Some((f, used)) = ws_codec::decode_server(&self.buf).unwrap() {
                self.buf.drain(..used);
                return match f.opcode {
                    OP_TEXT => Got::Text(serde_json::from_slice(&f.payload).unwrap()),
                    OP_PING => Got::Ping,
                    OP_CLOSE => Got::Close(u16::from_be_bytes([f.payload[0], f.payload[1]])),
                    other => panic!("unexpected opcode {other}"),
                };
            }
            let mut chunk = vec![0u8; 64 * 1024];
            let n = tokio::time::timeout(Duration::from_secs(10), self.stream.read(&mut chunk))
                .await
                .expect("a frame within 10 s")
                .unwrap_or(0);
            if n == 0 {
                return Got::Eof;
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn text(&mut self) -> serde_json::Value {
        loop {
            match self.next().await {
                Got::Text(v) => return v,
                Got::Ping => continue,
                Got::Close(c) => panic!("closed with {c}"),
                Got::Eof => panic!("eof"),
            }
        }
    }

    async fn send(&mut self, v: serde_json::Value) {
        let frame = ws_codec::client_frame(OP_TEXT, true, v.to_string().as_bytes(), [7, 1, 3, 9]);
        self.stream.write_all(&frame).await.unwrap();
    }

    /// Reads until the server closes, answering pings; the close code
    /// (or 1006 for EOF).
    async fn close_code(&mut self) -> u16 {
        loop {
            match self.next().await {
                Got::Close(c) => return c,
                Got::Eof => return 1006,
                Got::Ping => {
                    let pong = ws_codec::client_frame(ws_codec::OP_PONG, true, b"", [1, 2, 3, 4]);
                    self.stream.write_all(&pong).await.unwrap();
                }
                Got::Text(_) => {}
            }
        }
    }
}

fn delta(chat: u64, offset: u64, recipients: &[u64], bytes: usize) -> CommittedDelta {
    CommittedDelta {
        delta: Delta::new(
            Topic::Chat(ChatId(chat)),
            offset,
            EventKind::MessageCreated,
            serde_json::json!({"seq": offset, "body": "x".repeat(bytes)}),
            Timestamp::now(),
        ),
        recipients: recipients.iter().copied().map(UserId).collect(),
    }
}

fn quick() -> GatewayConfig {
    GatewayConfig {
        shards: 2,
        heartbeat: Duration::from_secs(1),
        gap_hold: Duration::from_millis(100),
        handshake_timeout: Duration::from_secs(1),
        ..GatewayConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_tokens_are_refused_before_the_upgrade() {
    let node = start(quick(), None).await;
    let other = TokenKey::generate().issue(UserId(1), now_unix_s() + 60);
    let err = Client::open(&node.addr, &other).await.err().unwrap();
    assert!(err.starts_with("HTTP/1.1 401"), "{err}");
    let expired = node.key.issue(UserId(1), now_unix_s() - 1);
    let err = Client::open(&node.addr, &expired).await.err().unwrap();
    assert!(err.starts_with("HTTP/1.1 401"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expiring_token_closes_with_4001() {
    let node = start(quick(), None).await;
    let token = node.key.issue(UserId(1), now_unix_s() + 2);
    let mut c = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(c.text().await["type"], "hello");
    // Keep answering pings so only the expiry can close it.
    assert_eq!(c.close_code().await, 4001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_consumer_is_closed_with_4008_and_memory_stays_bounded() {
    let config = GatewayConfig {
        max_outbound_bytes: 256 * 1024,
        ..quick()
    };
    let node = start(config, None).await;
    let token = node.key.issue(UserId(9), now_unix_s() + 600);
    let mut c = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(c.text().await["type"], "hello");
    c.send(serde_json::json!({"type": "ping"})).await;
    assert_eq!(c.text().await["type"], "pong");
    // The client stops reading; 64 MiB of deltas are pushed at it.
    let feed = node.gateway.feed();
    for offset in 1..=1024 {
        feed.push(&[delta(1, offset, &[9], 64 * 1024)]);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut texts = 0;
    let code = loop {
        match c.next().await {
            Got::Text(_) => texts += 1,
            Got::Close(code) => break code,
            Got::Eof => break 1006,
            Got::Ping => {}
        }
    };
    assert_eq!(code, 4008);
    assert!(
        texts < 1024,
        "the slow consumer did not get everything queued"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_clients_are_pinged_then_dropped() {
    let node = start(quick(), None).await;
    let token = node.key.issue(UserId(3), now_unix_s() + 600);
    let mut c = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(c.text().await["type"], "hello");
    // Never answer: a ping comes, then the server gives up (1001).
    let mut pinged = false;
    let code = loop {
        match c.next().await {
            Got::Ping => pinged = true,
            Got::Close(code) => break code,
            Got::Eof => break 1006,
            Got::Text(_) => {}
        }
    };
    assert!(pinged);
    assert_eq!(code, 1001);
    for _ in 0..100 {
        if node.gateway.connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(node.gateway.connections(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_open_handshakes_are_cut() {
    let node = start(quick(), None).await;
    let mut s = TcpStream::connect(&node.addr).await.unwrap();
    s.write_all(b"GET /v1/ws HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let mut buf = [0u8; 256];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .expect("the server hangs up within the handshake timeout")
        .unwrap_or(0);
    let text = String::from_utf8_lossy(&buf[..n]);
    assert!(n == 0 || text.starts_with("HTTP/1.1 408"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_are_rate_limited_per_address() {
    let config = GatewayConfig {
        handshakes_per_sec_per_ip: 2,
        ..quick()
    };
    let node = start(config, None).await;
    let token = node.key.issue(UserId(4), now_unix_s() + 600);
    let mut refused = None;
    for _ in 0..10 {
        if let Err(head) = Client::open(&node.addr, &token).await {
            refused = Some(head);
            break;
        }
    }
    let head = refused.expect("the bucket runs dry");
    assert!(head.starts_with("HTTP/1.1 429"), "{head}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gaps_are_filled_from_storage_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let store: Arc<dyn Store> =
        Arc::new(SqliteStore::open(SqliteConfig::in_dir(dir.path())).unwrap());
    let a = new_user(&store, "ga").await;
    let chat = store
        .create_chat(&Write::by(a.id), NewChat::default())
        .await
        .unwrap()
        .value;
    let mut committed = Vec::new();
    for i in 0..5 {
        let c = store
            .post_message(&Write::by(a.id), chat.id, &format!("m{i}"))
            .await
            .unwrap();
        committed.push(c.deltas[0].clone());
    }
    let gaps = GapSource {
        store: store.clone(),
        runtime: tokio::runtime::Handle::current(),
    };
    let node = start(quick(), Some(gaps)).await;
    let token = node.key.issue(a.id, now_unix_s() + 600);
    let mut c = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(c.text().await["type"], "hello");
    c.send(serde_json::json!({"type": "ping"})).await;
    assert_eq!(c.text().await["type"], "pong");
    // Offset 3 never arrives on the feed: it must come from storage.
    let feed = node.gateway.feed();
    for i in [0, 1, 3, 4] {
        feed.push(&committed[i..=i]);
    }
    for expected in 1..=5u64 {
        let d = c.text().await;
        assert_eq!(d["offset"], expected, "{d}");
        assert_eq!(d["data"]["body"], format!("m{}", expected - 1));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unfillable_gap_becomes_resync_never_disorder() {
    let node = start(quick(), None).await;
    let token = node.key.issue(UserId(5), now_unix_s() + 600);
    let mut c = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(c.text().await["type"], "hello");
    c.send(serde_json::json!({"type": "ping"})).await;
    assert_eq!(c.text().await["type"], "pong");
    let feed = node.gateway.feed();
    feed.push(&[delta(8, 1, &[5], 10)]);
    feed.push(&[delta(8, 3, &[5], 10)]);
    let first = c.text().await;
    assert_eq!(first["offset"], 1, "{first}");
    let second = c.text().await;
    assert_eq!(
        second["offset"], 3,
        "released after the hold, still in order: {second}"
    );
    // History around the hole is gone: a resume from before it is resync.
    let mut other = Client::open(&node.addr, &token).await.unwrap();
    assert_eq!(other.text().await["type"], "hello");
    other
        .send(serde_json::json!({"type": "resume", "offsets": {"chat:8": 1}}))
        .await;
    // Live deltas that reached this connection before its resume may come
    // first (in order); then the answer.
    let r = loop {
        let v = other.text().await;
        if v["type"] == "resumed" {
            break v;
        }
        assert_eq!(v["offset"], 3, "{v}");
    };
    assert_eq!(r["resync"], serde_json::json!(["chat:8"]), "{r}");
}
