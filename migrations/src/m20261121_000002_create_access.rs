//! Identity and access: `users`, `api_keys`, `sessions`, `audit_events`.

use sea_orm_migration::prelude::*;

use crate::columns::{id, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Users {
    Table,
    Id,
    Username,
    Email,
    DisplayName,
    Role,
    PasswordHash,
    Provider,
    Subject,
    Disabled,
    FailedLogins,
    LockedUntil,
    CreatedAt,
    LastLoginAt,
}

#[derive(DeriveIden)]
enum ApiKeys {
    Table,
    Id,
    Name,
    Prefix,
    SecretHash,
    Role,
    CreatedBy,
    CreatedAt,
    ExpiresAt,
    RevokedAt,
    LastUsedAt,
}

#[derive(DeriveIden)]
enum Sessions {
    Table,
    Id,
    Data,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Id,
    At,
    ActorKind,
    ActorId,
    ActorName,
    Action,
    TargetKind,
    TargetId,
    Outcome,
    Detail,
    RequestId,
    ClientIp,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Users::Table)
                .col(id(Users::Id))
                .col(
                    ColumnDef::new(Users::Username)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Users::Email).string_len(254).null())
                .col(
                    ColumnDef::new(Users::DisplayName)
                        .string_len(128)
                        .not_null(),
                )
                .col(ColumnDef::new(Users::Role).string_len(16).not_null())
                .col(ColumnDef::new(Users::PasswordHash).string_len(255).null())
                .col(ColumnDef::new(Users::Provider).string_len(16).not_null())
                .col(ColumnDef::new(Users::Subject).string_len(512).null())
                .col(
                    ColumnDef::new(Users::Disabled)
                        .boolean()
                        .not_null()
                        .default(false),
                )
                .col(
                    ColumnDef::new(Users::FailedLogins)
                        .integer()
                        .not_null()
                        .default(0),
                )
                .col(ts_null(Users::LockedUntil))
                .col(ts(Users::CreatedAt))
                .col(ts_null(Users::LastLoginAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_users_provider_subject")
                .table(Users::Table)
                .col(Users::Provider)
                .col(Users::Subject)
                .unique()
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(ApiKeys::Table)
                .col(id(ApiKeys::Id))
                .col(ColumnDef::new(ApiKeys::Name).string_len(100).not_null())
                .col(
                    ColumnDef::new(ApiKeys::Prefix)
                        .string_len(32)
                        .not_null()
                        .unique_key(),
                )
                .col(
                    ColumnDef::new(ApiKeys::SecretHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(ApiKeys::Role).string_len(16).not_null())
                .col(ColumnDef::new(ApiKeys::CreatedBy).string_len(36).null())
                .col(ts(ApiKeys::CreatedAt))
                .col(ts_null(ApiKeys::ExpiresAt))
                .col(ts_null(ApiKeys::RevokedAt))
                .col(ts_null(ApiKeys::LastUsedAt))
                .foreign_key(
                    ForeignKey::create()
                        .name("fk_api_keys_created_by")
                        .from(ApiKeys::Table, ApiKeys::CreatedBy)
                        .to(Users::Table, Users::Id)
                        .on_delete(ForeignKeyAction::SetNull),
                )
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(Sessions::Table)
                .col(
                    ColumnDef::new(Sessions::Id)
                        .string_len(64)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Sessions::Data).text().not_null())
                .col(ts(Sessions::ExpiresAt))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_sessions_expires_at")
                .table(Sessions::Table)
                .col(Sessions::ExpiresAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(AuditEvents::Table)
                .col(id(AuditEvents::Id))
                .col(ts(AuditEvents::At))
                .col(
                    ColumnDef::new(AuditEvents::ActorKind)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvents::ActorId).string_len(36).null())
                .col(
                    ColumnDef::new(AuditEvents::ActorName)
                        .string_len(128)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditEvents::Action)
                        .string_len(64)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(AuditEvents::TargetKind)
                        .string_len(32)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvents::TargetId).string_len(255).null())
                .col(
                    ColumnDef::new(AuditEvents::Outcome)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(AuditEvents::Detail).text().not_null())
                .col(
                    ColumnDef::new(AuditEvents::RequestId)
                        .string_len(128)
                        .null(),
                )
                .col(ColumnDef::new(AuditEvents::ClientIp).string_len(64).null())
                .to_owned(),
        )
        .await?;
        for (name, col) in [
            ("idx_audit_events_at", AuditEvents::At),
            ("idx_audit_events_action", AuditEvents::Action),
            ("idx_audit_events_actor_id", AuditEvents::ActorId),
        ] {
            m.create_index(
                Index::create()
                    .name(name)
                    .table(AuditEvents::Table)
                    .col(col)
                    .to_owned(),
            )
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            AuditEvents::Table.into_iden(),
            Sessions::Table.into_iden(),
            ApiKeys::Table.into_iden(),
            Users::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
