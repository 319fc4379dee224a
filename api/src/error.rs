//! Errors a request can end in, each with the contract's status, code and
//! shape. None of them is a 500 with a stack trace, and none changed anything.

use std::time::Duration;

use hyper::StatusCode;
use tidings_storage::StoreError;
use tidings_wire::ErrorBody;

/// A request that did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Gone(String),
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    #[error("too many requests; retry in {} s", retry_after.as_secs())]
    RateLimited { retry_after: Duration },
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The contract's snake_case code.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest(_) => "bad_request",
            ApiError::Unauthorized(_) => "unauthorized",
            ApiError::Forbidden(_) => "forbidden",
            ApiError::NotFound(_) => "not_found",
            ApiError::MethodNotAllowed(_) => "method_not_allowed",
            ApiError::Conflict(_) => "conflict",
            ApiError::Gone(_) => "gone",
            ApiError::PayloadTooLarge(_) => "payload_too_large",
            ApiError::Invalid { .. } => "invalid",
            ApiError::RateLimited { .. } => "rate_limited",
            ApiError::Unavailable(_) => "unavailable",
        }
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        match self {
            ApiError::Invalid { field, message } => ErrorBody::new(
                self.code(),
                format!("{field}: {message}"),
                Some(field.clone()),
            ),
            other => ErrorBody::new(other.code(), other.to_string(), None),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(m) => ApiError::NotFound(m),
            StoreError::Conflict(m) => ApiError::Conflict(m),
            StoreError::Forbidden(m) => ApiError::Forbidden(m),
            StoreError::Invalid { field, message } => ApiError::Invalid { field, message },
            StoreError::Gone(m) => ApiError::Gone(m),
            StoreError::Unavailable(detail) => {
                tracing::warn!(%detail, "storage unavailable");
                ApiError::Unavailable("storage is unavailable; nothing was changed".into())
            }
        }
    }
}
