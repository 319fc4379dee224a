//! WebTransport with a Rust WebTransport client (wtransport): the same
//! frames as the WebSocket endpoint, newline-delimited JSON on one
//! bidirectional stream; tokens checked before the session is accepted.

use std::time::Duration;

use tidings_gateway::webtransport::{dev_identity, WtServer};
use tidings_gateway::{Gateway, GatewayConfig};
use tidings_storage::{ChatId, CommittedDelta, Delta, EventKind, Timestamp, Topic, UserId};
use tidings_wire::token::now_unix_s;
use tidings_wire::TokenKey;
use wtransport::{ClientConfig, Endpoint, RecvStream, SendStream};

struct Session {
    send: SendStream,
    recv: RecvStream,
    buf: Vec<u8>,
    _conn: wtransport::Connection,
}

impl Session {
    async fn line(&mut self) -> serde_json::Value {
        loop {
            if let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                return serde_json::from_slice(&line[..pos]).unwrap();
            }
            let mut chunk = [0u8; 8192];
            let n = tokio::time::timeout(Duration::from_secs(10), self.recv.read(&mut chunk))
                .await
                .expect("a line within 10 s")
                .unwrap()
                .expect("stream open");
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }

    async fn send(&mut self, v: serde_json::Value) {
        let mut bytes = serde_json::to_vec(&v).unwrap();
        bytes.push(b'\n');
        self.send.write_all(&bytes).await.unwrap();
    }
}

async fn open(
    port: u16,
    hash: wtransport::tls::Sha256Digest,
    token: &str,
) -> Result<Session, String> {
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([hash])
        .build();
    let endpoint = Endpoint::client(config).unwrap();
    let conn = endpoint
        .connect(format!("https://127.0.0.1:{port}/v1/wt?token={token}"))
        .await
        .map_err(|e| e.to_string())?;
    let (send, recv) = conn
        .open_bi()
        .await
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    Ok(Session {
        send,
        recv,
        buf: Vec::new(),
        _conn: conn,
    })
}

fn delta(offset: u64, to: u64) -> CommittedDelta {
    CommittedDelta {
        delta: Delta::new(
            Topic::Chat(ChatId(3)),
            offset,
            EventKind::MessageCreated,
            serde_json::json!({"seq": offset}),
            Timestamp::now(),
        ),
        recipients: vec![UserId(to)],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_protocol_over_webtransport() {
    let registry = prometheus::Registry::new();
    let gateway = Gateway::start(
        GatewayConfig {
            shards: 1,
            ..GatewayConfig::default()
        },
        &registry,
        None,
    )
    .unwrap();
    let identity = dev_identity().unwrap();
    let hash = identity.certificate_chain().as_slice()[0].hash();
    let key = TokenKey::generate();
    let server = WtServer::start(
        &gateway,
        "127.0.0.1:0".parse().unwrap(),
        identity,
        key.clone(),
    )
    .unwrap();
    let port = server.local_addr().unwrap().port();

    // A forged token never gets a session.
    let forged = TokenKey::generate().issue(UserId(7), now_unix_s() + 60);
    assert!(open(port, hash.clone(), &forged).await.is_err());

    let token = key.issue(UserId(7), now_unix_s() + 600);
    let mut s = open(port, hash.clone(), &token).await.unwrap();
    // The first frame comes once the client's stream is open and written to.
    s.send(serde_json::json!({"type": "ping"})).await;
    let hello = s.line().await;
    assert_eq!(hello["type"], "hello");
    assert_eq!(hello["user_id"], "7");
    assert_eq!(s.line().await, serde_json::json!({"type": "pong"}));
    s.send(serde_json::json!({"type": "dance"})).await;
    assert_eq!(s.line().await["code"], "unknown_type");

    let feed = gateway.feed();
    feed.push(&[delta(1, 7), delta(2, 99), delta(3, 7)]);
    let d = s.line().await;
    assert_eq!(
        (d["type"].as_str(), d["offset"].as_u64()),
        (Some("delta"), Some(1))
    );
    assert_eq!(s.line().await["offset"], 3, "offset 2 was for someone else");

    // A second session resumes from offset 1 and gets 3 again, then resumed.
    let mut again = open(port, hash, &token).await.unwrap();
    again
        .send(serde_json::json!({"type": "resume", "offsets": {"chat:3": 1, "user:7": 0}}))
        .await;
    assert_eq!(again.line().await["type"], "hello");
    assert_eq!(again.line().await["offset"], 3);
    let r = again.line().await;
    assert_eq!(r["type"], "resumed");
    assert_eq!(r["recovered"], serde_json::json!(["chat:3"]));
    assert_eq!(r["resync"], serde_json::json!(["user:7"]));
    server.close().await;
}
