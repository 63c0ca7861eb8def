//! A change to a pipeline run (event streams follow these, on any instance).

use sea_orm::entity::prelude::*;

/// A row of `pipeline_events`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pipeline_events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub seq: i64,
    pub run_id: String,
    pub at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
