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
}
