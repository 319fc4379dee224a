//! Prometheus metrics of the api, in a registry per [`App`](crate::App) so
//! several servers can share a process (tests, `dev`).

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

/// The api's metrics.
#[derive(Debug, Clone)]
pub struct Metrics {
    pub registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub storage: HistogramVec,
    pub published: IntCounter,
}

const LATENCY_BUCKETS: &[f64] = &[
    0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

impl Metrics {
    /// Creates the metrics in `registry`.
    pub fn new(registry: Registry) -> Self {
        let requests = IntCounterVec::new(
            Opts::new(
                "tidings_http_requests_total",
                "HTTP requests by route and status",
            ),
            &["route", "status"],
        )
        .expect("valid metric");
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "tidings_http_request_duration_seconds",
                "HTTP request latency by route",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("valid metric");
        let storage = HistogramVec::new(
            HistogramOpts::new(
                "tidings_storage_operation_duration_seconds",
                "Store call latency by operation",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["op"],
        )
        .expect("valid metric");
        let published = IntCounter::new(
            "tidings_deltas_published_total",
            "Committed deltas handed to the publisher",
        )
        .expect("valid metric");
        for c in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(storage.clone()),
            Box::new(published.clone()),
        ] {
            registry.register(c).expect("metrics registered once");
        }
        Self {
            registry,
            requests,
            latency,
            storage,
            published,
        }
    }

    /// The Prometheus text exposition of every metric in the registry.
    pub fn render(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}
