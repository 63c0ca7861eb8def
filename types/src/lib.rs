//! Types shared by the server and the WASM front end.
//!
//! Everything here compiles for both targets, so a form can validate in the browser with the
//! same code the server trusts. Schemas for the OpenAPI document come with the `openapi`
//! feature, which only the server enables.

pub mod access;
pub mod catalog;
pub mod deployment;
pub mod env;
pub mod health;
pub mod pipeline;
pub mod problem;
pub mod registry;
pub mod system;

pub use access::{
    ApiKeyInfo, AuditEvent, CreateApiKey, CreatedApiKey, FieldError, KeyName, Me, NewPassword,
    Page, Role, SignInOptions, UpdateUser, UserInfo, Username,
};
pub use catalog::{
    Argument, ArgumentKind, CatalogEntry, CatalogPage, CatalogVersion, EntryStatus, EnvVar,
    HeaderSpec, Package, Remote, Transport, Verdict, VerdictStatus, VersionSummary,
};
pub use health::{
    BreakerState, BreakerView, ComponentHealth, EffectiveHealthConfig, FleetHealth, FleetMember,
    Health, HealthConfig, HealthEvent, HealthHistory, HealthSample, HealthView, SystemHealth,
};
pub use problem::Problem;
pub use registry::{
    ApiVersion, CreateRegistry, HeaderName, RegistryInfo, RegistryKind, RegistryName, SkippedEntry,
    SyncDetail, SyncMode, SyncRun, SyncState, UpdateRegistry,
};
pub use system::{
    ConfigSetting, ConfigValidation, DatabaseBackend, HealthCheck, HealthReport, HealthStatus,
    MigrationStatus, SystemInfo,
};

/// Percent-encodes `s` for use as a query value (keeps `/` readable, as in `?next=/catalog`).
/// Shared so the sign-in page and the server build the same `next` links.
pub fn query_value(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn query_values_are_percent_encoded() {
        assert_eq!(
            super::query_value("/catalog?q=a b&x=1"),
            "/catalog%3Fq%3Da%20b%26x%3D1"
        );
        assert_eq!(super::query_value("/ü"), "/%C3%BC");
    }
}
