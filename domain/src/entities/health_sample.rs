//! Health checks of one deployment in one time bucket (a minute, or an hour once downsampled).

use sea_orm::entity::prelude::*;

/// A row of `health_samples`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "health_samples")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: String,
    #[sea_orm(primary_key, auto_increment = false)]
    pub seconds: i32,
    #[sea_orm(primary_key, auto_increment = false)]
    pub at: DateTimeUtc,
    pub checks: i32,
    pub failures: i32,
    pub latency_sum_ms: f64,
    pub latency_max_ms: Option<f64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
