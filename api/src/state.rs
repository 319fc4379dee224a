//! The shared state of the api: store, publisher, config, metrics, limiters.

use std::future::Future;
use std::sync::Arc;
use std::time::Instant;

use tidings_storage::conformance::DynStore;
use tidings_storage::{CommittedDelta, Limits, StoreResult};

use crate::config::ApiConfig;
use crate::metrics::Metrics;
use crate::publish::Publisher;
use crate::rate_limit::RateLimits;
use crate::server::SocketUpgrade;

/// Everything a request handler needs; cheap to clone.
#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<AppInner>,
}

pub(crate) struct AppInner {
    pub(crate) store: DynStore,
    pub(crate) publisher: Arc<dyn Publisher>,
    pub(crate) config: ApiConfig,
    pub(crate) limits: Limits,
    pub(crate) metrics: Metrics,
    pub(crate) rate: RateLimits,
    pub(crate) sockets: Option<Arc<dyn SocketUpgrade>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("backend", &self.inner.store.backend())
            .finish_non_exhaustive()
    }
}

impl App {
    /// An api over `store`, publishing through `publisher`, with metrics in `registry`.
    pub fn new(
        store: DynStore,
        publisher: Arc<dyn Publisher>,
        config: ApiConfig,
        registry: prometheus::Registry,
    ) -> Self {
        let rate = RateLimits::new(
            config.rate_per_sec,
            config.rate_burst,
            config.auth_rate_per_sec,
        );
        Self {
            inner: Arc::new(AppInner {
                store,
                publisher,
                limits: Limits::default(),
                metrics: Metrics::new(registry),
                rate,
                config,
                sockets: None,
            }),
        }
    }

    /// Serves `/v1/ws` on the same listener through `sockets` (used by `dev`).
    pub fn with_sockets(self, sockets: Arc<dyn SocketUpgrade>) -> Self {
        let inner = Arc::try_unwrap(self.inner)
            .unwrap_or_else(|_| panic!("with_sockets must be called before the App is shared"));
        Self {
            inner: Arc::new(AppInner {
                sockets: Some(sockets),
                ..inner
            }),
        }
    }

    /// The metrics (for embedding them elsewhere).
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub fn config(&self) -> &ApiConfig {
        &self.inner.config
    }

    pub(crate) fn store(&self) -> &DynStore {
        &self.inner.store
    }

    /// Runs a store call, recording its latency under `op`.
    pub(crate) async fn timed<T>(
        &self,
        op: &str,
        call: impl Future<Output = StoreResult<T>>,
    ) -> StoreResult<T> {
        let started = Instant::now();
        let result = call.await;
        self.inner
            .metrics
            .storage
            .with_label_values(&[op])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Publishes committed deltas; called only after the store call returned.
    pub(crate) fn publish(&self, deltas: &[CommittedDelta]) {
        if deltas.is_empty() {
            return;
        }
        self.inner.publisher.publish(deltas);
        self.inner.metrics.published.inc_by(deltas.len() as u64);
    }
}
