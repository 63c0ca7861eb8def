//! Deployments: what an operator asks for, validated in the browser and on the server alike.

use serde::{Deserialize, Serialize};

/// Where a deployment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RuntimeKind {
    /// A hardened container on the local Docker engine.
    Docker,
    /// A local child process (hosts without Docker).
    Process,
}

impl RuntimeKind {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Docker => "docker",
            Self::Process => "process",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "docker" => Some(Self::Docker),
            "process" => Some(Self::Process),
            _ => None,
        }
    }
}

/// One environment variable of a new deployment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EnvInput {
    /// POSIX name.
    pub name: String,
    /// The value. Secret values go to the secret store and are never shown again.
    pub value: String,
    /// Keep it in the secret store (required for values that look like credentials).
    #[serde(default)]
    pub secret: bool,
}

/// A deployment request: a catalog entry and the operator's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateDeployment {
    /// Catalog server name (`namespace/name`).
    pub server: String,
    /// Version; default the latest.
    #[serde(default)]
    pub version: Option<String>,
    /// Source registry id, when several hold the server.
    #[serde(default)]
    pub registry_id: Option<String>,
    /// Which package to run (index in the version's packages); default the verdict's choice.
    #[serde(default)]
    pub package: Option<u32>,
    /// Package version, when the publisher gave none (or to run another one).
    #[serde(default)]
    pub package_version: Option<String>,
    /// Runtime; default the first the verdict names that this host offers.
    #[serde(default)]
    pub runtime: Option<RuntimeKind>,
    /// The complete argument list (argv after the package), replacing the published
    /// arguments: required whenever they hold placeholders.
    #[serde(default)]
    pub arguments: Option<Vec<String>>,
    /// Environment variables.
    #[serde(default)]
    pub env: Vec<EnvInput>,
    /// Display name; default derived from the server name.
    #[serde(default)]
    pub name: Option<String>,
    /// Health-check settings of this deployment (default: the global `health.*`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health: Option<crate::health::HealthConfig>,
}

/// Where a deployment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum DeploymentState {
    /// Being started: runtime, MCP handshake, discovery.
    Starting,
    /// Running with a live MCP session.
    Running,
    /// Stopped by an operator.
    Stopped,
    /// Could not start (see `state_reason`); nothing of it is left running.
    Failed,
    /// The process or container ended by itself.
    Exited,
    /// The container or process is gone (removed behind our back).
    Missing,
}

impl DeploymentState {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopped => "stopped",
            Self::Failed => "failed",
            Self::Exited => "exited",
            Self::Missing => "missing",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "starting" => Self::Starting,
            "running" => Self::Running,
            "stopped" => Self::Stopped,
            "failed" => Self::Failed,
            "exited" => Self::Exited,
            "missing" => Self::Missing,
            _ => return None,
        })
    }
}

/// An environment variable as shown: secret values never are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvView {
    /// Name.
    pub name: String,
    /// The value; absent for secrets.
    pub value: Option<String>,
    /// Kept in the secret store.
    pub secret: bool,
}

/// A deployment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentInfo {
    /// Id.
    pub id: String,
    /// Display name.
    pub name: String,
    /// Catalog server name.
    pub server: String,
    /// Catalog version.
    pub version: String,
    /// Source registry.
    pub registry_id: String,
    /// Runtime.
    pub runtime: RuntimeKind,
    /// What runs, for people: `npx -y pkg@1.2.3`, `uvx pkg==1.2.3`, an image.
    pub launch: String,
    /// Arguments (argv after the package).
    pub args: Vec<String>,
    /// Environment (secrets masked).
    pub env: Vec<EnvView>,
    /// `stdio` or `streamable-http`.
    pub transport: String,
    /// The MCP endpoint of HTTP servers (loopback).
    pub endpoint: Option<String>,
    /// What the operator wants: `running` or `stopped`.
    pub desired: String,
    /// Where it stands.
    pub state: DeploymentState,
    /// Why it is failed, exited or missing.
    pub state_reason: Option<String>,
    /// Container id or process id.
    pub runtime_ref: Option<String>,
    /// Tools discovered.
    pub tools: u32,
    /// Who created it.
    pub created_by: Option<String>,
    /// Created.
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// Last started (uptime counts from here while running).
    pub started_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Last stopped.
    pub stopped_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Health checks, self-healing and the tool-call breaker.
    pub health: crate::health::HealthView,
}

/// A tool as discovered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolInfo {
    /// Name.
    pub name: String,
    /// Title, if given.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// JSON Schema of the arguments.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub input_schema: serde_json::Value,
    /// JSON Schema of structured results, if declared.
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub output_schema: Option<serde_json::Value>,
}

/// A resource as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ResourceInfo {
    /// URI.
    pub uri: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// MIME type.
    pub mime_type: Option<String>,
}

/// A prompt argument.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptArgument {
    /// Name.
    pub name: String,
    /// Must be given.
    pub required: bool,
}

/// A prompt as discovered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct PromptInfo {
    /// Name.
    pub name: String,
    /// Description.
    pub description: Option<String>,
    /// Arguments.
    pub arguments: Vec<PromptArgument>,
}

/// Everything a server offers, as discovered after the handshake.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Capabilities {
    /// Server name from initialize.
    pub server_name: String,
    /// Server version.
    pub server_version: String,
    /// Negotiated protocol version.
    pub protocol_version: String,
    /// Tools.
    pub tools: Vec<ToolInfo>,
    /// Resources.
    pub resources: Vec<ResourceInfo>,
    /// Prompts.
    pub prompts: Vec<PromptInfo>,
    /// When discovered.
    pub discovered_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A tool call.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct ToolCall {
    /// Arguments (checked against the tool's input schema before they are sent).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub arguments: serde_json::Map<String, serde_json::Value>,
    /// Timeout in milliseconds (default 30000, at most 600000).
    #[serde(default)]
    pub timeout_ms: Option<u64>,
}

/// A tool call's outcome.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ToolResult {
    /// The MCP result: `content`, `structuredContent`, `isError`.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub result: serde_json::Value,
    /// Whether the tool reported an error.
    pub is_error: bool,
    /// Round trip through the session, in milliseconds.
    pub duration_ms: f64,
}
