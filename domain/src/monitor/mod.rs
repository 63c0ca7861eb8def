//! Deployment health: checks, self-healing restarts, crash-loop limit and circuit breakers.
//!
//! Every deployment this instance runs is **tracked** from the moment it goes live until it
//! is stopped, deleted or left down. A check is the runtime's state (process alive, container
//! running) plus an MCP `ping` on the live session (never a new handshake). Checks are spread
//! over the interval with jitter and run at most `concurrency` at a time. Failures in a row
//! make a deployment degraded, then unhealthy at the threshold; an unhealthy one is restarted
//! after an exponential backoff, unless it restarted `crash_loop_restarts` times within the
//! window: then it is left down and says why. While the Docker engine is gone, restarts of
//! containers wait for it without spending the budget, so deployments come back by
//! themselves once it returns.
//!
//! Storage: one `deployment_health` row per deployment (written on every change and failure,
//! and with the per-minute samples otherwise), `health_events` for changes (incidents),
//! `health_samples` per minute, downsampled to hours (see [`history`]).

pub mod breaker;
pub mod history;

use std::{
    collections::{HashMap, VecDeque},
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rand::Rng;
use sea_orm::{ActiveModelTrait, ConnectionTrait, EntityTrait, IntoActiveModel, Set};
use tokio::sync::{Notify, Semaphore};
use types::{
    deployment::{DeploymentState, RuntimeKind},
    BreakerState, BreakerView, EffectiveHealthConfig, Health, HealthConfig, HealthView,
};

use crate::{
    deployments,
    entities::{deployment, deployment_health, health_event},
    Ctx, DomainError,
};
use breaker::{Admission, Breaker, BreakerSettings};

/// The `health.*` settings.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Time between checks of a deployment.
    pub interval: Duration,
    /// How long a check may take.
    pub timeout: Duration,
    /// Failed checks in a row that make a deployment unhealthy.
    pub unhealthy_after: u32,
    /// Checks at once.
    pub concurrency: usize,
    /// First restart delay (doubled for each restart in the window, with jitter).
    pub restart_base: Duration,
    /// Longest restart delay.
    pub restart_max: Duration,
    /// Restarts within `crash_loop_window` after which a deployment is left down.
    pub crash_loop_restarts: u32,
    /// The crash-loop window.
    pub crash_loop_window: Duration,
    /// The tool-call breaker.
    pub breaker: BreakerSettings,
    /// How long per-minute samples are kept before they are folded into hours.
    pub minutes_kept: Duration,
    /// How long hourly samples and health events are kept.
    pub retention: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            unhealthy_after: 3,
            concurrency: 32,
            restart_base: Duration::from_secs(1),
            restart_max: Duration::from_secs(300),
            crash_loop_restarts: 5,
            crash_loop_window: Duration::from_secs(600),
            breaker: BreakerSettings {
                failures: 5,
                open_for: Duration::from_secs(30),
            },
            minutes_kept: Duration::from_secs(6 * 3600),
            retention: Duration::from_secs(30 * 24 * 3600),
        }
    }
}

/// A deployment this instance checks.
struct Tracked {
    name: String,
    runtime: RuntimeKind,
    config: EffectiveHealthConfig,
    due: Instant,
    /// A check or a restart is under way.
    busy: bool,
    row: deployment_health::Model,
    restart_times: VecDeque<DateTime<Utc>>,
    breaker: Breaker,
}

/// Health checks and self-healing of this instance's deployments.
pub struct Monitor {
    settings: Settings,
    tracked: std::sync::Mutex<HashMap<String, Tracked>>,
    wake: Notify,
    in_flight: AtomicU32,
    docker_up: AtomicBool,
    /// Current per-minute buckets and finished ones not yet written.
    history: history::Buckets,
    /// (when, process CPU seconds) of the previous CPU sample.
    cpu: std::sync::Mutex<Option<(Instant, f64)>>,
}

impl std::fmt::Debug for Monitor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Monitor").finish_non_exhaustive()
    }
}

impl Default for Monitor {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

fn ms(d: Duration) -> u32 {
    d.as_millis().min(u32::MAX as u128) as u32
}

fn fresh_row(id: &str) -> deployment_health::Model {
    deployment_health::Model {
        deployment_id: id.to_owned(),
        status: Health::Unknown.as_str().to_owned(),
        reason: None,
        failures: 0,
        reachable: None,
        checked_at: None,
        changed_at: None,
        ok_at: None,
        latency_ms: None,
        restarts: 0,
        last_restart_at: None,
        next_restart_at: None,
        crash_looped: false,
        breaker: BreakerState::Closed.as_str().to_owned(),
        breaker_failures: 0,
        breaker_changed_at: None,
        breaker_retry_at: None,
        updated_at: Utc::now(),
    }
}

fn breaker_of(row: &deployment_health::Model) -> Breaker {
    Breaker {
        state: BreakerState::parse(&row.breaker).unwrap_or(BreakerState::Closed),
        failures: row.breaker_failures.max(0) as u32,
        changed_at: row.breaker_changed_at,
        retry_at: row.breaker_retry_at,
        trial: false,
    }
}

/// `d` ± 10 %.
fn jittered(d: Duration) -> Duration {
    let tenth = d.as_millis() as u64 / 10;
    let delta = rand::thread_rng().gen_range(0..=tenth * 2);
    (d + Duration::from_millis(delta)).saturating_sub(Duration::from_millis(tenth))
}

impl Tracked {
    /// Restarts within the last `window` (older ones are forgotten).
    fn restarts_within(&mut self, now: DateTime<Utc>, window: Duration) -> u32 {
        let window = chrono::Duration::from_std(window).unwrap_or_default();
        while self
            .restart_times
            .front()
            .is_some_and(|at| *at < now - window)
        {
            self.restart_times.pop_front();
        }
        self.restart_times.len() as u32
    }
}

impl Monitor {
    /// A monitor with `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            tracked: std::sync::Mutex::default(),
            wake: Notify::new(),
            in_flight: AtomicU32::new(0),
            docker_up: AtomicBool::new(true),
            history: history::Buckets::default(),
            cpu: std::sync::Mutex::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The settings a deployment with `own` settings follows.
    pub fn effective(&self, own: Option<&HealthConfig>) -> EffectiveHealthConfig {
        let own = own.copied().unwrap_or_default();
        EffectiveHealthConfig {
            interval_ms: own.interval_ms.unwrap_or(ms(self.settings.interval)),
            timeout_ms: own.timeout_ms.unwrap_or(ms(self.settings.timeout)),
            unhealthy_after: own.unhealthy_after.unwrap_or(self.settings.unhealthy_after),
        }
    }

    /// Checks under way now.
    pub fn in_flight(&self) -> u32 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Whether the Docker engine answered the last probe.
    pub fn docker_up(&self) -> bool {
        self.docker_up.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Tracked>> {
        self.tracked.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Live view of `id` when this instance tracks it.
    fn view_of(
        &self,
        id: &str,
    ) -> Option<(deployment_health::Model, Breaker, EffectiveHealthConfig)> {
        self.lock()
            .get(id)
            .map(|t| (t.row.clone(), t.breaker.clone(), t.config))
    }
}

fn health_config(m: &deployment::Model) -> Option<HealthConfig> {
    m.health_config
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
}

/// The health view of deployment `m` (this instance's live state when it tracks it, else the
/// stored row).
pub async fn view(ctx: &Ctx, m: &deployment::Model) -> Result<HealthView, DomainError> {
    if ctx.monitor.view_of(&m.id).is_some() {
        return Ok(view_stored(ctx, m, None));
    }
    let row = deployment_health::Entity::find_by_id(&m.id)
        .one(&ctx.db.conn)
        .await?;
    Ok(view_stored(ctx, m, row.as_ref()))
}

/// Every stored health row, by deployment (for lists).
pub async fn stored(ctx: &Ctx) -> Result<HashMap<String, deployment_health::Model>, DomainError> {
    Ok(deployment_health::Entity::find()
        .all(&ctx.db.conn)
        .await?
        .into_iter()
        .map(|r| (r.deployment_id.clone(), r))
        .collect())
}

/// The view of `m`: this instance's live state when it tracks it, else `stored`.
pub fn view_stored(
    ctx: &Ctx,
    m: &deployment::Model,
    stored: Option<&deployment_health::Model>,
) -> HealthView {
    if let Some((row, breaker, config)) = ctx.monitor.view_of(&m.id) {
        return view_from(m, &row, &breaker, config);
    }
    let row = stored.cloned().unwrap_or_else(|| fresh_row(&m.id));
    let config = ctx.monitor.effective(health_config(m).as_ref());
    view_from(m, &row, &breaker_of(&row), config)
}

/// Builds the view from stored parts (no I/O).
pub fn view_from(
    m: &deployment::Model,
    row: &deployment_health::Model,
    breaker: &Breaker,
    config: EffectiveHealthConfig,
) -> HealthView {
    let enabled = m.desired == "running" && !row.crash_looped;
    let now = Utc::now();
    HealthView {
        enabled,
        reachable: row.reachable,
        status: if enabled || row.crash_looped {
            Health::parse(&row.status).unwrap_or(Health::Unknown)
        } else {
            Health::Unknown
        },
        reason: row.reason.clone(),
        consecutive_failures: row.failures.max(0) as u32,
        checked_at: row.checked_at,
        changed_at: row.changed_at,
        last_ok_at: row.ok_at,
        latency_ms: row.latency_ms,
        restarts: row.restarts.max(0) as u32,
        last_restart_at: row.last_restart_at,
        next_restart_at: row.next_restart_at,
        crash_looped: row.crash_looped,
        breaker: BreakerView {
            state: breaker.shown(now),
            consecutive_failures: breaker.failures,
            changed_at: breaker.changed_at,
            retry_at: breaker.retry_at,
        },
        config,
    }
}

/// Starts checking deployment `id` (it just went live on this instance); the first check is
/// due after `first` (restarts: soon; new deployments: spread over the interval).
pub async fn track(ctx: &Ctx, id: &str, first: Option<Duration>) -> Result<(), DomainError> {
    let Some(m) = deployment::Entity::find_by_id(id).one(&ctx.db.conn).await? else {
        return Ok(());
    };
    let config = ctx.monitor.effective(health_config(&m).as_ref());
    let first = first.unwrap_or_else(|| {
        Duration::from_millis(rand::thread_rng().gen_range(0..=config.interval_ms as u64))
    });
    {
        let mut g = ctx.monitor.lock();
        if let Some(t) = g.get_mut(id) {
            t.due = Instant::now() + first;
            t.config = config;
            drop(g);
            ctx.monitor.wake.notify_one();
            return Ok(());
        }
    }
    let row = deployment_health::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .unwrap_or_else(|| fresh_row(id));
    let breaker = breaker_of(&row);
    let runtime = RuntimeKind::parse(&m.runtime).unwrap_or(RuntimeKind::Process);
    ctx.metrics
        .breaker_state
        .with_label_values(&[&m.name])
        .set(breaker.state.gauge());
    // Series start at 0, so `increase()` sees the first one.
    for c in [
        &ctx.metrics.health_check_failures,
        &ctx.metrics.restarts,
        &ctx.metrics.crash_loops,
    ] {
        c.with_label_values(&[&m.name]);
    }
    ctx.monitor.lock().insert(
        id.to_owned(),
        Tracked {
            name: m.name.clone(),
            runtime,
            config,
            due: Instant::now() + first,
            busy: false,
            row,
            restart_times: VecDeque::new(),
            breaker,
        },
    );
    ctx.monitor.wake.notify_one();
    Ok(())
}

/// Stops checking `id` (stopped or deleted).
pub fn untrack(ctx: &Ctx, id: &str) {
    ctx.monitor.lock().remove(id);
}

/// An operator started `id` by hand: the crash-loop count starts again.
pub async fn reset(ctx: &Ctx, id: &str) -> Result<(), DomainError> {
    ctx.monitor.lock().remove(id);
    if let Some(row) = deployment_health::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
    {
        let mut a = row.into_active_model();
        a.restarts = Set(0);
        a.crash_looped = Set(false);
        a.next_restart_at = Set(None);
        a.failures = Set(0);
        a.status = Set(Health::Unknown.as_str().to_owned());
        a.reason = Set(None);
        a.updated_at = Set(Utc::now());
        a.update(&ctx.db.conn).await?;
    }
    Ok(())
}

/// Removes the stored health of a deleted deployment (inside its deletion's transaction).
pub(crate) async fn forget<C: ConnectionTrait>(conn: &C, id: &str) -> Result<(), sea_orm::DbErr> {
    deployment_health::Entity::delete_by_id(id)
        .exec(conn)
        .await?;
    history::forget(conn, id).await
}

/// Saves `row` and, when given, an event, in one transaction.
async fn save(
    ctx: &Ctx,
    row: &deployment_health::Model,
    event: Option<health_event::ActiveModel>,
) -> Result<(), DomainError> {
    let txn = ctx.db.begin_write().await?;
    let mut a = row.clone().into_active_model();
    a.updated_at = Set(Utc::now());
    // Every column is written (`reset` makes every field dirty).
    a = a.reset_all();
    deployment_health::Entity::insert(a)
        .on_conflict(
            sea_orm::sea_query::OnConflict::column(deployment_health::Column::DeploymentId)
                .update_columns([
                    deployment_health::Column::Status,
                    deployment_health::Column::Reason,
                    deployment_health::Column::Failures,
                    deployment_health::Column::Reachable,
                    deployment_health::Column::CheckedAt,
                    deployment_health::Column::ChangedAt,
                    deployment_health::Column::OkAt,
                    deployment_health::Column::LatencyMs,
                    deployment_health::Column::Restarts,
                    deployment_health::Column::LastRestartAt,
                    deployment_health::Column::NextRestartAt,
                    deployment_health::Column::CrashLooped,
                    deployment_health::Column::Breaker,
                    deployment_health::Column::BreakerFailures,
                    deployment_health::Column::BreakerChangedAt,
                    deployment_health::Column::BreakerRetryAt,
                    deployment_health::Column::UpdatedAt,
                ])
                .to_owned(),
        )
        .exec_without_returning(&txn)
        .await?;
    if let Some(e) = event {
        e.insert(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

fn event(
    id: &str,
    name: &str,
    kind: &str,
    from: Option<&str>,
    to: &str,
    reason: Option<String>,
) -> health_event::ActiveModel {
    health_event::ActiveModel {
        deployment_id: Set(id.to_owned()),
        deployment_name: Set(name.to_owned()),
        at: Set(Utc::now()),
        kind: Set(kind.to_owned()),
        from_state: Set(from.map(str::to_owned)),
        to_state: Set(to.to_owned()),
        reason: Set(reason),
        ..Default::default()
    }
}

/// What one check found.
struct Outcome {
    result: Result<Duration, String>,
    /// The container's engine did not answer (restarts wait for it).
    engine_down: bool,
    took: Duration,
}

async fn probe(ctx: &Ctx, id: &str, timeout: Duration) -> Outcome {
    let t0 = Instant::now();
    let mut engine_down = false;
    let result = match ctx.deployments.get_live(id).await {
        None => Err(deployment::Entity::find_by_id(id)
            .one(&ctx.db.conn)
            .await
            .ok()
            .flatten()
            .and_then(|m| m.state_reason)
            .unwrap_or_else(|| "the deployment is not running".to_owned())),
        Some(live) => {
            let alive = tokio::time::timeout(timeout, live.alive(ctx)).await;
            match alive {
                Err(_) => Err("the runtime did not answer in time".to_owned()),
                Ok(Err(DomainError::Unavailable(e))) => {
                    engine_down = true;
                    Err(format!("the Docker engine does not answer: {e}"))
                }
                Ok(Err(e)) => Err(e.to_string()),
                Ok(Ok(())) => live
                    .ping(timeout)
                    .await
                    .map_err(|e| format!("MCP ping failed: {e}")),
            }
        }
    };
    Outcome {
        result,
        engine_down,
        took: t0.elapsed(),
    }
}

async fn run_check(ctx: &Ctx, id: &str, timeout: Duration) {
    ctx.monitor.in_flight.fetch_add(1, Ordering::Relaxed);
    let outcome = probe(ctx, id, timeout).await;
    ctx.monitor.in_flight.fetch_sub(1, Ordering::Relaxed);
    if let Err(e) = record(ctx, id, outcome).await {
        tracing::warn!(target: "mcp_orchestrator::health", deployment = %id, error = %e, "cannot record a health check");
    }
}

/// Applies a check's outcome: counters, status, restart schedule, history, metrics.
async fn record(ctx: &Ctx, id: &str, o: Outcome) -> Result<(), DomainError> {
    let now = Utc::now();
    let settings = &ctx.monitor.settings;
    let ok = o.result.is_ok();
    let (row, ev, name, runtime, restart_scheduled) = {
        let mut g = ctx.monitor.lock();
        let Some(t) = g.get_mut(id) else {
            return Ok(()); // untracked meanwhile
        };
        t.busy = false;
        t.due = Instant::now() + jittered(Duration::from_millis(t.config.interval_ms as u64));
        let before = Health::parse(&t.row.status).unwrap_or(Health::Unknown);
        let r = &mut t.row;
        r.checked_at = Some(now);
        match &o.result {
            Ok(rtt) => {
                r.failures = 0;
                r.ok_at = Some(now);
                r.reason = None;
                r.reachable = Some(true);
                r.latency_ms = Some(rtt.as_secs_f64() * 1000.0);
                r.next_restart_at = None;
            }
            Err(e) => {
                r.failures = r.failures.saturating_add(1);
                r.reason = Some(e.clone());
                r.reachable = Some(false);
            }
        }
        let after = Health::after_failures(r.failures.max(0) as u32, t.config.unhealthy_after);
        let mut ev = None;
        if after != before {
            r.status = after.as_str().to_owned();
            r.changed_at = Some(now);
            ev = Some(event(
                id,
                &t.name,
                "health",
                Some(before.as_str()),
                after.as_str(),
                r.reason.clone(),
            ));
            tracing::info!(target: "mcp_orchestrator::health", deployment = %t.name, from = before.as_str(), to = after.as_str(), reason = r.reason.as_deref().unwrap_or(""), "health changed");
        }
        let mut restart_scheduled = false;
        if after == Health::Unhealthy && t.row.next_restart_at.is_none() {
            let n = t.restarts_within(now, settings.crash_loop_window);
            restart_scheduled = true;
            let wait = crate::pipeline::worker::backoff(
                settings.restart_base,
                settings.restart_max,
                n + 1,
            );
            t.row.next_restart_at =
                Some(now + chrono::Duration::from_std(wait).unwrap_or_default());
        }
        if o.engine_down {
            ctx.monitor.docker_up.store(false, Ordering::Relaxed);
        }
        ctx.monitor
            .history
            .add(id, now, o.result.as_ref().ok().copied());
        // The row is written on a change or a failure only: a healthy check writes nothing.
        let row = (ev.is_some() || !ok).then(|| t.row.clone());
        (row, ev, t.name.clone(), t.runtime, restart_scheduled)
    };
    ctx.metrics
        .health_checks
        .with_label_values(&[runtime.as_str(), if ok { "ok" } else { "failed" }])
        .inc();
    ctx.metrics
        .health_check_duration
        .with_label_values(&[runtime.as_str()])
        .observe(o.took.as_secs_f64());
    if !ok {
        ctx.metrics
            .health_check_failures
            .with_label_values(&[&name])
            .inc();
    }
    if let Some(row) = row {
        save(ctx, &row, ev).await?;
    }
    // The loop's next wake-up stays right (this check's next one is later) unless a restart
    // was scheduled.
    if restart_scheduled {
        ctx.monitor.wake.notify_one();
    }
    Ok(())
}

/// Restarts `id` (its restart is due), or leaves it down when it is crash-looping.
async fn heal(ctx: &Ctx, id: &str) {
    let now = Utc::now();
    let settings = ctx.monitor.settings.clone();
    enum Plan {
        Wait,
        Restart(deployment_health::Model, String, u32),
        GiveUp(deployment_health::Model, String, u32),
    }
    let plan = {
        let mut g = ctx.monitor.lock();
        let Some(t) = g.get_mut(id) else { return };
        let docker_down = t.runtime == RuntimeKind::Docker && !ctx.monitor.docker_up();
        if docker_down {
            // No budget spent while the engine is away: try again after an interval.
            t.row.next_restart_at = Some(
                now + chrono::Duration::from_std(Duration::from_millis(
                    t.config.interval_ms as u64,
                ))
                .unwrap_or_default(),
            );
            t.busy = false;
            Plan::Wait
        } else {
            let n = t.restarts_within(now, settings.crash_loop_window);
            t.row.next_restart_at = None;
            if n >= settings.crash_loop_restarts {
                // Recorded once it is down (state first, then the row), never before.
                let mut row = t.row.clone();
                row.crash_looped = true;
                row.reason = Some(format!(
                    "crash loop: restarted {n} times within {} s and still unhealthy; left down \
                     until an operator starts it (last failure: {})",
                    settings.crash_loop_window.as_secs(),
                    t.row.reason.clone().unwrap_or_default()
                ));
                Plan::GiveUp(row, t.name.clone(), n)
            } else {
                t.restart_times.push_back(now);
                t.row.restarts = t.row.restarts.saturating_add(1);
                t.row.last_restart_at = Some(now);
                Plan::Restart(t.row.clone(), t.name.clone(), n + 1)
            }
        }
    };
    match plan {
        Plan::Wait => {}
        Plan::GiveUp(row, name, n) => {
            tracing::warn!(target: "mcp_orchestrator::health", deployment = %name, restarts = n, "crash loop: left down");
            ctx.metrics.crash_loops.with_label_values(&[&name]).inc();
            let reason = row.reason.clone();
            untrack(ctx, id);
            deployments::leave_down(ctx, id, reason.clone().unwrap_or_default()).await;
            if let Err(e) = save(
                ctx,
                &row,
                Some(event(
                    id,
                    &name,
                    "crash_loop",
                    None,
                    "left_down",
                    reason.clone(),
                )),
            )
            .await
            {
                tracing::warn!(target: "mcp_orchestrator::health", deployment = %id, error = %e, "cannot record a crash loop");
            }
        }
        Plan::Restart(row, name, n) => {
            tracing::warn!(target: "mcp_orchestrator::health", deployment = %name, restart = n, "restarting an unhealthy deployment");
            ctx.metrics.restarts.with_label_values(&[&name]).inc();
            let _ = save(
                ctx,
                &row,
                Some(health_event::ActiveModel {
                    // The same instant as the row's `last_restart_at`.
                    at: Set(row.last_restart_at.unwrap_or_else(Utc::now)),
                    ..event(
                        id,
                        &name,
                        "restart",
                        None,
                        "restarting",
                        Some(format!(
                            "restart {n} within the window after: {}",
                            row.reason.clone().unwrap_or_default()
                        )),
                    )
                }),
            )
            .await;
            let outcome = deployments::restart_unhealthy(ctx, id).await;
            let (to, reason) = match &outcome {
                Ok(()) => ("restarted", None),
                Err(e) => ("restart_failed", Some(e.to_string())),
            };
            let _ = save_event(ctx, event(id, &name, "restart", None, to, reason)).await;
            let mut g = ctx.monitor.lock();
            if let Some(t) = g.get_mut(id) {
                t.busy = false;
                // Check soon: a restarted server shows it is healthy, a failed one counts on.
                t.due = Instant::now() + Duration::from_millis(200);
            }
        }
    }
    ctx.monitor.wake.notify_one();
}

async fn save_event(ctx: &Ctx, e: health_event::ActiveModel) -> Result<(), DomainError> {
    e.insert(&ctx.db.conn).await?;
    Ok(())
}

/// Guards a tool call on `id` by its breaker: `Err` when it is open (with when to retry).
pub async fn admit(ctx: &Ctx, id: &str) -> Result<(), DomainError> {
    let now = Utc::now();
    let s = ctx.monitor.settings.breaker;
    let (admission, changed) = {
        let mut g = ctx.monitor.lock();
        let Some(t) = g.get_mut(id) else {
            return Ok(());
        };
        let (a, changed) = t.breaker.admit(now, &s);
        let changed = changed.then(|| (t.row.clone(), t.name.clone(), t.breaker.clone()));
        (a, changed)
    };
    if let Some((row, name, b)) = changed {
        persist_breaker(ctx, id, row, &name, &b, BreakerState::Open).await;
    }
    match admission {
        Admission::Pass | Admission::Trial => Ok(()),
        Admission::Refused(at) => {
            let secs = (at - now).num_seconds().max(1) as u64;
            Err(DomainError::CircuitOpen {
                message: format!(
                    "the circuit breaker of this deployment is open after failed tool calls; \
                     calls are refused until {}",
                    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                ),
                retry_after_secs: secs,
            })
        }
    }
}

/// Records a tool call's outcome in `id`'s breaker.
pub async fn called(ctx: &Ctx, id: &str, ok: bool) {
    let now = Utc::now();
    let s = ctx.monitor.settings.breaker;
    let changed = {
        let mut g = ctx.monitor.lock();
        let Some(t) = g.get_mut(id) else { return };
        let before = t.breaker.state;
        t.breaker
            .record(ok, now, &s)
            .map(|_| (t.row.clone(), t.name.clone(), t.breaker.clone(), before))
    };
    if let Some((row, name, b, before)) = changed {
        persist_breaker(ctx, id, row, &name, &b, before).await;
    }
}

async fn persist_breaker(
    ctx: &Ctx,
    id: &str,
    mut row: deployment_health::Model,
    name: &str,
    b: &Breaker,
    before: BreakerState,
) {
    row.breaker = b.state.as_str().to_owned();
    row.breaker_failures = b.failures as i32;
    row.breaker_changed_at = b.changed_at;
    row.breaker_retry_at = b.retry_at;
    {
        let mut g = ctx.monitor.lock();
        if let Some(t) = g.get_mut(id) {
            t.row.breaker = row.breaker.clone();
            t.row.breaker_failures = row.breaker_failures;
            t.row.breaker_changed_at = row.breaker_changed_at;
            t.row.breaker_retry_at = row.breaker_retry_at;
        }
    }
    ctx.metrics
        .breaker_state
        .with_label_values(&[name])
        .set(b.state.gauge());
    tracing::info!(target: "mcp_orchestrator::health", deployment = %name, from = before.as_str(), to = b.state.as_str(), "circuit breaker changed");
    let reason = match b.state {
        BreakerState::Open => Some(format!("{} tool calls failed in a row", b.failures)),
        BreakerState::HalfOpen => Some("open time is up: one trial call goes".to_owned()),
        BreakerState::Closed => Some("a call succeeded".to_owned()),
    };
    if let Err(e) = save(
        ctx,
        &row,
        Some(event(
            id,
            name,
            "breaker",
            Some(before.as_str()),
            b.state.as_str(),
            reason,
        )),
    )
    .await
    {
        tracing::warn!(target: "mcp_orchestrator::health", deployment = %id, error = %e, "cannot record a breaker change");
    }
}

/// Probes the Docker engine (when Docker is enabled), reconnecting when it was not there.
async fn probe_docker(ctx: &Ctx) {
    if let Some(up) = ctx.deployments.probe_docker().await {
        let was = ctx.monitor.docker_up.swap(up, Ordering::Relaxed);
        ctx.metrics.docker_up.set(i64::from(up));
        if was != up {
            if up {
                tracing::info!(target: "mcp_orchestrator::health", "the Docker engine answers again");
            } else {
                tracing::warn!(target: "mcp_orchestrator::health", "the Docker engine does not answer");
            }
        }
    }
}

/// Checks, heals and keeps history until `stop` resolves.
pub async fn run(ctx: Ctx, stop: impl std::future::Future<Output = ()>) {
    let slots = Arc::new(Semaphore::new(ctx.monitor.settings.concurrency.max(1)));
    let mut next_flush = Instant::now() + history::FLUSH_EVERY;
    let mut next_compact = Instant::now() + Duration::from_secs(30);
    let mut next_docker = Instant::now();
    tokio::pin!(stop);
    loop {
        let now = Instant::now();
        if now >= next_docker {
            probe_docker(&ctx).await;
            next_docker = now + Duration::from_secs(2);
        }
        if now >= next_flush {
            if let Err(e) = history::flush(&ctx, false).await {
                tracing::warn!(target: "mcp_orchestrator::health", error = %e, "cannot write health history");
            }
            next_flush = now + history::FLUSH_EVERY;
        }
        if now >= next_compact {
            if let Err(e) = history::compact(&ctx).await {
                tracing::warn!(target: "mcp_orchestrator::health", error = %e, "cannot downsample health history");
            }
            next_compact = now + Duration::from_secs(3600);
        }
        // Take what is due: checks, and restarts whose backoff is over.
        let utc = Utc::now();
        let mut checks = Vec::new();
        let mut heals = Vec::new();
        let mut next = now + Duration::from_secs(1);
        {
            let mut g = ctx.monitor.lock();
            for (id, t) in g.iter_mut() {
                if t.busy {
                    // Its next check is due an interval (less the jitter) after this one ends.
                    next =
                        next.min(now + Duration::from_millis(t.config.interval_ms as u64 * 9 / 10));
                    continue;
                }
                if t.row.next_restart_at.is_some_and(|at| at <= utc) {
                    t.busy = true;
                    heals.push(id.clone());
                } else if t.due <= now {
                    t.busy = true;
                    checks.push((
                        id.clone(),
                        Duration::from_millis(t.config.timeout_ms as u64),
                    ));
                } else {
                    next = next.min(t.due);
                }
            }
        }
        for id in heals {
            let ctx = ctx.clone();
            tokio::spawn(async move { heal(&ctx, &id).await });
        }
        for (id, timeout) in checks {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                break;
            };
            let ctx = ctx.clone();
            tokio::spawn(async move {
                run_check(&ctx, &id, timeout).await;
                drop(permit);
            });
        }
        // Batch what falls due close together: at most 50 wake-ups a second.
        let until = next.max(Instant::now() + Duration::from_millis(20));
        tokio::select! {
            () = &mut stop => break,
            () = tokio::time::sleep_until(until.into()) => {}
            () = ctx.monitor.wake.notified() => {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    let _ = history::flush(&ctx, true).await;
}

/// The state a deployment's lifecycle is in, for the fleet view.
pub(crate) fn state_of(m: &deployment::Model) -> DeploymentState {
    DeploymentState::parse(&m.state).unwrap_or(DeploymentState::Failed)
}

/// Samples this process's CPU use since the previous call, in percent of one core.
pub fn cpu_percent(ctx: &Ctx) -> f64 {
    let Some(now_cpu) = crate::health::process_cpu_seconds() else {
        return 0.0;
    };
    let now = Instant::now();
    let mut g = ctx.monitor.cpu.lock().unwrap_or_else(|e| e.into_inner());
    let pct = match *g {
        Some((at, cpu)) if now > at => {
            (now_cpu - cpu) / now.duration_since(at).as_secs_f64() * 100.0
        }
        _ => 0.0,
    };
    *g = Some((now, now_cpu));
    pct.max(0.0)
}

/// Checks deployment `id` at once (operators) and yields its health. Only the instance running
/// it can check it.
pub async fn recheck(
    ctx: &Ctx,
    caller: &crate::access::Caller,
    id: &str,
) -> Result<HealthView, DomainError> {
    caller.require(types::Role::Operator)?;
    let m = deployment::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("deployment"))?;
    let timeout =
        match ctx.monitor.view_of(id) {
            Some((_, _, c)) => Duration::from_millis(c.timeout_ms as u64),
            None => return Err(DomainError::Conflict(
                "the deployment is not checked here: it is not meant to run, it was left down, \
                 or another instance runs it"
                    .into(),
            )),
        };
    // A check under way (scheduled, or a restart) ends first: then this one runs.
    let until = Instant::now() + timeout + Duration::from_secs(5);
    loop {
        {
            let mut g = ctx.monitor.lock();
            match g.get_mut(id) {
                Some(t) if !t.busy => {
                    t.busy = true;
                    break;
                }
                Some(_) if Instant::now() < until => {}
                Some(_) => {
                    return Err(DomainError::Conflict(
                        "a check or restart of this deployment is under way".into(),
                    ))
                }
                None => {
                    return Err(DomainError::Conflict(
                        "the deployment is no longer checked".into(),
                    ))
                }
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    run_check(ctx, id, timeout).await;
    view(ctx, &m).await
}

/// Deployments by lifecycle state, and those meant to run by health (for the gauges).
pub async fn fleet_counts(
    ctx: &Ctx,
) -> Result<(Vec<(String, i64)>, Vec<(String, i64)>), DomainError> {
    let rows = deployment::Entity::find().all(&ctx.db.conn).await?;
    let stored = stored(ctx).await?;
    let mut states: HashMap<String, i64> = [
        DeploymentState::Starting,
        DeploymentState::Running,
        DeploymentState::Stopped,
        DeploymentState::Failed,
        DeploymentState::Exited,
        DeploymentState::Missing,
    ]
    .iter()
    .map(|s| (s.as_str().to_owned(), 0))
    .collect();
    let mut health: HashMap<String, i64> = Health::ALL
        .iter()
        .map(|h| (h.as_str().to_owned(), 0))
        .collect();
    for m in &rows {
        *states.entry(m.state.clone()).or_default() += 1;
        let v = view_stored(ctx, m, stored.get(&m.id));
        if v.enabled {
            *health.entry(v.status.as_str().to_owned()).or_default() += 1;
        }
    }
    Ok((states.into_iter().collect(), health.into_iter().collect()))
}
