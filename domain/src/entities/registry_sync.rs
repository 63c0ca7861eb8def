//! One sync of one registry source.

use sea_orm::entity::prelude::*;

/// A row of `registry_syncs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "registry_syncs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub registry_id: String,
    pub trigger: String,
    pub mode: String,
    pub state: String,
    pub instance_id: String,
    pub started_at: DateTimeUtc,
    pub finished_at: Option<DateTimeUtc>,
    pub pages: i32,
    pub fetched: i32,
    pub added: i32,
    pub updated: i32,
    pub unchanged: i32,
    pub removed: i32,
    pub skipped: i32,
    pub error: Option<String>,
    /// JSON array of skipped entries with their reasons.
    pub skipped_entries: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
