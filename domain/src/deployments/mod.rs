//! Deployments: a catalog entry plus the operator's configuration, running on a runtime with
//! one long-lived MCP session.
//!
//! The database row is the record (what to run, what the operator wants, where it stands);
//! the [`Manager`] holds what only this process can hold: the child process or the attached
//! container streams, and the MCP session. A failed start removes whatever it created.

pub mod plan;
pub mod schema;

use std::{
    collections::HashMap,
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::{Mutex, RwLock};
use types::{
    deployment::{
        Capabilities, CreateDeployment, DeploymentInfo, DeploymentState, EnvView, RuntimeKind,
        ToolCall, ToolResult,
    },
    env::EnvName,
    Role,
};

use crate::{
    access::{
        audit::{self, Entry, Outcome},
        Caller,
    },
    entities::{deployment, installation},
    mcp::{self, McpError, Session},
    runtime::{
        docker::{ContainerState, DockerRuntime, DockerSettings, StdioPair},
        process::{self, Process},
        Launch, LogLine, Spec, Transport,
    },
    secrets::{self, SecretValue},
    Ctx, DomainError,
};

/// Deployment settings (the `deploy.*` settings).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Use the Docker engine when one answers.
    pub docker: bool,
    /// Container limits and runner images.
    pub docker_settings: DockerSettings,
    /// Where process deployments get their home directories.
    pub data_dir: PathBuf,
    /// Runtime start + MCP handshake + discovery.
    pub start_timeout: Duration,
    /// SIGTERM / `docker stop` grace.
    pub stop_grace: Duration,
    /// MCP session limits.
    pub mcp: mcp::Limits,
    /// Longest tool-call timeout a caller may ask for.
    pub max_call_timeout: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            docker: true,
            docker_settings: DockerSettings::default(),
            data_dir: PathBuf::from("data/deployments"),
            start_timeout: Duration::from_secs(120),
            stop_grace: Duration::from_secs(10),
            mcp: mcp::Limits::default(),
            max_call_timeout: Duration::from_secs(600),
        }
    }
}

/// What runs a live deployment.
pub(crate) enum Runner {
    Process(Box<Process>),
    Container { id: String },
}

pub(crate) struct Live {
    session: Session,
    runner: Mutex<Runner>,
}

impl Live {
    /// Whether the runtime still runs (`Unavailable` when the Docker engine does not answer).
    pub(crate) async fn alive(&self, ctx: &Ctx) -> Result<(), DomainError> {
        let mut runner = self.runner.lock().await;
        runner_alive(ctx, &mut runner).await
    }

    /// MCP `ping` on the live session: its round trip.
    pub(crate) async fn ping(&self, timeout: Duration) -> Result<Duration, McpError> {
        self.session.ping(timeout).await
    }
}

/// This process's deployments: runtimes, live sessions, and the logs of ended processes.
pub struct Manager {
    settings: Settings,
    docker: RwLock<Option<DockerRuntime>>,
    live: RwLock<HashMap<String, Arc<Live>>>,
    ended_logs: std::sync::Mutex<HashMap<String, Vec<LogLine>>>,
    installation: RwLock<String>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager").finish_non_exhaustive()
    }
}

impl Default for Manager {
    fn default() -> Self {
        Self::new(Settings::default())
    }
}

/// The stored form of a variable (secret values are in the secret store).
#[derive(Serialize, Deserialize)]
struct StoredEnv {
    name: String,
    value: Option<String>,
    secret: bool,
}

fn secret_name(id: &str, var: &str) -> String {
    format!("deployment/{id}/env/{var}")
}

pub(crate) fn launch_text(l: &Launch) -> String {
    match l {
        Launch::Npm { package, version } => format!("npx -y {package}@{version}"),
        Launch::Pypi { package, version } => format!("uvx {package}=={version}"),
        Launch::Oci { image } => image.clone(),
        Launch::Program { path } => path.clone(),
    }
}

fn to_info(m: &deployment::Model, health: types::HealthView) -> DeploymentInfo {
    let launch: Option<Launch> = serde_json::from_str(&m.launch).ok();
    let env: Vec<StoredEnv> = serde_json::from_str(&m.env).unwrap_or_default();
    let transport: Option<Transport> = serde_json::from_str(&m.transport).ok();
    let tools = m
        .capabilities
        .as_deref()
        .and_then(|c| serde_json::from_str::<Capabilities>(c).ok())
        .map_or(0, |c| c.tools.len() as u32);
    DeploymentInfo {
        id: m.id.clone(),
        name: m.name.clone(),
        server: m.server.clone(),
        version: m.version.clone(),
        registry_id: m.registry_id.clone(),
        runtime: RuntimeKind::parse(&m.runtime).unwrap_or(RuntimeKind::Process),
        launch: launch.as_ref().map(launch_text).unwrap_or_default(),
        args: serde_json::from_str(&m.args).unwrap_or_default(),
        env: env
            .into_iter()
            .map(|e| EnvView {
                name: e.name,
                value: if e.secret { None } else { e.value },
                secret: e.secret,
            })
            .collect(),
        transport: match transport {
            Some(Transport::Http { .. }) => "streamable-http".into(),
            _ => "stdio".into(),
        },
        endpoint: m.endpoint.clone(),
        desired: m.desired.clone(),
        state: DeploymentState::parse(&m.state).unwrap_or(DeploymentState::Failed),
        state_reason: m.state_reason.clone(),
        runtime_ref: m.runtime_ref.clone(),
        tools,
        created_by: m.created_by.clone(),
        created_at: m.created_at,
        started_at: m.started_at,
        stopped_at: m.stopped_at,
        health,
    }
}

/// `m` with its health.
async fn info(ctx: &Ctx, m: &deployment::Model) -> Result<DeploymentInfo, DomainError> {
    Ok(to_info(m, crate::monitor::view(ctx, m).await?))
}

async fn find(ctx: &Ctx, id: &str) -> Result<deployment::Model, DomainError> {
    deployment::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("deployment"))
}

async fn set_state(
    ctx: &Ctx,
    id: &str,
    state: DeploymentState,
    reason: Option<String>,
    apply: impl FnOnce(&mut deployment::ActiveModel),
) -> Result<(), DomainError> {
    let Some(row) = deployment::Entity::find_by_id(id).one(&ctx.db.conn).await? else {
        return Ok(()); // deleted meanwhile
    };
    let mut a: deployment::ActiveModel = row.into();
    a.state = Set(state.as_str().to_owned());
    a.state_reason = Set(reason);
    a.updated_at = Set(Utc::now());
    apply(&mut a);
    a.update(&ctx.db.conn).await?;
    Ok(())
}

/// The stable id of this database (labels the containers it owns).
pub async fn installation_id(ctx: &Ctx) -> Result<String, DomainError> {
    if let Some(row) = installation::Entity::find().one(&ctx.db.conn).await? {
        return Ok(row.id);
    }
    let id = uuid::Uuid::now_v7().to_string();
    let _ = installation::ActiveModel {
        id: Set(id),
        created_at: Set(Utc::now()),
    }
    .insert(&ctx.db.conn)
    .await;
    // Another instance may have won the race: read what is there.
    installation::Entity::find()
        .one(&ctx.db.conn)
        .await?
        .map(|r| r.id)
        .ok_or_else(|| DomainError::Internal("no installation id".into()))
}

impl Manager {
    /// A manager with `settings`; call [`Manager::init`] once the database is up.
    pub fn new(settings: Settings) -> Self {
        Self {
            settings,
            docker: RwLock::new(None),
            live: RwLock::default(),
            ended_logs: std::sync::Mutex::default(),
            installation: RwLock::default(),
        }
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Connects to the Docker engine (when enabled and one answers).
    pub async fn init(&self, ctx: &Ctx) -> Result<(), DomainError> {
        let inst = installation_id(ctx).await?;
        *self.installation.write().await = inst.clone();
        if self.settings.docker {
            match DockerRuntime::connect(&inst, self.settings.docker_settings.clone()).await {
                Ok(d) => {
                    tracing::info!(target: "mcp_orchestrator::deploy", "Docker engine connected");
                    *self.docker.write().await = Some(d);
                }
                Err(e) => {
                    tracing::warn!(target: "mcp_orchestrator::deploy", error = %e, "no Docker engine: deployments run as local processes");
                }
            }
        }
        Ok(())
    }

    /// Whether deployments can use Docker here.
    pub async fn has_docker(&self) -> bool {
        self.docker.read().await.is_some()
    }

    async fn docker(&self) -> Result<DockerRuntime, DomainError> {
        self.docker.read().await.clone().ok_or_else(|| {
            DomainError::Unavailable("the Docker engine is not available on this host".into())
        })
    }

    async fn take_live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.write().await.remove(id)
    }

    /// The live session and runner of `id` on this instance.
    pub(crate) async fn get_live(&self, id: &str) -> Option<Arc<Live>> {
        self.live.read().await.get(id).cloned()
    }

    /// Live deployments on this instance.
    pub async fn live_count(&self) -> usize {
        self.live.read().await.len()
    }

    /// Whether the Docker engine answers (`None` when Docker is disabled); connects when it
    /// was not there before.
    pub async fn probe_docker(&self) -> Option<bool> {
        if !self.settings.docker {
            return None;
        }
        let current = self.docker.read().await.clone();
        Some(match current {
            Some(d) => tokio::time::timeout(Duration::from_secs(2), d.ping())
                .await
                .is_ok_and(|r| r.is_ok()),
            None => {
                let inst = self.installation.read().await.clone();
                match tokio::time::timeout(
                    Duration::from_secs(2),
                    DockerRuntime::connect(&inst, self.settings.docker_settings.clone()),
                )
                .await
                {
                    Ok(Ok(d)) => {
                        tracing::info!(target: "mcp_orchestrator::deploy", "Docker engine connected");
                        *self.docker.write().await = Some(d);
                        true
                    }
                    _ => false,
                }
            }
        })
    }
}

/// Restarts an unhealthy deployment (self-healing): what runs it is ended, then it starts
/// again like an operator's start. `Err` says why the start failed (it is `failed` then).
pub(crate) async fn restart_unhealthy(ctx: &Ctx, id: &str) -> Result<(), DomainError> {
    let m = find(ctx, id).await?;
    if m.desired != "running" {
        return Ok(());
    }
    shut_down(ctx, id).await;
    // A container that ended by itself is still there: remove it before a new one starts.
    if let (Some(cid), true) = (&m.runtime_ref, m.runtime == "docker") {
        if let Ok(d) = ctx.deployments.docker().await {
            let _ = d.remove(cid).await;
        }
    }
    set_state(ctx, id, DeploymentState::Starting, None, |_| {}).await?;
    start_now(ctx, id).await
}

/// Leaves a crash-looping deployment down, saying why.
pub(crate) async fn leave_down(ctx: &Ctx, id: &str, reason: String) {
    shut_down(ctx, id).await;
    if let Err(e) = set_state(ctx, id, DeploymentState::Failed, Some(reason), |a| {
        a.runtime_ref = Set(None);
        a.endpoint = Set(None);
        a.stopped_at = Set(Some(Utc::now()));
    })
    .await
    {
        tracing::warn!(target: "mcp_orchestrator::deploy", deployment = %id, error = %e, "cannot record a crash loop");
    }
}

/// Creates a deployment from a catalog entry (operators) and starts it in the background;
/// await the handle to wait for the start to end (`running` or `failed`).
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    req: CreateDeployment,
) -> Result<
    (
        DeploymentInfo,
        tokio::task::JoinHandle<Result<DeploymentInfo, DomainError>>,
    ),
    DomainError,
> {
    caller.require(Role::Operator)?;
    let plan = resolve(ctx, &req).await?;
    let created_by = caller.principal.as_ref().map(|p| p.name.clone());
    let row = register(ctx, caller, &plan, req.name.is_some(), created_by, None).await?;
    let info = info(ctx, &row).await?;
    let handle = spawn_start(ctx.clone(), row.id);
    Ok((info, handle))
}

/// The catalog version `req` names, planned for this host (callers check the role).
pub(crate) async fn resolve(ctx: &Ctx, req: &CreateDeployment) -> Result<plan::Plan, DomainError> {
    let entry = crate::catalog::find_version(
        ctx,
        &req.server,
        req.version.as_deref().unwrap_or("latest"),
        req.registry_id.as_deref(),
    )
    .await?;
    plan::plan(&entry, req, ctx.deployments.has_docker().await)
}

/// Records a new deployment of `plan` (state `starting`, secrets in the store, audited);
/// `exact_name`: the plan's name was chosen and must be free. `run_id`: the pipeline run that
/// owns it until that run is ready (its audit entry is the system's, naming the run).
pub(crate) async fn register(
    ctx: &Ctx,
    caller: &Caller,
    plan: &plan::Plan,
    exact_name: bool,
    created_by: Option<String>,
    run_id: Option<&str>,
) -> Result<deployment::Model, DomainError> {
    let mut name = free_name(ctx, &plan.name, exact_name).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    let stored_env: Vec<StoredEnv> = plan
        .env
        .iter()
        .map(|e| StoredEnv {
            name: e.name.as_str().to_owned(),
            value: (!e.secret).then(|| e.value.clone()),
            secret: e.secret,
        })
        .collect();
    let model = |name: String| deployment::ActiveModel {
        id: Set(id.clone()),
        name: Set(name),
        server: Set(plan.server.clone()),
        version: Set(plan.version.clone()),
        registry_id: Set(plan.registry_id.clone()),
        package: Set(plan.package as i32),
        runtime: Set(plan.runtime.as_str().to_owned()),
        launch: Set(serde_json::to_string(&plan.launch).unwrap_or_default()),
        args: Set(serde_json::to_string(&plan.args).unwrap_or_default()),
        env: Set(serde_json::to_string(&stored_env).unwrap_or_default()),
        transport: Set(serde_json::to_string(&plan.transport).unwrap_or_default()),
        desired: Set("running".into()),
        state: Set(DeploymentState::Starting.as_str().into()),
        state_reason: Set(None),
        runtime_ref: Set(None),
        instance_id: Set(Some(ctx.instance.id.clone())),
        endpoint: Set(None),
        capabilities: Set(None),
        discovered_at: Set(None),
        created_by: Set(created_by.clone()),
        created_at: Set(now),
        updated_at: Set(now),
        started_at: Set(None),
        stopped_at: Set(None),
        run_id: Set(run_id.map(str::to_owned)),
        health_config: Set(plan
            .health
            .as_ref()
            .and_then(|h| serde_json::to_string(h).ok())),
    };
    // Concurrent deploys of one server race for its default name: the unique index decides,
    // and the loser takes the next free suffix.
    let mut tries = 0;
    let (txn, row) = loop {
        let txn = ctx.db.begin_write().await?;
        match model(name.clone()).insert(&txn).await {
            Ok(row) => break (txn, row),
            Err(e)
                if matches!(
                    e.sql_err(),
                    Some(sea_orm::SqlErr::UniqueConstraintViolation(_))
                ) =>
            {
                drop(txn);
                tries += 1;
                if exact_name || tries > 20 {
                    return Err(DomainError::Conflict(format!(
                        "a deployment named {name:?} exists"
                    )));
                }
                name = free_name(ctx, &plan.name, false).await?;
            }
            Err(e) => return Err(e.into()),
        }
    };
    if plan.env.iter().any(|e| e.secret) {
        let key = ctx.secrets()?;
        for e in plan.env.iter().filter(|e| e.secret) {
            secrets::put(
                &txn,
                key,
                &secret_name(&id, e.name.as_str()),
                &SecretValue::new(e.value.clone()),
            )
            .await?;
        }
    }
    audit::record(
        &txn,
        caller,
        Entry {
            action: "deployment.create",
            target_kind: "deployment",
            target_id: Some(id.clone()),
            outcome: Outcome::Success,
            detail: json!({"name": row.name, "server": row.server, "version": row.version,
                "runtime": row.runtime, "run": run_id,
                "env": plan.env.iter().map(|e| e.name.as_str()).collect::<Vec<_>>()}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(row)
}

/// `base`, or `base-2`, `base-3`… whichever is free; a chosen name (`exact`) must be free.
async fn free_name(ctx: &Ctx, base: &str, exact: bool) -> Result<String, DomainError> {
    let taken = deployment::Entity::find()
        .filter(deployment::Column::Name.eq(base))
        .one(&ctx.db.conn)
        .await?
        .is_some();
    if !taken {
        return Ok(base.to_owned());
    }
    if exact {
        return Err(DomainError::Conflict(format!(
            "a deployment named {base:?} exists"
        )));
    }
    // One read of every `base-N` taken, then the smallest free N (names are at most 64
    // characters: the stem keeps 58).
    let prefix = format!("{}-", base.chars().take(58).collect::<String>());
    let names: std::collections::HashSet<String> = deployment::Entity::find()
        .select_only()
        .column(deployment::Column::Name)
        .filter(deployment::Column::Name.starts_with(&prefix))
        .into_tuple::<String>()
        .all(&ctx.db.conn)
        .await?
        .into_iter()
        .collect();
    (2..=99_999)
        .map(|n| format!("{prefix}{n}"))
        .find(|name| !names.contains(name))
        .ok_or_else(|| DomainError::Conflict(format!("no free name like {base:?}")))
}

/// Starts `id` in the background; the handle yields the deployment once the start ended
/// (`NotFound` if it was deleted meanwhile).
fn spawn_start(
    ctx: Ctx,
    id: String,
) -> tokio::task::JoinHandle<Result<DeploymentInfo, DomainError>> {
    tokio::spawn(async move {
        if let Err(e) = start_now(&ctx, &id).await {
            tracing::warn!(target: "mcp_orchestrator::deploy", deployment = %id, error = %e, "start failed");
        }
        let row = find(&ctx, &id).await?;
        info(&ctx, &row).await
    })
}

/// The runtime spec of a stored deployment, secrets read from the store.
async fn spec_of(ctx: &Ctx, m: &deployment::Model) -> Result<(Spec, Transport), DomainError> {
    let launch: Launch = serde_json::from_str(&m.launch)
        .map_err(|e| DomainError::Internal(format!("stored launch: {e}")))?;
    let env: Vec<StoredEnv> = serde_json::from_str(&m.env)
        .map_err(|e| DomainError::Internal(format!("stored env: {e}")))?;
    let transport: Transport = serde_json::from_str(&m.transport)
        .map_err(|e| DomainError::Internal(format!("stored transport: {e}")))?;
    let mut vars = Vec::with_capacity(env.len() + 1);
    for e in env {
        let name = EnvName::parse(&e.name)?;
        let value = if e.secret {
            secrets::get(&ctx.db.conn, ctx.secrets()?, &secret_name(&m.id, &e.name))
                .await?
                .ok_or_else(|| {
                    DomainError::Internal(format!("the secret value of {} is missing", e.name))
                })?
        } else {
            SecretValue::new(e.value.unwrap_or_default())
        };
        vars.push((name, value));
    }
    // Lets a later start find (and end) processes this deployment left behind.
    vars.push((
        EnvName::parse("MCPO_DEPLOYMENT_ID")?,
        SecretValue::new(m.id.clone()),
    ));
    Ok((
        Spec {
            deployment_id: m.id.clone(),
            launch,
            args: serde_json::from_str(&m.args).unwrap_or_default(),
            env: vars,
        },
        transport,
    ))
}

/// Initializes over HTTP, retrying until `deadline`: a published port accepts connections
/// before the server inside listens.
async fn http_session(
    url: &str,
    limits: mcp::Limits,
    deadline: Instant,
) -> Result<Session, DomainError> {
    loop {
        match Session::over_http(url, limits).await {
            Ok(s) => return Ok(s),
            Err(e) if Instant::now() >= deadline => return Err(mcp_error(e)),
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

async fn wait_for_port(port: u16, deadline: Instant) -> Result<(), DomainError> {
    loop {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(DomainError::UpstreamTimeout(format!(
                "nothing listens on 127.0.0.1:{port}"
            )));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn mcp_error(e: McpError) -> DomainError {
    match e {
        McpError::Timeout { .. } => DomainError::UpstreamTimeout(e.to_string()),
        other => DomainError::Upstream(other.to_string()),
    }
}

/// Makes sure `plan` can start on this host: the image (pulled when pulling is on) or the
/// package launcher / program. Says what it found.
pub(crate) async fn prepare(ctx: &Ctx, plan: &plan::Plan) -> Result<String, DomainError> {
    let spec = Spec {
        deployment_id: String::new(),
        launch: plan.launch.clone(),
        args: plan.args.clone(),
        env: Vec::new(),
    };
    match plan.runtime {
        RuntimeKind::Docker => {
            let image = ctx
                .deployments
                .docker()
                .await?
                .prepare(&spec)
                .await
                .map_err(|e| DomainError::Upstream(e.to_string()))?;
            Ok(format!("image {image} is on the Docker host"))
        }
        RuntimeKind::Process => {
            let (program, _) = spec
                .command()
                .map_err(|e| DomainError::invalid("runtime", e.to_string()))?;
            let found = if program.starts_with('/') {
                Some(PathBuf::from(program)).filter(|p| is_executable(p))
            } else {
                std::env::var_os("PATH").and_then(|path| {
                    std::env::split_paths(&path)
                        .map(|d| d.join(program))
                        .find(|p| is_executable(p))
                })
            };
            match found {
                Some(p) => Ok(format!("{program} is {}", p.display())),
                None => Err(DomainError::Unavailable(format!(
                    "{program} is not installed on this host (needed to run {})",
                    launch_text(&plan.launch)
                ))),
            }
        }
    }
}

fn is_executable(p: &std::path::Path) -> bool {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// How to reach a just-started server.
pub(crate) enum Channel {
    /// The process's or container's stdout and stdin.
    Stdio(StdioPair),
    /// Streamable HTTP at this URL (a loopback port).
    Http(String),
}

/// A started runtime, before its MCP session.
pub(crate) struct Launched {
    /// What runs it.
    pub(crate) runner: Runner,
    /// Process id or container id.
    pub(crate) runtime_ref: String,
}

/// Starts the runtime of a stored deployment (process or container) and records its
/// reference; nothing is left running when this fails.
pub(crate) async fn launch(
    ctx: &Ctx,
    m: &deployment::Model,
) -> Result<(Launched, Channel), DomainError> {
    let settings = &ctx.deployments.settings;
    let (mut spec, transport) = spec_of(ctx, m).await?;
    let runtime = RuntimeKind::parse(&m.runtime).unwrap_or(RuntimeKind::Process);
    let (launched, channel) = match runtime {
        RuntimeKind::Process => {
            // npx and uvx share one package cache across deployments (not each its own home).
            let cache = std::path::absolute(settings.data_dir.join(".cache"))
                .unwrap_or_else(|_| settings.data_dir.join(".cache"));
            for (name, dir) in [("npm_config_cache", "npm"), ("UV_CACHE_DIR", "uv")] {
                spec.env.push((
                    EnvName::parse(name)?,
                    SecretValue::new(cache.join(dir).to_string_lossy().into_owned()),
                ));
            }
            let home = std::path::absolute(settings.data_dir.join(&m.id))
                .unwrap_or_else(|_| settings.data_dir.join(&m.id));
            std::fs::create_dir_all(&home).map_err(|e| {
                DomainError::Internal(format!("cannot create {}: {e}", home.display()))
            })?;
            let mut p =
                process::spawn(&spec, &home).map_err(|e| DomainError::Upstream(e.to_string()))?;
            let pid = p.pid().to_string();
            let channel = match &transport {
                Transport::Stdio => match p.stdio.take() {
                    Some((out, inp)) => Channel::Stdio((Box::new(out) as _, Box::new(inp) as _)),
                    None => {
                        p.stop(Duration::ZERO).await;
                        return Err(DomainError::Internal("the process has no stdio".into()));
                    }
                },
                Transport::Http { port, path } => {
                    Channel::Http(format!("http://127.0.0.1:{port}{path}"))
                }
            };
            (
                Launched {
                    runner: Runner::Process(Box::new(p)),
                    runtime_ref: pid,
                },
                channel,
            )
        }
        RuntimeKind::Docker => {
            let docker = ctx.deployments.docker().await?;
            let mut c = docker
                .start(&spec, transport.clone())
                .await
                .map_err(|e| DomainError::Upstream(e.to_string()))?;
            let channel = match (c.stdio.take(), c.http_url.clone()) {
                (Some(pair), _) => Channel::Stdio(pair),
                (None, Some(url)) => Channel::Http(url),
                (None, None) => {
                    let _ = docker.remove(&c.id).await;
                    return Err(DomainError::Internal(
                        "the container has no endpoint".into(),
                    ));
                }
            };
            (
                Launched {
                    runner: Runner::Container { id: c.id.clone() },
                    runtime_ref: c.id.clone(),
                },
                channel,
            )
        }
    };
    let runtime_ref = launched.runtime_ref.clone();
    set_state(ctx, &m.id, DeploymentState::Starting, None, |a| {
        a.runtime_ref = Set(Some(runtime_ref));
    })
    .await?;
    Ok((launched, channel))
}

/// The MCP handshake over `channel` (HTTP: retried until `deadline`, since a published port
/// accepts connections before the server inside listens). Yields the session and, for
/// HTTP, the endpoint.
pub(crate) async fn connect(
    ctx: &Ctx,
    channel: Channel,
    deadline: Instant,
) -> Result<(Session, Option<String>), DomainError> {
    let limits = ctx.deployments.settings.mcp;
    match channel {
        Channel::Stdio((out, inp)) => {
            let s = Session::over_stdio(out, inp, limits)
                .await
                .map_err(mcp_error)?;
            Ok((s, None))
        }
        Channel::Http(url) => {
            let port = url
                .trim_start_matches("http://")
                .split(['/', '?'])
                .next()
                .and_then(|a| a.rsplit_once(':'))
                .and_then(|(_, p)| p.parse::<u16>().ok())
                .ok_or_else(|| DomainError::Internal(format!("no port in {url}")))?;
            wait_for_port(port, deadline).await?;
            let s = http_session(&url, limits, deadline).await?;
            Ok((s, Some(url)))
        }
    }
}

/// Tools, resources and prompts of a live session.
pub(crate) async fn discover(session: &Session) -> Result<Capabilities, DomainError> {
    let mut caps = session.discover().await.map_err(mcp_error)?;
    caps.discovered_at = Some(Utc::now());
    Ok(caps)
}

/// Whether the runtime still runs (`Err` says how it ended).
pub(crate) async fn runner_alive(ctx: &Ctx, runner: &mut Runner) -> Result<(), DomainError> {
    match runner {
        Runner::Process(p) => match p.exit_status() {
            None => Ok(()),
            Some(c) => Err(DomainError::Upstream(format!(
                "the process exited with status {c}"
            ))),
        },
        Runner::Container { id } => match ctx.deployments.docker().await?.inspect(id).await {
            Ok(ContainerState::Running) => Ok(()),
            Ok(ContainerState::Exited(c)) => Err(DomainError::Upstream(format!(
                "the container exited with status {c}"
            ))),
            Ok(ContainerState::Missing) => {
                Err(DomainError::Upstream("the container is gone".into()))
            }
            Err(e) => Err(DomainError::Unavailable(e.to_string())),
        },
    }
}

/// Hands a started, discovered server to the manager: `running` from now on.
pub(crate) async fn go_live(
    ctx: &Ctx,
    id: &str,
    session: Session,
    launched: Launched,
    endpoint: Option<String>,
    caps: &Capabilities,
) -> Result<(), DomainError> {
    ctx.deployments.live.write().await.insert(
        id.to_owned(),
        Arc::new(Live {
            session,
            runner: Mutex::new(launched.runner),
        }),
    );
    let caps_json = serde_json::to_string(caps).unwrap_or_default();
    let instance = ctx.instance.id.clone();
    let runtime_ref = launched.runtime_ref;
    set_state(ctx, id, DeploymentState::Running, None, |a| {
        a.capabilities = Set(Some(caps_json));
        a.discovered_at = Set(Some(Utc::now()));
        a.started_at = Set(Some(Utc::now()));
        a.endpoint = Set(endpoint);
        a.runtime_ref = Set(Some(runtime_ref));
        a.instance_id = Set(Some(instance));
    })
    .await?;
    crate::monitor::track(ctx, id, None).await
}

/// Ends `runner` (if any) after a failed start and records `failed` with the reason and the
/// last log lines.
pub(crate) async fn fail_start(
    ctx: &Ctx,
    id: &str,
    runner: Option<&mut Runner>,
    e: &DomainError,
) -> Result<(), DomainError> {
    let logs = match runner {
        Some(r) => end_runner(ctx, r, id).await,
        None => Vec::new(),
    };
    let tail: Vec<&str> = logs
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|l| l.text.as_str())
        .collect();
    let reason = if tail.is_empty() {
        e.to_string()
    } else {
        format!("{e} (last log lines: {})", tail.join(" | "))
    };
    set_state(ctx, id, DeploymentState::Failed, Some(reason), |a| {
        a.runtime_ref = Set(None);
        a.endpoint = Set(None);
        a.stopped_at = Set(Some(Utc::now()));
    })
    .await
}

/// Starts a stored deployment: runtime, handshake, discovery. On any failure, removes what
/// it created and records `failed` with the reason.
async fn start_now(ctx: &Ctx, id: &str) -> Result<(), DomainError> {
    let m = find(ctx, id).await?;
    let deadline = Instant::now() + ctx.deployments.settings.start_timeout;
    let (mut launched, channel) = match launch(ctx, &m).await {
        Ok(l) => l,
        Err(e) => {
            fail_start(ctx, id, None, &e).await?;
            return Err(e);
        }
    };
    let result = async {
        let (session, endpoint) =
            tokio::time::timeout_at(deadline.into(), connect(ctx, channel, deadline))
                .await
                .map_err(|_| {
                    DomainError::UpstreamTimeout("the MCP handshake timed out".into())
                })??;
        match discover(&session).await {
            Ok(caps) => Ok((session, endpoint, caps)),
            Err(e) => {
                session.close().await;
                Err(e)
            }
        }
    }
    .await;
    match result {
        Ok((session, endpoint, caps)) => go_live(ctx, id, session, launched, endpoint, &caps).await,
        Err(e) => {
            fail_start(ctx, id, Some(&mut launched.runner), &e).await?;
            Err(e)
        }
    }
}

/// Stops and removes whatever `runner` runs; returns its last logs.
pub(crate) async fn end_runner(ctx: &Ctx, runner: &mut Runner, id: &str) -> Vec<LogLine> {
    let grace = ctx.deployments.settings.stop_grace;
    let logs = match runner {
        Runner::Process(p) => {
            p.stop(grace).await;
            p.logs(200)
        }
        Runner::Container { id: cid } => match ctx.deployments.docker().await {
            Ok(d) => {
                let logs = d.logs(cid, 200).await.unwrap_or_default();
                let _ = d.stop(cid, grace).await;
                let _ = d.remove(cid).await;
                logs
            }
            Err(_) => Vec::new(),
        },
    };
    if let Ok(mut ended) = ctx.deployments.ended_logs.lock() {
        ended.insert(id.to_owned(), logs.clone());
    }
    logs
}

/// Discards the runner of a start that is being rolled back: no grace (the server never
/// served anyone). Says what it removed.
pub(crate) async fn discard(ctx: &Ctx, runner: &mut Runner) -> String {
    match runner {
        Runner::Process(p) => {
            p.stop(Duration::ZERO).await;
            format!("process {}", p.pid())
        }
        Runner::Container { id } => {
            if let Ok(d) = ctx.deployments.docker().await {
                let _ = d.remove(id).await;
            }
            format!("container {}", &id[..id.len().min(12)])
        }
    }
}

/// Ends the live session and runner of `id`, if any.
async fn shut_down(ctx: &Ctx, id: &str) {
    let Some(live) = ctx.deployments.take_live(id).await else {
        return;
    };
    match Arc::try_unwrap(live) {
        // Closing the session first ends a stdio server's stdin: most servers exit at once,
        // instead of waiting out the stop grace (a node PID 1 ignores SIGTERM).
        Ok(Live { session, runner }) => {
            session.close().await;
            let mut runner = runner.into_inner();
            end_runner(ctx, &mut runner, id).await;
        }
        // A call is still using the session: stop the runner under it.
        Err(live) => {
            let mut runner = live.runner.lock().await;
            end_runner(ctx, &mut runner, id).await;
        }
    }
}

/// Every deployment, newest first (viewers). States are as [`watch`] last saw them (every
/// 2 s): reads do not inspect the runtimes.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Vec<DeploymentInfo>, DomainError> {
    caller.require(Role::Viewer)?;
    let stored = crate::monitor::stored(ctx).await?;
    Ok(deployment::Entity::find()
        .order_by_desc(deployment::Column::Id)
        .all(&ctx.db.conn)
        .await?
        .iter()
        .map(|m| to_info(m, crate::monitor::view_stored(ctx, m, stored.get(&m.id))))
        .collect())
}

/// One deployment.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<DeploymentInfo, DomainError> {
    caller.require(Role::Viewer)?;
    info(ctx, &find(ctx, id).await?).await
}

/// Marks live deployments whose process or container ended (or vanished) as such.
async fn refresh(ctx: &Ctx) -> Result<(), DomainError> {
    let live: Vec<(String, Arc<Live>)> = ctx
        .deployments
        .live
        .read()
        .await
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    for (id, l) in live {
        let ended = {
            let mut runner = l.runner.lock().await;
            match &mut *runner {
                Runner::Process(p) => p.exit_status().map(|c| {
                    (
                        DeploymentState::Exited,
                        format!("the process exited with status {c}"),
                    )
                }),
                Runner::Container { id: cid } => match ctx.deployments.docker().await {
                    Ok(d) => match d.inspect(cid).await {
                        Ok(ContainerState::Running) => None,
                        Ok(ContainerState::Exited(c)) => Some((
                            DeploymentState::Exited,
                            format!("the container exited with status {c}"),
                        )),
                        Ok(ContainerState::Missing) => {
                            Some((DeploymentState::Missing, "the container is gone".to_owned()))
                        }
                        Err(_) => None,
                    },
                    Err(_) => None,
                },
            }
        };
        if let Some((state, reason)) = ended {
            tracing::warn!(target: "mcp_orchestrator::deploy", deployment = %id, %reason, "deployment ended by itself");
            if let Some(live) = ctx.deployments.take_live(&id).await {
                let mut runner = live.runner.lock().await;
                end_runner(ctx, &mut runner, &id).await;
            }
            set_state(ctx, &id, state, Some(reason), |a| {
                a.stopped_at = Set(Some(Utc::now()));
            })
            .await?;
        }
    }
    Ok(())
}

async fn record(
    ctx: &Ctx,
    caller: &Caller,
    action: &'static str,
    m: &deployment::Model,
) -> Result<(), DomainError> {
    audit::record(
        &ctx.db.conn,
        caller,
        Entry {
            action,
            target_kind: "deployment",
            target_id: Some(m.id.clone()),
            outcome: Outcome::Success,
            detail: json!({"name": m.name}),
        },
    )
    .await
}

/// Stops a deployment (operators).
pub async fn stop(ctx: &Ctx, caller: &Caller, id: &str) -> Result<DeploymentInfo, DomainError> {
    caller.require(Role::Operator)?;
    let m = find(ctx, id).await?;
    crate::monitor::untrack(ctx, id);
    shut_down(ctx, id).await;
    set_state(ctx, id, DeploymentState::Stopped, None, |a| {
        a.desired = Set("stopped".into());
        a.stopped_at = Set(Some(Utc::now()));
        a.runtime_ref = Set(None);
        a.endpoint = Set(None);
    })
    .await?;
    record(ctx, caller, "deployment.stop", &m).await?;
    info(ctx, &find(ctx, id).await?).await
}

/// Starts a stopped, failed or exited deployment (operators); `restart` ends a running one
/// first. Waits for the start to end.
pub async fn start(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    restart: bool,
) -> Result<DeploymentInfo, DomainError> {
    caller.require(Role::Operator)?;
    let m = find(ctx, id).await?;
    if ctx.deployments.get_live(id).await.is_some() {
        if !restart {
            return info(ctx, &m).await;
        }
        shut_down(ctx, id).await;
    }
    set_state(ctx, id, DeploymentState::Starting, None, |a| {
        a.desired = Set("running".into());
    })
    .await?;
    record(
        ctx,
        caller,
        if restart {
            "deployment.restart"
        } else {
            "deployment.start"
        },
        &m,
    )
    .await?;
    crate::monitor::reset(ctx, id).await?;
    let _ = start_now(ctx, id).await;
    info(ctx, &find(ctx, id).await?).await
}

/// Deletes a deployment: stops it, removes its container, its secrets and its record.
pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<(), DomainError> {
    caller.require(Role::Operator)?;
    let m = find(ctx, id).await?;
    crate::monitor::untrack(ctx, id);
    shut_down(ctx, id).await;
    // A container left from an earlier run (stopped, exited) goes too.
    if let (Some(cid), true) = (&m.runtime_ref, m.runtime == "docker") {
        if let Ok(d) = ctx.deployments.docker().await {
            let _ = d.remove(cid).await;
        }
    }
    forget(ctx, caller, &m, json!({"name": m.name})).await
}

/// Removes the record of `m` with its secrets (audited with `detail`), its ended logs and its
/// home directory; what runs it must already be gone.
async fn forget(
    ctx: &Ctx,
    caller: &Caller,
    m: &deployment::Model,
    detail: serde_json::Value,
) -> Result<(), DomainError> {
    let env: Vec<StoredEnv> = serde_json::from_str(&m.env).unwrap_or_default();
    let txn = ctx.db.begin_write().await?;
    for e in env.iter().filter(|e| e.secret) {
        secrets::delete(&txn, &secret_name(&m.id, &e.name)).await?;
    }
    deployment::Entity::delete_by_id(&m.id).exec(&txn).await?;
    crate::monitor::forget(&txn, &m.id).await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "deployment.delete",
            target_kind: "deployment",
            target_id: Some(m.id.clone()),
            outcome: Outcome::Success,
            detail,
        },
    )
    .await?;
    txn.commit().await?;
    crate::monitor::untrack(ctx, &m.id);
    ctx.metrics.forget_deployment(&m.name);
    if let Ok(mut ended) = ctx.deployments.ended_logs.lock() {
        ended.remove(&m.id);
    }
    let _ = tokio::fs::remove_dir_all(ctx.deployments.settings.data_dir.join(&m.id)).await;
    Ok(())
}

/// Rolls back the deployments a pipeline run created: live session, container (found by its
/// label, even if the run never learnt its id), left processes (found by their
/// `MCPO_DEPLOYMENT_ID`), secrets, home and record. Yields what it removed, for the run's log.
pub(crate) async fn purge_for_run(ctx: &Ctx, run_id: &str) -> Result<Vec<String>, DomainError> {
    let rows = deployment::Entity::find()
        .filter(deployment::Column::RunId.eq(run_id))
        .all(&ctx.db.conn)
        .await?;
    let mut removed = Vec::new();
    for m in rows {
        shut_down(ctx, &m.id).await;
        if let Ok(d) = ctx.deployments.docker().await {
            if let Ok(managed) = d.list_managed().await {
                for (cid, _, _) in managed.into_iter().filter(|(_, dep, _)| *dep == m.id) {
                    if d.remove(&cid).await.is_ok() {
                        removed.push(format!("container {}", &cid[..cid.len().min(12)]));
                    }
                }
            }
        }
        for pid in kill_marked_processes(&m.id) {
            removed.push(format!("process group {pid}"));
        }
        forget(
            ctx,
            &Caller::default(),
            &m,
            json!({"name": m.name, "run": run_id, "reason": "pipeline run rolled back"}),
        )
        .await?;
        removed.push(format!("deployment {}", m.name));
    }
    Ok(removed)
}

/// Whether process `pid`'s environment names `deployment_id` (`MCPO_DEPLOYMENT_ID`).
fn runs_for(pid: i32, deployment_id: &str) -> bool {
    let marker = format!("MCPO_DEPLOYMENT_ID={deployment_id}");
    std::fs::read(format!("/proc/{pid}/environ"))
        .is_ok_and(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
}

/// Ends every process group holding a process whose environment names `deployment_id`;
/// yields the groups.
fn kill_marked_processes(deployment_id: &str) -> Vec<i32> {
    let mut groups = Vec::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return groups;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        if !runs_for(pid, deployment_id) {
            continue;
        }
        // SAFETY: getpgid/kill on a process whose environment names this deployment.
        let pgid = unsafe { libc::getpgid(pid) };
        if pgid > 1 && !groups.contains(&pgid) && pgid != std::process::id() as i32 {
            unsafe {
                libc::kill(-pgid, libc::SIGKILL);
            }
            groups.push(pgid);
        }
    }
    groups
}

/// What the server offers (as discovered at the last start).
pub async fn capabilities(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
) -> Result<Capabilities, DomainError> {
    caller.require(Role::Viewer)?;
    let m = find(ctx, id).await?;
    m.capabilities
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok())
        .ok_or_else(|| DomainError::Conflict("the deployment has not been discovered yet".into()))
}

/// Every tool's input and output schema, as one document.
pub async fn schema(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
) -> Result<serde_json::Value, DomainError> {
    let caps = capabilities(ctx, caller, id).await?;
    let tools: serde_json::Map<String, serde_json::Value> = caps
        .tools
        .iter()
        .map(|t| {
            (
                t.name.clone(),
                json!({"description": t.description, "input": t.input_schema, "output": t.output_schema}),
            )
        })
        .collect();
    Ok(json!({
        "server": {"name": caps.server_name, "version": caps.server_version, "protocol_version": caps.protocol_version},
        "tools": tools,
    }))
}

/// Calls a tool on the live session (operators): arguments checked against its input schema
/// first; timeout; result size cap.
pub async fn call_tool(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    tool: &str,
    call: ToolCall,
) -> Result<ToolResult, DomainError> {
    caller.require(Role::Operator)?;
    let m = find(ctx, id).await?;
    let caps = capabilities(ctx, caller, id).await?;
    let t = caps
        .tools
        .iter()
        .find(|t| t.name == tool)
        .ok_or(DomainError::NotFound("tool"))?;
    let args = serde_json::Value::Object(call.arguments.clone());
    schema::check(&t.input_schema, &args, "").map_err(|m| DomainError::invalid("arguments", m))?;
    let max = ctx.deployments.settings.max_call_timeout;
    let timeout = Duration::from_millis(call.timeout_ms.unwrap_or(30_000).max(1));
    if timeout > max {
        return Err(DomainError::invalid(
            "timeout_ms",
            format!("must be at most {}", max.as_millis()),
        ));
    }
    let live = ctx
        .deployments
        .get_live(id)
        .await
        .ok_or_else(|| DomainError::Conflict("the deployment is not running".into()))?;
    // The breaker: an open one refuses at once (503 with Retry-After).
    if let Err(e) = crate::monitor::admit(ctx, id).await {
        ctx.metrics
            .tool_call(&m.name, tool, "rejected", Duration::ZERO);
        return Err(e);
    }
    let t0 = Instant::now();
    let outcome = live.session.call_tool(tool, call.arguments, timeout).await;
    let took = t0.elapsed();
    let is_error = |r: &serde_json::Value| {
        r.get("isError")
            .and_then(serde_json::Value::as_bool)
            .unwrap_or(false)
    };
    let label = match &outcome {
        Ok(r) if is_error(r) => "error",
        Ok(_) => "ok",
        Err(McpError::Timeout { .. }) => "timeout",
        Err(_) => "error",
    };
    // Failed calls (transport errors, timeouts, tool errors) count against the breaker.
    crate::monitor::called(ctx, id, label == "ok").await;
    ctx.metrics.tool_call(&m.name, tool, label, took);
    let result = outcome.map_err(mcp_error)?;
    Ok(ToolResult {
        is_error: is_error(&result),
        result,
        duration_ms: took.as_secs_f64() * 1000.0,
    })
}

/// The last `tail` log lines (stderr of stdio servers; both streams of HTTP containers).
pub async fn logs(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    tail: usize,
) -> Result<Vec<LogLine>, DomainError> {
    caller.require(Role::Viewer)?;
    let m = find(ctx, id).await?;
    let tail = tail.clamp(1, crate::runtime::LOG_LINES);
    if let Some(live) = ctx.deployments.get_live(id).await {
        let runner = live.runner.lock().await;
        return Ok(match &*runner {
            Runner::Process(p) => p.logs(tail),
            Runner::Container { id: cid } => ctx
                .deployments
                .docker()
                .await?
                .logs(cid, tail)
                .await
                .unwrap_or_default(),
        });
    }
    if let Some(l) = ctx
        .deployments
        .ended_logs
        .lock()
        .ok()
        .and_then(|e| e.get(id).cloned())
    {
        return Ok(l
            .iter()
            .skip(l.len().saturating_sub(tail))
            .cloned()
            .collect());
    }
    if let (Some(cid), true) = (&m.runtime_ref, m.runtime == "docker") {
        if let Ok(d) = ctx.deployments.docker().await {
            return Ok(d.logs(cid, tail).await.unwrap_or_default());
        }
    }
    Ok(Vec::new())
}

/// At start-up: removes containers of this installation that no deployment owns; for the
/// deployments of instances that are gone, **adopts** HTTP containers still running (a new
/// session to the same endpoint), marks those whose container is gone (`missing`) or ended
/// (`exited`), and starts again stdio servers that should run (a stdio session cannot be
/// re-attached midway: their container or process is replaced). Processes a dead instance
/// left behind are found by their `MCPO_DEPLOYMENT_ID` and ended.
pub async fn reconcile(ctx: &Ctx) -> Result<(), DomainError> {
    let rows = deployment::Entity::find().all(&ctx.db.conn).await?;
    let alive = crate::system::live_instances(ctx).await?;
    let owner_gone = |r: &deployment::Model| match (&alive, &r.instance_id) {
        (_, None) => true,
        (None, Some(i)) => *i != ctx.instance.id,
        (Some(alive), Some(i)) => *i != ctx.instance.id && !alive.contains(i),
    };
    let docker = ctx.deployments.docker().await.ok();
    if let Some(d) = &docker {
        if let Ok(managed) = d.list_managed().await {
            for (cid, dep_id, _running) in managed {
                let owner = rows.iter().find(|r| r.id == dep_id);
                let stale = match owner {
                    None => true,
                    Some(r) => owner_gone(r) && r.runtime_ref.as_deref() != Some(cid.as_str()),
                };
                if stale {
                    tracing::info!(target: "mcp_orchestrator::deploy", container = %cid, "removing an orphan container");
                    let _ = d.remove(&cid).await;
                }
            }
        }
    }
    for r in rows {
        if !matches!(r.state.as_str(), "running" | "starting") || !owner_gone(&r) {
            continue;
        }
        // A pipeline run still owns a deployment it is starting: its recovery decides.
        if r.run_id.is_some() && r.state == "starting" {
            continue;
        }
        match (r.runtime.as_str(), &r.runtime_ref, &docker) {
            ("docker", Some(cid), Some(d)) => match d.inspect(cid).await {
                Ok(ContainerState::Running) if r.endpoint.is_some() => {
                    if adopt(ctx, &r, cid).await.is_ok() {
                        continue;
                    }
                    let _ = d.remove(cid).await;
                }
                Ok(ContainerState::Running) => {
                    let _ = d.remove(cid).await;
                }
                Ok(ContainerState::Exited(code)) => {
                    set_state(ctx, &r.id, DeploymentState::Exited, Some(format!("the container exited with status {code} while the orchestrator was down")), |a| {
                        a.instance_id = Set(Some(ctx.instance.id.clone()));
                    }).await?;
                    continue;
                }
                Ok(ContainerState::Missing) => {
                    set_state(
                        ctx,
                        &r.id,
                        DeploymentState::Missing,
                        Some("the container was gone when the orchestrator started".into()),
                        |a| {
                            a.runtime_ref = Set(None);
                            a.endpoint = Set(None);
                            a.instance_id = Set(Some(ctx.instance.id.clone()));
                        },
                    )
                    .await?;
                    continue;
                }
                Err(_) => {}
            },
            ("process", Some(pid), _) => end_left_process(pid, &r.id),
            _ => {}
        }
        if r.desired == "running" {
            set_state(
                ctx,
                &r.id,
                DeploymentState::Starting,
                Some("restarted after the orchestrator restarted".into()),
                |_| {},
            )
            .await?;
            drop(spawn_start(ctx.clone(), r.id.clone()));
        } else {
            set_state(ctx, &r.id, DeploymentState::Stopped, None, |_| {}).await?;
        }
    }
    Ok(())
}

/// Takes over a running HTTP container: a new session to its endpoint, rediscovered.
async fn adopt(ctx: &Ctx, r: &deployment::Model, cid: &str) -> Result<(), DomainError> {
    let url = r.endpoint.clone().unwrap_or_default();
    let limits = ctx.deployments.settings.mcp;
    let session = Session::over_http(&url, limits).await.map_err(mcp_error)?;
    let mut caps = match session.discover().await {
        Ok(c) => c,
        Err(e) => {
            session.close().await;
            return Err(mcp_error(e));
        }
    };
    caps.discovered_at = Some(Utc::now());
    ctx.deployments.live.write().await.insert(
        r.id.clone(),
        Arc::new(Live {
            session,
            runner: Mutex::new(Runner::Container { id: cid.to_owned() }),
        }),
    );
    let caps_json = serde_json::to_string(&caps).unwrap_or_default();
    let me = ctx.instance.id.clone();
    tracing::info!(target: "mcp_orchestrator::deploy", deployment = %r.id, container = %cid, "adopted a running container");
    set_state(ctx, &r.id, DeploymentState::Running, None, |a| {
        a.capabilities = Set(Some(caps_json));
        a.discovered_at = Set(Some(Utc::now()));
        a.instance_id = Set(Some(me));
    })
    .await?;
    crate::monitor::track(ctx, &r.id, None).await
}

/// Ends the process group `pid` if it still is this deployment's (its environment names it).
fn end_left_process(pid: &str, deployment_id: &str) {
    let Ok(pid) = pid.parse::<i32>() else { return };
    if pid > 1 && runs_for(pid, deployment_id) {
        // SAFETY: kill(2) on a process group we verified belongs to this deployment.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
}

/// Ends every live deployment of this process (at shutdown); their records keep `desired`,
/// so the next start brings them back.
pub async fn shutdown_all(ctx: &Ctx) {
    let ids: Vec<String> = ctx.deployments.live.read().await.keys().cloned().collect();
    for id in ids {
        shut_down(ctx, &id).await;
    }
}

/// Watches live deployments every `every` until `stop` resolves.
pub async fn watch(ctx: Ctx, every: Duration, stop: impl std::future::Future<Output = ()>) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => return,
            _ = tick.tick() => {
                if let Err(e) = refresh(&ctx).await {
                    tracing::warn!(target: "mcp_orchestrator::deploy", error = %e, "watching deployments failed");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Database, DatabaseUrl, DbOptions, Instance};
    use sea_orm::IntoActiveModel;

    #[tokio::test]
    async fn generated_names_take_the_smallest_free_suffix_past_a_thousand() {
        let test_db = testkit::TestDb::new(testkit::Backend::Sqlite).await;
        let db = Database::connect(
            &DatabaseUrl::parse(&test_db.url).unwrap(),
            &DbOptions::default(),
        )
        .await
        .unwrap();
        db.migrate_up().await.unwrap();
        let ctx = Ctx::new(db.clone(), Instance::register(&db).await.unwrap());
        assert_eq!(free_name(&ctx, "tiny", false).await.unwrap(), "tiny");
        // `tiny`, `tiny-2` … `tiny-1200` taken, except `tiny-700`; and a look-alike.
        let mut names: Vec<String> = vec!["tiny".into(), "tinyx-3".into()];
        names.extend(
            (2..=1200)
                .filter(|n| *n != 700)
                .map(|n| format!("tiny-{n}")),
        );
        let txn = ctx.db.begin_write().await.unwrap();
        for (i, name) in names.iter().enumerate() {
            let now = Utc::now();
            deployment::ActiveModel {
                id: Set(format!("00000000-0000-0000-0000-{i:012}")),
                name: Set(name.clone()),
                server: Set("io.x/tiny".into()),
                version: Set("1.0.0".into()),
                registry_id: Set("r".into()),
                package: Set(0),
                runtime: Set("process".into()),
                launch: Set("{}".into()),
                args: Set("[]".into()),
                env: Set("[]".into()),
                transport: Set("{}".into()),
                desired: Set("stopped".into()),
                state: Set("stopped".into()),
                state_reason: Set(None),
                runtime_ref: Set(None),
                instance_id: Set(None),
                endpoint: Set(None),
                capabilities: Set(None),
                discovered_at: Set(None),
                created_by: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                started_at: Set(None),
                stopped_at: Set(None),
                run_id: Set(None),
                health_config: Set(None),
            }
            .insert(&txn)
            .await
            .unwrap();
        }
        txn.commit().await.unwrap();
        assert_eq!(free_name(&ctx, "tiny", false).await.unwrap(), "tiny-700");
        assert!(matches!(
            free_name(&ctx, "tiny", true).await,
            Err(DomainError::Conflict(_))
        ));
        deployment::Entity::delete_many()
            .filter(deployment::Column::Name.eq("tiny-700"))
            .exec(&ctx.db.conn)
            .await
            .unwrap();
        // Still free after the gap is used: the next one past the end.
        let mut a = deployment::Entity::find()
            .filter(deployment::Column::Name.eq("tiny-1200"))
            .one(&ctx.db.conn)
            .await
            .unwrap()
            .unwrap()
            .into_active_model();
        a.name = Set("tiny-700".into());
        a.update(&ctx.db.conn).await.unwrap();
        assert_eq!(free_name(&ctx, "tiny", false).await.unwrap(), "tiny-1200");
    }
}
