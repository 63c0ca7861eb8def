//! Types shared by the server and the WASM front end.
//!
//! Everything here compiles for both targets, so a form can validate in the browser with the
//! same code the server trusts. Schemas for the OpenAPI document come with the `openapi`
//! feature, which only the server enables.

pub mod access;
pub mod problem;
pub mod system;

pub use access::{
    ApiKeyInfo, AuditEvent, CreateApiKey, CreatedApiKey, FieldError, KeyName, Me, NewPassword,
    Page, Role, SignInOptions, UpdateUser, UserInfo, Username,
};
pub use problem::Problem;
pub use system::{
    ConfigSetting, ConfigValidation, DatabaseBackend, HealthCheck, HealthReport, HealthStatus,
    MigrationStatus, SystemInfo,
};
