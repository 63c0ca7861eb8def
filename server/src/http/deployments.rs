//! `/api/v1/deployments`: thin adapters over `domain::deployments`.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension, Json,
};
use domain::{access::Caller, deployments};
use types::{
    deployment::{Capabilities, CreateDeployment, DeploymentInfo, ToolCall, ToolResult},
    Problem,
};

use super::problem::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;

/// Every deployment, newest first; states as the watcher last saw them (every 2 s).
#[utoipa::path(get, path = "/api/v1/deployments", tag = "deployments", security(("api_key" = [])),
    responses(
        (status = 200, description = "Deployments", body = Vec<DeploymentInfo>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<DeploymentInfo>>, ApiError> {
    Ok(Json(deployments::list(&state.ctx, &caller).await?))
}

/// Whether to wait.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Answer when the start has ended (`running` or `failed`) instead of at once.
    #[serde(default)]
    wait: bool,
}

/// Deploys a catalog entry (operators): resolves the package, runtime, arguments and
/// environment (names checked, credential-looking plain values refused: mark them secret),
/// then starts it: runtime, MCP handshake, discovery. 202 at once, or 201 when `wait=true`.
#[utoipa::path(post, path = "/api/v1/deployments", tag = "deployments", security(("api_key" = [])),
    params(WaitQuery),
    request_body(content = CreateDeployment, content_type = "application/json"),
    responses(
        (status = 201, description = "Started (or failed: see `state` and `state_reason`)", body = DeploymentInfo),
        (status = 202, description = "Starting", body = DeploymentInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog entry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not deployable, or the configuration is incomplete or unsafe", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<WaitQuery>,
    ApiJson(req): ApiJson<CreateDeployment>,
) -> Result<Response, ApiError> {
    let (info, handle) = deployments::create(&state.ctx, &caller, req).await?;
    if !q.wait {
        return Ok((StatusCode::ACCEPTED, Json(info)).into_response());
    }
    let done = handle
        .await
        .map_err(|e| ApiError::Internal(format!("the start task failed: {e}")))??;
    Ok((StatusCode::CREATED, Json(done)).into_response())
}

/// One deployment (secret values masked).
#[utoipa::path(get, path = "/api/v1/deployments/{id}", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "The deployment", body = DeploymentInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    Ok(Json(deployments::get(&state.ctx, &caller, &id).await?))
}

/// Deletes a deployment: stops it and removes its container or process, secrets and record.
#[utoipa::path(delete, path = "/api/v1/deployments/{id}", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    deployments::delete(&state.ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Stops a deployment (operators).
#[utoipa::path(post, path = "/api/v1/deployments/{id}/stop", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Stopped", body = DeploymentInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn stop(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    Ok(Json(deployments::stop(&state.ctx, &caller, &id).await?))
}

/// Starts a stopped, failed or exited deployment and waits for the start to end (operators).
#[utoipa::path(post, path = "/api/v1/deployments/{id}/start", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Running, or failed (see `state_reason`)", body = DeploymentInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    Ok(Json(
        deployments::start(&state.ctx, &caller, &id, false).await?,
    ))
}

/// Stops and starts a deployment anew (operators).
#[utoipa::path(post, path = "/api/v1/deployments/{id}/restart", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Running, or failed (see `state_reason`)", body = DeploymentInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn restart(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<DeploymentInfo>, ApiError> {
    Ok(Json(
        deployments::start(&state.ctx, &caller, &id, true).await?,
    ))
}

/// Tools, resources and prompts as discovered after the handshake.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/capabilities", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Capabilities", body = Capabilities),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not discovered yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn capabilities(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Capabilities>, ApiError> {
    Ok(Json(
        deployments::capabilities(&state.ctx, &caller, &id).await?,
    ))
}

/// Every tool's input and output schema, as one document.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/schema", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "`{server, tools: {name: {description, input, output}}}`", body = Object),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not discovered yet", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn schema(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    Ok(Json(deployments::schema(&state.ctx, &caller, &id).await?))
}

/// Calls a tool through the deployment's MCP session (operators). Arguments are checked
/// against the tool's input schema before they are sent.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/tools/{tool}/call", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id"), ("tool" = String, Path, description = "Tool name")),
    request_body(content = ToolCall, content_type = "application/json"),
    responses(
        (status = 200, description = "The tool's result (`is_error` when the tool reported one)", body = ToolResult),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment or tool", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The deployment is not running", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Arguments do not match the input schema", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "The server failed the request, or the result is over the size cap", body = Problem, content_type = "application/problem+json"),
        (status = 504, description = "The server did not answer in time", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn call_tool(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, tool)): Path<(String, String)>,
    ApiJson(call): ApiJson<ToolCall>,
) -> Result<Json<ToolResult>, ApiError> {
    Ok(Json(
        deployments::call_tool(&state.ctx, &caller, &id, &tool, call).await?,
    ))
}

/// Which log lines.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogQuery {
    /// Last lines, 1–2000 (default 200).
    tail: Option<usize>,
    /// Keep the response open and send new lines as server-sent events (`line` events).
    #[serde(default)]
    follow: bool,
}

/// One log line.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct LogLineView {
    /// When it was read.
    pub at: chrono::DateTime<chrono::Utc>,
    /// The line.
    pub text: String,
}

/// The deployment's logs (stderr of stdio servers); `follow=true` streams them (SSE).
#[utoipa::path(get, path = "/api/v1/deployments/{id}/logs", tag = "deployments", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id"), LogQuery),
    responses(
        (status = 200, description = "Lines, oldest first; with `follow=true` an event stream of `line` events, the existing lines first", content(
            (Vec<LogLineView> = "application/json"),
            (super::sse::LogLineFrame = "text/event-stream"),
        )),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn logs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<LogQuery>,
) -> Result<Response, ApiError> {
    let tail = q.tail.unwrap_or(200);
    let lines = deployments::logs(&state.ctx, &caller, &id, tail).await?;
    if !q.follow {
        return Ok(Json(
            lines
                .into_iter()
                .map(|l| LogLineView {
                    at: l.at,
                    text: l.text,
                })
                .collect::<Vec<_>>(),
        )
        .into_response());
    }
    // Follow: send what there is, then poll for newer lines (bounded buffer, 500 ms).
    let ctx = state.ctx.clone();
    let stream = async_stream(ctx, caller, id, lines);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn line_event(l: &domain::runtime::LogLine) -> Event {
    Event::default()
        .event("line")
        .json_data(serde_json::json!({"at": l.at, "text": l.text}))
        .unwrap_or_default()
}

fn async_stream(
    ctx: domain::Ctx,
    caller: Caller,
    id: String,
    first: Vec<domain::runtime::LogLine>,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let last = first.last().map(|l| l.at);
    let pending: std::collections::VecDeque<_> = first.into();
    futures_util::stream::unfold(
        (ctx, caller, id, last, pending),
        |(ctx, caller, id, mut last, mut pending)| async move {
            // Bounded: one poll every 500 ms while the client stays; ends with the deployment.
            while pending.is_empty() {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let lines = deployments::logs(&ctx, &caller, &id, 2000).await.ok()?;
                pending.extend(lines.into_iter().filter(|l| last.is_none_or(|t| l.at > t)));
                if let Some(l) = pending.back() {
                    last = Some(l.at);
                }
            }
            let line = pending.pop_front()?;
            Some((Ok(line_event(&line)), (ctx, caller, id, last, pending)))
        },
    )
}
