//! The service layer's error type. Adapters map each variant to an HTTP outcome once.

use thiserror::Error;
use types::FieldError;

/// Why a service call failed.
#[derive(Debug, Error)]
pub enum DomainError {
    /// The database could not be reached or refused the statement. The message is for logs
    /// only: adapters answer with a generic 503 and never show it.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
    /// No valid credentials (401).
    #[error("authentication required")]
    Unauthenticated,
    /// Authenticated, but the role is too low or the thing is not theirs (403).
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The named thing does not exist, or the caller may not know it does (404).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// Input that parses but is not acceptable, naming the field (422).
    #[error("invalid {}: {}", .0.field, .0.message)]
    Invalid(FieldError),
    /// The change conflicts with the current state (409).
    #[error("conflict: {0}")]
    Conflict(String),
    /// Too many failed attempts; try again after this many seconds (429).
    #[error("too many failed attempts; retry in {retry_after_secs} s")]
    TooManyAttempts { retry_after_secs: u64 },
    /// Asked again too soon; retry after this many seconds (429).
    #[error("{message}")]
    TooSoon {
        message: String,
        retry_after_secs: u64,
    },
    /// An MCP server or a runtime answered with an error (502).
    #[error("{0}")]
    Upstream(String),
    /// An MCP server did not answer in time (504).
    #[error("{0}")]
    UpstreamTimeout(String),
    /// A dependency other than the database is not available, e.g. the Docker engine (503).
    #[error("{0}")]
    Unavailable(String),
    /// A deployment's circuit breaker refuses calls for now; retry after this many seconds
    /// (503).
    #[error("{message}")]
    CircuitOpen {
        message: String,
        retry_after_secs: u64,
    },
    /// A bug or an unexpected failure; the message is for logs only (500).
    #[error("internal error: {0}")]
    Internal(String),
}

impl DomainError {
    /// The HTTP status every face answers with for this error.
    pub fn http_status(&self) -> u16 {
        match self {
            Self::Database(_) => 503,
            Self::Unauthenticated => 401,
            Self::Forbidden(_) => 403,
            Self::NotFound(_) => 404,
            Self::Invalid(_) => 422,
            Self::Conflict(_) => 409,
            Self::TooManyAttempts { .. } | Self::TooSoon { .. } => 429,
            Self::Upstream(_) => 502,
            Self::UpstreamTimeout(_) => 504,
            Self::Unavailable(_) | Self::CircuitOpen { .. } => 503,
            Self::Internal(_) => 500,
        }
    }

    /// A 422 for `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(FieldError {
            field,
            message: message.into(),
        })
    }
}

/// The secret store's database errors stay database errors (503); anything else (a wrong
/// key, a corrupt value) is a bug or an operator's mistake, shown only in the logs.
impl From<crate::secrets::SecretError> for DomainError {
    fn from(e: crate::secrets::SecretError) -> Self {
        match e {
            crate::secrets::SecretError::Database(db) => Self::Database(db),
            other => Self::Internal(other.to_string()),
        }
    }
}

impl From<FieldError> for DomainError {
    fn from(e: FieldError) -> Self {
        Self::Invalid(e)
    }
}
