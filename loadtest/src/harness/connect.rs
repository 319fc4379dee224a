//! Opening one verified WebSocket: bind to a loopback source address,
//! connect, upgrade, and read up to the server's `hello`, keeping any bytes
//! that came after it (they may already be deltas).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tidings_gateway::core::ws_codec::{self, OP_TEXT};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

use crate::ws_client::WsError;

/// A connected socket past its `hello`, and the bytes read after it.
#[derive(Debug)]
pub struct Opened {
    pub stream: TcpStream,
    pub leftover: Vec<u8>,
}

/// Connects from `source` to `server` as the holder of `token`, within `limit`.
pub async fn open(
    server: SocketAddr,
    source: Option<IpAddr>,
    token: &str,
    limit: Duration,
) -> Result<Opened, WsError> {
    match tokio::time::timeout(limit, open_inner(server, source, token)).await {
        Ok(r) => r,
        Err(_) => Err(WsError::NoHello),
    }
}

async fn open_inner(
    server: SocketAddr,
    source: Option<IpAddr>,
    token: &str,
) -> Result<Opened, WsError> {
    let socket = if server.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(ip) = source {
        socket.bind(SocketAddr::new(ip, 0))?;
    }
    let mut stream = socket.connect(server).await?;
    let _ = stream.set_nodelay(true);
    let request = format!(
        "GET /v1/ws?token={token} HTTP/1.1\r\nHost: {server}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut buf = Vec::with_capacity(512);
    let mut chunk = [0u8; 1024];
    let mut body_at = None;
    loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Err(WsError::NoHello);
        }
        buf.extend_from_slice(&chunk[..n]);
        if body_at.is_none() {
            if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                if !buf.starts_with(b"HTTP/1.1 101") {
                    return Err(WsError::Refused(
                        String::from_utf8_lossy(&buf[..end]).into_owned(),
                    ));
                }
                body_at = Some(end + 4);
            }
        }
        if let Some(at) = body_at {
            match ws_codec::decode_server(&buf[at..]) {
                Ok(Some((frame, used))) => {
                    if frame.opcode != OP_TEXT
                        || !frame.payload.windows(7).any(|w| w == b"\"hello\"")
                    {
                        return Err(WsError::NoHello);
                    }
                    let leftover = buf[at + used..].to_vec();
                    return Ok(Opened { stream, leftover });
                }
                Ok(None) => {}
                Err(_) => return Err(WsError::NoHello),
            }
        }
        if buf.len() > 16 * 1024 {
            return Err(WsError::NoHello);
        }
    }
}
