//! Pipeline runs: a catalog entry taken to a ready deployment through durable steps
//! (resolve → prepare → deploy → initialize → discover → verify → ready).
//!
//! The database row is the state machine: every step's status, attempts, times, error and
//! log lines are written as they change, and a change-log row (`pipeline_events`) lets event
//! streams on any instance follow along. Runs wait in a queue that every instance's worker
//! pool takes from ([`worker`]): a run is claimed with a lease that heartbeats renew; a lease
//! that expires (its instance died) is taken over. A run that fails or is cancelled rolls
//! back whatever it created.

pub mod worker;

use std::{collections::HashMap, sync::Mutex, time::Duration};

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Notify};
use types::{
    deployment::{CreateDeployment, RuntimeKind},
    pipeline::{CreateRuns, RunFilter, RunInfo, RunState, StepInfo, StepLog, StepName, StepStatus},
    Page, Role,
};

use crate::{
    access::{
        audit::{self, Entry, Outcome},
        Caller,
    },
    entities::{pipeline_event, pipeline_run, pipeline_step},
    secrets::{self, SecretValue},
    Ctx, DomainError,
};

/// Pipeline settings (the `pipeline.*` settings).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Runs one instance executes at once.
    pub concurrency: usize,
    /// Attempts per step before the run fails.
    pub step_attempts: u32,
    /// First retry delay (doubles per attempt, with jitter).
    pub retry_base: Duration,
    /// Longest retry delay.
    pub retry_max: Duration,
    /// Longest a step attempt may take.
    pub step_timeout: Duration,
    /// How long a claim holds without a heartbeat (heartbeats every third of it).
    pub lease: Duration,
    /// How often an idle worker looks for work queued by other instances.
    pub poll: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            concurrency: 4,
            step_attempts: 3,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(10),
            step_timeout: Duration::from_secs(300),
            lease: Duration::from_secs(30),
            poll: Duration::from_secs(1),
        }
    }
}

/// Most runs one batch request may start.
pub const MAX_BATCH: usize = 500;
/// Log lines kept per step.
pub const MAX_STEP_LOGS: usize = 200;
const MAX_LIMIT: u64 = 200;

/// This instance's share of the pipeline: settings, wake-ups and the cancel switches of the
/// runs it executes.
#[derive(Debug)]
pub struct Pipeline {
    settings: Settings,
    /// Work was queued here (wakes the dispatcher before its next poll).
    wake: Notify,
    /// Bumped after every change written here (wakes event streams before their next poll).
    changed: watch::Sender<u64>,
    /// Runs executing here: their cancel switch.
    cancels: Mutex<HashMap<String, watch::Sender<bool>>>,
    /// Set when this instance shuts down (event streams end).
    closing: watch::Sender<bool>,
}

impl Default for Pipeline {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

impl Pipeline {
    /// A pipeline with `settings`.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            wake: Notify::new(),
            changed: watch::channel(0).0,
            cancels: Mutex::default(),
            closing: watch::channel(false).0,
        }
    }

    /// A receiver that turns `true` when this instance shuts down.
    pub fn closing(&self) -> watch::Receiver<bool> {
        self.closing.subscribe()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Runs executing on this instance now.
    pub fn busy(&self) -> usize {
        self.cancels.lock().map_or(0, |c| c.len())
    }

    /// A receiver that changes whenever this instance writes a run change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.changed.subscribe()
    }

    fn bump(&self) {
        self.changed.send_modify(|v| *v = v.wrapping_add(1));
    }

    fn cancel_local(&self, id: &str) -> bool {
        match self.cancels.lock().ok().and_then(|c| c.get(id).cloned()) {
            Some(tx) => {
                let _ = tx.send(true);
                true
            }
            None => false,
        }
    }
}

fn secret_name(run: &str, var: &str) -> String {
    format!("pipeline/{run}/env/{var}")
}

/// Writes a change-log row for run `id` on `conn` (event streams on every instance follow
/// these); bump [`Pipeline`] once it is committed.
async fn record_change(
    conn: &impl sea_orm::ConnectionTrait,
    id: &str,
) -> Result<(), sea_orm::DbErr> {
    pipeline_event::ActiveModel {
        run_id: Set(id.to_owned()),
        at: Set(Utc::now()),
        ..Default::default()
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Records that run `id` changed, outside any transaction.
async fn touch(ctx: &Ctx, id: &str) -> Result<(), DomainError> {
    record_change(&ctx.db.conn, id).await?;
    ctx.pipeline.bump();
    Ok(())
}

fn parse_logs(text: &str) -> Vec<StepLog> {
    serde_json::from_str(text).unwrap_or_default()
}

fn step_info(s: &pipeline_step::Model, with_logs: bool) -> StepInfo {
    StepInfo {
        name: StepName::parse(&s.step).unwrap_or(StepName::Resolve),
        status: StepStatus::parse(&s.status).unwrap_or(StepStatus::Pending),
        attempts: s.attempts.max(0) as u32,
        started_at: s.started_at,
        finished_at: s.finished_at,
        error: s.error.clone(),
        instance: s.instance_id.clone(),
        logs: if with_logs {
            parse_logs(&s.logs)
        } else {
            Vec::new()
        },
    }
}

fn to_info(r: &pipeline_run::Model, steps: &[pipeline_step::Model], with_logs: bool) -> RunInfo {
    let request: CreateDeployment =
        serde_json::from_str(&r.request).unwrap_or_else(|_| CreateDeployment {
            server: r.server.clone(),
            version: r.version.clone(),
            registry_id: r.registry_id.clone(),
            package: None,
            package_version: None,
            runtime: None,
            arguments: None,
            env: Vec::new(),
            name: None,
            health: None,
        });
    RunInfo {
        id: r.id.clone(),
        server: r.server.clone(),
        version: r.version.clone(),
        resolved_version: r.resolved_version.clone(),
        runtime: r.runtime.as_deref().and_then(RuntimeKind::parse),
        state: RunState::parse(&r.state).unwrap_or(RunState::Failed),
        state_reason: r.state_reason.clone(),
        current_step: r.current_step.as_deref().and_then(StepName::parse),
        deployment_id: r.deployment_id.clone(),
        deployment_name: r.deployment_name.clone(),
        created_by: r.created_by.clone(),
        rerun_of: r.rerun_of.clone(),
        retries: r.retries.max(0) as u32,
        request,
        created_at: r.created_at,
        queued_at: r.queued_at,
        started_at: r.started_at,
        finished_at: r.finished_at,
        steps: steps.iter().map(|s| step_info(s, with_logs)).collect(),
    }
}

async fn steps_in(
    conn: &impl sea_orm::ConnectionTrait,
    id: &str,
) -> Result<Vec<pipeline_step::Model>, DomainError> {
    Ok(pipeline_step::Entity::find()
        .filter(pipeline_step::Column::RunId.eq(id))
        .order_by_asc(pipeline_step::Column::Position)
        .all(conn)
        .await?)
}

async fn steps_of(ctx: &Ctx, id: &str) -> Result<Vec<pipeline_step::Model>, DomainError> {
    steps_in(&ctx.db.conn, id).await
}

async fn find_in(
    conn: &impl sea_orm::ConnectionTrait,
    id: &str,
) -> Result<pipeline_run::Model, DomainError> {
    if uuid::Uuid::parse_str(id).is_err() {
        return Err(DomainError::NotFound("pipeline run"));
    }
    pipeline_run::Entity::find_by_id(id)
        .one(conn)
        .await?
        .ok_or(DomainError::NotFound("pipeline run"))
}

async fn find(ctx: &Ctx, id: &str) -> Result<pipeline_run::Model, DomainError> {
    find_in(&ctx.db.conn, id).await
}

/// A run with its steps and logs as `conn` sees it (inside a transaction: its own writes).
async fn load_in(conn: &impl sea_orm::ConnectionTrait, id: &str) -> Result<RunInfo, DomainError> {
    let r = find_in(conn, id).await?;
    Ok(to_info(&r, &steps_in(conn, id).await?, true))
}

/// A run with its steps (and their logs), for the service layer's own use.
pub(crate) async fn load(ctx: &Ctx, id: &str) -> Result<RunInfo, DomainError> {
    load_in(&ctx.db.conn, id).await
}

/// An `Idempotency-Key` header value: 1–255 visible ASCII characters.
fn check_key(key: &str) -> Result<(), DomainError> {
    if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(DomainError::invalid(
            "Idempotency-Key",
            "must be 1 to 255 visible ASCII characters",
        ));
    }
    Ok(())
}

fn body_hash(body: &impl serde::Serialize) -> String {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The runs an earlier request with this key created (scoped to the caller), if any; a 422
/// when that request had another body.
async fn replay(
    ctx: &Ctx,
    scoped_keys: &[String],
    hash: &str,
) -> Result<Option<Vec<RunInfo>>, DomainError> {
    let rows = pipeline_run::Entity::find()
        .filter(pipeline_run::Column::IdempotencyKey.is_in(scoped_keys.iter().cloned()))
        .all(&ctx.db.conn)
        .await?;
    if rows.is_empty() {
        return Ok(None);
    }
    if rows.iter().any(|r| r.request_hash.as_deref() != Some(hash))
        || rows.len() != scoped_keys.len()
    {
        return Err(DomainError::invalid(
            "Idempotency-Key",
            "was already used with another request body",
        ));
    }
    let mut out = Vec::with_capacity(rows.len());
    for k in scoped_keys {
        if let Some(r) = rows
            .iter()
            .find(|r| r.idempotency_key.as_deref() == Some(k))
        {
            out.push(to_info(r, &steps_of(ctx, &r.id).await?, true));
        }
    }
    Ok(Some(out))
}

/// A new run of `req` (operators), queued for a worker. With `idempotency_key`, the same
/// key and body return the run the first request created (`true`: replayed); the same key
/// with another body is a 422.
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    req: CreateDeployment,
    idempotency_key: Option<&str>,
) -> Result<(RunInfo, bool), DomainError> {
    let (mut runs, replayed) = create_many(ctx, caller, vec![req], idempotency_key, false).await?;
    let run = runs
        .pop()
        .ok_or_else(|| DomainError::Internal("no run created".into()))?;
    Ok((run, replayed))
}

/// Several runs at once (operators), queued in request order; all are checked before any is
/// created.
pub async fn create_batch(
    ctx: &Ctx,
    caller: &Caller,
    req: CreateRuns,
    idempotency_key: Option<&str>,
) -> Result<(Vec<RunInfo>, bool), DomainError> {
    if req.runs.is_empty() || req.runs.len() > MAX_BATCH {
        return Err(DomainError::invalid(
            "runs",
            format!("must hold 1 to {MAX_BATCH} requests"),
        ));
    }
    create_many(ctx, caller, req.runs, idempotency_key, true).await
}

async fn create_many(
    ctx: &Ctx,
    caller: &Caller,
    reqs: Vec<CreateDeployment>,
    idempotency_key: Option<&str>,
    batch: bool,
) -> Result<(Vec<RunInfo>, bool), DomainError> {
    let me = caller.require(Role::Operator)?.clone();
    let scoped: Option<(Vec<String>, String)> = match idempotency_key {
        Some(k) => {
            check_key(k)?;
            let keys = if batch {
                (0..reqs.len())
                    .map(|i| format!("{}/{k}#{i}", me.id))
                    .collect()
            } else {
                vec![format!("{}/{k}", me.id)]
            };
            let hash = if batch {
                body_hash(&reqs)
            } else {
                body_hash(&reqs[0])
            };
            if let Some(runs) = replay(ctx, &keys, &hash).await? {
                return Ok((runs, true));
            }
            Some((keys, hash))
        }
        None => None,
    };
    // Bad configuration is the caller's to fix now, not a run that fails later.
    let mut secret_needed = false;
    for (i, r) in reqs.iter().enumerate() {
        crate::deployments::resolve(ctx, r)
            .await
            .map_err(|e| match e {
                DomainError::Invalid(f) if batch => DomainError::Invalid(types::FieldError {
                    field: f.field,
                    message: format!("run {i}: {}", f.message),
                }),
                other => other,
            })?;
        secret_needed |= r.env.iter().any(|e| e.secret);
    }
    let key = if secret_needed {
        Some(ctx.secrets()?)
    } else {
        None
    };
    let now = Utc::now();
    let txn = ctx.db.begin_write().await?;
    let mut ids = Vec::with_capacity(reqs.len());
    for (i, r) in reqs.iter().enumerate() {
        let id = uuid::Uuid::now_v7().to_string();
        let mut stored = r.clone();
        for e in stored.env.iter_mut().filter(|e| e.secret) {
            e.value = String::new();
        }
        let row = pipeline_run::ActiveModel {
            id: Set(id.clone()),
            server: Set(r.server.clone()),
            version: Set(r.version.clone()),
            registry_id: Set(r.registry_id.clone()),
            request: Set(serde_json::to_string(&stored).unwrap_or_default()),
            plan: Set(None),
            resolved_version: Set(None),
            runtime: Set(None),
            state: Set(RunState::Queued.as_str().into()),
            state_reason: Set(None),
            current_step: Set(None),
            deployment_id: Set(None),
            deployment_name: Set(None),
            created_by: Set(Some(me.name.clone())),
            idempotency_key: Set(scoped.as_ref().map(|(k, _)| k[i].clone())),
            request_hash: Set(scoped.as_ref().map(|(_, h)| h.clone())),
            rerun_of: Set(None),
            retries: Set(0),
            cancel_requested: Set(false),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            created_at: Set(now),
            queued_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
            updated_at: Set(now),
        };
        if let Err(e) = row.insert(&txn).await {
            // Another request with the same key won the race: answer with its runs.
            if let (Some((keys, hash)), Some(sea_orm::SqlErr::UniqueConstraintViolation(_))) =
                (&scoped, e.sql_err())
            {
                drop(txn);
                if let Some(runs) = replay(ctx, keys, hash).await? {
                    return Ok((runs, true));
                }
            }
            return Err(e.into());
        }
        insert_steps(&txn, &id).await?;
        if let Some(key) = key {
            for e in r.env.iter().filter(|e| e.secret) {
                secrets::put(
                    &txn,
                    key,
                    &secret_name(&id, &e.name),
                    &SecretValue::new(e.value.clone()),
                )
                .await?;
            }
        }
        audit::record(
            &txn,
            caller,
            Entry {
                action: "pipeline_run.create",
                target_kind: "pipeline_run",
                target_id: Some(id.clone()),
                outcome: Outcome::Success,
                detail: json!({"server": r.server, "version": r.version,
                    "env": r.env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()}),
            },
        )
        .await?;
        record_change(&txn, &id).await?;
        ids.push(id);
    }
    // The answer is the runs as queued (a worker may take them the moment they commit).
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        out.push(load_in(&txn, &id).await?);
    }
    txn.commit().await?;
    ctx.pipeline.bump();
    ctx.pipeline.wake.notify_one();
    Ok((out, false))
}

async fn insert_steps(
    conn: &impl sea_orm::ConnectionTrait,
    run_id: &str,
) -> Result<(), DomainError> {
    pipeline_step::Entity::insert_many(StepName::ALL.iter().map(|s| pipeline_step::ActiveModel {
        run_id: Set(run_id.to_owned()),
        position: Set(s.index() as i32),
        step: Set(s.as_str().to_owned()),
        status: Set(StepStatus::Pending.as_str().to_owned()),
        attempts: Set(0),
        started_at: Set(None),
        finished_at: Set(None),
        error: Set(None),
        instance_id: Set(None),
        logs: Set("[]".to_owned()),
    }))
    .exec(conn)
    .await?;
    Ok(())
}

/// Runs, newest first (viewers), filtered; steps without their logs.
pub async fn list(ctx: &Ctx, caller: &Caller, f: RunFilter) -> Result<Page<RunInfo>, DomainError> {
    caller.require(Role::Viewer)?;
    let limit = u64::from(f.limit.unwrap_or(50)).clamp(1, MAX_LIMIT);
    let mut q = pipeline_run::Entity::find().order_by_desc(pipeline_run::Column::Id);
    if let Some(c) = &f.cursor {
        if uuid::Uuid::parse_str(c).is_err() {
            return Err(DomainError::invalid(
                "cursor",
                "is not a cursor this server gave out",
            ));
        }
        q = q.filter(pipeline_run::Column::Id.lt(c.as_str()));
    }
    if let Some(s) = f.state {
        q = q.filter(pipeline_run::Column::State.eq(s.as_str()));
    }
    if let Some(s) = &f.server {
        q = q.filter(pipeline_run::Column::Server.eq(s.as_str()));
    }
    if let Some(s) = &f.created_by {
        q = q.filter(pipeline_run::Column::CreatedBy.eq(s.as_str()));
    }
    if let Some(t) = f.since {
        q = q.filter(pipeline_run::Column::CreatedAt.gte(t));
    }
    if let Some(t) = f.until {
        q = q.filter(pipeline_run::Column::CreatedAt.lt(t));
    }
    let mut rows = q.limit(limit + 1).all(&ctx.db.conn).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
    let mut steps: HashMap<String, Vec<pipeline_step::Model>> = HashMap::new();
    if !ids.is_empty() {
        for s in pipeline_step::Entity::find()
            .filter(pipeline_step::Column::RunId.is_in(ids))
            .order_by_asc(pipeline_step::Column::Position)
            .all(&ctx.db.conn)
            .await?
        {
            steps.entry(s.run_id.clone()).or_default().push(s);
        }
    }
    Ok(Page {
        items: rows
            .iter()
            .map(|r| to_info(r, steps.get(&r.id).map_or(&[][..], Vec::as_slice), false))
            .collect(),
        next_cursor,
    })
}

/// One run with its steps and their logs (viewers).
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<RunInfo, DomainError> {
    caller.require(Role::Viewer)?;
    load(ctx, id).await
}

async fn record(
    ctx: &Ctx,
    caller: &Caller,
    action: &'static str,
    id: &str,
) -> Result<(), DomainError> {
    audit::record(
        &ctx.db.conn,
        caller,
        Entry {
            action,
            target_kind: "pipeline_run",
            target_id: Some(id.to_owned()),
            outcome: Outcome::Success,
            detail: json!({}),
        },
    )
    .await
}

/// Cancels a run (operators): a queued one at once; a running one is stopped by the
/// instance executing it, which rolls back what it created. 409 once it has ended.
pub async fn cancel(ctx: &Ctx, caller: &Caller, id: &str) -> Result<RunInfo, DomainError> {
    let me = caller.require(Role::Operator)?.clone();
    let r = find(ctx, id).await?;
    let reason = format!("cancelled by {}", me.name);
    let now = Utc::now();
    match RunState::parse(&r.state) {
        Some(RunState::Queued) => {
            let done = pipeline_run::Entity::update_many()
                .set(pipeline_run::ActiveModel {
                    state: Set(RunState::Cancelled.as_str().into()),
                    state_reason: Set(Some(reason.clone())),
                    cancel_requested: Set(true),
                    finished_at: Set(Some(now)),
                    updated_at: Set(now),
                    ..Default::default()
                })
                .filter(pipeline_run::Column::Id.eq(id))
                .filter(pipeline_run::Column::State.eq(RunState::Queued.as_str()))
                .exec(&ctx.db.conn)
                .await?
                .rows_affected
                == 1;
            if done {
                pipeline_step::Entity::update_many()
                    .set(pipeline_step::ActiveModel {
                        status: Set(StepStatus::Skipped.as_str().into()),
                        ..Default::default()
                    })
                    .filter(pipeline_step::Column::RunId.eq(id))
                    .filter(pipeline_step::Column::Status.eq(StepStatus::Pending.as_str()))
                    .exec(&ctx.db.conn)
                    .await?;
            } else {
                // A worker took it meanwhile: ask that worker.
                request_cancel(ctx, id, &reason).await?;
            }
        }
        Some(RunState::Running | RunState::Cancelling) => request_cancel(ctx, id, &reason).await?,
        _ => {
            return Err(DomainError::Conflict(format!(
                "the run has ended ({})",
                r.state
            )))
        }
    }
    record(ctx, caller, "pipeline_run.cancel", id).await?;
    touch(ctx, id).await?;
    load(ctx, id).await
}

async fn request_cancel(ctx: &Ctx, id: &str, reason: &str) -> Result<(), DomainError> {
    pipeline_run::Entity::update_many()
        .set(pipeline_run::ActiveModel {
            state: Set(RunState::Cancelling.as_str().into()),
            state_reason: Set(Some(reason.to_owned())),
            cancel_requested: Set(true),
            updated_at: Set(Utc::now()),
            ..Default::default()
        })
        .filter(pipeline_run::Column::Id.eq(id))
        .filter(
            pipeline_run::Column::State
                .is_in([RunState::Running.as_str(), RunState::Cancelling.as_str()]),
        )
        .exec(&ctx.db.conn)
        .await?;
    // Executing here: stop it now (others see the flag at their next check).
    ctx.pipeline.cancel_local(id);
    Ok(())
}

/// Queues a failed or cancelled run again (operators), from its failed step (from `deploy`
/// when it failed later, since the rollback removed the deployment). Attempts and logs stay.
pub async fn retry(ctx: &Ctx, caller: &Caller, id: &str) -> Result<RunInfo, DomainError> {
    caller.require(Role::Operator)?;
    let r = find(ctx, id).await?;
    if !matches!(
        RunState::parse(&r.state),
        Some(RunState::Failed | RunState::Cancelled)
    ) {
        return Err(DomainError::Conflict(format!(
            "only failed or cancelled runs can be retried (this one is {})",
            r.state
        )));
    }
    let steps = steps_of(ctx, id).await?;
    let from = steps
        .iter()
        .find(|s| s.status != StepStatus::Succeeded.as_str())
        .and_then(|s| StepName::parse(&s.step))
        .unwrap_or(StepName::Resolve)
        .min(StepName::Deploy);
    let now = Utc::now();
    let txn = ctx.db.begin_write().await?;
    let updated = pipeline_run::Entity::update_many()
        .set(pipeline_run::ActiveModel {
            state: Set(RunState::Queued.as_str().into()),
            state_reason: Set(None),
            cancel_requested: Set(false),
            deployment_id: Set(None),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            queued_at: Set(now),
            started_at: Set(None),
            finished_at: Set(None),
            retries: Set(r.retries + 1),
            updated_at: Set(now),
            ..Default::default()
        })
        .filter(pipeline_run::Column::Id.eq(id))
        .filter(pipeline_run::Column::State.eq(r.state.clone()))
        .exec(&txn)
        .await?
        .rows_affected;
    if updated != 1 {
        return Err(DomainError::Conflict(
            "the run changed meanwhile; try again".into(),
        ));
    }
    pipeline_step::Entity::update_many()
        .set(pipeline_step::ActiveModel {
            status: Set(StepStatus::Pending.as_str().into()),
            started_at: Set(None),
            finished_at: Set(None),
            error: Set(None),
            ..Default::default()
        })
        .filter(pipeline_step::Column::RunId.eq(id))
        .filter(pipeline_step::Column::Position.gte(from.index() as i32))
        .exec(&txn)
        .await?;
    let queued = load_in(&txn, id).await?;
    txn.commit().await?;
    record(ctx, caller, "pipeline_run.retry", id).await?;
    touch(ctx, id).await?;
    ctx.pipeline.wake.notify_one();
    Ok(queued)
}

/// A new run with the same request as `id` (operators), its secret values copied.
pub async fn rerun(ctx: &Ctx, caller: &Caller, id: &str) -> Result<RunInfo, DomainError> {
    caller.require(Role::Operator)?;
    let r = find(ctx, id).await?;
    let mut req: CreateDeployment = serde_json::from_str(&r.request)
        .map_err(|e| DomainError::Internal(format!("stored request: {e}")))?;
    hydrate(ctx, &r.id, &mut req).await?;
    let (run, _) = create(ctx, caller, req, None).await?;
    pipeline_run::Entity::update_many()
        .set(pipeline_run::ActiveModel {
            rerun_of: Set(Some(r.id.clone())),
            ..Default::default()
        })
        .filter(pipeline_run::Column::Id.eq(&run.id))
        .exec(&ctx.db.conn)
        .await?;
    load(ctx, &run.id).await
}

/// Puts the secret values of run `id` back into `req`.
async fn hydrate(ctx: &Ctx, id: &str, req: &mut CreateDeployment) -> Result<(), DomainError> {
    for e in req.env.iter_mut().filter(|e| e.secret) {
        let v = secrets::get(&ctx.db.conn, ctx.secrets()?, &secret_name(id, &e.name))
            .await?
            .ok_or_else(|| {
                DomainError::Conflict(format!(
                    "the secret value of {} is no longer stored: start a new run",
                    e.name
                ))
            })?;
        e.value = v.expose().to_owned();
    }
    Ok(())
}

/// The newest change number (event streams start after it).
pub async fn latest_event(ctx: &Ctx, run: Option<&str>) -> Result<i64, DomainError> {
    let mut q = pipeline_event::Entity::find().order_by_desc(pipeline_event::Column::Seq);
    if let Some(r) = run {
        q = q.filter(pipeline_event::Column::RunId.eq(r));
    }
    Ok(q.one(&ctx.db.conn).await?.map_or(0, |e| e.seq))
}

/// Runs changed after change number `after` (viewers): the newest change number and each
/// changed run (with step logs when following one run).
pub async fn changes(
    ctx: &Ctx,
    caller: &Caller,
    run: Option<&str>,
    after: i64,
) -> Result<(i64, Vec<RunInfo>), DomainError> {
    caller.require(Role::Viewer)?;
    let mut q = pipeline_event::Entity::find()
        .filter(pipeline_event::Column::Seq.gt(after))
        .order_by_asc(pipeline_event::Column::Seq)
        .limit(1000);
    if let Some(r) = run {
        q = q.filter(pipeline_event::Column::RunId.eq(r));
    }
    let events = q.all(&ctx.db.conn).await?;
    let Some(last) = events.last().map(|e| e.seq) else {
        return Ok((after, Vec::new()));
    };
    let mut ids: Vec<String> = Vec::new();
    for e in events {
        if !ids.contains(&e.run_id) {
            ids.push(e.run_id);
        }
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in ids {
        match find(ctx, &id).await {
            Ok(r) => out.push(to_info(&r, &steps_of(ctx, &id).await?, run.is_some())),
            Err(DomainError::NotFound(_)) => {}
            Err(e) => return Err(e),
        }
    }
    Ok((last, out))
}

/// Removes change-log rows older than `age` (the runs themselves stay).
pub async fn prune_events(ctx: &Ctx, age: Duration) -> Result<u64, DomainError> {
    let cutoff: DateTime<Utc> = Utc::now() - chrono::Duration::from_std(age).unwrap_or_default();
    Ok(pipeline_event::Entity::delete_many()
        .filter(pipeline_event::Column::At.lt(cutoff))
        .exec(&ctx.db.conn)
        .await?
        .rows_affected)
}

/// Queued runs (all instances).
pub async fn queue_depth(ctx: &Ctx) -> Result<u64, DomainError> {
    use sea_orm::PaginatorTrait;
    Ok(pipeline_run::Entity::find()
        .filter(pipeline_run::Column::State.eq(RunState::Queued.as_str()))
        .count(&ctx.db.conn)
        .await?)
}

/// Runs by state (all instances).
pub async fn counts_by_state(ctx: &Ctx) -> Result<Vec<(String, i64)>, DomainError> {
    let rows: Vec<(String, i64)> = pipeline_run::Entity::find()
        .select_only()
        .column(pipeline_run::Column::State)
        .column_as(pipeline_run::Column::Id.count(), "n")
        .group_by(pipeline_run::Column::State)
        .into_tuple()
        .all(&ctx.db.conn)
        .await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_checked() {
        assert!(check_key("a-b_c.1:2").is_ok());
        assert!(check_key("").is_err());
        assert!(check_key("with space").is_err());
        assert!(check_key(&"k".repeat(256)).is_err());
        assert!(check_key("ünï").is_err());
    }

    #[test]
    fn body_hashes_differ_with_the_body() {
        let a = json!({"server": "a/b"});
        let b = json!({"server": "a/c"});
        assert_eq!(body_hash(&a), body_hash(&a.clone()));
        assert_ne!(body_hash(&a), body_hash(&b));
        assert_eq!(body_hash(&a).len(), 64);
    }
}
