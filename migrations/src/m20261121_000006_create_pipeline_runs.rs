//! Pipeline runs: `pipeline_runs` (the durable state machine and its lease), `pipeline_steps`
//! (one row per step: status, attempts, times, error, logs), `pipeline_events` (a change log
//! that event streams follow, on any instance), and `deployments.run_id` (the run that
//! created a deployment: until that run is ready, the run owns it).

use sea_orm_migration::prelude::*;

use crate::columns::{id, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum PipelineRuns {
    Table,
    Id,
    Server,
    Version,
    RegistryId,
    Request,
    Plan,
    ResolvedVersion,
    Runtime,
    State,
    StateReason,
    CurrentStep,
    DeploymentId,
    DeploymentName,
    CreatedBy,
    IdempotencyKey,
    RequestHash,
    RerunOf,
    Retries,
    CancelRequested,
    LeaseOwner,
    LeaseExpiresAt,
    CreatedAt,
    QueuedAt,
    StartedAt,
    FinishedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum PipelineSteps {
    Table,
    RunId,
    Position,
    Step,
    Status,
    Attempts,
    StartedAt,
    FinishedAt,
    Error,
    InstanceId,
    Logs,
}

#[derive(DeriveIden)]
enum PipelineEvents {
    Table,
    Seq,
    RunId,
    At,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    RunId,
}

fn text36(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col).string_len(36).null().to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(PipelineRuns::Table)
                .col(id(PipelineRuns::Id))
                .col(
                    ColumnDef::new(PipelineRuns::Server)
                        .string_len(255)
                        .not_null(),
                )
                .col(ColumnDef::new(PipelineRuns::Version).string_len(255).null())
                .col(text36(PipelineRuns::RegistryId))
                // JSON: the request with secret values removed (they are in the secret store).
                .col(ColumnDef::new(PipelineRuns::Request).text().not_null())
                // JSON: the resolve step's plan (what the later steps run).
                .col(ColumnDef::new(PipelineRuns::Plan).text().null())
                .col(
                    ColumnDef::new(PipelineRuns::ResolvedVersion)
                        .string_len(255)
                        .null(),
                )
                .col(ColumnDef::new(PipelineRuns::Runtime).string_len(16).null())
                .col(
                    ColumnDef::new(PipelineRuns::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(PipelineRuns::StateReason).text().null())
                .col(
                    ColumnDef::new(PipelineRuns::CurrentStep)
                        .string_len(16)
                        .null(),
                )
                .col(text36(PipelineRuns::DeploymentId))
                .col(
                    ColumnDef::new(PipelineRuns::DeploymentName)
                        .string_len(64)
                        .null(),
                )
                .col(
                    ColumnDef::new(PipelineRuns::CreatedBy)
                        .string_len(128)
                        .null(),
                )
                .col(
                    ColumnDef::new(PipelineRuns::IdempotencyKey)
                        .string_len(300)
                        .null(),
                )
                .col(
                    ColumnDef::new(PipelineRuns::RequestHash)
                        .string_len(64)
                        .null(),
                )
                .col(text36(PipelineRuns::RerunOf))
                .col(
                    ColumnDef::new(PipelineRuns::Retries)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(
                    ColumnDef::new(PipelineRuns::CancelRequested)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                // The instance executing it and until when its lease holds (renewed by
                // heartbeats; an expired lease is taken over).
                .col(text36(PipelineRuns::LeaseOwner))
                .col(ts_null(PipelineRuns::LeaseExpiresAt))
                .col(ts(PipelineRuns::CreatedAt))
                .col(ts(PipelineRuns::QueuedAt))
                .col(ts_null(PipelineRuns::StartedAt))
                .col(ts_null(PipelineRuns::FinishedAt))
                .col(ts(PipelineRuns::UpdatedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pipeline_runs_state_queued")
                .table(PipelineRuns::Table)
                .col(PipelineRuns::State)
                .col(PipelineRuns::QueuedAt)
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_pipeline_runs_idempotency")
                .table(PipelineRuns::Table)
                .col(PipelineRuns::CreatedBy)
                .col(PipelineRuns::IdempotencyKey)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PipelineSteps::Table)
                .col(
                    ColumnDef::new(PipelineSteps::RunId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(PipelineSteps::Position).integer().not_null())
                .col(
                    ColumnDef::new(PipelineSteps::Step)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PipelineSteps::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(PipelineSteps::Attempts)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts_null(PipelineSteps::StartedAt))
                .col(ts_null(PipelineSteps::FinishedAt))
                .col(ColumnDef::new(PipelineSteps::Error).text().null())
                .col(text36(PipelineSteps::InstanceId))
                // JSON array of {at, text}, capped.
                .col(ColumnDef::new(PipelineSteps::Logs).text().not_null())
                .primary_key(
                    Index::create()
                        .col(PipelineSteps::RunId)
                        .col(PipelineSteps::Position),
                )
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(PipelineEvents::Table)
                .col(
                    ColumnDef::new(PipelineEvents::Seq)
                        .big_integer()
                        .not_null()
                        .auto_increment()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(PipelineEvents::RunId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ts(PipelineEvents::At))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("ix_pipeline_events_run")
                .table(PipelineEvents::Table)
                .col(PipelineEvents::RunId)
                .col(PipelineEvents::Seq)
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Deployments::Table)
                .add_column(text36(Deployments::RunId))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Deployments::Table)
                .drop_column(Deployments::RunId)
                .to_owned(),
        )
        .await?;
        for table in [
            PipelineEvents::Table.into_iden(),
            PipelineSteps::Table.into_iden(),
            PipelineRuns::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
