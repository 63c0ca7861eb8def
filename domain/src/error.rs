//! The service layer's error type. Adapters map each variant to an HTTP outcome once.

use thiserror::Error;

/// Why a service call failed.
#[derive(Debug, Error)]
pub enum DomainError {
    /// The database could not be reached or refused the statement. The message is for logs
    /// only: adapters answer with a generic 503/500 and never show it.
    #[error("database error: {0}")]
    Database(#[from] sea_orm::DbErr),
}
