//! Health history: checks are counted in memory per deployment and minute, written once the
//! minute is over (one transaction for every deployment), folded into hourly rows once older
//! than `health.minutes_kept_hours`, and deleted after `health.retention_days` (events too).
//! Readers merge the minute under way from memory.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, DurationRound, Utc};
use sea_orm::{
    sea_query::OnConflict, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect, Set,
};
use types::{FleetHealth, FleetMember, Health, HealthEvent, HealthHistory, HealthSample, Role};

use crate::{
    access::Caller,
    entities::{deployment, deployment_health, health_event, health_sample},
    Ctx, DomainError,
};

/// How often finished minutes are written.
pub const FLUSH_EVERY: Duration = Duration::from_secs(15);

/// Checks of one deployment in one bucket.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Bucket {
    /// Checks.
    pub checks: u32,
    /// Failed checks.
    pub failures: u32,
    /// Sum of the passed checks' round trips, in ms.
    pub latency_sum_ms: f64,
    /// Slowest round trip, in ms.
    pub latency_max_ms: Option<f64>,
}

impl Bucket {
    fn add(&mut self, rtt: Option<Duration>) {
        self.checks += 1;
        match rtt {
            Some(d) => {
                let ms = d.as_secs_f64() * 1000.0;
                self.latency_sum_ms += ms;
                self.latency_max_ms = Some(self.latency_max_ms.map_or(ms, |m| m.max(ms)));
            }
            None => self.failures += 1,
        }
    }

    fn merge(&mut self, o: &Bucket) {
        self.checks += o.checks;
        self.failures += o.failures;
        self.latency_sum_ms += o.latency_sum_ms;
        self.latency_max_ms = match (self.latency_max_ms, o.latency_max_ms) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
}

/// A deployment's bucket: (deployment, start of the minute, counts).
type Row = (String, DateTime<Utc>, Bucket);

/// The minute under way, per deployment.
type Current = HashMap<String, (DateTime<Utc>, Bucket)>;

/// The minute under way per deployment, and finished minutes not yet written.
#[derive(Default)]
pub struct Buckets {
    inner: std::sync::Mutex<(Current, Vec<Row>)>,
}

fn minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::minutes(1)).unwrap_or(t)
}

fn hour(t: DateTime<Utc>) -> DateTime<Utc> {
    t.duration_trunc(chrono::Duration::hours(1)).unwrap_or(t)
}

impl Buckets {
    /// Counts a check of `id` at `at` (`rtt`: the ping's round trip when it passed).
    pub fn add(&self, id: &str, at: DateTime<Utc>, rtt: Option<Duration>) {
        let m = minute(at);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (current, done) = &mut *g;
        match current.get_mut(id) {
            Some((start, b)) if *start == m => b.add(rtt),
            Some((start, b)) => {
                done.push((id.to_owned(), *start, *b));
                *start = m;
                *b = Bucket::default();
                b.add(rtt);
            }
            None => {
                let mut b = Bucket::default();
                b.add(rtt);
                current.insert(id.to_owned(), (m, b));
            }
        }
    }

    /// Takes the finished minutes (and with `all`, the ones under way too).
    fn take(&self, now: DateTime<Utc>, all: bool) -> Vec<Row> {
        let m = minute(now);
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (current, done) = &mut *g;
        let mut out = std::mem::take(done);
        current.retain(|id, (start, b)| {
            if all || *start < m {
                out.push((id.clone(), *start, *b));
                false
            } else {
                true
            }
        });
        out
    }

    /// What is in memory for `id` (not yet written).
    fn unwritten(&self, id: Option<&str>) -> Vec<Row> {
        let g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (current, done) = &*g;
        current
            .iter()
            .map(|(k, (s, b))| (k.clone(), *s, *b))
            .chain(done.iter().cloned())
            .filter(|(k, _, _)| id.is_none_or(|i| i == k))
            .collect()
    }
}

/// Writes finished minutes (every minute under way too with `all`, at shutdown).
pub async fn flush(ctx: &Ctx, all: bool) -> Result<(), DomainError> {
    let rows = ctx.monitor.history.take(Utc::now(), all);
    if rows.is_empty() {
        return Ok(());
    }
    let txn = ctx.db.begin_write().await?;
    for chunk in rows.chunks(200) {
        let models = chunk.iter().map(|(id, at, b)| health_sample::ActiveModel {
            deployment_id: Set(id.clone()),
            seconds: Set(60),
            at: Set(*at),
            checks: Set(b.checks as i32),
            failures: Set(b.failures as i32),
            latency_sum_ms: Set(b.latency_sum_ms),
            latency_max_ms: Set(b.latency_max_ms),
        });
        health_sample::Entity::insert_many(models)
            .on_conflict(
                OnConflict::columns([
                    health_sample::Column::DeploymentId,
                    health_sample::Column::Seconds,
                    health_sample::Column::At,
                ])
                .update_columns([
                    health_sample::Column::Checks,
                    health_sample::Column::Failures,
                    health_sample::Column::LatencySumMs,
                    health_sample::Column::LatencyMaxMs,
                ])
                .to_owned(),
            )
            .exec_without_returning(&txn)
            .await?;
    }
    // The latest check times and round trips, for readers on other instances: once a minute
    // per deployment (with its finished minute).
    let latest: Vec<deployment_health::Model> = {
        let g = ctx
            .monitor
            .tracked
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let ids: std::collections::HashSet<&str> =
            rows.iter().map(|(id, _, _)| id.as_str()).collect();
        g.iter()
            .filter(|(id, _)| ids.contains(id.as_str()))
            .map(|(_, t)| t.row.clone())
            .collect()
    };
    for r in latest {
        deployment_health::Entity::update_many()
            .set(deployment_health::ActiveModel {
                checked_at: Set(r.checked_at),
                ok_at: Set(r.ok_at),
                latency_ms: Set(r.latency_ms),
                reachable: Set(r.reachable),
                ..Default::default()
            })
            .filter(deployment_health::Column::DeploymentId.eq(&r.deployment_id))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Folds minute rows older than `minutes_kept` into hourly rows; deletes hourly rows and
/// events older than the retention.
pub async fn compact(ctx: &Ctx) -> Result<(), DomainError> {
    let s = ctx.monitor.settings();
    let now = Utc::now();
    let cutoff = hour(now - chrono::Duration::from_std(s.minutes_kept).unwrap_or_default());
    loop {
        let old = health_sample::Entity::find()
            .filter(health_sample::Column::Seconds.eq(60))
            .filter(health_sample::Column::At.lt(cutoff))
            .order_by_asc(health_sample::Column::At)
            .limit(5000)
            .all(&ctx.db.conn)
            .await?;
        if old.is_empty() {
            break;
        }
        let mut hours: HashMap<(String, DateTime<Utc>), Bucket> = HashMap::new();
        for r in &old {
            hours
                .entry((r.deployment_id.clone(), hour(r.at)))
                .or_default()
                .merge(&bucket_of(r));
        }
        let txn = ctx.db.begin_write().await?;
        for ((id, at), b) in hours {
            let existing = health_sample::Entity::find_by_id((id.clone(), 3600, at))
                .one(&txn)
                .await?;
            let mut total = existing.as_ref().map(bucket_of).unwrap_or_default();
            total.merge(&b);
            let row = health_sample::ActiveModel {
                deployment_id: Set(id),
                seconds: Set(3600),
                at: Set(at),
                checks: Set(total.checks as i32),
                failures: Set(total.failures as i32),
                latency_sum_ms: Set(total.latency_sum_ms),
                latency_max_ms: Set(total.latency_max_ms),
            };
            health_sample::Entity::insert(row)
                .on_conflict(
                    OnConflict::columns([
                        health_sample::Column::DeploymentId,
                        health_sample::Column::Seconds,
                        health_sample::Column::At,
                    ])
                    .update_columns([
                        health_sample::Column::Checks,
                        health_sample::Column::Failures,
                        health_sample::Column::LatencySumMs,
                        health_sample::Column::LatencyMaxMs,
                    ])
                    .to_owned(),
                )
                .exec_without_returning(&txn)
                .await?;
        }
        for r in &old {
            health_sample::Entity::delete_by_id((r.deployment_id.clone(), 60, r.at))
                .exec(&txn)
                .await?;
        }
        txn.commit().await?;
    }
    let gone = now - chrono::Duration::from_std(s.retention).unwrap_or_default();
    health_sample::Entity::delete_many()
        .filter(health_sample::Column::At.lt(gone))
        .exec(&ctx.db.conn)
        .await?;
    health_event::Entity::delete_many()
        .filter(health_event::Column::At.lt(gone))
        .exec(&ctx.db.conn)
        .await?;
    Ok(())
}

/// Deletes the samples of a deleted deployment (its events stay, for the incident log).
pub(crate) async fn forget<C: ConnectionTrait>(conn: &C, id: &str) -> Result<(), sea_orm::DbErr> {
    health_sample::Entity::delete_many()
        .filter(health_sample::Column::DeploymentId.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

fn bucket_of(r: &health_sample::Model) -> Bucket {
    Bucket {
        checks: r.checks.max(0) as u32,
        failures: r.failures.max(0) as u32,
        latency_sum_ms: r.latency_sum_ms,
        latency_max_ms: r.latency_max_ms,
    }
}

fn sample(at: DateTime<Utc>, seconds: u32, b: &Bucket) -> HealthSample {
    let passed = b.checks.saturating_sub(b.failures);
    HealthSample {
        at,
        seconds,
        checks: b.checks,
        failures: b.failures,
        latency_avg_ms: (passed > 0).then(|| b.latency_sum_ms / passed as f64),
        latency_max_ms: b.latency_max_ms,
    }
}

fn uptime(checks: u64, failures: u64) -> Option<f64> {
    (checks > 0).then(|| (checks - failures.min(checks)) as f64 * 100.0 / checks as f64)
}

/// A deployment's history since `since` (viewers).
pub async fn history(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    since: DateTime<Utc>,
) -> Result<HealthHistory, DomainError> {
    caller.require(Role::Viewer)?;
    deployment::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("deployment"))?;
    let rows = health_sample::Entity::find()
        .filter(health_sample::Column::DeploymentId.eq(id))
        .filter(health_sample::Column::At.gte(hour(since)))
        .order_by_asc(health_sample::Column::At)
        .all(&ctx.db.conn)
        .await?;
    let mut by_key: std::collections::BTreeMap<(DateTime<Utc>, u32), Bucket> = rows
        .iter()
        .map(|r| ((r.at, r.seconds.max(0) as u32), bucket_of(r)))
        .collect();
    for (_, at, b) in ctx.monitor.history.unwritten(Some(id)) {
        by_key.entry((at, 60)).or_default().merge(&b);
    }
    let samples: Vec<HealthSample> = by_key
        .iter()
        .filter(|((at, secs), _)| *at + chrono::Duration::seconds(*secs as i64) > since)
        .map(|((at, secs), b)| sample(*at, *secs, b))
        .collect();
    let (c, f) = samples.iter().fold((0u64, 0u64), |(c, f), s| {
        (c + s.checks as u64, f + s.failures as u64)
    });
    Ok(HealthHistory {
        deployment_id: id.to_owned(),
        since,
        samples,
        uptime_percent: uptime(c, f),
    })
}

/// Health events, newest first (viewers); of one deployment when `id` is given.
pub async fn events(
    ctx: &Ctx,
    caller: &Caller,
    id: Option<&str>,
    limit: u64,
) -> Result<Vec<HealthEvent>, DomainError> {
    caller.require(Role::Viewer)?;
    let mut q = health_event::Entity::find();
    if let Some(id) = id {
        q = q.filter(health_event::Column::DeploymentId.eq(id));
    }
    Ok(q.order_by_desc(health_event::Column::Id)
        .limit(limit.clamp(1, 1000))
        .all(&ctx.db.conn)
        .await?
        .into_iter()
        .map(|e| HealthEvent {
            id: e.id,
            deployment_id: e.deployment_id,
            deployment_name: e.deployment_name,
            at: e.at,
            kind: e.kind,
            from: e.from_state,
            to: e.to_state,
            reason: e.reason,
        })
        .collect())
}

/// The fleet: every deployment's health, 24-hour uptime, breakers, restarts, incidents.
pub async fn fleet(ctx: &Ctx, caller: &Caller) -> Result<FleetHealth, DomainError> {
    caller.require(Role::Viewer)?;
    let day_ago = Utc::now() - chrono::Duration::hours(24);
    let deployments = deployment::Entity::find()
        .order_by_asc(deployment::Column::Name)
        .all(&ctx.db.conn)
        .await?;
    let mut counts: HashMap<String, (u64, u64)> = HashMap::new();
    for r in health_sample::Entity::find()
        .filter(health_sample::Column::At.gte(hour(day_ago)))
        .all(&ctx.db.conn)
        .await?
    {
        let e = counts.entry(r.deployment_id).or_default();
        e.0 += r.checks.max(0) as u64;
        e.1 += r.failures.max(0) as u64;
    }
    for (id, _, b) in ctx.monitor.history.unwritten(None) {
        let e = counts.entry(id).or_default();
        e.0 += b.checks as u64;
        e.1 += b.failures as u64;
    }
    let mut members = Vec::with_capacity(deployments.len());
    let mut by_health: std::collections::BTreeMap<String, u32> = Health::ALL
        .iter()
        .map(|h| (h.as_str().to_owned(), 0))
        .collect();
    let (mut open, mut total_c, mut total_f) = (0, 0u64, 0u64);
    let stored = super::stored(ctx).await?;
    for m in &deployments {
        let v = super::view_stored(ctx, m, stored.get(&m.id));
        if v.enabled {
            *by_health.entry(v.status.as_str().to_owned()).or_default() += 1;
        }
        if v.breaker.state != types::BreakerState::Closed {
            open += 1;
        }
        let (c, f) = counts.get(&m.id).copied().unwrap_or_default();
        total_c += c;
        total_f += f;
        members.push(FleetMember {
            id: m.id.clone(),
            name: m.name.clone(),
            state: super::state_of(m),
            health: v.status,
            reason: v.reason,
            latency_ms: v.latency_ms,
            uptime_24h: uptime(c, f),
            breaker: v.breaker.state,
            restarts: v.restarts,
            crash_looped: v.crash_looped,
        });
    }
    members.sort_by_key(|m| {
        (
            match m.health {
                Health::Unhealthy => 0,
                Health::Degraded => 1,
                Health::Unknown => 2,
                Health::Healthy => 3,
            },
            m.name.clone(),
        )
    });
    let restarts_24h = health_event::Entity::find()
        .filter(health_event::Column::Kind.eq("restart"))
        .filter(health_event::Column::ToState.eq("restarting"))
        .filter(health_event::Column::At.gte(day_ago))
        .count(&ctx.db.conn)
        .await? as u32;
    Ok(FleetHealth {
        total: deployments.len() as u32,
        by_health,
        breakers_open: open,
        restarts_24h,
        uptime_24h: uptime(total_c, total_f),
        deployments: members,
        incidents: events(ctx, caller, None, 50).await?,
    })
}
