//! The WebSocket upgrade, on hyper with fastwebsockets' `upgrade`: the
//! handshake runs as a short-lived tokio task; once it completes, the raw
//! TCP socket is taken back out of hyper and handed to a shard. From then
//! on the connection is a slab slot; no task, no fastwebsockets `WebSocket`
//! and no buffers are kept for it (see the crate docs for why).

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Empty;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tidings_storage::UserId;

use crate::shard::Adopted;
use crate::Gateway;

/// Why an upgrade was refused before it started.
#[derive(Debug, thiserror::Error)]
pub enum UpgradeError {
    #[error("not a WebSocket upgrade request: {0}")]
    NotUpgrade(String),
    #[error("too many handshakes from this address")]
    RateLimited,
}

impl UpgradeError {
    pub fn status(&self) -> StatusCode {
        match self {
            UpgradeError::NotUpgrade(_) => StatusCode::BAD_REQUEST,
            UpgradeError::RateLimited => StatusCode::TOO_MANY_REQUESTS,
        }
    }
}

impl Gateway {
    /// Answers an authenticated upgrade request with 101 and, once the
    /// handshake completes, moves the socket into a shard. Must run inside a
    /// tokio runtime, on a connection served with `TokioIo<TcpStream>`.
    pub fn upgrade(
        &self,
        mut req: Request<Incoming>,
        user: UserId,
        token_exp: u64,
        peer: SocketAddr,
    ) -> Result<Response<Empty<Bytes>>, UpgradeError> {
        if !self.inner.handshakes.check(peer.ip()) {
            self.metrics()
                .handshakes
                .with_label_values(&["ws", "rate_limited"])
                .inc();
            return Err(UpgradeError::RateLimited);
        }
        if !fastwebsockets::upgrade::is_upgrade_request(&req) {
            self.metrics()
                .handshakes
                .with_label_values(&["ws", "refused"])
                .inc();
            return Err(UpgradeError::NotUpgrade(
                "missing Upgrade: websocket".into(),
            ));
        }
        let (response, fut) = fastwebsockets::upgrade::upgrade(&mut req)
            .map_err(|e| UpgradeError::NotUpgrade(e.to_string()))?;
        let gateway = self.clone();
        tokio::spawn(async move {
            let ws = match fut.await {
                Ok(ws) => ws,
                Err(e) => {
                    tracing::debug!(error = %e, %peer, "upgrade did not complete");
                    gateway
                        .metrics()
                        .handshakes
                        .with_label_values(&["ws", "failed"])
                        .inc();
                    return;
                }
            };
            let upgraded = ws.into_inner().into_inner();
            match upgraded.downcast::<TokioIo<tokio::net::TcpStream>>() {
                Ok(parts) => match parts.io.into_inner().into_std() {
                    Ok(stream) => {
                        gateway
                            .metrics()
                            .handshakes
                            .with_label_values(&["ws", "ok"])
                            .inc();
                        gateway.adopt(Adopted {
                            stream,
                            user,
                            token_exp,
                            leftover: parts.read_buf.to_vec(),
                        });
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot take the socket out of tokio"),
                },
                Err(_) => tracing::error!("upgraded connection is not a plain TCP stream"),
            }
        });
        Ok(response)
    }
}
