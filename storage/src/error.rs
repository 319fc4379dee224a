//! The typed error every `Store` call returns. Each variant maps to one
//! contract error code in the api; none of them leaves anything changed.

/// Why a store call did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The thing does not exist, or the caller may not know it exists.
    #[error("{0}")]
    NotFound(String),
    /// The change clashes with current state (a taken username, a duplicate member).
    #[error("{0}")]
    Conflict(String),
    /// The caller is known but not allowed (editing someone else's message).
    #[error("{0}")]
    Forbidden(String),
    /// Input broke a rule; `field` names the offending field.
    #[error("{field}: {message}")]
    Invalid { field: String, message: String },
    /// The requested events were compacted away; refetch the topic's state.
    #[error("{0}")]
    Gone(String),
    /// Storage could not be reached or did not answer; nothing was changed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
}

impl StoreError {
    /// An [`StoreError::Invalid`] for `field`.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// The result of a store call.
pub type StoreResult<T> = Result<T, StoreError>;
