//! Registries and the catalog: `registries`, `registry_syncs`, `catalog_entries`.

use sea_orm_migration::prelude::*;

use crate::columns::{id, ts, ts_null};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Registries {
    Table,
    Id,
    Name,
    Kind,
    Url,
    ApiVersion,
    AuthHeaderName,
    AuthSecret,
    SyncIntervalSecs,
    Enabled,
    NextSyncAt,
    Watermark,
    LeaseOwner,
    LeaseUntil,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum RegistrySyncs {
    Table,
    Id,
    RegistryId,
    Trigger,
    Mode,
    State,
    InstanceId,
    StartedAt,
    FinishedAt,
    Pages,
    Fetched,
    Added,
    Updated,
    Unchanged,
    Removed,
    Skipped,
    Error,
    SkippedEntries,
}

/// One row: a counter bumped in every transaction that changes the catalog, so instances
/// know when their in-memory search index is stale.
#[derive(DeriveIden)]
enum CatalogState {
    Table,
    Id,
    Generation,
}

#[derive(DeriveIden)]
enum CatalogEntries {
    Table,
    Id,
    RegistryId,
    Name,
    Version,
    IsLatest,
    Status,
    Title,
    Description,
    SearchText,
    RegistryTypes,
    Transports,
    NeedsSecrets,
    HasRemotes,
    VerdictStatus,
    Verdict,
    PublishedAt,
    UpdatedAt,
    SortAt,
    SyncedAt,
    ContentHash,
    Document,
}

fn count(col: impl IntoIden) -> ColumnDef {
    ColumnDef::new(col)
        .integer()
        .not_null()
        .default(0)
        .to_owned()
}

fn registry_fk(
    name: &str,
    table: impl IntoIden + 'static,
    col: impl IntoIden + 'static,
) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(name)
        .from(table, col)
        .to(Registries::Table, Registries::Id)
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Registries::Table)
                .col(id(Registries::Id))
                .col(
                    ColumnDef::new(Registries::Name)
                        .string_len(64)
                        .not_null()
                        .unique_key(),
                )
                .col(ColumnDef::new(Registries::Kind).string_len(16).not_null())
                .col(ColumnDef::new(Registries::Url).text().not_null())
                .col(ColumnDef::new(Registries::ApiVersion).string_len(8).null())
                .col(
                    ColumnDef::new(Registries::AuthHeaderName)
                        .string_len(64)
                        .null(),
                )
                // The secret store's name for the credential, never the credential.
                .col(
                    ColumnDef::new(Registries::AuthSecret)
                        .string_len(200)
                        .null(),
                )
                .col(
                    ColumnDef::new(Registries::SyncIntervalSecs)
                        .integer()
                        .null(),
                )
                .col(
                    ColumnDef::new(Registries::Enabled)
                        .boolean()
                        .not_null()
                        .default(true),
                )
                .col(ts_null(Registries::NextSyncAt))
                // Start of the last successful sync: `updated_since` of the next incremental one.
                .col(ts_null(Registries::Watermark))
                // Which instance is syncing it, until when (several instances share one database).
                .col(ColumnDef::new(Registries::LeaseOwner).string_len(36).null())
                .col(ts_null(Registries::LeaseUntil))
                .col(ts(Registries::CreatedAt))
                .col(ts(Registries::UpdatedAt))
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(RegistrySyncs::Table)
                .col(id(RegistrySyncs::Id))
                .col(
                    ColumnDef::new(RegistrySyncs::RegistryId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrySyncs::Trigger)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrySyncs::Mode)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrySyncs::State)
                        .string_len(16)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(RegistrySyncs::InstanceId)
                        .string_len(36)
                        .not_null(),
                )
                .col(ts(RegistrySyncs::StartedAt))
                .col(ts_null(RegistrySyncs::FinishedAt))
                .col(count(RegistrySyncs::Pages))
                .col(count(RegistrySyncs::Fetched))
                .col(count(RegistrySyncs::Added))
                .col(count(RegistrySyncs::Updated))
                .col(count(RegistrySyncs::Unchanged))
                .col(count(RegistrySyncs::Removed))
                .col(count(RegistrySyncs::Skipped))
                .col(ColumnDef::new(RegistrySyncs::Error).text().null())
                .col(
                    ColumnDef::new(RegistrySyncs::SkippedEntries)
                        .text()
                        .not_null(),
                )
                .foreign_key(&mut registry_fk(
                    "fk_registry_syncs_registry",
                    RegistrySyncs::Table,
                    RegistrySyncs::RegistryId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_registry_syncs_registry_started")
                .table(RegistrySyncs::Table)
                .col(RegistrySyncs::RegistryId)
                .col(RegistrySyncs::StartedAt)
                .to_owned(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table(CatalogEntries::Table)
                .col(id(CatalogEntries::Id))
                .col(
                    ColumnDef::new(CatalogEntries::RegistryId)
                        .string_len(36)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::Name)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::Version)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::IsLatest)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::Status)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(CatalogEntries::Title).text().null())
                .col(
                    ColumnDef::new(CatalogEntries::Description)
                        .text()
                        .not_null(),
                )
                // Lower-cased name, title and description: what search matches.
                .col(ColumnDef::new(CatalogEntries::SearchText).text().not_null())
                // Space-delimited sets (" npm pypi "), so a filter is one LIKE.
                .col(
                    ColumnDef::new(CatalogEntries::RegistryTypes)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::Transports)
                        .string_len(255)
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::NeedsSecrets)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::HasRemotes)
                        .boolean()
                        .not_null(),
                )
                .col(
                    ColumnDef::new(CatalogEntries::VerdictStatus)
                        .string_len(16)
                        .not_null(),
                )
                .col(ColumnDef::new(CatalogEntries::Verdict).text().not_null())
                .col(ts_null(CatalogEntries::PublishedAt))
                .col(ts_null(CatalogEntries::UpdatedAt))
                // updated_at, else published_at, else synced_at: the "recently updated" order.
                .col(ts(CatalogEntries::SortAt))
                .col(ts(CatalogEntries::SyncedAt))
                .col(
                    ColumnDef::new(CatalogEntries::ContentHash)
                        .string_len(64)
                        .not_null(),
                )
                .col(ColumnDef::new(CatalogEntries::Document).text().not_null())
                .foreign_key(&mut registry_fk(
                    "fk_catalog_entries_registry",
                    CatalogEntries::Table,
                    CatalogEntries::RegistryId,
                ))
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("uq_catalog_entries_registry_name_version")
                .table(CatalogEntries::Table)
                .col(CatalogEntries::RegistryId)
                .col(CatalogEntries::Name)
                .col(CatalogEntries::Version)
                .unique()
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_catalog_entries_latest_name")
                .table(CatalogEntries::Table)
                .col(CatalogEntries::IsLatest)
                .col(CatalogEntries::Name)
                .to_owned(),
        )
        .await?;
        m.create_table(
            Table::create()
                .table(CatalogState::Table)
                .col(
                    ColumnDef::new(CatalogState::Id)
                        .integer()
                        .not_null()
                        .primary_key(),
                )
                .col(
                    ColumnDef::new(CatalogState::Generation)
                        .big_integer()
                        .not_null(),
                )
                .to_owned(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table(CatalogState::Table)
                .columns([CatalogState::Id, CatalogState::Generation])
                .values_panic([1.into(), 0i64.into()])
                .to_owned(),
        )
        .await?;
        m.create_index(
            Index::create()
                .name("idx_catalog_entries_name")
                .table(CatalogEntries::Table)
                .col(CatalogEntries::Name)
                .to_owned(),
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            CatalogState::Table.into_iden(),
            CatalogEntries::Table.into_iden(),
            RegistrySyncs::Table.into_iden(),
            Registries::Table.into_iden(),
        ] {
            m.drop_table(Table::drop().table(table).to_owned()).await?;
        }
        Ok(())
    }
}
