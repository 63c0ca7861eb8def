//! System information, health and configuration DTOs.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Which database engine backs this instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DatabaseBackend {
    /// An embedded SQLite file (the default).
    Sqlite,
    /// A PostgreSQL server (for several instances).
    Postgresql,
}

impl DatabaseBackend {
    /// The name shown to people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Sqlite => "SQLite",
            Self::Postgresql => "PostgreSQL",
        }
    }
}

/// Applied and pending schema migrations.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MigrationStatus {
    /// Migrations recorded as applied.
    pub applied: u32,
    /// Migrations this build knows and the database has not applied.
    pub pending: u32,
    /// Name of the newest applied migration.
    pub latest: Option<String>,
}

/// What `/api/v1/system` and the Overview page show.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemInfo {
    /// Version of this build.
    pub version: String,
    /// Id of this server process, new at every start.
    pub instance_id: String,
    /// Database engine.
    pub database_backend: DatabaseBackend,
    /// When this process started serving.
    pub started_at: DateTime<Utc>,
    /// Seconds since `started_at`.
    pub uptime_seconds: u64,
    /// Orchestrator processes that have ever started against this database.
    pub instances_started: u64,
    /// Processes currently heartbeating against this database (this one included).
    pub instances_live: u64,
    /// Schema state.
    pub migrations: MigrationStatus,
}

/// Outcome of one readiness check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// The check passed.
    Pass,
    /// The check failed; the instance should not take traffic.
    Fail,
    /// Degraded: serving, but a part (the Docker engine) is down.
    Warn,
}

/// One named readiness check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthCheck {
    /// Check name: `database` or `migrations`.
    pub name: String,
    /// Outcome.
    pub status: HealthStatus,
    /// How long the check took, in milliseconds.
    pub duration_ms: f64,
    /// Why it failed (no internal detail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// The summary at `/health`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthReport {
    /// `pass` when every check passed.
    pub status: HealthStatus,
    /// Version of this build.
    pub version: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// Every check, in a fixed order.
    pub checks: Vec<HealthCheck>,
}

impl HealthReport {
    /// Names of the failing checks.
    pub fn failing(&self) -> Vec<&str> {
        self.checks
            .iter()
            .filter(|c| c.status == HealthStatus::Fail)
            .map(|c| c.name.as_str())
            .collect()
    }
}

/// One effective setting after validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigSetting {
    /// Dotted setting name, as in the TOML file (`database.url`).
    pub key: String,
    /// Environment variable that overrides it.
    pub env: String,
    /// The effective value, secrets redacted.
    pub value: String,
}

/// Result of validating a configuration document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ConfigValidation {
    /// Every setting with the value it would take (defaults filled in).
    pub settings: Vec<ConfigSetting>,
}
