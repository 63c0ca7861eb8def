//! The catalog: MCP servers and their versions as synced from registry sources.

use chrono::{DateTime, Utc};

use serde::{Deserialize, Serialize};

/// Whether a server version is current.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum EntryStatus {
    /// Current.
    Active,
    /// Still listed, but its publisher advises against it.
    Deprecated,
}

impl EntryStatus {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Deprecated => "deprecated",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "deprecated" => Some(Self::Deprecated),
            _ => None,
        }
    }
}

/// Can this orchestrator run it?
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum VerdictStatus {
    /// A runtime can run it as published.
    Ready,
    /// A runtime can run it once the operator fills in the values named in `reasons`.
    NeedsInput,
    /// No runtime can run it; `reasons` says why.
    Unsupported,
}

impl VerdictStatus {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::NeedsInput => "needs_input",
            Self::Unsupported => "unsupported",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ready" => Some(Self::Ready),
            "needs_input" => Some(Self::NeedsInput),
            "unsupported" => Some(Self::Unsupported),
            _ => None,
        }
    }

    /// For people.
    pub fn label(self) -> &'static str {
        match self {
            Self::Ready => "Ready to deploy",
            Self::NeedsInput => "Needs input",
            Self::Unsupported => "Not deployable",
        }
    }
}

/// The deployability verdict of one server version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Verdict {
    /// Ready, needs input, or unsupported.
    pub status: VerdictStatus,
    /// Runtimes that could run it (`docker`, `process`), best first; empty when unsupported.
    pub runtimes: Vec<String>,
    /// Index of the package a deployment would use.
    pub package: Option<u32>,
    /// What the operator must provide, or why nothing can run it.
    pub reasons: Vec<String>,
}

/// A catalog entry in a listing: a server at its latest version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogEntry {
    /// Source id.
    pub registry_id: String,
    /// Source name.
    pub registry_name: String,
    /// Server name, `namespace/name`.
    pub name: String,
    /// Human title, if the publisher gave one.
    pub title: Option<String>,
    /// Description.
    pub description: String,
    /// Latest version.
    pub version: String,
    /// Active or deprecated.
    pub status: EntryStatus,
    /// Package types (`npm`, `pypi`, `oci`, …).
    pub registry_types: Vec<String>,
    /// Transports of packages and remotes (`stdio`, `streamable-http`, `sse`).
    pub transports: Vec<String>,
    /// Whether some environment variable, argument or header is marked secret.
    pub needs_secrets: bool,
    /// Whether it has remote endpoints.
    pub has_remotes: bool,
    /// Deployability.
    pub verdict: Verdict,
    /// Versions of this server in the catalog.
    pub versions: u32,
    /// When the registry last changed it.
    pub updated_at: Option<DateTime<Utc>>,
}

/// A page of catalog entries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogPage {
    /// The entries.
    pub items: Vec<CatalogEntry>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Entries matching the search and filters.
    pub total: u64,
}

/// One version of a server, in a version list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct VersionSummary {
    /// Source id.
    pub registry_id: String,
    /// Version string.
    pub version: String,
    /// The server's latest version in its source.
    pub is_latest: bool,
    /// Active or deprecated.
    pub status: EntryStatus,
    /// Deployability.
    pub verdict: VerdictStatus,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When the registry last changed it.
    pub updated_at: Option<DateTime<Utc>>,
}

/// Argument kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum ArgumentKind {
    /// A bare value.
    Positional,
    /// `--name value` (or `--name` alone).
    Named,
}

/// A runtime or package argument.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Argument {
    /// Positional or named.
    pub kind: ArgumentKind,
    /// Flag name (named arguments).
    pub name: Option<String>,
    /// The value as published.
    pub value: Option<String>,
    /// A hint for the operator.
    pub value_hint: Option<String>,
    /// What it is for.
    pub description: Option<String>,
    /// Must be given.
    pub is_required: bool,
    /// The value is a secret.
    pub is_secret: bool,
    /// Default value.
    pub default: Option<String>,
    /// Allowed values.
    pub choices: Vec<String>,
    /// May be given several times.
    pub is_repeated: bool,
    /// Placeholders (`<path>`, `${TOKEN}`, `{dir}`…) found in the name or value that the
    /// operator must replace.
    pub placeholders: Vec<String>,
}

/// An environment variable a package reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct EnvVar {
    /// Variable name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Must be set.
    pub is_required: bool,
    /// The value is a secret (kept in the secret store when deployed).
    pub is_secret: bool,
    /// Default value.
    pub default: Option<String>,
    /// Allowed values.
    pub choices: Vec<String>,
}

/// A header a remote or an HTTP transport expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct HeaderSpec {
    /// Header name.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// Must be sent.
    pub is_required: bool,
    /// The value is a secret.
    pub is_secret: bool,
    /// Default value.
    pub default: Option<String>,
}

/// How to talk to a package once it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Transport {
    /// `stdio`, `streamable-http` or `sse`.
    pub kind: String,
    /// Endpoint URL template (HTTP transports).
    pub url: Option<String>,
    /// Headers (HTTP transports).
    pub headers: Vec<HeaderSpec>,
}

/// A package that runs the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Package {
    /// `npm`, `pypi`, `oci`, `nuget`, `mcpb`…
    pub registry_type: String,
    /// Package name or image reference.
    pub identifier: String,
    /// Package version; absent when the publisher gave none.
    pub version: Option<String>,
    /// Suggested runner (`npx`, `uvx`, `docker`…).
    pub runtime_hint: Option<String>,
    /// How to talk to it.
    pub transport: Transport,
    /// Arguments for the runner.
    pub runtime_arguments: Vec<Argument>,
    /// Arguments for the server.
    pub package_arguments: Vec<Argument>,
    /// Environment variables.
    pub environment_variables: Vec<EnvVar>,
}

/// A remote endpoint of a hosted server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Remote {
    /// `streamable-http` or `sse`.
    pub kind: String,
    /// URL.
    pub url: String,
    /// Headers it expects.
    pub headers: Vec<HeaderSpec>,
}

/// One server version in full.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CatalogVersion {
    /// Source id.
    pub registry_id: String,
    /// Source name.
    pub registry_name: String,
    /// Server name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: String,
    /// Version.
    pub version: String,
    /// The latest version of the server in its source.
    pub is_latest: bool,
    /// Active or deprecated.
    pub status: EntryStatus,
    /// Website.
    pub website_url: Option<String>,
    /// Source repository.
    pub repository_url: Option<String>,
    /// Packages.
    pub packages: Vec<Package>,
    /// Remote endpoints.
    pub remotes: Vec<Remote>,
    /// Deployability.
    pub verdict: Verdict,
    /// When it was published.
    pub published_at: Option<DateTime<Utc>>,
    /// When the registry last changed it.
    pub updated_at: Option<DateTime<Utc>>,
    /// When a sync last wrote it.
    pub synced_at: DateTime<Utc>,
    /// The server.json document as the source published it.
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub server_json: serde_json::Value,
}

/// Placeholders an operator must replace: `<path>`, `${TOKEN}`, `$TOKEN`, `{dir}`. Shared by
/// the catalog's verdicts, deployment plans and the deploy form.
pub fn placeholders(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let close = match b[i] {
            b'<' => Some(b'>'),
            b'{' => Some(b'}'),
            b'$' if b.get(i + 1) == Some(&b'{') => Some(b'}'),
            _ => None,
        };
        if let Some(close) = close {
            if let Some(len) = b[i + 1..].iter().position(|&c| c == close) {
                let inner = &text[i + 1..i + 1 + len];
                let inner = inner.strip_prefix('{').unwrap_or(inner);
                if !inner.is_empty()
                    && inner.len() <= 100
                    && inner.chars().any(|c| c.is_ascii_alphabetic())
                    && !inner.contains(['<', '{', '"'])
                {
                    found.push(text[i..i + 2 + len].to_owned());
                    i += len + 2;
                    continue;
                }
            }
        }
        if b[i] == b'$' {
            let name_len = b[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b'_')
                .count();
            if name_len >= 2 && b[i + 1].is_ascii_uppercase() {
                found.push(text[i..i + 1 + name_len].to_owned());
                i += name_len + 1;
                continue;
            }
        }
        i += 1;
    }
    found
}
