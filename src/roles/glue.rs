//! Adapters between the api and an in-process gateway.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use tidings_api::{Publisher, SocketUpgrade};
use tidings_gateway::{DeltaFeed, Gateway};
use tidings_storage::{CommittedDelta, UserId};
use tidings_wire::ErrorBody;

/// Publishes committed deltas straight into a local gateway's feed.
#[derive(Debug, Clone)]
pub(crate) struct LocalGatewayPublisher(pub(crate) DeltaFeed);

impl Publisher for LocalGatewayPublisher {
    fn publish(&self, deltas: &[CommittedDelta]) {
        self.0.push(deltas);
    }
}

/// Serves `/v1/ws` on the api's listener through a local gateway.
#[derive(Debug, Clone)]
pub(crate) struct LocalSockets(pub(crate) Gateway);

impl SocketUpgrade for LocalSockets {
    fn upgrade(
        &self,
        req: Request<Incoming>,
        user: UserId,
        token_exp: u64,
        peer: SocketAddr,
    ) -> Response<Full<Bytes>> {
        match self.0.upgrade(req, user, token_exp, peer) {
            Ok(res) => res.map(|_| Full::new(Bytes::new())),
            Err(e) => {
                let code = if e.status().as_u16() == 429 {
                    "rate_limited"
                } else {
                    "bad_request"
                };
                let body = serde_json::to_vec(&ErrorBody::new(code, e.to_string(), None))
                    .unwrap_or_default();
                let mut res = Response::new(Full::new(Bytes::from(body)));
                *res.status_mut() = e.status();
                res.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                res
            }
        }
    }
}

/// Publishes committed deltas to every gateway over the QUIC bus.
#[derive(Debug, Clone)]
pub(crate) struct BusPublisher(pub(crate) tidings_bus::BusSender);

impl Publisher for BusPublisher {
    fn publish(&self, deltas: &[CommittedDelta]) {
        self.0.publish(deltas);
    }
}
