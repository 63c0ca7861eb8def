//! The worker pool: claims queued runs (fairly: the starter with the fewest runs executing
//! goes first, then first come), executes them step by step, renews their leases and takes
//! over runs whose instance died.
//!
//! Crash rules. `resolve` and `prepare` only read and check: a run interrupted there resumes
//! (they run again). From `deploy` on, the steps create things and hold a live MCP session
//! that dies with its process: a run interrupted there is never continued half-way. It ends
//! `failed` with the reason "interrupted", and whatever it created (deployment record,
//! container, process, secrets) is removed; an operator may retry it. On a clean shutdown the
//! same holds, except that runs that had not reached `deploy` go back to the queue.

use std::{future::Future, time::Duration};

use chrono::Utc;
use rand::Rng as _;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set, Statement,
};
use serde::{Deserialize, Serialize};
use tokio::{sync::watch, task::JoinSet, time::Instant};
use types::{
    deployment::{Capabilities, CreateDeployment, RuntimeKind},
    env::EnvName,
    pipeline::{RunState, StepLog, StepName, StepStatus},
    DatabaseBackend,
};

use super::{find, hydrate, parse_logs, record_change, steps_of, touch, MAX_STEP_LOGS};
use crate::{
    access::Caller,
    deployments::{
        self,
        plan::{EnvEntry, Plan},
        Channel, Launched,
    },
    entities::{deployment, pipeline_run, pipeline_step},
    mcp::Session,
    runtime::{Launch, Transport},
    Ctx, DomainError,
};

/// A plan as stored on the run (secret values stay in the secret store).
#[derive(Serialize, Deserialize)]
struct StoredPlan {
    name: String,
    server: String,
    version: String,
    registry_id: String,
    package: u32,
    runtime: RuntimeKind,
    launch: Launch,
    args: Vec<String>,
    env: Vec<(String, Option<String>, bool)>,
    transport: Transport,
    #[serde(default)]
    health: Option<types::HealthConfig>,
}

impl StoredPlan {
    fn of(p: &Plan) -> Self {
        Self {
            name: p.name.clone(),
            server: p.server.clone(),
            version: p.version.clone(),
            registry_id: p.registry_id.clone(),
            package: p.package,
            runtime: p.runtime,
            launch: p.launch.clone(),
            args: p.args.clone(),
            env: p
                .env
                .iter()
                .map(|e| {
                    (
                        e.name.as_str().to_owned(),
                        (!e.secret).then(|| e.value.clone()),
                        e.secret,
                    )
                })
                .collect(),
            transport: p.transport.clone(),
            health: p.health,
        }
    }
}

/// Why a run stopped before its end.
enum Stop {
    /// An operator cancelled it.
    Cancelled,
    /// A step failed after its attempts.
    Failed(String),
    /// This instance is shutting down.
    Shutdown,
    /// Another instance holds the lease now.
    LostLease,
}

/// A step attempt's failure.
struct StepError {
    error: DomainError,
    /// Retrying cannot help (bad input, or the attempt used up what it needed).
    permanent: bool,
}

impl From<DomainError> for StepError {
    fn from(error: DomainError) -> Self {
        let permanent = matches!(
            error,
            DomainError::Invalid(_)
                | DomainError::NotFound(_)
                | DomainError::Forbidden(_)
                | DomainError::Conflict(_)
        );
        Self { error, permanent }
    }
}

fn permanent(error: DomainError) -> StepError {
    StepError {
        error,
        permanent: true,
    }
}

/// Resolves once `rx` holds `true` (never if its sender is gone).
async fn raised(rx: &mut watch::Receiver<bool>) {
    loop {
        if *rx.borrow_and_update() {
            return;
        }
        if rx.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// One transition of run `id` in one transaction: `run` fields (fenced by this instance's
/// lease), `steps` rows, and a change-log row; then local event streams are woken.
async fn write(
    ctx: &Ctx,
    id: &str,
    steps: Vec<pipeline_step::Model>,
    run: Option<pipeline_run::ActiveModel>,
) -> Result<(), Stop> {
    let db = |e: sea_orm::DbErr| Stop::Failed(format!("database error: {e}"));
    let txn = ctx.db.begin_write().await.map_err(db)?;
    if let Some(mut a) = run {
        a.updated_at = Set(Utc::now());
        let n = pipeline_run::Entity::update_many()
            .set(a)
            .filter(pipeline_run::Column::Id.eq(id))
            .filter(pipeline_run::Column::LeaseOwner.eq(ctx.instance.id.as_str()))
            .exec(&txn)
            .await
            .map_err(db)?
            .rows_affected;
        if n != 1 {
            return Err(Stop::LostLease);
        }
    }
    for s in steps {
        pipeline_step::ActiveModel {
            run_id: Set(s.run_id),
            position: Set(s.position),
            step: Set(s.step),
            status: Set(s.status),
            attempts: Set(s.attempts),
            started_at: Set(s.started_at),
            finished_at: Set(s.finished_at),
            error: Set(s.error),
            instance_id: Set(s.instance_id),
            logs: Set(s.logs),
        }
        .update(&txn)
        .await
        .map_err(db)?;
    }
    record_change(&txn, id).await.map_err(db)?;
    txn.commit().await.map_err(db)?;
    ctx.pipeline.bump();
    Ok(())
}

/// Sets in `into` every field `from` sets.
fn merge(into: &mut pipeline_run::ActiveModel, from: pipeline_run::ActiveModel) {
    use sea_orm::{ActiveModelTrait as _, Iterable as _};
    for col in pipeline_run::Column::iter() {
        if let sea_orm::ActiveValue::Set(v) = from.get(col) {
            into.set(col, v);
        }
    }
}

/// A step still running after this is written as running (quicker ones are written with the
/// next transition).
const PROGRESS_AFTER: Duration = Duration::from_millis(100);

/// Delay before retry `n` (1-based): base × 2^(n−1), capped, with jitter (½ to 1 ×).
pub fn backoff(base: Duration, max: Duration, n: u32) -> Duration {
    let exp = base.saturating_mul(1u32 << n.saturating_sub(1).min(20));
    let d = exp.min(max);
    let half = d / 2;
    half + Duration::from_millis(rand::thread_rng().gen_range(0..=half.as_millis() as u64))
}

/// One run executing on this instance.
struct Exec {
    ctx: Ctx,
    id: String,
    run: pipeline_run::Model,
    steps: Vec<pipeline_step::Model>,
    cancel: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
    plan: Option<Plan>,
    deployment: Option<deployment::Model>,
    launched: Option<Launched>,
    channel: Option<Channel>,
    session: Option<Session>,
    endpoint: Option<String>,
    caps: Option<Capabilities>,
    /// Steps that ended well but are not written yet: the next transition's transaction
    /// writes them (a step's end and the next one's start are one write).
    unsaved: Vec<usize>,
    /// Run fields not written yet (the next transition writes them).
    unsaved_run: Option<pipeline_run::ActiveModel>,
    /// The scheduler's own time on this run so far (claim, load, every transition's write)
    /// and how many writes that was.
    bookkeeping: Duration,
    writes: u32,
}

impl Exec {
    fn me(&self) -> &str {
        &self.ctx.instance.id
    }

    /// Writes steps `idx` as held in memory (and those not written yet), and `run` (fenced by
    /// the lease) when given, with one change-log row: one transaction per transition.
    async fn commit(
        &mut self,
        idx: &[usize],
        run: Option<pipeline_run::ActiveModel>,
    ) -> Result<(), Stop> {
        let t0 = Instant::now();
        let mut idx = idx.to_vec();
        for i in std::mem::take(&mut self.unsaved) {
            if !idx.contains(&i) {
                idx.push(i);
            }
        }
        let run = match (self.unsaved_run.take(), run) {
            (Some(mut earlier), Some(now)) => {
                merge(&mut earlier, now);
                Some(earlier)
            }
            (earlier, now) => now.or(earlier),
        };
        let steps: Vec<pipeline_step::Model> = idx.iter().map(|&i| self.steps[i].clone()).collect();
        write(&self.ctx, &self.id, steps, run).await?;
        self.bookkeeping += t0.elapsed();
        self.writes += 1;
        Ok(())
    }

    /// Run fields to write with the next transition.
    fn defer(&mut self, a: pipeline_run::ActiveModel) {
        self.unsaved_run = Some(match self.unsaved_run.take() {
            Some(mut earlier) => {
                merge(&mut earlier, a);
                earlier
            }
            None => a,
        });
    }

    /// Writes step `idx` as held in memory (a failure is logged: the run goes on).
    async fn save_step(&mut self, idx: usize) {
        if let Err(Stop::Failed(e)) = self.commit(&[idx], None).await {
            tracing::warn!(target: "mcp_orchestrator::pipeline", run = %self.id, error = %e, "cannot record a step");
        }
    }

    fn log(&mut self, idx: usize, text: impl Into<String>) {
        let mut logs = parse_logs(&self.steps[idx].logs);
        logs.push(StepLog {
            at: Utc::now(),
            text: text.into(),
        });
        if logs.len() > MAX_STEP_LOGS {
            logs.drain(..logs.len() - MAX_STEP_LOGS);
        }
        self.steps[idx].logs = serde_json::to_string(&logs).unwrap_or_else(|_| "[]".into());
    }

    /// Step `idx` ended (`outcome`): its duration, all attempts, in the histogram.
    fn observe(&self, idx: usize, outcome: &str) {
        let s = &self.steps[idx];
        if let (Some(a), Some(b)) = (s.started_at, s.finished_at) {
            self.ctx
                .metrics
                .step_duration
                .with_label_values(&[s.step.as_str(), outcome])
                .observe((b - a).num_microseconds().unwrap_or(0).max(0) as f64 / 1e6);
        }
    }

    fn set_status(&mut self, idx: usize, status: StepStatus) {
        self.steps[idx].status = status.as_str().to_owned();
    }

    /// Takes the run to its end: whatever it created removed (unless it succeeded), the
    /// failing step marked, later steps skipped.
    async fn finish(
        &mut self,
        state: RunState,
        reason: Option<String>,
        at: Option<(usize, StepStatus, Option<String>)>,
    ) -> Result<(), DomainError> {
        // Where the scheduler's figure is logged: the step that ended the run.
        let last = at
            .as_ref()
            .map(|a| a.0)
            .or_else(|| self.unsaved.last().copied())
            .unwrap_or(StepName::Ready.index());
        if state != RunState::Succeeded {
            if let Some(s) = self.session.take() {
                s.close().await;
            }
            let mut removed = Vec::new();
            if let Some(mut l) = self.launched.take() {
                removed.push(deployments::discard(&self.ctx, &mut l.runner).await);
            }
            self.channel = None;
            removed.extend(deployments::purge_for_run(&self.ctx, &self.id).await?);
            let idx = at
                .as_ref()
                .map(|a| a.0)
                .or_else(|| {
                    self.steps
                        .iter()
                        .position(|s| s.status == StepStatus::Running.as_str())
                })
                .unwrap_or(0);
            self.log(
                idx,
                if removed.is_empty() {
                    "rolled back: nothing had been created".to_owned()
                } else {
                    format!("rolled back: removed {}", removed.join(", "))
                },
            );
            if let Some((i, status, error)) = at {
                self.set_status(i, status);
                self.steps[i].error = error;
                self.steps[i].finished_at = Some(Utc::now());
            }
            for i in 0..self.steps.len() {
                if matches!(self.steps[i].status.as_str(), "pending" | "running") {
                    self.set_status(i, StepStatus::Skipped);
                }
            }
        }
        let now = Utc::now();
        let mut a = pipeline_run::ActiveModel {
            state: Set(state.as_str().to_owned()),
            state_reason: Set(reason),
            finished_at: Set(Some(now)),
            lease_owner: Set(None),
            lease_expires_at: Set(None),
            updated_at: Set(now),
            ..Default::default()
        };
        if state != RunState::Succeeded {
            a.deployment_id = Set(None);
        }
        let figure = format!(
            "scheduler: {} writes, {:.2} ms (claim, load and step transitions; this last write not counted)",
            self.writes,
            self.bookkeeping.as_secs_f64() * 1000.0
        );
        self.log(last, figure);
        let all: Vec<usize> = if state == RunState::Succeeded {
            vec![last]
        } else {
            (0..self.steps.len()).collect()
        };
        if let Err(Stop::Failed(e)) = self.commit(&all, Some(a)).await {
            return Err(DomainError::Internal(e));
        }
        self.ctx
            .metrics
            .runs_finished
            .with_label_values(&[state.as_str()])
            .inc();
        tracing::info!(target: "mcp_orchestrator::pipeline", run = %self.id, state = state.as_str(), "run ended");
        Ok(())
    }

    /// Sends the run back to the queue (clean shutdown before `deploy`).
    async fn requeue(&mut self) -> Result<(), DomainError> {
        for i in 0..self.steps.len() {
            if self.steps[i].status == StepStatus::Running.as_str() {
                self.set_status(i, StepStatus::Pending);
                self.log(i, "the instance shut down: back to the queue");
                self.save_step(i).await;
            }
        }
        pipeline_run::Entity::update_many()
            .set(pipeline_run::ActiveModel {
                state: Set(RunState::Queued.as_str().to_owned()),
                lease_owner: Set(None),
                lease_expires_at: Set(None),
                queued_at: Set(Utc::now()),
                updated_at: Set(Utc::now()),
                ..Default::default()
            })
            .filter(pipeline_run::Column::Id.eq(&self.id))
            .filter(pipeline_run::Column::LeaseOwner.eq(self.me()))
            .exec(&self.ctx.db.conn)
            .await?;
        touch(&self.ctx, &self.id).await
    }

    /// Whether step `deploy` has begun (nothing from there on may run twice).
    fn past_deploy(&self) -> bool {
        self.steps
            .get(StepName::Deploy.index())
            .is_some_and(|s| s.status != StepStatus::Pending.as_str())
    }

    async fn drive(&mut self) -> Result<(), DomainError> {
        if self.run.cancel_requested || self.run.state == RunState::Cancelling.as_str() {
            let reason = self.run.state_reason.clone();
            return self.finish(RunState::Cancelled, reason, None).await;
        }
        if self.past_deploy() {
            let step = self
                .steps
                .iter()
                .find(|s| s.status != StepStatus::Succeeded.as_str())
                .map(|s| s.step.clone())
                .unwrap_or_else(|| "ready".into());
            let idx = StepName::parse(&step).map_or(StepName::Ready.index(), StepName::index);
            let reason = format!(
                "interrupted: the instance executing this run stopped, or lost its database, \
                 during the {step} step; what it had created was removed (retry the run to \
                 start it again)"
            );
            return self
                .finish(
                    RunState::Failed,
                    Some(reason.clone()),
                    Some((idx, StepStatus::Failed, Some(reason))),
                )
                .await;
        }
        let first = self
            .steps
            .iter()
            .position(|s| s.status != StepStatus::Succeeded.as_str())
            .unwrap_or(self.steps.len());
        for idx in first..self.steps.len() {
            match self.run_step(idx).await {
                Ok(()) => {}
                Err(Stop::LostLease) => {
                    tracing::warn!(target: "mcp_orchestrator::pipeline", run = %self.id, "lost the lease: another instance took the run over");
                    return Ok(());
                }
                Err(Stop::Shutdown) if !self.past_deploy() => return self.requeue().await,
                Err(Stop::Shutdown) => {
                    let reason = "interrupted: the orchestrator shut down while the run was \
                                  deploying; what it had created was removed (retry the run)"
                        .to_owned();
                    return self
                        .finish(
                            RunState::Failed,
                            Some(reason.clone()),
                            Some((idx, StepStatus::Failed, Some(reason))),
                        )
                        .await;
                }
                Err(Stop::Cancelled) => {
                    let reason = find(&self.ctx, &self.id)
                        .await
                        .ok()
                        .and_then(|r| r.state_reason)
                        .or_else(|| Some("cancelled".into()));
                    return self
                        .finish(
                            RunState::Cancelled,
                            reason,
                            Some((idx, StepStatus::Cancelled, None)),
                        )
                        .await;
                }
                Err(Stop::Failed(reason)) => {
                    let error = self.steps[idx].error.clone();
                    return self
                        .finish(
                            RunState::Failed,
                            Some(reason),
                            Some((idx, StepStatus::Failed, error)),
                        )
                        .await;
                }
            }
        }
        self.finish(RunState::Succeeded, None, None).await
    }

    async fn run_step(&mut self, idx: usize) -> Result<(), Stop> {
        let name = StepName::ALL[idx];
        let settings = self.ctx.pipeline.settings().clone();
        let mut cancel = self.cancel.clone();
        let mut shutdown = self.shutdown.clone();
        let mut attempt = 0;
        self.steps[idx].started_at = Some(Utc::now());
        self.steps[idx].finished_at = None;
        loop {
            attempt += 1;
            self.set_status(idx, StepStatus::Running);
            self.steps[idx].attempts += 1;
            self.steps[idx].instance_id = Some(self.me().to_owned());
            let current = pipeline_run::ActiveModel {
                current_step: Set(Some(name.as_str().to_owned())),
                ..Default::default()
            };
            // Nothing from `deploy` on may run twice: its start is written before it begins.
            // Other starts go with the next transition, or after PROGRESS_AFTER when the step
            // is still running then (so a slow step shows as running, a quick one costs no
            // write of its own).
            let late = if name == StepName::Deploy {
                self.commit(&[idx], Some(current)).await?;
                None
            } else {
                self.defer(current);
                if !self.unsaved.contains(&idx) {
                    self.unsaved.push(idx);
                }
                let steps: Vec<pipeline_step::Model> = self
                    .unsaved
                    .iter()
                    .map(|&i| self.steps[i].clone())
                    .collect();
                Some((steps, self.unsaved_run.clone()))
            };
            // The delayed write runs as a task of its own: once begun it is never dropped
            // half-way (a transaction cut off mid-statement would hold the run's row lock);
            // the step's end waits for it.
            let (ended, ended_rx) = tokio::sync::oneshot::channel::<()>();
            let progress = late.map(|(steps, run)| {
                let (ctx, id) = (self.ctx.clone(), self.id.clone());
                tokio::spawn(async move {
                    tokio::select! {
                        _ = ended_rx => None,
                        () = tokio::time::sleep(PROGRESS_AFTER) => {
                            let t = Instant::now();
                            Some((write(&ctx, &id, steps, run).await, t.elapsed()))
                        }
                    }
                })
            });
            let t0 = Instant::now();
            let outcome = tokio::select! {
                biased;
                () = raised(&mut cancel) => Err(Stop::Cancelled),
                () = raised(&mut shutdown) => Err(Stop::Shutdown),
                r = tokio::time::timeout(settings.step_timeout, self.step(name)) => Ok(match r {
                    Ok(r) => r,
                    Err(_) => Err(StepError::from(DomainError::UpstreamTimeout(format!(
                        "the {} step took longer than {} s",
                        name.as_str(),
                        settings.step_timeout.as_secs()
                    )))),
                }),
            };
            let _ = ended.send(());
            if let Some(Ok(Some((result, took)))) = match progress {
                Some(h) => Some(h.await),
                None => None,
            } {
                self.bookkeeping += took;
                self.writes += 1;
                if let Err(Stop::LostLease) = result {
                    return Err(Stop::LostLease);
                }
            }
            let outcome = outcome?;
            match outcome {
                Ok(line) => {
                    self.log(
                        idx,
                        format!("{line} ({:.1} ms)", t0.elapsed().as_secs_f64() * 1000.0),
                    );
                    self.set_status(idx, StepStatus::Succeeded);
                    self.steps[idx].error = None;
                    self.steps[idx].finished_at = Some(Utc::now());
                    self.unsaved.push(idx);
                    self.observe(idx, "succeeded");
                    return Ok(());
                }
                Err(e) => {
                    let text = e.error.to_string();
                    self.steps[idx].error = Some(text.clone());
                    if e.permanent || attempt >= settings.step_attempts {
                        self.log(idx, format!("attempt {attempt} failed: {text}"));
                        self.steps[idx].finished_at = Some(Utc::now());
                        self.observe(idx, "failed");
                        return Err(Stop::Failed(format!(
                            "the {} step failed: {text}",
                            name.as_str()
                        )));
                    }
                    let wait = backoff(settings.retry_base, settings.retry_max, attempt);
                    self.log(
                        idx,
                        format!(
                            "attempt {attempt} failed: {text}; retrying in {} ms",
                            wait.as_millis()
                        ),
                    );
                    self.save_step(idx).await;
                    tokio::select! {
                        biased;
                        () = raised(&mut cancel) => return Err(Stop::Cancelled),
                        () = raised(&mut shutdown) => return Err(Stop::Shutdown),
                        () = tokio::time::sleep(wait) => {}
                    }
                }
            }
        }
    }

    /// The plan: from this execution, or the stored one with its secret values.
    async fn plan(&mut self) -> Result<Plan, StepError> {
        if let Some(p) = &self.plan {
            return Ok(p.clone());
        }
        let run = find(&self.ctx, &self.id).await?;
        let stored: StoredPlan = run
            .plan
            .as_deref()
            .and_then(|p| serde_json::from_str(p).ok())
            .ok_or_else(|| permanent(DomainError::Internal("the run has no plan".into())))?;
        let mut req: CreateDeployment = serde_json::from_str(&run.request)
            .map_err(|e| permanent(DomainError::Internal(format!("stored request: {e}"))))?;
        hydrate(&self.ctx, &self.id, &mut req).await?;
        let mut env = Vec::with_capacity(stored.env.len());
        for (name, value, secret) in stored.env {
            let value = match value {
                Some(v) => v,
                None => req
                    .env
                    .iter()
                    .find(|e| e.name == name)
                    .map(|e| e.value.clone())
                    .ok_or_else(|| {
                        permanent(DomainError::Internal(format!("no value for {name}")))
                    })?,
            };
            env.push(EnvEntry {
                name: EnvName::parse(&name).map_err(|e| permanent(e.into()))?,
                value,
                secret,
            });
        }
        let plan = Plan {
            name: stored.name,
            server: stored.server,
            version: stored.version,
            registry_id: stored.registry_id,
            package: stored.package,
            runtime: stored.runtime,
            launch: stored.launch,
            args: stored.args,
            env,
            transport: stored.transport,
            health: stored.health,
        };
        self.plan = Some(plan.clone());
        Ok(plan)
    }

    async fn step(&mut self, name: StepName) -> Result<String, StepError> {
        let ctx = self.ctx.clone();
        match name {
            StepName::Resolve => {
                let mut req: CreateDeployment =
                    serde_json::from_str(&self.run.request).map_err(|e| {
                        permanent(DomainError::Internal(format!("stored request: {e}")))
                    })?;
                hydrate(&ctx, &self.id, &mut req).await?;
                let plan = deployments::resolve(&ctx, &req).await?;
                let stored = serde_json::to_string(&StoredPlan::of(&plan))
                    .map_err(|e| permanent(DomainError::Internal(e.to_string())))?;
                // Written with the next transition (a crash before it re-runs resolve).
                self.defer(pipeline_run::ActiveModel {
                    plan: Set(Some(stored)),
                    resolved_version: Set(Some(plan.version.clone())),
                    runtime: Set(Some(plan.runtime.as_str().to_owned())),
                    ..Default::default()
                });
                let line = format!(
                    "{} {}: {}{} on the {} runtime over {}{}",
                    plan.server,
                    plan.version,
                    deployments::launch_text(&plan.launch),
                    if plan.args.is_empty() {
                        String::new()
                    } else {
                        format!(" {}", plan.args.join(" "))
                    },
                    plan.runtime.as_str(),
                    match plan.transport {
                        Transport::Stdio => "stdio",
                        Transport::Http { .. } => "streamable HTTP",
                    },
                    if plan.env.is_empty() {
                        String::new()
                    } else {
                        format!(
                            "; environment {}",
                            plan.env
                                .iter()
                                .map(|e| if e.secret {
                                    format!("{} (secret)", e.name.as_str())
                                } else {
                                    e.name.as_str().to_owned()
                                })
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }
                );
                self.plan = Some(plan);
                Ok(line)
            }
            StepName::Prepare => {
                let plan = self.plan().await?;
                Ok(deployments::prepare(&ctx, &plan).await?)
            }
            StepName::Deploy => {
                let plan = self.plan().await?;
                let m = match &self.deployment {
                    Some(m) => m.clone(),
                    None => {
                        let existing = deployment::Entity::find()
                            .filter(deployment::Column::RunId.eq(&self.id))
                            .one(&ctx.db.conn)
                            .await
                            .map_err(DomainError::from)?;
                        let m = match existing {
                            Some(m) => m,
                            None => {
                                let exact =
                                    serde_json::from_str::<CreateDeployment>(&self.run.request)
                                        .is_ok_and(|r| r.name.is_some());
                                deployments::register(
                                    &ctx,
                                    &Caller::default(),
                                    &plan,
                                    exact,
                                    self.run.created_by.clone(),
                                    Some(&self.id),
                                )
                                .await?
                            }
                        };
                        // Written with the next transition: a rollback finds the deployment
                        // by its `run_id` anyway.
                        self.defer(pipeline_run::ActiveModel {
                            deployment_id: Set(Some(m.id.clone())),
                            deployment_name: Set(Some(m.name.clone())),
                            ..Default::default()
                        });
                        self.deployment = Some(m.clone());
                        m
                    }
                };
                let (launched, channel) = deployments::launch(&ctx, &m).await?;
                let what = match plan.runtime {
                    RuntimeKind::Docker => format!(
                        "container {}",
                        &launched.runtime_ref[..launched.runtime_ref.len().min(12)]
                    ),
                    RuntimeKind::Process => format!("process {}", launched.runtime_ref),
                };
                self.launched = Some(launched);
                self.channel = Some(channel);
                Ok(format!("deployment {} started as {what}", m.name))
            }
            StepName::Initialize => {
                let channel = self.channel.take().ok_or_else(|| {
                    permanent(DomainError::Internal("nothing to connect to".into()))
                })?;
                let deadline = std::time::Instant::now() + ctx.deployments.settings().start_timeout;
                // The channel is used up by this attempt: a failed handshake is not retried.
                let (session, endpoint) = match deployments::connect(&ctx, channel, deadline).await
                {
                    Ok(connected) => connected,
                    Err(e) => {
                        // Say why the server went away when its runtime knows: it exited, or
                        // the Docker engine itself is gone.
                        let why = match self.launched.as_mut() {
                            Some(l) => deployments::runner_alive(&ctx, &mut l.runner).await.err(),
                            None => None,
                        };
                        return Err(permanent(match why {
                            Some(why) => DomainError::Upstream(format!("{e}; {why}")),
                            None => e,
                        }));
                    }
                };
                let line = match &endpoint {
                    Some(url) => format!("MCP session open over streamable HTTP at {url}"),
                    None => "MCP session open over stdio".to_owned(),
                };
                self.session = Some(session);
                self.endpoint = endpoint;
                Ok(line)
            }
            StepName::Discover => {
                let session = self
                    .session
                    .as_ref()
                    .ok_or_else(|| permanent(DomainError::Internal("no session".into())))?;
                let caps = deployments::discover(session).await?;
                let line = format!(
                    "{} {} (protocol {}): {} tools, {} resources, {} prompts",
                    caps.server_name,
                    caps.server_version,
                    caps.protocol_version,
                    caps.tools.len(),
                    caps.resources.len(),
                    caps.prompts.len()
                );
                self.caps = Some(caps);
                Ok(line)
            }
            StepName::Verify => {
                let launched = self
                    .launched
                    .as_mut()
                    .ok_or_else(|| permanent(DomainError::Internal("nothing runs".into())))?;
                deployments::runner_alive(&ctx, &mut launched.runner)
                    .await
                    .map_err(permanent)?;
                let session = self
                    .session
                    .as_ref()
                    .ok_or_else(|| permanent(DomainError::Internal("no session".into())))?;
                let rtt = session
                    .ping(Duration::from_secs(10))
                    .await
                    .map_err(|e| StepError::from(DomainError::Upstream(e.to_string())))?;
                Ok(format!(
                    "ping answered in {:.2} ms; the runtime is up",
                    rtt.as_secs_f64() * 1000.0
                ))
            }
            StepName::Ready => {
                let (Some(m), Some(session), Some(launched), Some(caps)) = (
                    self.deployment.clone(),
                    self.session.take(),
                    self.launched.take(),
                    self.caps.clone(),
                ) else {
                    return Err(permanent(DomainError::Internal(
                        "the earlier steps left nothing to hand over".into(),
                    )));
                };
                deployments::go_live(&ctx, &m.id, session, launched, self.endpoint.take(), &caps)
                    .await
                    .map_err(permanent)?;
                Ok(format!("deployment {} is running", m.name))
            }
        }
    }
}

/// Claims the next run: a queued one, or one whose lease expired. Fair between starters.
async fn claim(ctx: &Ctx) -> Result<Option<String>, DomainError> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(ctx.pipeline.settings().lease).unwrap_or_default();
    let pg = ctx.db.backend == DatabaseBackend::Postgresql;
    let (p1, p2, p3) = if pg {
        ("$1", "$2", "$3")
    } else {
        ("?", "?", "?")
    };
    // SQLite binds `?` in order: the timestamp appears twice there.
    let sql = format!(
        "UPDATE pipeline_runs SET \
           state = CASE WHEN state = 'queued' THEN 'running' ELSE state END, \
           lease_owner = {p1}, lease_expires_at = {p2}, started_at = {p3}, updated_at = {p3x} \
         WHERE id = (SELECT q.id FROM pipeline_runs q \
           WHERE q.state = 'queued' \
              OR (q.state IN ('running', 'cancelling') AND q.lease_expires_at < {p4}) \
           ORDER BY (SELECT COUNT(*) FROM pipeline_runs r WHERE r.state = 'running' \
                       AND COALESCE(r.created_by, '') = COALESCE(q.created_by, '')), \
                    q.queued_at, q.id \
           LIMIT 1{lock}) \
         RETURNING id",
        p3x = if pg { "$3" } else { "?" },
        p4 = if pg { "$3" } else { "?" },
        lock = if pg { " FOR UPDATE SKIP LOCKED" } else { "" },
    );
    let me: sea_orm::Value = ctx.instance.id.clone().into();
    let values: Vec<sea_orm::Value> = if pg {
        vec![me, until.into(), now.into()]
    } else {
        vec![me, until.into(), now.into(), now.into(), now.into()]
    };
    let backend = ctx.db.conn.get_database_backend();
    let row = ctx
        .db
        .conn
        .query_one(Statement::from_sql_and_values(backend, sql, values))
        .await?;
    Ok(match row {
        Some(r) => Some(r.try_get::<String>("", "id")?),
        None => None,
    })
}

/// Executes claimed run `id`; `claimed_in`: how long the claim took (scheduler time).
async fn execute(ctx: Ctx, id: String, claimed_in: Duration, shutdown: watch::Receiver<bool>) {
    let (tx, cancel) = watch::channel(false);
    if let Ok(mut c) = ctx.pipeline.cancels.lock() {
        c.insert(id.clone(), tx);
    }
    let result = async {
        let t0 = Instant::now();
        let run = find(&ctx, &id).await?;
        let steps = steps_of(&ctx, &id).await?;
        if steps.len() != StepName::ALL.len() {
            return Err(DomainError::Internal(
                "the run's steps are incomplete".into(),
            ));
        }
        let mut exec = Exec {
            ctx: ctx.clone(),
            id: id.clone(),
            run,
            steps,
            cancel,
            shutdown,
            plan: None,
            deployment: None,
            launched: None,
            channel: None,
            session: None,
            endpoint: None,
            caps: None,
            unsaved: Vec::new(),
            unsaved_run: None,
            bookkeeping: claimed_in + t0.elapsed(),
            writes: 1,
        };
        exec.drive().await
    }
    .await;
    if let Ok(mut c) = ctx.pipeline.cancels.lock() {
        c.remove(&id);
    }
    if let Err(e) = result {
        tracing::warn!(target: "mcp_orchestrator::pipeline", run = %id, error = %e, "run execution failed");
    }
}

/// At start-up: runs held by instances that are gone (on SQLite: every run another process
/// held, since one process owns the file) have their lease expired, so a worker takes them
/// over at once and settles them by the crash rules.
pub async fn recover(ctx: &Ctx) -> Result<u64, DomainError> {
    let alive = crate::system::live_instances(ctx).await?;
    let held = pipeline_run::Entity::find()
        .filter(
            pipeline_run::Column::State
                .is_in([RunState::Running.as_str(), RunState::Cancelling.as_str()]),
        )
        .all(&ctx.db.conn)
        .await?;
    let mut n = 0;
    for r in held {
        let gone = match (&alive, &r.lease_owner) {
            (_, None) => true,
            (None, Some(o)) => *o != ctx.instance.id,
            (Some(alive), Some(o)) => !alive.contains(o),
        };
        if gone {
            pipeline_run::Entity::update_many()
                .set(pipeline_run::ActiveModel {
                    lease_expires_at: Set(Some(Utc::now() - chrono::Duration::seconds(1))),
                    ..Default::default()
                })
                .filter(pipeline_run::Column::Id.eq(&r.id))
                .exec(&ctx.db.conn)
                .await?;
            n += 1;
        }
    }
    if n > 0 {
        tracing::info!(target: "mcp_orchestrator::pipeline", runs = n, "taking over runs of instances that are gone");
    }
    Ok(n)
}

/// Renews this instance's leases every third of the lease, and passes cancel requests made
/// on other instances to the runs executing here (checked twice a second).
async fn heartbeat(ctx: Ctx, mut stop: watch::Receiver<bool>) {
    let settings = ctx.pipeline.settings().clone();
    let renew_every = settings.lease / 3;
    let mut last_renew = Instant::now();
    let mut last_prune = Instant::now();
    loop {
        tokio::select! {
            () = raised(&mut stop) => return,
            () = tokio::time::sleep(Duration::from_millis(500)) => {}
        }
        let local: Vec<String> = ctx
            .pipeline
            .cancels
            .lock()
            .map(|c| c.keys().cloned().collect())
            .unwrap_or_default();
        if !local.is_empty() {
            match pipeline_run::Entity::find()
                .filter(pipeline_run::Column::Id.is_in(local.clone()))
                .filter(pipeline_run::Column::CancelRequested.eq(true))
                .all(&ctx.db.conn)
                .await
            {
                Ok(rows) => {
                    for r in rows {
                        ctx.pipeline.cancel_local(&r.id);
                    }
                }
                Err(e) => {
                    tracing::warn!(target: "mcp_orchestrator::pipeline", error = %e, "cannot check cancel requests")
                }
            }
        }
        // Only the runs executing here: one whose execution gave up (its database went away
        // mid-run) must see its lease expire, so that a worker takes it over and settles it.
        if last_renew.elapsed() >= renew_every && !local.is_empty() {
            last_renew = Instant::now();
            let until = Utc::now() + chrono::Duration::from_std(settings.lease).unwrap_or_default();
            if let Err(e) = pipeline_run::Entity::update_many()
                .set(pipeline_run::ActiveModel {
                    lease_expires_at: Set(Some(until)),
                    ..Default::default()
                })
                .filter(pipeline_run::Column::Id.is_in(local))
                .filter(pipeline_run::Column::LeaseOwner.eq(&ctx.instance.id))
                .filter(
                    pipeline_run::Column::State
                        .is_in([RunState::Running.as_str(), RunState::Cancelling.as_str()]),
                )
                .exec(&ctx.db.conn)
                .await
            {
                tracing::warn!(target: "mcp_orchestrator::pipeline", error = %e, "cannot renew leases");
            }
        }
        if last_prune.elapsed() >= Duration::from_secs(3600) {
            last_prune = Instant::now();
            let _ = super::prune_events(&ctx, Duration::from_secs(7 * 86_400)).await;
        }
    }
}

/// The worker pool of this instance, until `stop` resolves; then runs executing here stop:
/// those that had not reached `deploy` go back to the queue, the others are rolled back.
pub async fn run(ctx: Ctx, stop: impl Future<Output = ()>) {
    if let Err(e) = recover(&ctx).await {
        tracing::warn!(target: "mcp_orchestrator::pipeline", error = %e, "cannot recover runs");
    }
    let settings = ctx.pipeline.settings().clone();
    let (stop_tx, stop_rx) = watch::channel(false);
    let beat = tokio::spawn(heartbeat(ctx.clone(), stop_rx.clone()));
    let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(settings.concurrency.max(1)));
    let mut tasks = JoinSet::new();
    tokio::pin!(stop);
    loop {
        while tasks.try_join_next().is_some() {}
        let permit = tokio::select! {
            () = &mut stop => break,
            p = slots.clone().acquire_owned() => match p { Ok(p) => p, Err(_) => break },
        };
        let t0 = Instant::now();
        match claim(&ctx).await {
            Ok(Some(id)) => {
                let ctx = ctx.clone();
                let shutdown = stop_rx.clone();
                let claimed_in = t0.elapsed();
                tasks.spawn(async move {
                    execute(ctx, id, claimed_in, shutdown).await;
                    drop(permit);
                });
            }
            Ok(None) => {
                drop(permit);
                tokio::select! {
                    () = &mut stop => break,
                    () = ctx.pipeline.wake.notified() => {}
                    () = tokio::time::sleep(settings.poll) => {}
                }
            }
            Err(e) => {
                drop(permit);
                tracing::warn!(target: "mcp_orchestrator::pipeline", error = %e, "cannot claim a run");
                tokio::select! {
                    () = &mut stop => break,
                    () = tokio::time::sleep(settings.poll) => {}
                }
            }
        }
    }
    let _ = stop_tx.send(true);
    ctx.pipeline.closing.send_replace(true);
    while tasks.join_next().await.is_some() {}
    beat.abort();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_up_to_the_cap() {
        let base = Duration::from_millis(100);
        let max = Duration::from_millis(1000);
        for _ in 0..200 {
            let one = backoff(base, max, 1);
            assert!(one >= Duration::from_millis(50) && one <= base, "{one:?}");
            let three = backoff(base, max, 3);
            assert!(three >= Duration::from_millis(200) && three <= Duration::from_millis(400));
            let late = backoff(base, max, 30);
            assert!(late >= max / 2 && late <= max, "{late:?}");
        }
        // Jitter: not always the same.
        let seen: std::collections::HashSet<_> = (0..50).map(|_| backoff(base, max, 4)).collect();
        assert!(seen.len() > 1);
    }
}
