//! One encrypted value of the secret store; the plaintext is never in this row.

use sea_orm::entity::prelude::*;

/// A row of `secrets`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "secrets")]
pub struct Model {
    /// Unique name, e.g. `registry/3f2a/auth`; also the AEAD associated data.
    #[sea_orm(primary_key, auto_increment = false)]
    pub name: String,
    /// XChaCha20-Poly1305 ciphertext with its tag, base64.
    #[sea_orm(column_type = "Text")]
    pub ciphertext: String,
    /// The 24-byte nonce, base64.
    pub nonce: String,
    /// Id of the key that sealed this row (see `SecretKey::id`).
    pub key_id: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
