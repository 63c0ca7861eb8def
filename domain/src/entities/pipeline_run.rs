//! A pipeline run: the durable state machine and its lease.

use sea_orm::entity::prelude::*;

/// A row of `pipeline_runs`.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "pipeline_runs")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: String,
    pub server: String,
    pub version: Option<String>,
    pub registry_id: Option<String>,
    pub request: String,
    pub plan: Option<String>,
    pub resolved_version: Option<String>,
    pub runtime: Option<String>,
    pub state: String,
    pub state_reason: Option<String>,
    pub current_step: Option<String>,
    pub deployment_id: Option<String>,
    pub deployment_name: Option<String>,
    pub created_by: Option<String>,
    pub idempotency_key: Option<String>,
    pub request_hash: Option<String>,
    pub rerun_of: Option<String>,
    pub retries: i32,
    pub cancel_requested: bool,
    pub lease_owner: Option<String>,
    pub lease_expires_at: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub queued_at: DateTimeUtc,
    pub started_at: Option<DateTimeUtc>,
    pub finished_at: Option<DateTimeUtc>,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
