//! A deployment: a catalog entry running on a runtime.

use sea_orm::entity::prelude::*;

/// A row of `deployments`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub name: String,
    pub server: String,
    pub version: String,
    pub registry_id: String,
    pub package: i32,
    pub runtime: String,
    pub launch: String,
    pub args: String,
    pub env: String,
    pub transport: String,
    pub desired: String,
    pub state: String,
    pub state_reason: Option<String>,
    pub runtime_ref: Option<String>,
    pub instance_id: Option<String>,
    pub endpoint: Option<String>,
    pub capabilities: Option<String>,
    pub discovered_at: Option<DateTimeUtc>,
    pub created_by: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub stopped_at: Option<DateTimeUtc>,
    pub run_id: Option<String>,
    pub health_config: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
