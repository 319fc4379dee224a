//! The gateway's own listener (`tidings gateway`): `/v1/ws` (token checked
//! before the upgrade: 401), `/healthz` and `/metrics`, on hyper. Slow or
//! half-open handshakes are cut by the header timeout.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tidings_wire::token::{now_unix_s, TokenError};
use tidings_wire::{ErrorBody, TokenKey};
use tokio::net::TcpListener;

use crate::Gateway;

fn json(status: StatusCode, body: &impl serde::Serialize) -> Response<Full<Bytes>> {
    let mut res = Response::new(Full::new(Bytes::from(
        serde_json::to_vec(body).unwrap_or_default(),
    )));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    res
}

fn error(status: StatusCode, code: &str, message: &str) -> Response<Full<Bytes>> {
    json(status, &ErrorBody::new(code, message, None))
}

fn token_of(req: &Request<Incoming>) -> Option<String> {
    if let Some(h) = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        if let Some(t) = h.strip_prefix("Bearer ") {
            return Some(t.trim().to_owned());
        }
    }
    req.uri().query().and_then(|q| {
        q.split('&')
            .filter_map(|kv| kv.split_once('='))
            .find(|(k, _)| *k == "token")
            .map(|(_, v)| v.to_owned())
    })
}

async fn handle(
    gateway: Gateway,
    key: TokenKey,
    registry: prometheus::Registry,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Full<Bytes>>, Infallible> {
    Ok(match req.uri().path() {
        "/v1/ws" => {
            let Some(token) = token_of(&req) else {
                return Ok(error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "a token is required",
                ));
            };
            match key.verify(&token, now_unix_s()) {
                Ok(user) => {
                    let exp = TokenKey::expiry(&token).unwrap_or(0);
                    match gateway.upgrade(req, user, exp, peer) {
                        Ok(res) => res.map(|_| Full::new(Bytes::new())),
                        Err(e) => error(e.status(), "bad_request", &e.to_string()),
                    }
                }
                Err(TokenError::Expired) => error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the token has expired",
                ),
                Err(_) => error(
                    StatusCode::UNAUTHORIZED,
                    "unauthorized",
                    "the token is invalid",
                ),
            }
        }
        "/healthz" => json(StatusCode::OK, &serde_json::json!({"status": "ok"})),
        "/metrics" => {
            let mut out = Vec::new();
            let _ = prometheus::Encoder::encode(
                &prometheus::TextEncoder::new(),
                &registry.gather(),
                &mut out,
            );
            let mut res = Response::new(Full::new(Bytes::from(out)));
            res.headers_mut().insert(
                CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4"),
            );
            res
        }
        other => error(
            StatusCode::NOT_FOUND,
            "not_found",
            &format!("no such path {other}"),
        ),
    })
}

/// Serves upgrades on `listener` until `shutdown`, then closes every socket
/// with 1012.
pub async fn serve(
    listener: TcpListener,
    gateway: Gateway,
    key: TokenKey,
    registry: prometheus::Registry,
    shutdown: impl Future<Output = ()>,
) {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(gateway.config().handshake_timeout);
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let (gateway, key, registry) = (gateway.clone(), key.clone(), registry.clone());
                let service = service_fn(move |req| {
                    handle(gateway.clone(), key.clone(), registry.clone(), req, peer)
                });
                let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, %peer, "handshake connection ended");
                    }
                });
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let g = gateway.clone();
    let _ = tokio::task::spawn_blocking(move || g.shutdown()).await;
}
