//! Something that happened to a deployment's health (an incident line).

use sea_orm::entity::prelude::*;

/// A row of `health_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "health_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub deployment_id: String,
    pub deployment_name: String,
    pub at: DateTimeUtc,
    pub kind: String,
    pub from_state: Option<String>,
    pub to_state: String,
    pub reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
