//! What the parent tells a worker process: its clients (token, chat and the
//! chat's head offset when the run began), where to connect to, how fast
//! to ramp and how often to churn. Written as a JSON file. Where each
//! client connects from is [`source_ip`].

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::HarnessError;

/// One simulated client.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerSeat {
    pub token: String,
    pub chat: u64,
    /// The `chat:{chat}` head before the run: deliveries start after it.
    pub base: u64,
}

/// A worker's whole assignment.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct WorkerPlan {
    pub worker: usize,
    pub seats: Vec<WorkerSeat>,
    /// Seat `i` first connects to `gateways[(first_gateway + i) % len]`
    /// and moves to another one ([`super::client::failover`]) when it fails.
    pub gateways: Vec<SocketAddr>,
    pub first_gateway: usize,
    /// Api base URLs, for the HTTP catch-up of a topic told to `resync`.
    pub apis: Vec<String>,
    pub ramp_per_sec: f64,
    /// Mean seconds between one client's deliberate disconnects (churn);
    /// `None`: clients stay connected.
    pub churn_mean_secs: Option<f64>,
    pub report_ms: u64,
    /// Seconds after which the worker reports and exits whatever happens.
    pub deadline_secs: u64,
}

impl WorkerPlan {
    /// Reads a plan file.
    pub fn load(path: &Path) -> Result<Self, HarnessError> {
        let text = std::fs::read(path)?;
        Ok(serde_json::from_slice(&text)?)
    }

    /// Writes a plan file.
    pub fn save(&self, path: &Path) -> Result<(), HarnessError> {
        std::fs::write(path, serde_json::to_vec(self)?)?;
        Ok(())
    }
}

/// The loopback address client `seat` of worker `w` binds to before it
/// connects: 127.(2 + w).(seat / 250).(1 + seat % 250), one per client,
/// never a gateway's 127.0.1.x. Binding to port 0 makes the kernel search
/// for a port unused on that address, and that search grows with the
/// sockets already bound there: with one address per worker it ate both
/// cores at 100,000 clients. One address per client keeps it short, and
/// leaves each (source, gateway) pair its whole ephemeral-port range.
pub fn source_ip(w: usize, seat: usize) -> IpAddr {
    let second = 2 + w % 250;
    let third = (seat / 250) % 250;
    let fourth = 1 + seat % 250;
    IpAddr::from([127, second as u8, third as u8, fourth as u8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_get_distinct_loopback_sources_off_the_gateways() {
        let ips: std::collections::HashSet<IpAddr> = (0..20)
            .flat_map(|w| (0..20_000).map(move |i| source_ip(w, i)))
            .collect();
        assert_eq!(ips.len(), 20 * 20_000);
        assert_eq!(source_ip(0, 0), IpAddr::from([127, 2, 0, 1]));
        assert!(ips
            .iter()
            .all(|ip| ip.is_loopback() && matches!(ip, IpAddr::V4(v) if v.octets()[1] >= 2)));
    }
}
