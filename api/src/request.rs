//! Reading a request: the body (bounded), JSON, query parameters, path
//! parameters, the bearer token and the idempotency key.

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::header::{HeaderMap, AUTHORIZATION, CONTENT_LENGTH};
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use tidings_storage::{UserId, Write};
use tidings_wire::token::{now_unix_s, TokenError};
use tidings_wire::TokenKey;

use crate::error::ApiError;

/// Reads the whole body, refusing more than `max` bytes with 413.
pub async fn read_body(headers: &HeaderMap, body: Incoming, max: usize) -> Result<Bytes, ApiError> {
    let declared = headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > max as u64) {
        return Err(ApiError::PayloadTooLarge(max));
    }
    match Limited::new(body, max).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::PayloadTooLarge(max)),
        Err(e) => Err(ApiError::BadRequest(format!(
            "could not read the request body: {e}"
        ))),
    }
}

/// Parses a JSON body; anything unparsable or missing a field is a 400.
pub fn json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if body.is_empty() {
        return Err(ApiError::BadRequest("a JSON body is required".into()));
    }
    serde_json::from_slice(body)
        .map_err(|e| ApiError::BadRequest(format!("invalid JSON body: {e}")))
}

/// The query string's parameters.
#[derive(Debug, Default)]
pub struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(query: Option<&str>) -> Self {
        Self(
            query
                .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
                .unwrap_or_default(),
        )
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// An optional non-negative integer; anything else is invalid.
    pub fn uint(&self, name: &str) -> Result<Option<u64>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| *n < (1u64 << 53))
                .map(Some)
                .ok_or_else(|| ApiError::invalid(name, "must be a non-negative integer")),
        }
    }

    /// `limit`, range-checked by the store.
    pub fn limit(&self) -> Result<Option<u32>, ApiError> {
        Ok(match self.uint("limit")? {
            None => None,
            Some(n) => Some(
                u32::try_from(n)
                    .map_err(|_| ApiError::invalid("limit", "must be between 1 and 200"))?,
            ),
        })
    }
}

/// A path segment naming an id; an unparsable id names nothing (404).
pub fn path_id<T: std::str::FromStr>(segment: &str, what: &str) -> Result<T, ApiError> {
    if segment.is_empty() || segment.len() > 20 || !segment.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::NotFound(format!("{what} {segment:?} not found")));
    }
    segment
        .parse()
        .map_err(|_| ApiError::NotFound(format!("{what} {segment:?} not found")))
}

/// The bearer token of the request: the `Authorization` header, or, where
/// `query` is given (socket upgrades: browsers cannot set headers there),
/// `?token=`.
pub fn bearer<'a>(headers: &'a HeaderMap, query: Option<&'a Query>) -> Option<&'a str> {
    headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .or_else(|| query.and_then(|q| q.get("token")))
}

/// Verifies the request's token and returns its user.
pub fn authenticate(
    headers: &HeaderMap,
    query: Option<&Query>,
    key: &TokenKey,
) -> Result<UserId, ApiError> {
    let token = bearer(headers, query).ok_or_else(|| {
        ApiError::Unauthorized("an Authorization: Bearer token is required".into())
    })?;
    key.verify(token, now_unix_s()).map_err(|e| match e {
        TokenError::Expired => ApiError::Unauthorized("the token has expired".into()),
        _ => ApiError::Unauthorized("the token is invalid".into()),
    })
}

/// The write context: the actor, and the idempotency key if one was sent.
/// The fingerprint covers method, path and body, so reusing a key for a
/// different request is detected.
pub fn write_for(
    actor: UserId,
    method: &str,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Write, ApiError> {
    let w = Write::by(actor);
    let Some(key) = headers.get("idempotency-key") else {
        return Ok(w);
    };
    let key = key
        .to_str()
        .map_err(|_| ApiError::invalid("Idempotency-Key", "must be visible ASCII"))?;
    if key.is_empty() || key.len() > 64 {
        return Err(ApiError::invalid(
            "Idempotency-Key",
            "must be 1-64 characters",
        ));
    }
    let mut h = Sha256::new();
    h.update(method.as_bytes());
    h.update(b" ");
    h.update(path.as_bytes());
    h.update(b"\n");
    h.update(body);
    let fingerprint: String = h.finalize().iter().map(|b| format!("{b:02x}")).collect();
    Ok(w.with_key(key, fingerprint))
}
