//! `tidings dev`: the whole product in one process on the embedded store:
//! the HTTP api and the WebSocket gateway on one listener, SQLite in `--data`.
//! SIGINT/SIGTERM: stop accepting, let in-flight requests finish, then close
//! every socket with 1012 so clients reconnect and resume.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tidings_api::App;
use tidings_gateway::{GapSource, Gateway};

use super::api_args::ApiArgs;
use super::glue::{LocalGatewayPublisher, LocalSockets};
use super::signals::shutdown_signal;
use crate::store_args::StoreArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(flatten)]
    pub(crate) store: StoreArgs,
    /// Address for HTTP and /v1/ws.
    #[arg(long, env = "TIDINGS_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,
    #[command(flatten)]
    pub(crate) api: ApiArgs,
    #[command(flatten)]
    pub(crate) gateway: super::gateway_args::GatewayArgs,
    #[command(flatten)]
    pub(crate) wt: super::wt_args::WtArgs,
}

pub(crate) fn run(args: &Args) -> anyhow::Result<()> {
    super::block_on(serve(args))
}

async fn serve(args: &Args) -> anyhow::Result<()> {
    std::fs::create_dir_all(&args.store.data)
        .with_context(|| format!("creating {}", args.store.data.display()))?;
    let store = args.store.open_with(true).await?;
    let registry = prometheus::Registry::new();
    let gw_config = args.gateway.config();
    let gateway = Gateway::start(
        gw_config,
        &registry,
        Some(GapSource {
            store: store.clone(),
            runtime: tokio::runtime::Handle::current(),
        }),
    )?;
    let config = args.api.config(&args.store.data)?;
    let token_key = config.token_key.clone();
    let app = App::new(
        store,
        Arc::new(LocalGatewayPublisher(gateway.feed())),
        config,
        registry,
    )
    .with_sockets(Arc::new(LocalSockets(gateway.clone())));
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("binding {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("Tidings dev is up ({})", args.store.describe());
    println!("  HTTP API   http://{addr}/v1   (OpenAPI: http://{addr}/v1/openapi.yaml)");
    println!("  WebSocket  ws://{addr}/v1/ws?token=<token>");
    println!("  Metrics    http://{addr}/metrics   Health: http://{addr}/healthz");
    let wt = args.wt.start(&gateway, addr, token_key).await;
    println!("  Stop with Ctrl-C.");
    tidings_api::serve(listener, app, shutdown_signal()).await?;
    if let Some(wt) = wt {
        wt.close().await;
    }
    // Requests have drained; now tell socket clients to come back later.
    let gateway_for_close = gateway.clone();
    tokio::task::spawn_blocking(move || gateway_for_close.shutdown()).await?;
    tracing::info!("stopped");
    Ok(())
}
