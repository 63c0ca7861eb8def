//! Deployment health: `deployment_health` (one row per deployment: status, failures in a row,
//! restarts, crash loop, circuit breaker), `health_samples` (checks per minute, downsampled to
//! hours), `health_events` (status changes, restarts, crash loops, breaker changes: the
//! incidents), and `deployments.health_config` (per-deployment check settings).

use sea_orm_migration::prelude::*;

use crate::columns::{ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum DeploymentHealth {
    Table,
    DeploymentId,
    Status,
    Reason,
    Failures,
    Reachable,
    CheckedAt,
    ChangedAt,
    OkAt,
    LatencyMs,
    Restarts,
    LastRestartAt,
    NextRestartAt,
    CrashLooped,
    Breaker,
    BreakerFailures,
    BreakerChangedAt,
    BreakerRetryAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum HealthSamples {
    Table,
    DeploymentId,
    Seconds,
    At,
    Checks,
    Failures,
    LatencySumMs,
    LatencyMaxMs,
}

#[derive(DeriveIden)]
enum HealthEvents {
    Table,
    Id,
    DeploymentId,
    DeploymentName,
    At,
    Kind,
    FromState,
    ToState,
    Reason,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    HealthConfig,
}

fn int0(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(DeploymentHealth::Table)
                .col(
                    ColumnDef::new(DeploymentHealth::DeploymentId)
                        .string_len(36)
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(DeploymentHealth::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(DeploymentHealth::Reason).text().null())
                .col(int0(DeploymentHealth::Failures))
                .col(ColumnDef::new(DeploymentHealth::Reachable).boolean().null())
                .col(ts_null(DeploymentHealth::CheckedAt))
                .col(ts_null(DeploymentHealth::ChangedAt))
                .col(ts_null(DeploymentHealth::OkAt))
                .col(ColumnDef::new(DeploymentHealth::LatencyMs).double().null())
                .col(int0(DeploymentHealth::Restarts))
                .col(ts_null(DeploymentHealth::LastRestartAt))
                .col(ts_null(DeploymentHealth::NextRestartAt))
                .col(
                    ColumnDef::new(DeploymentHealth::CrashLooped)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(DeploymentHealth::Breaker)
                        .string_len(16)
                        .not_null(),
                )
                .col(int0(DeploymentHealth::BreakerFailures))
                .col(ts_null(DeploymentHealth::BreakerChangedAt))
                .col(ts_null(DeploymentHealth::BreakerRetryAt))
                .col(ts(DeploymentHealth::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(HealthSamples::Table)
                .col(
                    ColumnDef::new(HealthSamples::DeploymentId)
                        .string_len(36)
                        .not_null(),
                )
                // Bucket length: 60 (per minute) or 3600 (downsampled).
                .col(ColumnDef::new(HealthSamples::Seconds).integer().not_null())
                .col(ts(HealthSamples::At))
                .col(int0(HealthSamples::Checks))
                .col(int0(HealthSamples::Failures))
                .col(
                    ColumnDef::new(HealthSamples::LatencySumMs)
                        .double()
                        .not_null()
                        .default(0.0),
                )
                .col(ColumnDef::new(HealthSamples::LatencyMaxMs).double().null())
                .primary_key(
                    Index::create()
                        .col(HealthSamples::DeploymentId)
                        .col(HealthSamples::Seconds)
                        .col(HealthSamples::At),
                )
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_health_samples_at")
                .table(HealthSamples::Table)
                .col(HealthSamples::Seconds)
                .col(HealthSamples::At)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(HealthEvents::Table)
                .col(
                    ColumnDef::new(HealthEvents::Id)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(HealthEvents::DeploymentId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(HealthEvents::DeploymentName)
                        .string_len(64)
                        .not_null(),
                )
                .col(ts(HealthEvents::At))
                .col(ColumnDef::new(HealthEvents::Kind).string_len(16).not_null())
                .col(
                    ColumnDef::new(HealthEvents::FromState)
                        .string_len(16)
                        .null(),
                )
                .col(
                    ColumnDef::new(HealthEvents::ToState)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(HealthEvents::Reason).text().null())
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_health_events_deployment")
                .table(HealthEvents::Table)
                .col(HealthEvents::DeploymentId)
                .col(HealthEvents::Id)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Deployments::Table)
                .add_column(ColumnDef::new(Deployments::HealthConfig).text().null())
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Deployments::Table)
                .drop_column(Deployments::HealthConfig)
                .to_owned(),
        )
        .await?;
        for t in [
            HealthEvents::Table.into_iden(),
            HealthSamples::Table.into_iden(),
            DeploymentHealth::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(t).to_owned()).await?;
        }
        Ok(())
    }
}
