//! The idle-memory benchmark for WebTransport: N sessions to one gateway,
//! each with its stream open and its `hello` received, held idle; the
//! server's RSS growth divided by N. A QUIC session carries TLS and
//! congestion state, so this is reported apart from the WebSocket figure.

use std::time::{Duration, Instant};

use serde::Serialize;
use wtransport::{ClientConfig, Endpoint};

use crate::idle::rss_bytes;

/// What it measured.
#[derive(Debug, Clone, Serialize)]
pub struct WtIdleReport {
    pub sessions: usize,
    pub rss_before_bytes: u64,
    pub rss_after_bytes: u64,
    pub bytes_per_session: f64,
    pub sessions_per_sec: f64,
}

/// Opens `tokens.len()` sessions to `url_base` (`https://host:port`), trusting
/// the certificate with SHA-256 `hash` (hex, colons allowed).
pub async fn run(
    url_base: &str,
    hash: &str,
    server_pid: u32,
    tokens: &[String],
    settle: Duration,
) -> Result<WtIdleReport, String> {
    let hex: String = hash.chars().filter(char::is_ascii_hexdigit).collect();
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap_or(0))
        .collect();
    let digest: [u8; 32] = bytes
        .try_into()
        .map_err(|_| "the hash must be 32 bytes".to_owned())?;
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([wtransport::tls::Sha256Digest::new(digest)])
        .build();
    let endpoint = Endpoint::client(config).map_err(|e| e.to_string())?;
    tokio::time::sleep(settle).await;
    let before = rss_bytes(server_pid).map_err(|e| e.to_string())?;
    let started = Instant::now();
    let mut held = Vec::with_capacity(tokens.len());
    for token in tokens {
        let conn = endpoint
            .connect(format!("{url_base}/v1/wt?token={token}"))
            .await
            .map_err(|e| e.to_string())?;
        let (mut send, mut recv) = conn
            .open_bi()
            .await
            .map_err(|e| e.to_string())?
            .await
            .map_err(|e| e.to_string())?;
        send.write_all(b"{\"type\":\"ping\"}\n")
            .await
            .map_err(|e| e.to_string())?;
        let mut buf = [0u8; 512];
        let mut got = Vec::new();
        while got.iter().filter(|b| **b == b'\n').count() < 2 {
            match recv.read(&mut buf).await {
                Ok(Some(n)) => got.extend_from_slice(&buf[..n]),
                _ => return Err("session closed before hello and pong".into()),
            }
        }
        held.push((conn, send, recv));
    }
    let seconds = started.elapsed().as_secs_f64();
    tokio::time::sleep(settle).await;
    let after = rss_bytes(server_pid).map_err(|e| e.to_string())?;
    let n = held.len();
    drop(held);
    Ok(WtIdleReport {
        sessions: n,
        rss_before_bytes: before,
        rss_after_bytes: after,
        bytes_per_session: after.saturating_sub(before) as f64 / n.max(1) as f64,
        sessions_per_sec: n as f64 / seconds,
    })
}
