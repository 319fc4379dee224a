//! Writing answers: JSON bodies, empty 204s and the contract's error shape.

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE, RETRY_AFTER};
use hyper::{Response, StatusCode};
use serde::Serialize;

use crate::error::ApiError;

/// The body type of every answer.
pub type Body = Full<Bytes>;

/// A JSON answer.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(bytes) => with_type(status, "application/json", bytes),
        Err(e) => error(&ApiError::Unavailable(format!(
            "could not encode the answer: {e}"
        ))),
    }
}

/// A body with a content type.
pub fn with_type(
    status: StatusCode,
    content_type: &'static str,
    bytes: impl Into<Bytes>,
) -> Response<Body> {
    let mut res = Response::new(Full::new(bytes.into()));
    *res.status_mut() = status;
    res.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    res
}

/// 204 No Content.
pub fn no_content() -> Response<Body> {
    let mut res = Response::new(Full::new(Bytes::new()));
    *res.status_mut() = StatusCode::NO_CONTENT;
    res
}

/// The contract's error answer.
pub fn error(e: &ApiError) -> Response<Body> {
    let mut res = match serde_json::to_vec(&e.body()) {
        Ok(bytes) => with_type(e.status(), "application/json", bytes),
        Err(_) => with_type(e.status(), "application/json", "{}"),
    };
    if let ApiError::RateLimited { retry_after } = e {
        let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
        if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
            res.headers_mut().insert(RETRY_AFTER, v);
        }
    }
    res
}
