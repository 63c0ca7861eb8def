//! Schema migrations, one file per migration (`mYYYYMMDD_HHMMSS_what.rs`), each with a `down`.
//!
//! They run at start-up (`serve`) and by hand (`mcp-orchestrator migrate up|down|status`).
//! A test runs all ups, all downs and all ups again on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;
pub use sea_orm_migration::MigrationStatus;

mod columns;
mod m20261121_000001_create_instances;
mod m20261121_000002_create_access;
mod m20261121_000003_create_secrets;
mod m20261121_000004_create_registries;
mod m20261121_000005_create_deployments;
mod m20261121_000006_create_pipeline_runs;
mod m20261121_000007_create_health;

/// The ordered list of migrations this build knows.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261121_000001_create_instances::Migration),
            Box::new(m20261121_000002_create_access::Migration),
            Box::new(m20261121_000003_create_secrets::Migration),
            Box::new(m20261121_000004_create_registries::Migration),
            Box::new(m20261121_000005_create_deployments::Migration),
            Box::new(m20261121_000006_create_pipeline_runs::Migration),
            Box::new(m20261121_000007_create_health::Migration),
        ]
    }
}
