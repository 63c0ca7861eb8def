//! This process and the fleet of processes sharing the database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, Set};
use types::{MigrationStatus, SystemInfo};

use crate::{entities::instance, Ctx, Database, DomainError, VERSION};

/// How often a live process touches its `instances` row.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(15);
/// A process whose heartbeat is older than this counts as gone.
pub const LIVE_WINDOW: Duration = Duration::from_secs(45);

/// This process, as recorded in the `instances` table.
#[derive(Clone, Debug)]
pub struct Instance {
    /// UUID v7 text, new at every start.
    pub id: String,
    /// When this process registered.
    pub started_at: DateTime<Utc>,
}

impl Instance {
    /// Records a new process in `instances` and returns it.
    pub async fn register(db: &Database) -> Result<Self, DomainError> {
        let now = Utc::now();
        let id = uuid::Uuid::now_v7().to_string();
        instance::ActiveModel {
            id: Set(id.clone()),
            hostname: Set(hostname()),
            pid: Set(i32::try_from(std::process::id()).unwrap_or(i32::MAX)),
            version: Set(VERSION.to_owned()),
            started_at: Set(now),
            heartbeat_at: Set(now),
            stopped_at: Set(None),
        }
        .insert(&db.conn)
        .await?;
        Ok(Self {
            id,
            started_at: now,
        })
    }

    /// Seconds since this process started.
    pub fn uptime_seconds(&self) -> u64 {
        u64::try_from((Utc::now() - self.started_at).num_seconds()).unwrap_or(0)
    }
}

/// Touches this process's heartbeat.
pub async fn heartbeat(ctx: &Ctx) -> Result<(), DomainError> {
    instance::Entity::update_many()
        .col_expr(instance::Column::HeartbeatAt, Utc::now().into())
        .filter(instance::Column::Id.eq(&ctx.instance.id))
        .exec(&ctx.db.conn)
        .await?;
    Ok(())
}

/// Instances that may still be working, for taking over what a dead one left (sync leases,
/// deployments): `None` on SQLite, where one instance owns the database file, so every
/// other one is gone; otherwise the ids of instances that have not stopped and beat within
/// [`LIVE_WINDOW`].
pub async fn live_instances(ctx: &Ctx) -> Result<Option<Vec<String>>, DomainError> {
    if ctx.db.backend == types::DatabaseBackend::Sqlite {
        return Ok(None);
    }
    Ok(Some(
        instance::Entity::find()
            .filter(instance::Column::StoppedAt.is_null())
            .filter(instance::Column::HeartbeatAt.gte(Utc::now() - LIVE_WINDOW))
            .all(&ctx.db.conn)
            .await?
            .into_iter()
            .map(|i| i.id)
            .collect(),
    ))
}

/// Records a clean stop, so the process stops counting as live at once.
pub async fn mark_stopped(ctx: &Ctx) -> Result<(), DomainError> {
    instance::Entity::update_many()
        .col_expr(instance::Column::StoppedAt, Some(Utc::now()).into())
        .filter(instance::Column::Id.eq(&ctx.instance.id))
        .exec(&ctx.db.conn)
        .await?;
    Ok(())
}

/// What the Overview page and `GET /api/v1/system` show.
pub async fn info(ctx: &Ctx) -> Result<SystemInfo, DomainError> {
    let conn = &ctx.db.conn;
    let started = instance::Entity::find().count(conn).await?;
    let live_since = Utc::now() - LIVE_WINDOW;
    let live = instance::Entity::find()
        .filter(instance::Column::StoppedAt.is_null())
        .filter(instance::Column::HeartbeatAt.gte(live_since))
        .count(conn)
        .await?;
    let migrations = ctx.db.migrations().await?;
    let applied: Vec<&String> = migrations
        .iter()
        .filter(|(_, a)| *a)
        .map(|(n, _)| n)
        .collect();
    Ok(SystemInfo {
        version: VERSION.to_owned(),
        instance_id: ctx.instance.id.clone(),
        database_backend: ctx.db.backend,
        started_at: ctx.instance.started_at,
        uptime_seconds: ctx.instance.uptime_seconds(),
        instances_started: started,
        instances_live: live,
        migrations: MigrationStatus {
            applied: count_u32(applied.len()),
            pending: count_u32(migrations.len() - applied.len()),
            latest: applied.last().map(|n| (*n).clone()),
        },
    })
}

fn count_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().chars().take(255).collect())
        .filter(|h: &String| !h.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}
