//! A deployment's health, restarts and circuit breaker.

use sea_orm::entity::prelude::*;

/// A row of `deployment_health`.
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "deployment_health")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub deployment_id: String,
    pub status: String,
    pub reason: Option<String>,
    pub failures: i32,
    pub reachable: Option<bool>,
    pub checked_at: Option<DateTimeUtc>,
    pub changed_at: Option<DateTimeUtc>,
    pub ok_at: Option<DateTimeUtc>,
    pub latency_ms: Option<f64>,
    pub restarts: i32,
    pub last_restart_at: Option<DateTimeUtc>,
    pub next_restart_at: Option<DateTimeUtc>,
    pub crash_looped: bool,
    pub breaker: String,
    pub breaker_failures: i32,
    pub breaker_changed_at: Option<DateTimeUtc>,
    pub breaker_retry_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
