//! The accept loop and the per-request pipeline: route → body → token →
//! rate limit → handler → metrics. Shutdown stops accepting, lets in-flight
//! requests finish (up to a grace period), then returns.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::time::Instant;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use tidings_storage::UserId;
use tokio::net::TcpListener;

use crate::error::ApiError;
use crate::handlers::{dispatch, Call};
use crate::request::{authenticate, bearer, read_body, Query};
use crate::response::{self, Body};
use crate::routes::{allowed_methods, match_route, Matched};
use crate::state::App;

/// The path of the WebSocket endpoint, served by a [`SocketUpgrade`] if any.
pub const WS_PATH: &str = "/v1/ws";

/// Takes over an authenticated socket upgrade request (e.g. the gateway in `dev`).
pub trait SocketUpgrade: Send + Sync + 'static {
    /// Called with a verified `user` whose token expires at `token_exp`
    /// (Unix seconds); answers the upgrade (101) or an error.
    fn upgrade(
        &self,
        req: Request<Incoming>,
        user: UserId,
        token_exp: u64,
        peer: SocketAddr,
    ) -> Response<Body>;
}

/// Answers one request.
pub async fn handle(
    app: App,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let path = req.uri().path().to_owned();
    if path == WS_PATH {
        if let Some(sockets) = app.inner.sockets.clone() {
            let query = Query::parse(req.uri().query());
            let verified = authenticate(req.headers(), Some(&query), &app.config().token_key);
            return Ok(match verified {
                Ok(user) => {
                    let exp = bearer(req.headers(), Some(&query))
                        .and_then(tidings_wire::TokenKey::expiry)
                        .unwrap_or(0);
                    sockets.upgrade(req, user, exp, peer)
                }
                Err(e) => response::error(&e),
            });
        }
    }
    let (route, params) = match match_route(req.method(), &path) {
        Matched::Route(route, params) => (route, params.into_iter().map(str::to_owned).collect()),
        Matched::WrongMethod => {
            let e =
                ApiError::MethodNotAllowed(format!("{} is not allowed on {path}", req.method()));
            let mut res = response::error(&e);
            if let Ok(allow) =
                hyper::header::HeaderValue::from_str(&allowed_methods(&path).join(", "))
            {
                res.headers_mut().insert(hyper::header::ALLOW, allow);
            }
            return Ok(finish(&app, "unmatched", started, res));
        }
        Matched::NoSuchPath => {
            let e = ApiError::NotFound(format!("no such path {path}"));
            return Ok(finish(&app, "unmatched", started, response::error(&e)));
        }
    };
    let (parts, body) = req.into_parts();
    let result = async {
        let body = read_body(&parts.headers, body, app.config().max_body_bytes).await?;
        let query = Query::parse(parts.uri.query());
        let user = if route.needs_auth() {
            let user = authenticate(&parts.headers, None, &app.config().token_key)?;
            app.inner.rate.users.charge(&user)?;
            Some(user)
        } else {
            None
        };
        let call = Call {
            method: parts.method,
            path,
            params,
            query,
            headers: parts.headers,
            body,
            user,
            peer: peer.ip(),
        };
        dispatch(&app, route, call).await
    }
    .await;
    let res = result.unwrap_or_else(|e| response::error(&e));
    Ok(finish(&app, route.pattern(), started, res))
}

fn finish(app: &App, route: &str, started: Instant, res: Response<Body>) -> Response<Body> {
    let m = app.metrics();
    m.requests
        .with_label_values(&[route, res.status().as_str()])
        .inc();
    m.latency
        .with_label_values(&[route])
        .observe(started.elapsed().as_secs_f64());
    res
}

/// Serves `app` on `listener` until `shutdown` resolves, then drains.
pub async fn serve(
    listener: TcpListener,
    app: App,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    // Each connection task holds a clone of `drained`; when all are gone,
    // `all_done` yields None. `stop` tells connections to finish gracefully.
    let (drained, mut all_done) = tokio::sync::mpsc::channel::<()>(1);
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(app.config().header_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);
    let mut sweep = tokio::time::interval(std::time::Duration::from_secs(60));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of descriptors or similar: back off, keep serving.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                let app = app.clone();
                let service = service_fn(move |req| handle(app.clone(), req, peer));
                let conn = builder.serve_connection(TokioIo::new(stream), service).with_upgrades();
                let drained = drained.clone();
                let mut stopping = stopping.clone();
                tokio::spawn(async move {
                    let _drained = drained;
                    tokio::pin!(conn);
                    let result = tokio::select! {
                        r = conn.as_mut() => r,
                        () = async { let _ = stopping.wait_for(|s| *s).await; } => {
                            conn.as_mut().graceful_shutdown();
                            conn.await
                        }
                    };
                    if let Err(e) = result {
                        tracing::debug!(error = %e, %peer, "connection ended with an error");
                    }
                });
            }
            _ = sweep.tick() => {
                app.inner.rate.users.shrink();
                app.inner.rate.addresses.shrink();
            }
            () = &mut shutdown => break,
        }
    }
    drop(listener);
    let _ = stop.send(true);
    drop(drained);
    let grace = app.config().shutdown_grace;
    tokio::select! {
        _ = all_done.recv() => tracing::info!("all in-flight requests finished"),
        () = tokio::time::sleep(grace) => tracing::warn!(?grace, "shutdown grace elapsed with requests in flight"),
    }
    Ok(())
}
