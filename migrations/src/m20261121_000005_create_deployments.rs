//! Deployments: `deployments`, and `installation` (a stable id for this database, which labels
//! the containers it owns across restarts of any instance).

use sea_orm_migration::prelude::*;

use crate::columns::{id, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Installation {
    Table,
    Id,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Deployments {
    Table,
    Id,
    Name,
    Server,
    Version,
    RegistryId,
    Package,
    Runtime,
    Launch,
    Args,
    Env,
    Transport,
    Desired,
    State,
    StateReason,
    RuntimeRef,
    InstanceId,
    Endpoint,
    Capabilities,
    DiscoveredAt,
    CreatedBy,
    CreatedAt,
    UpdatedAt,
    StartedAt,
    StoppedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Installation::Table)
                .col(id(Installation::Id))
                .col(ts(Installation::CreatedAt))
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(Deployments::Table)
                .col(id(Deployments::Id))
                .col(ColumnDef::new(Deployments::Name).string_len(64).not_null())
                .col(
                    ColumnDef::new(Deployments::Server)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Deployments::Version)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(Deployments::RegistryId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ColumnDef::new(Deployments::Package).integer().not_null())
                .col(
                    ColumnDef::new(Deployments::Runtime)
                        .string_len(16)
                        .not_null(),
                )
                // JSON: what to run, argv, environment (secret values are in the secret store,
                // only their names here), transport.
                .col(ColumnDef::new(Deployments::Launch).text().not_null())
                .col(ColumnDef::new(Deployments::Args).text().not_null())
                .col(ColumnDef::new(Deployments::Env).text().not_null())
                .col(ColumnDef::new(Deployments::Transport).text().not_null())
                .col(
                    ColumnDef::new(Deployments::Desired)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(Deployments::State).string_len(16).not_null())
                .col(ColumnDef::new(Deployments::StateReason).text().null())
                // Container id or process id.
                .col(
                    ColumnDef::new(Deployments::RuntimeRef)
                        .string_len(128)
                        .null(),
                )
                // The instance running it (process runtime: the parent process).
                .col(
                    ColumnDef::new(Deployments::InstanceId)
                        .string_len(36)
                        .null(),
                )
                .col(ColumnDef::new(Deployments::Endpoint).text().null())
                .col(ColumnDef::new(Deployments::Capabilities).text().null())
                .col(ts_null(Deployments::DiscoveredAt))
                .col(
                    ColumnDef::new(Deployments::CreatedBy)
                        .string_len(128)
                        .null(),
                )
                .col(ts(Deployments::CreatedAt))
                .col(ts(Deployments::UpdatedAt))
                .col(ts_null(Deployments::StartedAt))
                .col(ts_null(Deployments::StoppedAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_deployments_name")
                .table(Deployments::Table)
                .col(Deployments::Name)
                .unique()
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            Deployments::Table.into_iden(),
            Installation::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
