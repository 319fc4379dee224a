//! The gateway side of the bus: accepts connections from api nodes and
//! decodes the frames of each unidirectional stream, in order, into a sink.

use std::net::SocketAddr;
use std::sync::Arc;

use tidings_storage::CommittedDelta;
use tidings_wire::bus_frame;

use crate::tls::{BusTls, TlsError};

/// Where decoded deltas go (the gateway's feed). Must not block.
pub type Sink = Arc<dyn Fn(Vec<CommittedDelta>) + Send + Sync>;

/// A listening bus endpoint.
#[derive(Debug)]
pub struct BusReceiver {
    endpoint: quinn::Endpoint,
}

impl BusReceiver {
    /// Listens on `addr` (UDP) and feeds every received delta to `sink`.
    /// Must be called inside a tokio runtime.
    pub fn start(addr: SocketAddr, tls: &BusTls, sink: Sink) -> Result<Self, TlsError> {
        let endpoint =
            quinn::Endpoint::server(tls.server_config()?, addr).map_err(|e| TlsError::Io {
                path: addr.to_string().into(),
                source: e,
            })?;
        let accepting = endpoint.clone();
        tokio::spawn(async move {
            while let Some(incoming) = accepting.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    match incoming.await {
                        Ok(conn) => serve(conn, sink).await,
                        Err(e) => tracing::debug!(error = %e, "bus handshake failed"),
                    }
                });
            }
        });
        Ok(Self { endpoint })
    }

    /// The bound address.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.endpoint.local_addr()
    }

    /// Stops accepting and closes connections.
    pub fn close(&self) {
        self.endpoint.close(0u32.into(), b"gateway stopping");
    }
}

async fn serve(conn: quinn::Connection, sink: Sink) {
    let peer = conn.remote_address();
    tracing::info!(%peer, "api node connected to the bus");
    loop {
        match conn.accept_uni().await {
            Ok(stream) => {
                let sink = sink.clone();
                tokio::spawn(read_stream(stream, sink, peer));
            }
            Err(e) => {
                tracing::info!(%peer, reason = %e, "api node left the bus");
                return;
            }
        }
    }
}

async fn read_stream(mut stream: quinn::RecvStream, sink: Sink, peer: SocketAddr) {
    let mut buf: Vec<u8> = Vec::with_capacity(64 * 1024);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(Some(n)) => n,
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(%peer, error = %e, "bus stream ended");
                return;
            }
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut batch = Vec::new();
        let mut at = 0;
        loop {
            match bus_frame::decode(&buf[at..]) {
                Ok(Some((delta, used))) => {
                    batch.push(delta);
                    at += used;
                }
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "bad bus frame; dropping the stream");
                    let _ = stream.stop(1u32.into());
                    return;
                }
            }
        }
        buf.drain(..at);
        if !batch.is_empty() {
            sink(batch);
        }
    }
}
