//! Liveness, readiness, metrics and the OpenAPI document.

use hyper::{Response, StatusCode};
use serde_json::json;

use crate::error::ApiError;
use crate::response::{self, Body};
use crate::state::App;

pub(super) fn healthz() -> Response<Body> {
    response::json(StatusCode::OK, &json!({"status": "ok"}))
}

/// Ready when storage answers.
pub(super) async fn readyz(app: &App) -> Result<Response<Body>, ApiError> {
    app.timed("ping", app.store().ping()).await?;
    Ok(response::json(StatusCode::OK, &json!({"status": "ready"})))
}

pub(super) fn metrics(app: &App) -> Response<Body> {
    response::with_type(
        StatusCode::OK,
        "text/plain; version=0.0.4",
        app.metrics().render(),
    )
}

pub(super) fn openapi() -> Response<Body> {
    response::with_type(StatusCode::OK, "application/yaml", crate::OPENAPI_YAML)
}
