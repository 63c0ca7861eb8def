//! The Docker runtime: each deployment is one container, hardened by default, with the same
//! lifecycle as the [process runtime](super::process) — start, stop, restart, remove, inspect,
//! logs — plus [`DockerRuntime::list_managed`] for reconciliation at start-up.
//!
//! Hardening applied to every container: all capabilities dropped, `no-new-privileges`, a
//! read-only root file system with a size-limited `noexec,nosuid,nodev` tmpfs on `/tmp`,
//! memory (without swap), CPU and PID limits, a non-root user (`65534:65534` unless the image
//! names a non-root user of its own), a private IPC namespace, no restart policy, bounded
//! `json-file` logs. Stdio servers from an image get no network at all (`none`); HTTP servers
//! sit on the default bridge with their port published on `127.0.0.1` only (the host port is
//! chosen by Docker). npm and PyPI packages run in runner images (`npx -y name@version`,
//! `uvx name==version`) that must download the package, so they keep the bridge network and
//! get a tmpfs home (`exec`, size-limited) for the package caches.
//!
//! Images are never pulled unless [`DockerSettings::pull`] is on. Arguments are argv arrays
//! (never a shell line); environment values are passed to the engine and never logged.
//!
//! Restart is stop + remove + a new start ([`DockerRuntime::restart`]): a stdio server needs a
//! fresh attach anyway, and a new container starts from a clean file system.

use std::{collections::HashMap, time::Duration};

use bollard::{
    container::LogOutput,
    errors::Error as DockerError,
    models::{
        ContainerCreateBody, ContainerInspectResponse, ContainerSummaryStateEnum, HostConfig,
        HostConfigLogConfig, PortBinding, ResourcesUlimits,
    },
    query_parameters::{
        AttachContainerOptionsBuilder, CreateContainerOptionsBuilder, CreateImageOptionsBuilder,
        InspectContainerOptions, ListContainersOptionsBuilder, LogsOptionsBuilder,
        RemoveContainerOptionsBuilder, StopContainerOptionsBuilder,
    },
    Docker,
};
use futures_util::StreamExt as _;
use tokio::io::{AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _};

use super::{LogBuffer, LogLine, RuntimeError, Spec, Transport, MAX_LINE};
use crate::runtime::Launch;

/// Label naming the orchestrator instance that owns a container.
pub const LABEL_INSTANCE: &str = "io.mcpo.instance";
/// Label naming the deployment a container runs.
pub const LABEL_DEPLOYMENT: &str = "io.mcpo.deployment";
/// Label marking containers managed by the orchestrator (`true`).
pub const LABEL_MANAGED: &str = "io.mcpo.managed";
/// Label recording the transport (`stdio` or `http`); `logs` reads it.
pub const LABEL_TRANSPORT: &str = "io.mcpo.transport";

/// The user a container runs as when its image names none (or root): `nobody:nogroup`.
pub const DEFAULT_USER: &str = "65534:65534";
/// The tmpfs on `/tmp`.
pub const TMP_TMPFS: &str = "rw,noexec,nosuid,nodev,size=64m,mode=1777";
/// Home of npm and PyPI runners (package caches; `exec` because uvx runs entry points there).
pub const RUNNER_HOME: &str = "/home/mcp";
/// The tmpfs on [`RUNNER_HOME`].
pub const RUNNER_HOME_TMPFS: &str = "rw,exec,nosuid,nodev,size=512m,mode=1777";
/// Most log entries read to find a stdio server's last stderr lines.
const MAX_LOG_SCAN: usize = 200_000;

/// Resource limits and images of the Docker runtime.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DockerSettings {
    /// Memory limit in bytes (swap is not allowed on top).
    pub memory_bytes: i64,
    /// CPU limit in units of 10⁻⁹ CPUs.
    pub nano_cpus: i64,
    /// Most processes (threads) a container may have.
    pub pids_limit: i64,
    /// Image that runs npm packages (`npx` on its `PATH`).
    pub npm_runner_image: String,
    /// Image that runs PyPI packages (`uvx` on its `PATH`).
    pub pypi_runner_image: String,
    /// Pull images that are not on the host (off: a missing image is an error).
    pub pull: bool,
}

impl Default for DockerSettings {
    fn default() -> Self {
        Self {
            memory_bytes: 512 * 1024 * 1024,
            nano_cpus: 1_000_000_000,
            pids_limit: 256,
            npm_runner_image: "node:22-alpine".into(),
            pypi_runner_image: "ghcr.io/astral-sh/uv:python3.12-alpine".into(),
            pull: false,
        }
    }
}

/// What a container is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ContainerState {
    /// It runs (or is paused).
    Running,
    /// It ended (or never started) with this exit code.
    Exited(i64),
    /// No such container.
    Missing,
}

/// The byte streams of a stdio server: its stdout (to read MCP from) and its stdin.
pub type StdioPair = (
    Box<dyn AsyncRead + Send + Unpin>,
    Box<dyn AsyncWrite + Send + Unpin>,
);

/// A started container.
pub struct Container {
    /// Container id.
    pub id: String,
    /// Container name (`mcpo-<deployment id>`).
    pub name: String,
    /// Stdio servers: stdout and stdin, for [`crate::mcp::Session::over_stdio`] (taken once).
    pub stdio: Option<StdioPair>,
    /// HTTP servers: `http://127.0.0.1:HOSTPORT{path}`.
    pub http_url: Option<String>,
    attached: Option<LogBuffer>,
}

impl std::fmt::Debug for Container {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Container")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("stdio", &self.stdio.is_some())
            .field("http_url", &self.http_url)
            .finish()
    }
}

impl Container {
    /// Stdio servers: the last `tail` lines of stderr read from the attach stream since start
    /// (the engine's log, [`DockerRuntime::logs`], has them too and survives restarts of the
    /// orchestrator). Empty for HTTP servers.
    pub fn attached_stderr(&self, tail: usize) -> Vec<LogLine> {
        self.attached
            .as_ref()
            .map(|l| l.tail(tail))
            .unwrap_or_default()
    }
}

/// The Docker runtime of one orchestrator instance.
#[derive(Clone)]
pub struct DockerRuntime {
    docker: Docker,
    instance_id: String,
    settings: DockerSettings,
}

impl std::fmt::Debug for DockerRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DockerRuntime")
            .field("instance_id", &self.instance_id)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").unwrap_or_else(|_| "unix:///var/run/docker.sock".into())
}

/// The engine's own message (status code dropped), or the client error; when no answer came
/// at all, that the engine does not answer (the client's own words are obscure).
fn message(e: &DockerError) -> String {
    match e {
        DockerError::DockerResponseServerError { message, .. } => message.trim().to_owned(),
        DockerError::DockerStreamError { error } => error.trim().to_owned(),
        DockerError::HyperLegacyError { .. }
        | DockerError::HyperResponseError { .. }
        | DockerError::IOError { .. }
        | DockerError::SocketNotFoundError(_)
        | DockerError::RequestTimeoutError => {
            format!("the Docker engine does not answer ({e})")
        }
        other => other.to_string(),
    }
}

fn status(e: &DockerError) -> Option<u16> {
    match e {
        DockerError::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

fn engine(what: impl std::fmt::Display, e: &DockerError) -> RuntimeError {
    RuntimeError::Start(format!("Docker: {what}: {}", message(e)))
}

/// `mcpo-<deployment id>`, reduced to what Docker accepts in a name (`[a-zA-Z0-9_.-]`).
pub fn container_name(deployment_id: &str) -> String {
    let mut name = String::from("mcpo-");
    name.extend(deployment_id.chars().map(|c| {
        if c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-') {
            c
        } else {
            '-'
        }
    }));
    name.truncate(128);
    name
}

/// `image` with `:latest` when it names neither a tag nor a digest (a pull without a tag
/// would fetch every tag).
fn with_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_owned()
    } else {
        format!("{image}:latest")
    }
}

/// Whether an image's `User` runs as root (empty means root).
fn is_root_user(user: &str) -> bool {
    let name = user.split(':').next().unwrap_or("").trim();
    name.is_empty() || name == "root" || name == "0"
}

/// What a container runs.
struct Command {
    image: String,
    /// Replaces the image's entrypoint (runners only).
    entrypoint: Option<Vec<String>>,
    /// Replaces the image's command (the arguments).
    cmd: Option<Vec<String>>,
    /// An npm or PyPI runner (needs the network and a writable home).
    runner: bool,
}

/// Removes a created container unless disarmed: on an error return and when the start is
/// cancelled half-way (dropped future), so a failed start leaves nothing behind.
struct RemoveOnDrop {
    docker: Docker,
    id: Option<String>,
}

impl RemoveOnDrop {
    async fn remove_now(mut self) {
        if let Some(id) = self.id.take() {
            let _ = force_remove(&self.docker, &id).await;
        }
    }

    fn disarm(mut self) {
        self.id = None;
    }
}

impl Drop for RemoveOnDrop {
    fn drop(&mut self) {
        if let Some(id) = self.id.take() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                let docker = self.docker.clone();
                handle.spawn(async move {
                    let _ = force_remove(&docker, &id).await;
                });
            }
        }
    }
}

async fn force_remove(docker: &Docker, id: &str) -> Result<(), DockerError> {
    match docker
        .remove_container(
            id,
            Some(
                RemoveContainerOptionsBuilder::default()
                    .force(true)
                    .v(true)
                    .build(),
            ),
        )
        .await
    {
        Err(e) if status(&e) == Some(404) => Ok(()),
        other => other,
    }
}

impl DockerRuntime {
    /// Connects to the engine named by `DOCKER_HOST` (`unix://…` or `tcp://…`; the local
    /// socket when unset) and negotiates the API version (older engines reject newer clients).
    /// `instance_id` labels every container this runtime creates.
    pub async fn connect(
        instance_id: &str,
        settings: DockerSettings,
    ) -> Result<Self, RuntimeError> {
        let docker = Docker::connect_with_defaults().map_err(|e| {
            RuntimeError::Start(format!(
                "Docker: cannot use DOCKER_HOST={}: {e}",
                docker_host()
            ))
        })?;
        let docker = docker.negotiate_version().await.map_err(|e| {
            RuntimeError::Start(format!(
                "Docker: no engine answers at {}: {}",
                docker_host(),
                message(&e)
            ))
        })?;
        Ok(Self {
            docker,
            instance_id: instance_id.to_owned(),
            settings,
        })
    }

    /// The engine client (for callers that need more than this runtime offers).
    pub fn client(&self) -> &Docker {
        &self.docker
    }

    /// The instance id in this runtime's labels.
    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// The settings.
    pub fn settings(&self) -> &DockerSettings {
        &self.settings
    }

    /// Checks that the engine answers.
    pub async fn ping(&self) -> Result<(), RuntimeError> {
        self.docker
            .ping()
            .await
            .map(|_| ())
            .map_err(|e| engine(format_args!("no engine answers at {}", docker_host()), &e))
    }

    /// Image, entrypoint and command for `spec`.
    fn image_and_command(&self, spec: &Spec) -> Result<Command, RuntimeError> {
        Ok(match &spec.launch {
            Launch::Oci { image } => {
                if image.trim().is_empty() {
                    return Err(RuntimeError::Unsupported("the image name is empty".into()));
                }
                // The image's entrypoint stays; arguments replace its default command.
                let cmd = (!spec.args.is_empty()).then(|| spec.args.clone());
                Command {
                    image: image.clone(),
                    entrypoint: None,
                    cmd,
                    runner: false,
                }
            }
            // The same argv as the process runtime, in a runner image.
            Launch::Npm { .. } | Launch::Pypi { .. } => {
                let (program, args) = spec.command()?;
                let image = if matches!(spec.launch, Launch::Npm { .. }) {
                    &self.settings.npm_runner_image
                } else {
                    &self.settings.pypi_runner_image
                };
                Command {
                    image: image.clone(),
                    entrypoint: Some(vec![program.to_owned()]),
                    cmd: Some(args),
                    runner: true,
                }
            }
            Launch::Program { .. } => {
                return Err(RuntimeError::Unsupported(
                    "a program on this host cannot run on the docker runtime: use the process \
                     runtime, or an image"
                        .into(),
                ))
            }
        })
    }

    /// Makes sure the image `spec` runs in is on the host (pulled when pulling is on); yields
    /// its name.
    pub async fn prepare(&self, spec: &Spec) -> Result<String, RuntimeError> {
        let c = self.image_and_command(spec)?;
        self.ensure_image(&c.image).await?;
        Ok(c.image)
    }

    /// The image's configured user, pulling the image first when it is missing and pulling is
    /// on.
    async fn ensure_image(&self, image: &str) -> Result<Option<String>, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(info) => return Ok(info.config.and_then(|c| c.user)),
            Err(e) if status(&e) == Some(404) => {}
            Err(e) => return Err(engine(format_args!("cannot inspect image {image}"), &e)),
        }
        if !self.settings.pull {
            return Err(RuntimeError::Start(format!(
                "image {image} is not on this Docker host and pulling is off (turn pulling on, \
                 or load the image onto the host with `docker pull`, `docker load` or \
                 `docker build`)"
            )));
        }
        let reference = with_tag(image);
        tracing::info!(image = %reference, "pulling image");
        let mut pull = self.docker.create_image(
            Some(
                CreateImageOptionsBuilder::default()
                    .from_image(&reference)
                    .build(),
            ),
            None,
            None,
        );
        while let Some(item) = pull.next().await {
            if let Err(e) = item {
                return Err(engine(format_args!("cannot pull image {reference}"), &e));
            }
        }
        match self.docker.inspect_image(&reference).await {
            Ok(info) => Ok(info.config.and_then(|c| c.user)),
            Err(e) => Err(engine(
                format_args!("image {reference} is missing after the pull"),
                &e,
            )),
        }
    }

    /// Creates and starts a container for `spec`. Stdio servers are attached before they
    /// start: [`Container::stdio`] carries their stdout (stderr is split off into
    /// [`Container::attached_stderr`]) and stdin. HTTP servers get their port published on
    /// `127.0.0.1`; [`Container::http_url`] names it (use [`Self::wait_until_listening`]
    /// before the first request). Any failure after the container was created removes it.
    pub async fn start(
        &self,
        spec: &Spec,
        transport: Transport,
    ) -> Result<Container, RuntimeError> {
        let Command {
            image,
            entrypoint,
            cmd,
            runner,
        } = self.image_and_command(spec)?;
        if let Transport::Http { port: 0, .. } = transport {
            return Err(RuntimeError::Unsupported(
                "an HTTP server needs a port other than 0".into(),
            ));
        }
        let image_user = self.ensure_image(&image).await?;
        let user = match image_user.as_deref() {
            Some(u) if !is_root_user(u) => u.to_owned(),
            _ => DEFAULT_USER.to_owned(),
        };
        let stdio = transport == Transport::Stdio;

        let mut env = Vec::with_capacity(spec.env.len() + 4);
        if runner {
            env.push(format!("HOME={RUNNER_HOME}"));
            env.push(format!("npm_config_cache={RUNNER_HOME}/.npm"));
            env.push("npm_config_update_notifier=false".to_owned());
            env.push(format!("UV_CACHE_DIR={RUNNER_HOME}/.cache/uv"));
            env.push("UV_PYTHON_DOWNLOADS=never".to_owned());
        }
        for (name, value) in &spec.env {
            env.push(format!("{}={}", name.as_str(), value.expose()));
        }

        let mut tmpfs = HashMap::from([("/tmp".to_owned(), TMP_TMPFS.to_owned())]);
        if runner {
            tmpfs.insert(RUNNER_HOME.to_owned(), RUNNER_HOME_TMPFS.to_owned());
        }
        let labels = HashMap::from([
            (LABEL_INSTANCE.to_owned(), self.instance_id.clone()),
            (LABEL_DEPLOYMENT.to_owned(), spec.deployment_id.clone()),
            (LABEL_MANAGED.to_owned(), "true".to_owned()),
            (
                LABEL_TRANSPORT.to_owned(),
                if stdio { "stdio" } else { "http" }.to_owned(),
            ),
        ]);
        let (network_mode, exposed, bindings) = match &transport {
            // Package runners must reach their registry to download the package.
            Transport::Stdio if runner => ("bridge", None, None),
            Transport::Stdio => ("none", None, None),
            Transport::Http { port, .. } => {
                let key = format!("{port}/tcp");
                (
                    "bridge",
                    Some(vec![key.clone()]),
                    Some(HashMap::from([(
                        key,
                        Some(vec![PortBinding {
                            host_ip: Some("127.0.0.1".into()),
                            host_port: Some(String::new()),
                        }]),
                    )])),
                )
            }
        };
        let host_config = HostConfig {
            cap_drop: Some(vec!["ALL".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            readonly_rootfs: Some(true),
            tmpfs: Some(tmpfs),
            memory: Some(self.settings.memory_bytes),
            memory_swap: Some(self.settings.memory_bytes),
            nano_cpus: Some(self.settings.nano_cpus),
            pids_limit: Some(self.settings.pids_limit),
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(4096),
                hard: Some(4096),
            }]),
            ipc_mode: Some("private".into()),
            privileged: Some(false),
            network_mode: Some(network_mode.into()),
            port_bindings: bindings,
            auto_remove: Some(false),
            log_config: Some(HostConfigLogConfig {
                typ: Some("json-file".into()),
                config: Some(HashMap::from([
                    ("max-size".to_owned(), "10m".to_owned()),
                    ("max-file".to_owned(), "3".to_owned()),
                ])),
            }),
            ..Default::default()
        };
        let body = ContainerCreateBody {
            image: Some(image.clone()),
            entrypoint,
            cmd,
            env: Some(env),
            user: Some(user),
            labels: Some(labels),
            exposed_ports: exposed,
            open_stdin: Some(stdio),
            attach_stdin: Some(stdio),
            attach_stdout: Some(stdio),
            attach_stderr: Some(stdio),
            stdin_once: Some(false),
            tty: Some(false),
            host_config: Some(host_config),
            ..Default::default()
        };
        let name = container_name(&spec.deployment_id);
        let id = self.create(&name, body).await?;
        let guard = RemoveOnDrop {
            docker: self.docker.clone(),
            id: Some(id.clone()),
        };
        match self.attach_and_start(&id, &name, &transport).await {
            Ok(container) => {
                guard.disarm();
                tracing::info!(
                    deployment = %spec.deployment_id,
                    container = %name,
                    image = %image,
                    "container started"
                );
                Ok(container)
            }
            Err(e) => {
                guard.remove_now().await;
                Err(e)
            }
        }
    }

    /// Creates the container; a stopped container of this instance holding the name (left
    /// over from an earlier run) is removed first.
    async fn create(&self, name: &str, body: ContainerCreateBody) -> Result<String, RuntimeError> {
        let options = CreateContainerOptionsBuilder::default().name(name).build();
        match self
            .docker
            .create_container(Some(options.clone()), body.clone())
            .await
        {
            Ok(r) => return Ok(r.id),
            Err(e) if status(&e) == Some(409) => {}
            Err(e) => return Err(engine(format_args!("cannot create container {name}"), &e)),
        }
        let stale = self
            .docker
            .inspect_container(name, None::<InspectContainerOptions>)
            .await
            .ok();
        let ours_and_stopped = stale.as_ref().is_some_and(|c| {
            self.owns(c) && !c.state.as_ref().and_then(|s| s.running).unwrap_or(false)
        });
        if !ours_and_stopped {
            return Err(RuntimeError::Start(format!(
                "Docker: a container named {name} already exists (running, or not managed by \
                 this instance): stop or remove it first"
            )));
        }
        if let Some(id) = stale.and_then(|c| c.id) {
            force_remove(&self.docker, &id)
                .await
                .map_err(|e| engine(format_args!("cannot remove the old container {name}"), &e))?;
        }
        self.docker
            .create_container(Some(options), body)
            .await
            .map(|r| r.id)
            .map_err(|e| engine(format_args!("cannot create container {name}"), &e))
    }

    async fn attach_and_start(
        &self,
        id: &str,
        name: &str,
        transport: &Transport,
    ) -> Result<Container, RuntimeError> {
        let mut container = Container {
            id: id.to_owned(),
            name: name.to_owned(),
            stdio: None,
            http_url: None,
            attached: None,
        };
        if *transport == Transport::Stdio {
            // Attach first: nothing the server writes at start-up is lost.
            let attach = self
                .docker
                .attach_container(
                    id,
                    Some(
                        AttachContainerOptionsBuilder::default()
                            .stream(true)
                            .stdin(true)
                            .stdout(true)
                            .stderr(true)
                            .logs(false)
                            .build(),
                    ),
                )
                .await
                .map_err(|e| engine(format_args!("cannot attach to container {name}"), &e))?;
            let logs = LogBuffer::default();
            let stdout = pump(attach.output, logs.clone());
            container.stdio = Some((Box::new(stdout), Box::new(attach.input)));
            container.attached = Some(logs);
        }
        self.docker
            .start_container(id, None)
            .await
            .map_err(|e| engine(format_args!("cannot start container {name}"), &e))?;
        if let Transport::Http { port, path } = transport {
            let info = self
                .docker
                .inspect_container(id, None::<InspectContainerOptions>)
                .await
                .map_err(|e| engine(format_args!("cannot inspect container {name}"), &e))?;
            let host_port = info
                .network_settings
                .as_ref()
                .and_then(|n| n.ports.as_ref())
                .and_then(|p| p.get(&format!("{port}/tcp")))
                .and_then(Option::as_ref)
                .into_iter()
                .flatten()
                .filter(|b| b.host_ip.as_deref() == Some("127.0.0.1"))
                .find_map(|b| b.host_port.as_deref().and_then(|p| p.parse::<u16>().ok()));
            let Some(host_port) = host_port else {
                let state = state_of(&info);
                return Err(RuntimeError::Start(match state {
                    ContainerState::Exited(code) => format!(
                        "Docker: container {name} exited at once (exit code {code}); see its logs"
                    ),
                    _ => format!("Docker: container {name} has no host port for {port}/tcp"),
                }));
            };
            let path = if path.starts_with('/') {
                path.clone()
            } else {
                format!("/{path}")
            };
            container.http_url = Some(format!("http://127.0.0.1:{host_port}{path}"));
        }
        Ok(container)
    }

    /// HTTP servers: waits until something answers HTTP at [`Container::http_url`] (any
    /// status; the published port accepts connections before the server listens), or fails
    /// when the container stops or `timeout` passes.
    pub async fn wait_until_listening(
        &self,
        container: &Container,
        timeout: Duration,
    ) -> Result<(), RuntimeError> {
        let Some(url) = container.http_url.as_deref() else {
            return Ok(());
        };
        let rest = url.trim_start_matches("http://");
        let (addr, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if answers_http(addr, path).await {
                return Ok(());
            }
            match self.inspect(&container.id).await? {
                ContainerState::Running => {}
                ContainerState::Exited(code) => {
                    return Err(RuntimeError::Start(format!(
                        "Docker: container {} exited (exit code {code}) before it listened",
                        container.name
                    )))
                }
                ContainerState::Missing => {
                    return Err(RuntimeError::Start(format!(
                        "Docker: container {} is gone",
                        container.name
                    )))
                }
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(RuntimeError::Start(format!(
                    "Docker: container {} did not answer HTTP within {} ms",
                    container.name,
                    timeout.as_millis()
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn owns(&self, c: &ContainerInspectResponse) -> bool {
        let labels = c.config.as_ref().and_then(|c| c.labels.as_ref());
        labels.is_some_and(|l| {
            l.get(LABEL_INSTANCE) == Some(&self.instance_id)
                && l.get(LABEL_MANAGED).map(String::as_str) == Some("true")
        })
    }

    /// Inspects `id` and checks it is managed by this instance (`None`: no such container).
    async fn owned(&self, id: &str) -> Result<Option<ContainerInspectResponse>, RuntimeError> {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) if self.owns(&c) => Ok(Some(c)),
            Ok(_) => Err(RuntimeError::Unsupported(format!(
                "container {id} is not managed by this instance"
            ))),
            Err(e) if status(&e) == Some(404) => Ok(None),
            Err(e) => Err(engine(format_args!("cannot inspect container {id}"), &e)),
        }
    }

    /// Stops `id`: SIGTERM, SIGKILL after `grace` (whole seconds, rounded up). The container
    /// stays (see [`Self::remove`]). Returns its state afterwards (`Missing` if it is gone).
    pub async fn stop(&self, id: &str, grace: Duration) -> Result<ContainerState, RuntimeError> {
        if self.owned(id).await?.is_none() {
            return Ok(ContainerState::Missing);
        }
        let secs = grace.as_secs() + u64::from(grace.subsec_nanos() > 0);
        let t = i32::try_from(secs).unwrap_or(i32::MAX);
        match self
            .docker
            .stop_container(
                id,
                Some(StopContainerOptionsBuilder::default().t(t).build()),
            )
            .await
        {
            Ok(()) => {}
            Err(e) if status(&e) == Some(404) => return Ok(ContainerState::Missing),
            Err(e) => return Err(engine(format_args!("cannot stop container {id}"), &e)),
        }
        self.inspect(id).await
    }

    /// Restart: stops and removes `id`, then starts `spec` anew (a fresh container, attach
    /// and host port).
    pub async fn restart(
        &self,
        id: &str,
        grace: Duration,
        spec: &Spec,
        transport: Transport,
    ) -> Result<Container, RuntimeError> {
        self.stop(id, grace).await?;
        self.remove(id).await?;
        self.start(spec, transport).await
    }

    /// Removes `id` (forced: a running container is killed). Nothing to remove is no error.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        if self.owned(id).await?.is_none() {
            return Ok(());
        }
        force_remove(&self.docker, id)
            .await
            .map_err(|e| engine(format_args!("cannot remove container {id}"), &e))
    }

    /// What `id` is doing.
    pub async fn inspect(&self, id: &str) -> Result<ContainerState, RuntimeError> {
        match self
            .docker
            .inspect_container(id, None::<InspectContainerOptions>)
            .await
        {
            Ok(c) => Ok(state_of(&c)),
            Err(e) if status(&e) == Some(404) => Ok(ContainerState::Missing),
            Err(e) => Err(engine(format_args!("cannot inspect container {id}"), &e)),
        }
    }

    /// The last `tail` log lines of `id` from the engine: stderr for stdio servers (their
    /// stdout is the MCP channel), stdout and stderr for HTTP servers. Empty if it is gone.
    pub async fn logs(&self, id: &str, tail: usize) -> Result<Vec<LogLine>, RuntimeError> {
        let Some(info) = self.owned(id).await? else {
            return Ok(Vec::new());
        };
        if tail == 0 {
            return Ok(Vec::new());
        }
        let stdio = info
            .config
            .as_ref()
            .and_then(|c| c.labels.as_ref())
            .and_then(|l| l.get(LABEL_TRANSPORT))
            .is_none_or(|t| t == "stdio");
        // The engine's `tail` counts entries of both streams, even when only stderr is asked
        // for: a stdio server's MCP traffic on stdout would crowd its stderr out. So read
        // both, count every entry, keep stderr, and widen the window until it holds `tail`
        // stderr lines or the whole log.
        let mut window = if stdio {
            tail.saturating_mul(4).max(256)
        } else {
            tail
        };
        loop {
            let (mut lines, entries) = self.read_logs(id, stdio, window).await?;
            if !stdio || lines.len() >= tail || entries < window || window >= MAX_LOG_SCAN {
                let cut = lines.len().saturating_sub(tail);
                lines.drain(..cut);
                return Ok(lines);
            }
            window = window.saturating_mul(8).min(MAX_LOG_SCAN);
        }
    }

    /// The last `window` entries of the log: the lines kept (stdout dropped when
    /// `stderr_only`) and how many entries came.
    async fn read_logs(
        &self,
        id: &str,
        stderr_only: bool,
        window: usize,
    ) -> Result<(Vec<LogLine>, usize), RuntimeError> {
        let mut stream = self.docker.logs(
            id,
            Some(
                LogsOptionsBuilder::default()
                    .stdout(true)
                    .stderr(true)
                    .timestamps(true)
                    .tail(&window.to_string())
                    .build(),
            ),
        );
        let mut lines = Vec::new();
        let mut entries = 0;
        while let Some(item) = stream.next().await {
            let bytes = match item {
                Ok(LogOutput::StdOut { .. }) if stderr_only => {
                    entries += 1;
                    continue;
                }
                Ok(LogOutput::StdErr { message })
                | Ok(LogOutput::StdOut { message })
                | Ok(LogOutput::Console { message }) => message,
                Ok(LogOutput::StdIn { .. }) => continue,
                Err(e) if status(&e) == Some(404) => break,
                Err(e) => return Err(engine(format_args!("cannot read the logs of {id}"), &e)),
            };
            entries += 1;
            let text = String::from_utf8_lossy(&bytes);
            for frame in text.split_terminator('\n') {
                let (at, line) = match frame.split_once(' ') {
                    Some((ts, rest)) => match chrono::DateTime::parse_from_rfc3339(ts) {
                        Ok(t) => (t.with_timezone(&chrono::Utc), rest),
                        Err(_) => (chrono::Utc::now(), frame),
                    },
                    None => (chrono::Utc::now(), frame),
                };
                lines.push(LogLine::new(at, line));
            }
        }
        Ok((lines, entries))
    }

    /// Every container of this instance (running or not): `(container id, deployment id,
    /// running)`, for reconciliation at start-up.
    pub async fn list_managed(&self) -> Result<Vec<(String, String, bool)>, RuntimeError> {
        let filters = HashMap::from([(
            "label",
            vec![
                format!("{LABEL_INSTANCE}={}", self.instance_id),
                format!("{LABEL_MANAGED}=true"),
            ],
        )]);
        let list = self
            .docker
            .list_containers(Some(
                ListContainersOptionsBuilder::default()
                    .all(true)
                    .filters(&filters)
                    .build(),
            ))
            .await
            .map_err(|e| engine("cannot list containers", &e))?;
        Ok(list
            .into_iter()
            .filter_map(|c| {
                let deployment = c.labels.as_ref()?.get(LABEL_DEPLOYMENT)?.clone();
                let running = c.state == Some(ContainerSummaryStateEnum::RUNNING);
                Some((c.id?, deployment, running))
            })
            .collect())
    }
}

fn state_of(c: &ContainerInspectResponse) -> ContainerState {
    match &c.state {
        Some(s) if s.running == Some(true) => ContainerState::Running,
        Some(s) => ContainerState::Exited(s.exit_code.unwrap_or(0)),
        None => ContainerState::Exited(0),
    }
}

/// Whether an HTTP response (any status) comes back from `addr`.
async fn answers_http(addr: &str, path: &str) -> bool {
    let attempt = async {
        let mut s = tokio::net::TcpStream::connect(addr).await.ok()?;
        let req = format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.ok()?;
        let mut buf = [0u8; 8];
        s.read_exact(&mut buf).await.ok()?;
        Some(buf.starts_with(b"HTTP/1."))
    };
    tokio::time::timeout(Duration::from_secs(2), attempt)
        .await
        .ok()
        .flatten()
        .unwrap_or(false)
}

/// Reads the attach stream to its end: stdout frames go to the returned reader, stderr lines
/// to `logs`. The task keeps draining stderr when the reader is dropped, so the server never
/// blocks on a full stderr; the reader sees end-of-file when the container's streams close.
fn pump(
    mut output: std::pin::Pin<
        Box<dyn futures_util::Stream<Item = Result<LogOutput, DockerError>> + Send>,
    >,
    logs: LogBuffer,
) -> tokio::io::DuplexStream {
    let (reader, mut writer) = tokio::io::duplex(256 * 1024);
    tokio::spawn(async move {
        let mut open = true;
        let mut partial = String::new();
        while let Some(item) = output.next().await {
            match item {
                Ok(LogOutput::StdOut { message }) | Ok(LogOutput::Console { message }) => {
                    if open && writer.write_all(&message).await.is_err() {
                        open = false;
                    }
                }
                Ok(LogOutput::StdErr { message }) => {
                    partial.push_str(&String::from_utf8_lossy(&message));
                    while let Some(end) = partial.find('\n') {
                        let line: String = partial.drain(..=end).collect();
                        logs.push(&line[..line.len() - 1]);
                    }
                    if partial.len() > MAX_LINE {
                        let line = std::mem::take(&mut partial);
                        logs.push(&line);
                    }
                }
                Ok(LogOutput::StdIn { .. }) => {}
                Err(_) => break,
            }
        }
        if !partial.is_empty() {
            logs.push(&partial);
        }
        let _ = writer.shutdown().await;
    });
    reader
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_tags() {
        assert_eq!(container_name("a1/b c"), "mcpo-a1-b-c");
        assert_eq!(container_name("0190-ab_c.d"), "mcpo-0190-ab_c.d");
        assert_eq!(with_tag("node"), "node:latest");
        assert_eq!(with_tag("localhost:5000/x"), "localhost:5000/x:latest");
        assert_eq!(with_tag("ghcr.io/a/b:1.2"), "ghcr.io/a/b:1.2");
        assert_eq!(with_tag("a/b@sha256:00"), "a/b@sha256:00");
        assert!(is_root_user(""));
        assert!(is_root_user("root"));
        assert!(is_root_user("0:0"));
        assert!(!is_root_user("65534"));
        assert!(!is_root_user("node:node"));
    }

    #[test]
    fn settings_defaults() {
        let s = DockerSettings::default();
        assert_eq!(s.memory_bytes, 536_870_912);
        assert_eq!(s.nano_cpus, 1_000_000_000);
        assert_eq!(s.pids_limit, 256);
        assert!(!s.pull);
    }
}
