//! The service layer. Every use case is one function here; the JSON API and the dashboard's
//! server functions are thin adapters over it, so they cannot disagree.

pub mod access;
pub mod catalog;
pub mod db;
pub mod deployments;
pub mod entities;
pub mod error;
pub mod health;
pub mod mcp;
pub mod metrics;
pub mod monitor;
pub mod pipeline;
pub mod registries;
pub mod runtime;
pub mod secrets;
pub mod system;

pub use db::{Database, DatabaseUrl, DbOptions};
pub use error::{DbFault, DomainError};
pub use system::Instance;

/// Version of this build, as shown in the API, the dashboard and `/metrics`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What every service function needs: the database and who this process is.
#[derive(Clone, Debug)]
pub struct Ctx {
    /// The connection pool and its engine.
    pub db: Database,
    /// This process, as recorded in the `instances` table.
    pub instance: Instance,
    /// API keys recently looked up (see [`access::api_keys`]).
    pub keys: std::sync::Arc<access::api_keys::KeyCache>,
    /// The secret-store key (set at start-up by `serve`).
    pub secret_key: Option<std::sync::Arc<secrets::SecretKey>>,
    /// Registry sync limits (the `registry.*` settings).
    pub registry: std::sync::Arc<registries::Settings>,
    /// The catalog search index of this instance.
    pub catalog: std::sync::Arc<catalog::IndexCache>,
    /// Deployments: runtimes and live MCP sessions of this instance.
    pub deployments: std::sync::Arc<deployments::Manager>,
    /// Pipeline runs: settings, wake-ups and the runs executing on this instance.
    pub pipeline: std::sync::Arc<pipeline::Pipeline>,
    /// Health checks, self-healing and breakers of this instance's deployments.
    pub monitor: std::sync::Arc<monitor::Monitor>,
    /// Instruments exported at `/metrics`.
    pub metrics: std::sync::Arc<metrics::Metrics>,
}

impl Ctx {
    /// The secret-store key, which `serve` always sets.
    pub fn secrets(&self) -> Result<&secrets::SecretKey, DomainError> {
        self.secret_key
            .as_deref()
            .ok_or_else(|| DomainError::Internal("the secret store has no key".into()))
    }

    /// A context for `db` and this process.
    pub fn new(db: Database, instance: Instance) -> Self {
        Self {
            db,
            instance,
            keys: std::sync::Arc::default(),
            secret_key: None,
            registry: std::sync::Arc::default(),
            catalog: std::sync::Arc::default(),
            deployments: std::sync::Arc::default(),
            pipeline: std::sync::Arc::default(),
            monitor: std::sync::Arc::default(),
            metrics: std::sync::Arc::default(),
        }
    }
}
