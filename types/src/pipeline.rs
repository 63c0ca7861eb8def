//! Pipeline runs: a catalog entry taken from request to a ready deployment, one durable step
//! at a time.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::deployment::{CreateDeployment, RuntimeKind};

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RunState {
    /// Waiting for a worker.
    Queued,
    /// A worker is taking it through its steps.
    Running,
    /// Cancel asked; the worker is rolling back.
    Cancelling,
    /// Ready: the deployment runs.
    Succeeded,
    /// A step failed after its attempts (or the run was interrupted); rolled back.
    Failed,
    /// Cancelled by an operator; rolled back.
    Cancelled,
}

impl RunState {
    /// Every state, in order.
    pub const ALL: [RunState; 6] = [
        Self::Queued,
        Self::Running,
        Self::Cancelling,
        Self::Succeeded,
        Self::Failed,
        Self::Cancelled,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Cancelling => "cancelling",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Whether the run has ended (nothing more will happen unless it is retried).
    pub fn is_final(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }
}

/// The steps of a run, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    /// Find the catalog version and plan the deployment (package, runtime, argv, environment).
    Resolve,
    /// Make sure the image or the package launcher is there (pull when allowed).
    Prepare,
    /// Register the deployment and start its container or process.
    Deploy,
    /// The MCP handshake.
    Initialize,
    /// List tools, resources and prompts with their schemas.
    Discover,
    /// MCP ping on the live session and the runtime's state.
    Verify,
    /// Hand the live deployment over to the deployment manager.
    Ready,
}

impl StepName {
    /// Every step, in order.
    pub const ALL: [StepName; 7] = [
        Self::Resolve,
        Self::Prepare,
        Self::Deploy,
        Self::Initialize,
        Self::Discover,
        Self::Verify,
        Self::Ready,
    ];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Resolve => "resolve",
            Self::Prepare => "prepare",
            Self::Deploy => "deploy",
            Self::Initialize => "initialize",
            Self::Discover => "discover",
            Self::Verify => "verify",
            Self::Ready => "ready",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// Position in the run (0-based).
    pub fn index(self) -> usize {
        self as usize
    }
}

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    /// Not reached yet.
    Pending,
    /// Executing (or waiting to retry: see `attempts` and `error`).
    Running,
    /// Done.
    Succeeded,
    /// Failed after its attempts.
    Failed,
    /// Not run because the run was cancelled or failed earlier.
    Skipped,
    /// Stopped by a cancel while it ran.
    Cancelled,
}

impl StepStatus {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::Pending,
            Self::Running,
            Self::Succeeded,
            Self::Failed,
            Self::Skipped,
            Self::Cancelled,
        ]
        .into_iter()
        .find(|v| v.as_str() == s)
    }
}

/// One log line of a step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepLog {
    /// When.
    pub at: DateTime<Utc>,
    /// What happened (never a secret value).
    pub text: String,
}

/// One step of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepInfo {
    /// Which step.
    pub name: StepName,
    /// Where it stands.
    pub status: StepStatus,
    /// Attempts so far (over every retry of the run).
    pub attempts: u32,
    /// When its latest execution started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The error of its last failed attempt.
    pub error: Option<String>,
    /// The instance that executed it last.
    pub instance: Option<String>,
    /// What it did (omitted in lists).
    #[serde(default)]
    pub logs: Vec<StepLog>,
}

/// A pipeline run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunInfo {
    /// Run id (UUIDv7: sorts by creation time).
    pub id: String,
    /// Catalog server name.
    pub server: String,
    /// The version asked for (`None`: the latest).
    pub version: Option<String>,
    /// The version resolved (after the resolve step).
    pub resolved_version: Option<String>,
    /// The runtime chosen (after the resolve step).
    pub runtime: Option<RuntimeKind>,
    /// Where it stands.
    pub state: RunState,
    /// Why it failed or was cancelled.
    pub state_reason: Option<String>,
    /// The step executing or last executed.
    pub current_step: Option<StepName>,
    /// The deployment it produced (kept once ready; removed by a rollback).
    pub deployment_id: Option<String>,
    /// That deployment's name.
    pub deployment_name: Option<String>,
    /// Who started it.
    pub created_by: Option<String>,
    /// The run this one re-runs.
    pub rerun_of: Option<String>,
    /// How many times an operator retried it.
    pub retries: u32,
    /// The configuration asked for (secret values removed).
    pub request: CreateDeployment,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last entered the queue.
    pub queued_at: DateTime<Utc>,
    /// When a worker took it (last time).
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// The steps, in order.
    pub steps: Vec<StepInfo>,
}

/// Start several runs at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRuns {
    /// One request per run (1 to 500).
    pub runs: Vec<CreateDeployment>,
}

/// Runs started by one batch request.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedRuns {
    /// The runs, in request order.
    pub runs: Vec<RunInfo>,
}

/// Filters of the runs list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::IntoParams))]
pub struct RunFilter {
    /// Only runs in this state.
    #[serde(default)]
    pub state: Option<RunState>,
    /// Only runs of this catalog server (exact name).
    #[serde(default)]
    pub server: Option<String>,
    /// Only runs started by this user or key name.
    #[serde(default)]
    pub created_by: Option<String>,
    /// Only runs created at or after this time (RFC 3339).
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only runs created before this time (RFC 3339).
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
    /// Opaque cursor from a previous page.
    #[serde(default)]
    pub cursor: Option<String>,
    /// Page size (1–200, default 50).
    #[serde(default)]
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_round_trip() {
        for s in RunState::ALL {
            assert_eq!(RunState::parse(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        for (i, s) in StepName::ALL.into_iter().enumerate() {
            assert_eq!(StepName::parse(s.as_str()), Some(s));
            assert_eq!(s.index(), i);
        }
        assert_eq!(StepStatus::parse("skipped"), Some(StepStatus::Skipped));
        assert_eq!(RunState::parse("done"), None);
        assert!(RunState::Cancelled.is_final() && !RunState::Cancelling.is_final());
    }
}
