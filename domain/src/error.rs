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
            Self::Database(e) if DbFault::of(e) == DbFault::DiskFull => 507,
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

/// What a database failure means for the people who meet it: each kind gets a message they
/// can act on (the driver's own text is for logs only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DbFault {
    /// Another connection held SQLite's write lock past the busy timeout.
    Busy,
    /// The disk holding the database is full (SQLite `SQLITE_FULL`, PostgreSQL `53100`).
    DiskFull,
    /// The database cannot be reached: the connection was refused or lost, or none came free
    /// in time.
    Unreachable,
    /// Anything else.
    Other,
}

impl DbFault {
    /// Classifies `e`.
    pub fn of(e: &sea_orm::DbErr) -> Self {
        use sea_orm::{DbErr, RuntimeErr};
        match e {
            DbErr::ConnectionAcquire(_) => Self::Unreachable,
            DbErr::Conn(RuntimeErr::SqlxError(s)) => match Self::of_sqlx(s) {
                Self::Other => Self::Unreachable,
                known => known,
            },
            DbErr::Conn(_) => Self::Unreachable,
            DbErr::Exec(RuntimeErr::SqlxError(s)) | DbErr::Query(RuntimeErr::SqlxError(s)) => {
                Self::of_sqlx(s)
            }
            _ => Self::Other,
        }
    }

    /// Classifies a driver error.
    pub fn of_sqlx(e: &sqlx::Error) -> Self {
        use sqlx::Error as E;
        match e {
            E::Database(db) => {
                let code = db.code().unwrap_or_default();
                // SQLite reports (extended) result codes as numbers: the primary code is the
                // low byte. PostgreSQL reports SQLSTATEs.
                if let Ok(n) = code.parse::<u32>() {
                    return match n & 0xff {
                        5 | 6 => Self::Busy,
                        13 => Self::DiskFull,
                        14 => Self::Unreachable,
                        _ => Self::Other,
                    };
                }
                match code.as_ref() {
                    "53100" => Self::DiskFull,
                    "53300" | "57P01" | "57P02" | "57P03" | "3D000" => Self::Unreachable,
                    c if c.starts_with("08") => Self::Unreachable,
                    _ => Self::Other,
                }
            }
            E::Io(io) if io.raw_os_error() == Some(28) => Self::DiskFull,
            E::Io(_)
            | E::Tls(_)
            | E::Protocol(_)
            | E::PoolTimedOut
            | E::PoolClosed
            | E::WorkerCrashed => Self::Unreachable,
            _ => Self::Other,
        }
    }

    /// What is wrong, for people (lower case, no full stop): never the driver's text.
    pub fn describe(self) -> &'static str {
        match self {
            Self::Busy => "the database is busy: another process holds its write lock",
            Self::DiskFull => "the disk holding the database is full",
            Self::Unreachable => "the database cannot be reached",
            Self::Other => "the database could not complete the request",
        }
    }
}

#[cfg(test)]
mod tests {
    use sqlx::{Connection as _, Executor as _};

    use super::*;

    #[tokio::test]
    async fn database_faults_are_told_apart() {
        // A real SQLite "database or disk is full": the file may not grow past one page.
        let mut c = sqlx::SqliteConnection::connect("sqlite::memory:")
            .await
            .unwrap();
        c.execute("PRAGMA max_page_count = 2").await.unwrap();
        c.execute("CREATE TABLE t (v TEXT)").await.unwrap();
        let full = c
            .execute("INSERT INTO t SELECT hex(randomblob(4000)) FROM (SELECT 1 UNION SELECT 2)")
            .await
            .unwrap_err();
        assert_eq!(DbFault::of_sqlx(&full), DbFault::DiskFull, "{full}");
        let err = sea_orm::DbErr::Exec(sea_orm::RuntimeErr::SqlxError(full));
        assert_eq!(DomainError::Database(err).http_status(), 507);
        // A syntax error is none of the kinds people can act on.
        let other = c.execute("SELEC 1").await.unwrap_err();
        assert_eq!(DbFault::of_sqlx(&other), DbFault::Other);
        // No connection in time, or none at all: unreachable, a 503.
        let timeout = sea_orm::DbErr::ConnectionAcquire(sea_orm::error::ConnAcquireErr::Timeout);
        assert_eq!(DbFault::of(&timeout), DbFault::Unreachable);
        assert_eq!(DomainError::Database(timeout).http_status(), 503);
        let refused = sea_orm::DbErr::Conn(sea_orm::RuntimeErr::SqlxError(sqlx::Error::PoolClosed));
        assert_eq!(DbFault::of(&refused), DbFault::Unreachable);
    }
}
