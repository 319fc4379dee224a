//! `tidings api`: a stateless api node. It writes through the store and
//! publishes every committed delta to each gateway over the QUIC bus. Any
//! number of api nodes may run side by side on one store.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tidings_api::App;
use tidings_bus::tls::CertificateDer;
use tidings_bus::{BusSender, BusTls};

use super::api_args::ApiArgs;
use super::bus_args::BusCertArgs;
use super::glue::BusPublisher;
use super::signals::shutdown_signal;
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address for HTTP.
    #[arg(long, env = "TIDINGS_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    /// Bus addresses (host:port) of every gateway, comma-separated.
    #[arg(
        long,
        env = "TIDINGS_BUS_GATEWAYS",
        value_delimiter = ',',
        required = true
    )]
    pub(crate) bus_gateways: Vec<String>,
    #[command(flatten)]
    pub(crate) bus: BusCertArgs,
    /// Frames queued per gateway before new ones are dropped (the gateway
    /// then fills the gap from storage).
    #[arg(long, env = "TIDINGS_BUS_QUEUE", default_value_t = 65_536)]
    pub(crate) bus_queue: usize,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    super::block_on(serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    let store = args.store.open().await?;
    let cert_path = args.bus.cert(&args.store.data);
    let trust = wait_for_cert(&cert_path).await?;
    let sender = BusSender::start(&args.bus_gateways, &trust, args.bus_queue)?;
    let config = args.api.config(&args.store.data)?;
    let app = App::new(
        store,
        Arc::new(BusPublisher(sender)),
        config,
        prometheus::Registry::new(),
    );
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("Tidings api is up");
    println!("  HTTP API   http://{addr}/v1");
    println!(
        "  Bus        publishing to {}",
        args.bus_gateways.join(", ")
    );
    tidings_api::serve(listener, app, shutdown_signal()).await?;
    Ok(())
}

/// The bus certificate may be written by a gateway starting at the same time.
async fn wait_for_cert(path: &std::path::Path) -> anyhow::Result<CertificateDer<'static>> {
    for _ in 0..100 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    BusTls::trust(path).with_context(|| format!("reading the bus certificate {}", path.display()))
}
