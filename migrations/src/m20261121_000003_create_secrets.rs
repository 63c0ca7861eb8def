//! The secret store: `secrets`, one encrypted value per name.

use sea_orm_migration::prelude::*;

use crate::columns::ts;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Secrets {
    Table,
    Name,
    Ciphertext,
    Nonce,
    KeyId,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.create_table(
            Table::create()
                .table(Secrets::Table)
                .col(
                    ColumnDef::new(Secrets::Name)
                        .string_len(200)
                        .not_null()
                        .primary_key(),
                )
                .col(ColumnDef::new(Secrets::Ciphertext).text().not_null())
                .col(ColumnDef::new(Secrets::Nonce).string_len(64).not_null())
                // Lets rotation find exactly the rows an old key sealed.
                .col(ColumnDef::new(Secrets::KeyId).string_len(16).not_null())
                .col(ts(Secrets::CreatedAt))
                .col(ts(Secrets::UpdatedAt))
                .to_owned(),
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_table(Table::drop().table(Secrets::Table).to_owned())
            .await
    }
}
