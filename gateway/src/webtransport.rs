//! WebTransport (HTTP/3, through wtransport on quinn): the same protocol as
//! the WebSocket endpoint, as newline-delimited JSON on one bidirectional
//! stream the client opens.
//!
//! A session is `https://host:port/v1/wt?token=<token>`; a bad token is
//! refused (403) before the session is accepted. Close codes are the
//! WebSocket ones, sent as the session's application error code (4001,
//! 4008, 1009, 1012). Dev uses a 14-day self-signed ECDSA certificate whose
//! SHA-256 browsers accept through `serverCertificateHashes`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tidings_storage::{Topic, UserId};
use tidings_wire::token::now_unix_s;
use tidings_wire::TokenKey;
use tokio::sync::mpsc;
use wtransport::endpoint::IncomingSession;
use wtransport::{Endpoint, Identity, ServerConfig, VarInt};

use crate::core::delivered::Delivered;
use crate::core::encoded::EncodedDelta;
use crate::core::frames::{self, ClientMessage};
use crate::core::http_upgrade;
use crate::core::resume;
use crate::shard::close_code;
use crate::wt_sessions::Inbox;
use crate::Gateway;

/// Why the WebTransport endpoint could not start.
#[derive(Debug, thiserror::Error)]
pub enum WtError {
    #[error("WebTransport certificate: {0}")]
    Identity(String),
    #[error("WebTransport endpoint: {0}")]
    Io(#[from] std::io::Error),
}

/// A dev identity: self-signed ECDSA, valid 14 days, for localhost.
pub fn dev_identity() -> Result<Identity, WtError> {
    Identity::self_signed(["localhost", "127.0.0.1", "::1"])
        .map_err(|e| WtError::Identity(e.to_string()))
}

/// Loads a production identity from PEM files.
pub async fn load_identity(
    cert: &std::path::Path,
    key: &std::path::Path,
) -> Result<Identity, WtError> {
    Identity::load_pemfiles(cert, key)
        .await
        .map_err(|e| WtError::Identity(e.to_string()))
}

/// The SHA-256 of the identity's certificate, as browsers want it.
pub fn certificate_hash(identity: &Identity) -> String {
    identity
        .certificate_chain()
        .as_slice()
        .first()
        .map(|c| c.hash().fmt(wtransport::tls::Sha256DigestFmt::DottedHex))
        .unwrap_or_default()
}

/// A running WebTransport endpoint.
pub struct WtServer {
    endpoint: Arc<Endpoint<wtransport::endpoint::endpoint_side::Server>>,
    accepting: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for WtServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WtServer({:?})", self.endpoint.local_addr().ok())
    }
}

impl WtServer {
    /// Listens on `addr` (UDP). Must be called inside a tokio runtime.
    pub fn start(
        gateway: &Gateway,
        addr: SocketAddr,
        identity: Identity,
        key: TokenKey,
    ) -> Result<Self, WtError> {
        let config = ServerConfig::builder()
            .with_bind_address(addr)
            .with_identity(identity)
            .keep_alive_interval(Some(Duration::from_secs(15)))
            .build();
        let endpoint = Arc::new(Endpoint::server(config)?);
        let accepting = endpoint.clone();
        let gateway = gateway.clone();
        let accepting = tokio::spawn(async move {
            loop {
                let incoming = accepting.accept().await;
                tokio::spawn(handshake(incoming, gateway.clone(), key.clone()));
            }
        });
        Ok(Self {
            endpoint,
            accepting,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Stops accepting, then closes every session with 1012.
    pub async fn close(self) {
        // wtransport's accept panics on a closed endpoint: stop it first.
        self.accepting.abort();
        let _ = self.accepting.await;
        self.endpoint.close(
            VarInt::from_u32(close_code::RESTARTING.into()),
            b"server restarting",
        );
        let _ = tokio::time::timeout(Duration::from_secs(2), self.endpoint.wait_idle()).await;
    }
}

fn token_in(path: &str, headers: &std::collections::HashMap<String, String>) -> Option<String> {
    if let Some(t) = headers
        .get("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
    {
        return Some(t.trim().to_owned());
    }
    http_upgrade::query_token(path.split_once('?')?.1).map(str::to_owned)
}

async fn handshake(incoming: IncomingSession, gateway: Gateway, key: TokenKey) {
    let metrics = gateway.metrics().clone();
    let Ok(request) = incoming.await else {
        metrics
            .handshakes
            .with_label_values(&["wt", "failed"])
            .inc();
        return;
    };
    let path = request.path().to_owned();
    if !path.starts_with("/v1/wt") {
        request.not_found().await;
        return;
    }
    let verified = token_in(&path, request.headers()).and_then(|t| {
        key.verify(&t, now_unix_s())
            .ok()
            .map(|u| (u, TokenKey::expiry(&t).unwrap_or(0)))
    });
    let Some((user, exp)) = verified else {
        metrics
            .handshakes
            .with_label_values(&["wt", "refused"])
            .inc();
        request.forbidden().await;
        return;
    };
    let Ok(conn) = request.accept().await else {
        metrics
            .handshakes
            .with_label_values(&["wt", "failed"])
            .inc();
        return;
    };
    metrics.handshakes.with_label_values(&["wt", "ok"]).inc();
    let gauge = metrics.connections.with_label_values(&["wt", "quic"]);
    gauge.inc();
    let code = session(&conn, &gateway, user, exp).await;
    gauge.dec();
    if let Some(code) = code {
        metrics.closes.with_label_values(&[&code.to_string()]).inc();
        conn.close(VarInt::from_u32(code.into()), b"");
    }
}

/// Runs one session; returns the close code to send, if the server closes.
async fn session(
    conn: &wtransport::Connection,
    gateway: &Gateway,
    user: UserId,
    token_exp: u64,
) -> Option<u16> {
    let Ok((mut send, mut recv)) = conn.accept_bi().await else {
        return None;
    };
    let config = gateway.config().clone();
    let (tx, mut rx) = mpsc::channel::<Arc<EncodedDelta>>(1024);
    let overflow = Arc::new(tokio::sync::Notify::new());
    let sessions = gateway.wt_sessions();
    let id = sessions.add(
        user,
        Inbox {
            deltas: tx,
            overflow: overflow.clone(),
        },
    );
    let result: Result<Option<u16>, wtransport::error::StreamWriteError> = async {
        let hello = frames::hello(
            user,
            &format!("wt-{id}"),
            config.heartbeat.as_millis() as u64,
        );
        line(&mut send, &hello).await?;
        let mut delivered = Delivered::default();
        let mut held: Vec<Arc<EncodedDelta>> = Vec::new();
        let mut awaiting = true;
        let window = tokio::time::sleep(Duration::from_millis(500));
        tokio::pin!(window);
        let expiry =
            tokio::time::sleep(Duration::from_secs(token_exp.saturating_sub(now_unix_s())));
        tokio::pin!(expiry);
        let mut input: Vec<u8> = Vec::new();
        let mut chunk = vec![0u8; 16 * 1024];
        loop {
            tokio::select! {
                read = recv.read(&mut chunk) => {
                    let Ok(Some(n)) = read else {
                        return Ok(None);
                    };
                    input.extend_from_slice(&chunk[..n]);
                    while let Some(pos) = input.iter().position(|b| *b == b'\n') {
                        let message: Vec<u8> = input.drain(..=pos).collect();
                        let topics = on_message(&message[..pos], &mut send).await?;
                        if let Some(topics) = topics {
                            let plan = {
                                let ring = gateway.ring().lock();
                                resume::plan(&ring, &mut delivered, user, &topics)
                            };
                            gateway.metrics().resyncs.inc_by(plan.resync.len() as u64);
                            for d in &plan.deltas {
                                line(&mut send, d.json()).await?;
                            }
                            settle(&mut awaiting, &mut held, &mut delivered, &mut send).await?;
                            line(&mut send, &frames::resumed(&plan.recovered, &plan.resync)).await?;
                        } else {
                            settle(&mut awaiting, &mut held, &mut delivered, &mut send).await?;
                        }
                    }
                    if input.len() > config.max_frame_bytes {
                        return Ok(Some(close_code::TOO_BIG));
                    }
                }
                Some(d) = rx.recv() => {
                    if awaiting {
                        held.push(d);
                    } else if delivered.admit(d.topic, d.offset) {
                        line(&mut send, d.json()).await?;
                        gateway.metrics().deliveries.inc();
                    }
                }
                () = &mut window, if awaiting => {
                    settle(&mut awaiting, &mut held, &mut delivered, &mut send).await?;
                }
                () = &mut expiry => return Ok(Some(close_code::TOKEN_EXPIRED)),
                () = overflow.notified() => return Ok(Some(close_code::SLOW_CONSUMER)),
            }
        }
    }
    .await;
    sessions.remove(user, id);
    result.unwrap_or(None)
}

/// Handles one client line; returns the topics of a resume.
async fn on_message(
    payload: &[u8],
    send: &mut wtransport::SendStream,
) -> Result<Option<Vec<(Topic, u64)>>, wtransport::error::StreamWriteError> {
    match frames::parse_client(payload) {
        Ok(ClientMessage::Ping) => {
            line(send, &frames::pong()).await?;
            Ok(None)
        }
        Ok(ClientMessage::Resume { offsets }) => match frames::resume_topics(&offsets) {
            Ok(topics) => Ok(Some(topics)),
            Err(e) => {
                line(send, &frames::error(&e)).await?;
                Ok(None)
            }
        },
        Err(e) => {
            line(send, &frames::error(&e)).await?;
            Ok(None)
        }
    }
}

async fn settle(
    awaiting: &mut bool,
    held: &mut Vec<Arc<EncodedDelta>>,
    delivered: &mut Delivered,
    send: &mut wtransport::SendStream,
) -> Result<(), wtransport::error::StreamWriteError> {
    if !*awaiting {
        return Ok(());
    }
    *awaiting = false;
    for d in std::mem::take(held) {
        if delivered.admit(d.topic, d.offset) {
            line(send, d.json()).await?;
        }
    }
    Ok(())
}

async fn line(
    send: &mut wtransport::SendStream,
    json: &[u8],
) -> Result<(), wtransport::error::StreamWriteError> {
    let mut buf = Vec::with_capacity(json.len() + 1);
    buf.extend_from_slice(json);
    buf.push(b'\n');
    send.write_all(&buf).await
}
