//! Registry sources and their sync runs: DTOs and validated inputs.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::FieldError;

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// Where a registry's entries come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum RegistryKind {
    /// A base URL speaking the MCP Registry API (`/v0.1/servers` or `/v0/servers`).
    #[serde(rename = "mcp-registry")]
    McpRegistry,
    /// A local path or URL holding a JSON array of server.json documents or registry list
    /// items.
    #[serde(rename = "file")]
    File,
}

impl RegistryKind {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::McpRegistry => "mcp-registry",
            Self::File => "file",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "mcp-registry" => Some(Self::McpRegistry),
            "file" => Some(Self::File),
            _ => None,
        }
    }
}

impl fmt::Display for RegistryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The MCP Registry API version a source speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum ApiVersion {
    /// `/v0.1` (the current, frozen API).
    #[default]
    #[serde(rename = "v0.1")]
    V0_1,
    /// `/v0` (the preview API).
    #[serde(rename = "v0")]
    V0,
}

impl ApiVersion {
    /// The path prefix, e.g. `v0.1`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::V0_1 => "v0.1",
            Self::V0 => "v0",
        }
    }

    /// Parses the wire spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "v0.1" => Some(Self::V0_1),
            "v0" => Some(Self::V0),
            _ => None,
        }
    }
}

/// A registry's display name: 1–64 characters, no control characters; trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryName(String);

impl RegistryName {
    /// Parses and trims.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() || s.chars().count() > 64 {
            return Err(invalid("name", "must be 1 to 64 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid("name", "must not hold control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The trimmed name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An HTTP header name for the registry's credentials (RFC 9110 token, 1–64 characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderName(String);

impl HeaderName {
    /// Parses a header name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        let token = |b: u8| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b);
        if s.is_empty() || s.len() > 64 || !s.bytes().all(token) {
            return Err(invalid(
                "auth_header_name",
                "must be an HTTP header name such as Authorization",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The header name as given.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A registry source (never its credentials).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RegistryInfo {
    /// Id.
    pub id: String,
    /// Display name, unique.
    pub name: String,
    /// Kind of source.
    pub kind: RegistryKind,
    /// Base URL (`mcp-registry`), or path or URL of the file (`file`).
    pub url: String,
    /// API version (`mcp-registry` only).
    pub api_version: Option<ApiVersion>,
    /// Header that carries the credentials, when there are any.
    pub auth_header_name: Option<String>,
    /// Whether a credential is stored (the value is never shown).
    pub has_auth: bool,
    /// Seconds between scheduled syncs; absent for manual syncs only.
    pub sync_interval_secs: Option<u32>,
    /// Disabled sources are not synced on schedule.
    pub enabled: bool,
    /// Catalog entries (server versions) from this source.
    pub entries: u64,
    /// When the next scheduled sync is due.
    pub next_sync_at: Option<DateTime<Utc>>,
    /// The most recent sync, running or finished.
    pub last_sync: Option<SyncRun>,
    /// Created.
    pub created_at: DateTime<Utc>,
    /// Last changed.
    pub updated_at: DateTime<Utc>,
}

/// A new registry source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateRegistry {
    /// Display name, 1–64 characters, unique.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 64))]
    pub name: String,
    /// Kind of source.
    pub kind: RegistryKind,
    /// `mcp-registry`: the base URL (https, or http on loopback or an allowed host; no
    /// credentials in it). `file`: an absolute path, a `file://` URL, or such a URL.
    pub url: String,
    /// `mcp-registry` only; default `v0.1`.
    #[serde(default)]
    pub api_version: Option<ApiVersion>,
    /// Header for the credential; default `Authorization` when `auth_value` is given.
    #[serde(default)]
    pub auth_header_name: Option<String>,
    /// Credential sent in that header (e.g. `Bearer …`); kept in the secret store.
    #[serde(default)]
    pub auth_value: Option<String>,
    /// Seconds between scheduled syncs; absent or 0 for manual syncs only.
    #[serde(default)]
    pub sync_interval_secs: Option<u32>,
    /// Default true.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// A change to a registry source; absent fields stay as they are.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateRegistry {
    /// New display name.
    #[serde(default)]
    pub name: Option<String>,
    /// New URL or path.
    #[serde(default)]
    pub url: Option<String>,
    /// New API version.
    #[serde(default)]
    pub api_version: Option<ApiVersion>,
    /// New header name for the credential.
    #[serde(default)]
    pub auth_header_name: Option<String>,
    /// New credential; an empty string removes it.
    #[serde(default)]
    pub auth_value: Option<String>,
    /// New interval; 0 for manual syncs only.
    #[serde(default)]
    pub sync_interval_secs: Option<u32>,
    /// Enable or disable scheduled syncs.
    #[serde(default)]
    pub enabled: Option<bool>,
}

/// Full (everything; entries gone from the source are removed) or incremental (only what
/// changed since the last successful sync, by `updated_since`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SyncMode {
    /// Everything.
    Full,
    /// Changes since the last successful sync.
    Incremental,
}

impl SyncMode {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Full => "full",
            Self::Incremental => "incremental",
        }
    }
}

/// Where a sync stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// Fetching or applying.
    Running,
    /// Applied.
    Succeeded,
    /// Ended with an error; the catalog is as it was before.
    Failed,
}

impl SyncState {
    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }

    /// Parses the database spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "running" => Some(Self::Running),
            "succeeded" => Some(Self::Succeeded),
            "failed" => Some(Self::Failed),
            _ => None,
        }
    }
}

/// One sync of one source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncRun {
    /// Id.
    pub id: String,
    /// The source.
    pub registry_id: String,
    /// `manual` or `scheduled`.
    pub trigger: String,
    /// Full or incremental.
    pub mode: SyncMode,
    /// Where it stands.
    pub state: SyncState,
    /// Started.
    pub started_at: DateTime<Utc>,
    /// Ended.
    pub finished_at: Option<DateTime<Utc>>,
    /// Pages fetched so far.
    pub pages: u32,
    /// Entries fetched so far.
    pub fetched: u32,
    /// New server versions.
    pub added: u32,
    /// Changed server versions.
    pub updated: u32,
    /// Server versions fetched again without a change.
    pub unchanged: u32,
    /// Server versions removed (status `deleted`, or gone from the source in a full sync).
    pub removed: u32,
    /// Entries not imported; each with its reason in the sync's detail.
    pub skipped: u32,
    /// Why it failed.
    pub error: Option<String>,
}

/// An entry a sync did not import, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SkippedEntry {
    /// Position in the source (0-based, in fetch order).
    pub index: u32,
    /// Name as given (may be empty or invalid).
    pub name: String,
    /// Version as given.
    pub version: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A sync with the reason for every skipped entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct SyncDetail {
    /// The sync.
    #[serde(flatten)]
    pub run: SyncRun,
    /// Every skipped entry.
    pub skipped_entries: Vec<SkippedEntry>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_headers_are_validated() {
        assert_eq!(
            RegistryName::parse("  Official ").unwrap().as_str(),
            "Official"
        );
        assert!(RegistryName::parse("").is_err());
        assert!(RegistryName::parse("a\u{7}b").is_err());
        assert!(RegistryName::parse(&"x".repeat(65)).is_err());
        assert!(HeaderName::parse("X-Api-Key").is_ok());
        assert!(HeaderName::parse("Bad Header").is_err());
        assert!(HeaderName::parse("a:b").is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for k in [RegistryKind::McpRegistry, RegistryKind::File] {
            assert_eq!(RegistryKind::parse(k.as_str()), Some(k));
            assert_eq!(
                serde_json::to_value(k).unwrap(),
                serde_json::json!(k.as_str())
            );
        }
        assert_eq!(
            serde_json::from_value::<ApiVersion>(serde_json::json!("v0")).unwrap(),
            ApiVersion::V0
        );
    }
}
