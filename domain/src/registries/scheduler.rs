//! Scheduled syncs: every tick, each enabled source whose next sync is due is synced
//! (incrementally when it can be). Several instances may run the scheduler against one
//! database: the sync lease lets exactly one of them sync a source at a time.

use std::time::Duration;

use chrono::Utc;
use rand::Rng;
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter};

use super::sync::{self, Trigger};
use crate::{access::Caller, entities::registry, Ctx, DomainError};

/// `interval` ± 10 %, so sources added together do not sync together forever.
pub fn jittered(interval: Duration) -> chrono::Duration {
    let f = rand::thread_rng().gen_range(0.9..=1.1);
    chrono::Duration::from_std(interval.mul_f64(f)).unwrap_or(chrono::Duration::MAX)
}

/// Starts the syncs that are due now; returns how many started.
pub async fn tick(ctx: &Ctx) -> Result<usize, DomainError> {
    sync::reap_interrupted(ctx).await?;
    let now = Utc::now();
    let due = registry::Entity::find()
        .filter(registry::Column::Enabled.eq(true))
        .filter(registry::Column::SyncIntervalSecs.is_not_null())
        .filter(registry::Column::NextSyncAt.lte(now))
        .all(&ctx.db.conn)
        .await?;
    let mut started = 0;
    for reg in due {
        let interval = Duration::from_secs(reg.sync_interval_secs.unwrap_or(3600).max(1) as u64);
        // Claim this due time: another instance's tick that read the same row updates
        // nothing and skips it.
        let claimed = registry::Entity::update_many()
            .col_expr(
                registry::Column::NextSyncAt,
                Expr::value(now + jittered(interval)),
            )
            .filter(registry::Column::Id.eq(&reg.id))
            .filter(registry::Column::NextSyncAt.eq(reg.next_sync_at))
            .exec(&ctx.db.conn)
            .await?
            .rows_affected;
        if claimed == 0 {
            continue;
        }
        match sync::start(ctx, &Caller::default(), &reg.id, None, Trigger::Scheduled).await {
            Ok(_) => started += 1,
            Err(e @ (DomainError::Conflict(_) | DomainError::TooSoon { .. })) => {
                tracing::debug!(target: "mcp_orchestrator::registry", registry = %reg.name, reason = %e, "scheduled sync skipped");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(started)
}

/// Runs [`tick`] every `registry.scheduler_tick` until `stop` resolves.
pub async fn run(ctx: Ctx, stop: impl std::future::Future<Output = ()>) {
    let mut every = tokio::time::interval(ctx.registry.scheduler_tick);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    match sync::reap_interrupted(&ctx).await {
        Ok(0) => {}
        Ok(n) => {
            tracing::warn!(target: "mcp_orchestrator::registry", syncs = n, "marked syncs interrupted by a stopped instance as failed")
        }
        Err(e) => {
            tracing::warn!(target: "mcp_orchestrator::registry", error = %e, "could not recover interrupted syncs")
        }
    }
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = every.tick() => {
                if let Err(e) = tick(&ctx).await {
                    tracing::warn!(target: "mcp_orchestrator::registry", error = %e, "the sync scheduler's tick failed");
                }
            }
        }
    }
}
