//! A lean WebSocket client for holding many idle sockets: the upgrade is a
//! hand-written request, and an idle socket is just its `TcpStream`, so the
//! generator costs little more than the kernel's share per connection.

use std::net::SocketAddr;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Why a connection could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    #[error("connect: {0}")]
    Io(#[from] std::io::Error),
    #[error("upgrade refused: {0}")]
    Refused(String),
    #[error("no hello frame")]
    NoHello,
}

/// Opens a socket from `source` (any port) to `server`, upgrades it with
/// `token` and waits for the server's `hello`.
pub async fn connect_idle(
    server: SocketAddr,
    source: Option<std::net::IpAddr>,
    token: &str,
) -> Result<TcpStream, WsError> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let mut stream = socket.connect(server).await?;
    let request = format!(
        "GET /v1/ws?token={token} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 512];
    // Read the 101 and the hello frame that follows it.
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(WsError::NoHello);
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(end) = find(&buf, b"\r\n\r\n") {
            if !buf.starts_with(b"HTTP/1.1 101") {
                let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                return Err(WsError::Refused(head));
            }
            let frame = &buf[end + 4..];
            if frame.len() >= 2 && frame.len() >= 2 + (frame[1] & 0x7f) as usize {
                if find(frame, b"\"hello\"").is_none() {
                    return Err(WsError::NoHello);
                }
                return Ok(stream);
            }
        }
        if buf.len() > 8192 {
            return Err(WsError::NoHello);
        }
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}
