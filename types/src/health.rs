//! Deployment health: checks, self-healing, circuit breakers, history and the fleet view.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{access::FieldError, deployment::DeploymentState, system::HealthStatus};

/// How a deployment answers its health checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Health {
    /// Not checked yet (or not meant to run).
    Unknown,
    /// The last check passed.
    Healthy,
    /// One or more checks failed in a row, fewer than the threshold.
    Degraded,
    /// As many checks as the threshold failed in a row: restarts follow.
    Unhealthy,
}

impl Health {
    /// Every value, in display order.
    pub const ALL: [Self; 4] = [
        Self::Healthy,
        Self::Degraded,
        Self::Unhealthy,
        Self::Unknown,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Degraded => "degraded",
            Self::Unhealthy => "unhealthy",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "unknown" => Self::Unknown,
            "healthy" => Self::Healthy,
            "degraded" => Self::Degraded,
            "unhealthy" => Self::Unhealthy,
            _ => return None,
        })
    }

    /// What `failures` checks failed in a row mean, given the threshold.
    pub fn after_failures(failures: u32, unhealthy_after: u32) -> Self {
        match failures {
            0 => Self::Healthy,
            n if n >= unhealthy_after.max(1) => Self::Unhealthy,
            _ => Self::Degraded,
        }
    }
}

/// A circuit breaker guarding a deployment's tool calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum BreakerState {
    /// Calls pass.
    Closed,
    /// Calls are refused at once until `retry_at`.
    Open,
    /// One trial call passes; its outcome closes or opens the breaker again.
    HalfOpen,
}

impl BreakerState {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Open => "open",
            Self::HalfOpen => "half_open",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "closed" => Self::Closed,
            "open" => Self::Open,
            "half_open" => Self::HalfOpen,
            _ => return None,
        })
    }

    /// The metric value: 0 closed, 1 half-open, 2 open.
    pub fn gauge(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

/// Per-deployment health-check settings (each absent one follows the global `health.*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct HealthConfig {
    /// Time between checks, 500–3,600,000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_ms: Option<u32>,
    /// How long a check may take, 100–300,000 ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u32>,
    /// Failed checks in a row that make the deployment unhealthy (1–100; fewer: degraded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unhealthy_after: Option<u32>,
}

impl HealthConfig {
    /// Checks the bounds; the first problem is named by its field (`health.interval_ms`…).
    pub fn validate(&self) -> Result<(), FieldError> {
        for (field, v, lo, hi) in [
            ("health.interval_ms", self.interval_ms, 500, 3_600_000),
            ("health.timeout_ms", self.timeout_ms, 100, 300_000),
            ("health.unhealthy_after", self.unhealthy_after, 1, 100),
        ] {
            if v.is_some_and(|v| !(lo..=hi).contains(&v)) {
                return Err(FieldError {
                    field,
                    message: format!("must be between {lo} and {hi}"),
                });
            }
        }
        Ok(())
    }
}

/// The settings a deployment's checks follow (its own, else the global ones).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EffectiveHealthConfig {
    /// Time between checks, in milliseconds.
    pub interval_ms: u32,
    /// How long a check may take, in milliseconds.
    pub timeout_ms: u32,
    /// Failed checks in a row that make the deployment unhealthy.
    pub unhealthy_after: u32,
}

/// A deployment's circuit breaker, as the instance running it last recorded it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct BreakerView {
    /// State.
    pub state: BreakerState,
    /// Tool calls that failed in a row.
    pub consecutive_failures: u32,
    /// When it last changed state.
    pub changed_at: Option<DateTime<Utc>>,
    /// While open: when a trial call will be let through.
    pub retry_at: Option<DateTime<Utc>>,
}

/// A deployment's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthView {
    /// Whether it is checked: it should run (`desired` = `running`) and is not left down after
    /// a crash loop.
    pub enabled: bool,
    /// Whether the last check reached the server over MCP (`ping` answered); absent before
    /// the first check.
    pub reachable: Option<bool>,
    /// Healthy, degraded, unhealthy or unknown.
    pub status: Health,
    /// Why the last check failed (or why it is left down).
    pub reason: Option<String>,
    /// Checks that failed in a row.
    pub consecutive_failures: u32,
    /// Last check.
    pub checked_at: Option<DateTime<Utc>>,
    /// When `status` last changed.
    pub changed_at: Option<DateTime<Utc>>,
    /// Last passed check.
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Round trip of the last `ping`, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Self-healing restarts so far (reset by an operator's start).
    pub restarts: u32,
    /// Last self-healing restart.
    pub last_restart_at: Option<DateTime<Utc>>,
    /// When the next restart is due (unhealthy, waiting out the backoff).
    pub next_restart_at: Option<DateTime<Utc>>,
    /// It restarted too often: left down until an operator starts it.
    pub crash_looped: bool,
    /// The breaker guarding tool calls.
    pub breaker: BreakerView,
    /// The settings its checks follow.
    pub config: EffectiveHealthConfig,
}

/// Checks of one time bucket (a minute, or an hour once downsampled).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthSample {
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Bucket length in seconds: 60, or 3600 once downsampled.
    pub seconds: u32,
    /// Checks in the bucket.
    pub checks: u32,
    /// Failed checks in the bucket.
    pub failures: u32,
    /// Mean `ping` round trip of the passed checks, in milliseconds.
    pub latency_avg_ms: Option<f64>,
    /// Slowest `ping` round trip, in milliseconds.
    pub latency_max_ms: Option<f64>,
}

/// A deployment's health over time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthHistory {
    /// The deployment.
    pub deployment_id: String,
    /// Start of the window.
    pub since: DateTime<Utc>,
    /// Buckets, oldest first (recent ones per minute, older ones per hour).
    pub samples: Vec<HealthSample>,
    /// Passed checks / checks in the window, in percent; absent without checks.
    pub uptime_percent: Option<f64>,
}

/// Something that happened to a deployment's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HealthEvent {
    /// Sequence number.
    pub id: i64,
    /// The deployment.
    pub deployment_id: String,
    /// Its name at the time.
    pub deployment_name: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `health` (status change), `restart`, `crash_loop`, `breaker` (breaker state change).
    pub kind: String,
    /// Before (absent for restarts and crash loops).
    pub from: Option<String>,
    /// After: a health status, a breaker state, `restarted` / `restart_failed`, `left_down`.
    pub to: String,
    /// Why.
    pub reason: Option<String>,
}

/// One deployment in the fleet view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetMember {
    /// Id.
    pub id: String,
    /// Name.
    pub name: String,
    /// Lifecycle state.
    pub state: DeploymentState,
    /// Health.
    pub health: Health,
    /// Why it is not healthy.
    pub reason: Option<String>,
    /// Last `ping` round trip, in milliseconds.
    pub latency_ms: Option<f64>,
    /// Passed checks in the last 24 hours, in percent.
    pub uptime_24h: Option<f64>,
    /// Breaker state.
    pub breaker: BreakerState,
    /// Self-healing restarts.
    pub restarts: u32,
    /// Left down after a crash loop (until an operator starts it).
    pub crash_looped: bool,
}

/// The whole fleet's health.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct FleetHealth {
    /// Deployments.
    pub total: u32,
    /// Deployments that should run, by health (`healthy`, `degraded`, `unhealthy`, `unknown`).
    pub by_health: BTreeMap<String, u32>,
    /// Open (or half-open) breakers.
    pub breakers_open: u32,
    /// Self-healing restarts in the last 24 hours.
    pub restarts_24h: u32,
    /// Passed checks / checks of the whole fleet in the last 24 hours, in percent.
    pub uptime_24h: Option<f64>,
    /// Every deployment, the unhealthy first.
    pub deployments: Vec<FleetMember>,
    /// Latest health events (incidents), newest first.
    pub incidents: Vec<HealthEvent>,
}

/// One part of the system in `/health/detailed`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ComponentHealth {
    /// Outcome.
    pub status: HealthStatus,
    /// How long the probe took, in milliseconds.
    pub latency_ms: f64,
    /// What was found (an engine version, an error).
    pub detail: Option<String>,
}

/// This instance's health in detail (admins).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SystemHealth {
    /// `pass`; `warn` when a part deployments need (the Docker engine) is down; `fail` when the
    /// database is.
    pub status: HealthStatus,
    /// Version.
    pub version: String,
    /// This process.
    pub instance_id: String,
    /// Seconds since start.
    pub uptime_seconds: u64,
    /// The database.
    pub database: ComponentHealth,
    /// The Docker engine; absent when Docker is disabled.
    pub docker: Option<ComponentHealth>,
    /// Pipeline workers of this instance.
    pub workers: u32,
    /// Of which executing a run.
    pub workers_busy: u32,
    /// Runs waiting for a worker (all instances).
    pub queue_depth: u64,
    /// Live MCP sessions held by this instance.
    pub live_deployments: u32,
    /// Health checks running now.
    pub checks_in_flight: u32,
    /// CPU used by this process since the previous sample (≈ 1 s), in percent of one core.
    pub cpu_percent: f64,
    /// Resident memory, in bytes.
    pub memory_rss_bytes: u64,
    /// OS threads.
    pub threads: u32,
}
