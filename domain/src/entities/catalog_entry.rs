//! One server version from one registry source.

use sea_orm::entity::prelude::*;

/// A row of `catalog_entries`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "catalog_entries")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub registry_id: String,
    pub name: String,
    pub version: String,
    pub is_latest: bool,
    pub status: String,
    pub title: Option<String>,
    pub description: String,
    pub search_text: String,
    pub registry_types: String,
    pub transports: String,
    pub needs_secrets: bool,
    pub has_remotes: bool,
    pub verdict_status: String,
    /// JSON of `types::Verdict`.
    pub verdict: String,
    pub published_at: Option<DateTimeUtc>,
    pub updated_at: Option<DateTimeUtc>,
    pub sort_at: DateTimeUtc,
    pub synced_at: DateTimeUtc,
    pub content_hash: String,
    /// The server.json document as published.
    pub document: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
