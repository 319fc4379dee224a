//! `tidings gateway`: a gateway node. It receives committed deltas over the
//! QUIC bus, fills offset gaps from the store, and pushes to its WebSocket
//! clients. SIGTERM closes every socket with 1012.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tidings_bus::{BusReceiver, BusTls};
use tidings_gateway::{GapSource, Gateway};
use tidings_storage::CommittedDelta;
use tidings_wire::TokenKey;

use super::bus_args::BusCertArgs;
use super::signals::shutdown_signal;
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address for WebSocket clients (/v1/ws), /healthz and /metrics.
    #[arg(long, env = "TIDINGS_GATEWAY_LISTEN", default_value = "127.0.0.1:8081")]
    pub(crate) listen: SocketAddr,
    /// UDP address api nodes publish to.
    #[arg(long, env = "TIDINGS_BUS_LISTEN", default_value = "127.0.0.1:7100")]
    pub(crate) bus_listen: SocketAddr,
    #[command(flatten)]
    pub(crate) bus: BusCertArgs,
    /// Hex token key shared with the api nodes (default: DATA/token.key).
    #[arg(long, env = "TIDINGS_TOKEN_KEY", hide_env_values = true)]
    pub(crate) token_key: Option<String>,
    #[command(flatten)]
    pub(crate) tuning: super::gateway_args::GatewayArgs,
    #[command(flatten)]
    pub(crate) wt: super::wt_args::WtArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    super::block_on(serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.store.data)?;
    let store = args.store.open().await?;
    let key = match &args.token_key {
        Some(hex) => TokenKey::from_hex(hex).context("--token-key")?,
        None => TokenKey::load_or_create(&args.store.data.join("token.key"))?,
    };
    let registry = prometheus::Registry::new();
    let config = args.tuning.config();
    let gateway = Gateway::start(
        config,
        &registry,
        Some(GapSource {
            store,
            runtime: tokio::runtime::Handle::current(),
        }),
    )?;
    let tls = BusTls::load_or_generate(
        &args.bus.cert(&args.store.data),
        &args.bus.key(&args.store.data),
    )?;
    let feed = gateway.feed();
    let bus = BusReceiver::start(
        args.bus_listen,
        &tls,
        Arc::new(move |batch: Vec<CommittedDelta>| feed.push(&batch)),
    )?;
    let listener =
        listen_socket(args.listen).with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    gateway.listen(listener, key.clone(), registry)?;
    println!("Tidings gateway is up");
    println!("  WebSocket  ws://{addr}/v1/ws?token=<token>");
    println!("  Bus        quic://{}", bus.local_addr()?);
    println!("  Metrics    http://{addr}/metrics");
    let wt = args.wt.start(&gateway, addr, key).await;
    shutdown_signal().await;
    if let Some(wt) = wt {
        wt.close().await;
    }
    bus.close();
    tokio::task::spawn_blocking(move || gateway.shutdown()).await?;
    Ok(())
}

/// A listening socket with a backlog deep enough for connection storms
/// (the kernel caps it at `net.core.somaxconn`); std's default is 128.
fn listen_socket(addr: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(65_535)?.into_std()
}
