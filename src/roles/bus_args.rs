//! Flags of the QUIC bus between api nodes and gateways.

use std::path::{Path, PathBuf};

/// Where the bus certificate lives (shared by api nodes and gateways).
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct BusCertArgs {
    /// Bus certificate (DER). Gateways present it; api nodes trust it.
    /// Defaults to DATA/bus.crt, generated (self-signed) by the first gateway.
    #[arg(long, env = "TIDINGS_BUS_CERT")]
    pub(crate) bus_cert: Option<PathBuf>,
    /// Bus private key (DER, PKCS#8), gateways only. Defaults to DATA/bus.key.
    #[arg(long, env = "TIDINGS_BUS_KEY")]
    pub(crate) bus_key: Option<PathBuf>,
}

impl BusCertArgs {
    pub(crate) fn cert(&self, data: &Path) -> PathBuf {
        self.bus_cert
            .clone()
            .unwrap_or_else(|| data.join("bus.crt"))
    }

    pub(crate) fn key(&self, data: &Path) -> PathBuf {
        self.bus_key.clone().unwrap_or_else(|| data.join("bus.key"))
    }
}
