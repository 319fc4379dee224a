//! The gateway's own listener (`tidings gateway`): an acceptor thread hands
//! each new socket to the least loaded shard, which reads the upgrade
//! request itself (sans-IO parsing in `core::http_upgrade`), checks the
//! token (401 before any upgrade), answers `/healthz` and `/metrics`, and
//! keeps the socket as a slot. No task, no hyper connection and no buffer
//! outlives the handshake. Requests slower than the handshake timeout are
//! dropped by the shard's sweep; the per-address handshake limit answers 429
//! here, before a shard sees the socket.

use std::io::Write;
use std::net::TcpListener;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Interest, Poll, Token};
use tidings_wire::TokenKey;

use crate::core::http_upgrade;
use crate::shard::{HandshakeCtx, ShardMsg};
use crate::Gateway;

impl Gateway {
    /// Accepts WebSocket clients on `listener` until [`Gateway::shutdown`].
    pub fn listen(
        &self,
        listener: TcpListener,
        key: TokenKey,
        registry: prometheus::Registry,
    ) -> std::io::Result<()> {
        listener.set_nonblocking(true)?;
        let mut listener = mio::net::TcpListener::from_std(listener);
        let mut poll = Poll::new()?;
        poll.registry()
            .register(&mut listener, Token(0), Interest::READABLE)?;
        let ctx = Arc::new(HandshakeCtx { key, registry });
        let gateway = self.clone();
        std::thread::Builder::new()
            .name("gateway-accept".into())
            .spawn(move || {
                let mut events = Events::with_capacity(64);
                while !gateway.inner.stopping.load(Ordering::Relaxed) {
                    if poll
                        .poll(&mut events, Some(Duration::from_millis(200)))
                        .is_err()
                    {
                        continue;
                    }
                    loop {
                        match listener.accept() {
                            Ok((stream, peer)) => {
                                let stream = into_std(stream);
                                if gateway.inner.handshakes.check(peer.ip()) {
                                    gateway
                                        .pick_shard()
                                        .send(ShardMsg::Accept(stream, ctx.clone()));
                                } else {
                                    gateway
                                        .metrics()
                                        .handshakes
                                        .with_label_values(&["ws", "rate_limited"])
                                        .inc();
                                    refuse(stream);
                                }
                            }
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                            Err(e) => {
                                // Out of descriptors or similar: back off.
                                tracing::warn!(error = %e, "accept failed");
                                std::thread::sleep(Duration::from_millis(20));
                                break;
                            }
                        }
                    }
                }
            })?;
        Ok(())
    }
}

fn into_std(stream: mio::net::TcpStream) -> std::net::TcpStream {
    stream.into()
}

fn refuse(mut stream: std::net::TcpStream) {
    let _ = stream.set_nonblocking(true);
    let answer = http_upgrade::error(
        429,
        "Too Many Requests",
        "rate_limited",
        "too many handshakes from this address",
    );
    let _ = stream.write_all(&answer);
    let _ = stream.shutdown(std::net::Shutdown::Write);
}
