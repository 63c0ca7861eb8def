//! `instances`: one row per orchestrator process that started against this database.
//!
//! The Overview shows how many have started and how many are live (recent heartbeat); the
//! pipeline issue uses the same rows as lease holders.

use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Instances {
    Table,
    Id,
    Hostname,
    Pid,
    Version,
    StartedAt,
    HeartbeatAt,
    StoppedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Instances::Table)
                    .col(
                        ColumnDef::new(Instances::Id)
                            .string_len(36)
                            .not_null()
                            .primary_key(),
                    )
                    .col(
                        ColumnDef::new(Instances::Hostname)
                            .string_len(255)
                            .not_null(),
                    )
                    .col(ColumnDef::new(Instances::Pid).integer().not_null())
                    .col(ColumnDef::new(Instances::Version).string_len(64).not_null())
                    .col(
                        ColumnDef::new(Instances::StartedAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(Instances::HeartbeatAt)
                            .timestamp_with_time_zone()
                            .not_null(),
                    )
                    .col(ColumnDef::new(Instances::StoppedAt).timestamp_with_time_zone())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_instances_heartbeat_at")
                    .table(Instances::Table)
                    .col(Instances::HeartbeatAt)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .drop_table(Table::drop().table(Instances::Table).to_owned())
            .await
    }
}
