//! Helpers for tests that run `tidings` processes and talk to them over
//! real sockets: spawning roles and reading their banners, and a WebSocket
//! client on fastwebsockets.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fastwebsockets::{Frame, OpCode, Payload, WebSocket};
use http_body_util::Empty;
use hyper::body::Bytes;
use hyper::upgrade::Upgraded;
use hyper_util::rt::TokioIo;
use serde_json::Value;

/// A running `tidings` process, killed when dropped.
pub struct Proc {
    pub child: Child,
    /// The banner lines it printed before it was ready.
    pub banner: Vec<String>,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Proc {
    /// The first `scheme://host:port` on the banner line starting with `label`.
    pub fn addr(&self, label: &str) -> String {
        let line = self
            .banner
            .iter()
            .find(|l| l.trim_start().starts_with(label))
            .unwrap_or_else(|| panic!("no {label} in {:?}", self.banner));
        let url = line.split_whitespace().find(|w| w.contains("://")).unwrap();
        url.split("://")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_owned()
    }
}

/// Starts `tidings ARGS` and waits until it printed `lines` banner lines.
pub fn spawn(args: &[&str], lines: usize) -> Proc {
    let mut child = Command::new(env!("CARGO_BIN_EXE_tidings"))
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut reader = BufReader::new(stdout).lines();
    let mut banner = Vec::new();
    while banner.len() < lines {
        match reader.next() {
            Some(Ok(line)) => banner.push(line),
            _ => panic!("{args:?} exited before its banner: {banner:?}"),
        }
    }
    std::thread::spawn(move || for _ in reader {});
    Proc { child, banner }
}

struct SpawnExecutor;

impl<Fut> hyper::rt::Executor<Fut> for SpawnExecutor
where
    Fut: std::future::Future + Send + 'static,
    Fut::Output: Send + 'static,
{
    fn execute(&self, fut: Fut) {
        tokio::spawn(fut);
    }
}

pub type Ws = WebSocket<TokioIo<Upgraded>>;

/// Opens `/v1/ws` on `addr`; `Err(status)` when the upgrade is refused.
pub async fn connect(addr: &str, token: &str) -> Result<Ws, u16> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|_| 0u16)?;
    let req = hyper::Request::builder()
        .uri(format!("http://{addr}/v1/ws?token={token}"))
        .header("Host", addr)
        .header("Upgrade", "websocket")
        .header("Connection", "upgrade")
        .header(
            "Sec-WebSocket-Key",
            fastwebsockets::handshake::generate_key(),
        )
        .header("Sec-WebSocket-Version", "13")
        .body(Empty::<Bytes>::new())
        .unwrap();
    match fastwebsockets::handshake::client(&SpawnExecutor, req, stream).await {
        Ok((ws, _)) => Ok(ws),
        Err(fastwebsockets::WebSocketError::InvalidStatusCode(code)) => Err(code),
        Err(_) => Err(0),
    }
}

/// The next JSON frame within `wait`, or the close code (1006: dropped).
pub async fn next_within(ws: &mut Ws, wait: Duration) -> Result<Value, u16> {
    let frame = tokio::time::timeout(wait, ws.read_frame())
        .await
        .map_err(|_| 0u16)?
        .map_err(|_| 1006u16)?;
    match frame.opcode {
        OpCode::Text => Ok(serde_json::from_slice(&frame.payload).unwrap()),
        OpCode::Close if frame.payload.len() >= 2 => {
            Err(u16::from_be_bytes([frame.payload[0], frame.payload[1]]))
        }
        OpCode::Close => Err(1005),
        other => panic!("unexpected {other:?}"),
    }
}

/// The next JSON frame (10 s at most), or the close code.
pub async fn next(ws: &mut Ws) -> Result<Value, u16> {
    next_within(ws, Duration::from_secs(10)).await
}

pub async fn send(ws: &mut Ws, v: Value) {
    let bytes = serde_json::to_vec(&v).unwrap();
    ws.write_frame(Frame::text(Payload::Owned(bytes)))
        .await
        .unwrap();
}
