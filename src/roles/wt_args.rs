//! Flags of the WebTransport endpoint.

use std::net::SocketAddr;
use std::path::PathBuf;

use tidings_gateway::webtransport::{self, WtServer};
use tidings_gateway::Gateway;
use tidings_wire::TokenKey;

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct WtArgs {
    /// UDP address for WebTransport (/v1/wt). Defaults to the TCP listen
    /// address (same host and port, over UDP).
    #[arg(long, env = "TIDINGS_WT_LISTEN")]
    pub(crate) wt_listen: Option<SocketAddr>,
    /// Turn WebTransport off.
    #[arg(long, env = "TIDINGS_NO_WT")]
    pub(crate) no_wt: bool,
    /// WebTransport certificate chain (PEM); without it a 14-day self-signed
    /// ECDSA certificate is made at start and its SHA-256 printed.
    #[arg(long, env = "TIDINGS_WT_CERT", requires = "wt_key")]
    pub(crate) wt_cert: Option<PathBuf>,
    /// WebTransport private key (PEM).
    #[arg(long, env = "TIDINGS_WT_KEY", requires = "wt_cert")]
    pub(crate) wt_key: Option<PathBuf>,
}

impl WtArgs {
    /// Starts the endpoint next to `tcp` and prints where it is; a failure
    /// is logged and the node goes on without WebTransport.
    pub(crate) async fn start(
        &self,
        gateway: &Gateway,
        tcp: SocketAddr,
        key: TokenKey,
    ) -> Option<WtServer> {
        if self.no_wt {
            return None;
        }
        let identity = match (&self.wt_cert, &self.wt_key) {
            (Some(cert), Some(k)) => webtransport::load_identity(cert, k).await,
            _ => webtransport::dev_identity(),
        };
        let identity = match identity {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "WebTransport is off");
                return None;
            }
        };
        let hash = webtransport::certificate_hash(&identity);
        let addr = self.wt_listen.unwrap_or(tcp);
        match WtServer::start(gateway, addr, identity, key) {
            Ok(server) => {
                let bound = server.local_addr().unwrap_or(addr);
                println!("  WebTransport https://{bound}/v1/wt?token=<token>");
                if self.wt_cert.is_none() {
                    println!("    serverCertificateHashes SHA-256 {hash}");
                }
                Some(server)
            }
            Err(e) => {
                tracing::warn!(error = %e, %addr, "WebTransport is off");
                None
            }
        }
    }
}
