//! Prometheus metrics of a gateway node.

use prometheus::{
    Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGaugeVec, Opts, Registry,
};

/// Every gateway metric; clones share the same series.
#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    pub connections: IntGaugeVec,
    pub handshakes: IntCounterVec,
    pub deliveries: IntCounter,
    pub delivered_bytes: IntCounter,
    pub closes: IntCounterVec,
    pub resyncs: IntCounter,
    pub lagging: IntCounter,
    pub bus_lag: Histogram,
    pub delivery_latency: Histogram,
}

const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

impl GatewayMetrics {
    pub fn new(registry: &Registry) -> Self {
        let connections = IntGaugeVec::new(
            Opts::new("tidings_gateway_connections", "Open client connections"),
            &["transport", "shard"],
        )
        .expect("valid metric");
        let handshakes = IntCounterVec::new(
            Opts::new(
                "tidings_gateway_handshakes_total",
                "Socket upgrades by outcome",
            ),
            &["transport", "outcome"],
        )
        .expect("valid metric");
        let deliveries = IntCounter::new(
            "tidings_gateway_deliveries_total",
            "Delta frames handed to client sockets",
        )
        .expect("valid metric");
        let delivered_bytes = IntCounter::new(
            "tidings_gateway_delivered_bytes_total",
            "Bytes of delta frames handed to client sockets",
        )
        .expect("valid metric");
        let closes = IntCounterVec::new(
            Opts::new(
                "tidings_gateway_closes_total",
                "Connections closed by the server, by close code",
            ),
            &["code"],
        )
        .expect("valid metric");
        let resyncs = IntCounter::new(
            "tidings_gateway_resyncs_total",
            "Topics answered resync, or given up after an unfillable gap",
        )
        .expect("valid metric");
        let lagging = IntCounter::new(
            "tidings_gateway_lagging_total",
            "Deltas dropped because the gateway's feed was full",
        )
        .expect("valid metric");
        let bus_lag = Histogram::with_opts(
            HistogramOpts::new(
                "tidings_gateway_bus_lag_seconds",
                "Time from commit to arrival at the gateway",
            )
            .buckets(SECONDS.to_vec()),
        )
        .expect("valid metric");
        let delivery_latency = Histogram::with_opts(
            HistogramOpts::new(
                "tidings_gateway_delivery_latency_seconds",
                "Time from commit to the frame being written to the client socket",
            )
            .buckets(SECONDS.to_vec()),
        )
        .expect("valid metric");
        for c in [
            Box::new(connections.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(handshakes.clone()),
            Box::new(deliveries.clone()),
            Box::new(delivered_bytes.clone()),
            Box::new(closes.clone()),
            Box::new(resyncs.clone()),
            Box::new(lagging.clone()),
            Box::new(bus_lag.clone()),
            Box::new(delivery_latency.clone()),
        ] {
            registry
                .register(c)
                .expect("gateway metrics registered once");
        }
        Self {
            connections,
            handshakes,
            deliveries,
            delivered_bytes,
            closes,
            resyncs,
            lagging,
            bus_lag,
            delivery_latency,
        }
    }
}
