//! The api side of the bus: for each gateway, a bounded queue and a task
//! that keeps a QUIC connection and one stream open, reconnecting with
//! backoff. [`BusSender::publish`] never blocks: a full queue drops the
//! frame (the gateway sees the offset gap and fills it from storage).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::CertificateDer;
use tidings_storage::CommittedDelta;
use tidings_wire::bus_frame;
use tokio::sync::mpsc;

use crate::tls::{client_config, TlsError};

/// Sends committed deltas to every configured gateway.
#[derive(Debug, Clone)]
pub struct BusSender {
    queues: Vec<mpsc::Sender<Arc<[u8]>>>,
    dropped: Arc<AtomicU64>,
}

impl BusSender {
    /// Starts one sender task per gateway address (`host:port`, resolved at
    /// each connect). Must be called inside a tokio runtime.
    pub fn start(
        gateways: &[String],
        trust: &CertificateDer<'static>,
        queue: usize,
    ) -> Result<Self, TlsError> {
        let config = client_config(trust)?;
        let mut queues = Vec::new();
        for gw in gateways {
            let (tx, rx) = mpsc::channel(queue.max(1));
            queues.push(tx);
            tokio::spawn(run(gw.clone(), config.clone(), rx));
        }
        Ok(Self {
            queues,
            dropped: Arc::new(AtomicU64::new(0)),
        })
    }

    /// Encodes `deltas` once and queues them for every gateway.
    pub fn publish(&self, deltas: &[CommittedDelta]) {
        if deltas.is_empty() {
            return;
        }
        let mut bytes = Vec::new();
        for d in deltas {
            bus_frame::encode(d, &mut bytes);
        }
        let frame: Arc<[u8]> = bytes.into();
        for q in &self.queues {
            if q.try_send(frame.clone()).is_err() {
                self.dropped
                    .fetch_add(deltas.len() as u64, Ordering::Relaxed);
            }
        }
    }

    /// Deltas dropped because a gateway's queue was full or closed.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

async fn run(gateway: String, config: quinn::ClientConfig, mut rx: mpsc::Receiver<Arc<[u8]>>) {
    let mut backoff = Duration::from_millis(50);
    // A frame whose write failed is sent again first on the next connection
    // (the gateway drops offsets it already has).
    let mut unsent: Option<Arc<[u8]>> = None;
    loop {
        match connect(&gateway, &config).await {
            Ok((endpoint, conn, mut stream)) => {
                tracing::info!(%gateway, "bus connected");
                backoff = Duration::from_millis(50);
                loop {
                    let frame = match unsent.take() {
                        Some(frame) => frame,
                        None => match rx.recv().await {
                            Some(frame) => frame,
                            None => {
                                let _ = stream.finish();
                                endpoint.close(0u32.into(), b"api stopping");
                                return;
                            }
                        },
                    };
                    if let Err(e) = stream.write_all(&frame).await {
                        // Frames already in flight may be lost to this
                        // gateway; it fills such gaps from storage.
                        tracing::warn!(%gateway, error = %e, "bus write failed; reconnecting");
                        unsent = Some(frame);
                        break;
                    }
                }
                drop(conn);
            }
            Err(e) => tracing::debug!(%gateway, error = %e, "bus connect failed"),
        }
        // Drop what queued while disconnected: it is stale for live
        // delivery, and the gateway recovers it from storage by offset.
        while rx.try_recv().is_ok() {}
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

async fn connect(
    gateway: &str,
    config: &quinn::ClientConfig,
) -> Result<(quinn::Endpoint, quinn::Connection, quinn::SendStream), String> {
    let addr = tokio::net::lookup_host(gateway)
        .await
        .map_err(|e| e.to_string())?
        .next()
        .ok_or_else(|| format!("{gateway} resolves to nothing"))?;
    let bind: std::net::SocketAddr = if addr.is_ipv4() {
        "0.0.0.0:0".parse().expect("static address")
    } else {
        "[::]:0".parse().expect("static address")
    };
    let mut endpoint = quinn::Endpoint::client(bind).map_err(|e| e.to_string())?;
    endpoint.set_default_client_config(config.clone());
    let conn = endpoint
        .connect(addr, crate::SERVER_NAME)
        .map_err(|e| e.to_string())?
        .await
        .map_err(|e| e.to_string())?;
    let stream = conn.open_uni().await.map_err(|e| e.to_string())?;
    Ok((endpoint, conn, stream))
}
