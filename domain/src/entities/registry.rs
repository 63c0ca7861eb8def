//! A registry source. Its credential lives in the secret store under `auth_secret`.

use sea_orm::entity::prelude::*;

/// A row of `registries`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub api_version: Option<String>,
    pub auth_header_name: Option<String>,
    pub auth_secret: Option<String>,
    pub sync_interval_secs: Option<i32>,
    pub enabled: bool,
    pub next_sync_at: Option<DateTimeUtc>,
    pub watermark: Option<DateTimeUtc>,
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
