//! Deployment health over HTTP: recheck, history, events, the fleet view, and
//! `/health/detailed` (admins). Thin adapters over `domain::monitor` and `domain::health`.

use axum::{
    extract::{Path, State},
    Extension, Json,
};
use domain::{access::Caller, monitor};
use types::{FleetHealth, HealthEvent, HealthHistory, HealthView, Problem, SystemHealth};

use super::problem::{ApiError, ApiQuery};
use crate::state::AppState;

/// Checks the deployment at once (operators): runtime state and MCP `ping` on its live
/// session; answers with its health after the check.
#[utoipa::path(post, path = "/api/v1/deployments/{id}/health-check", tag = "health", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id")),
    responses(
        (status = 200, description = "Health after the check", body = HealthView),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not checked by this instance (not meant to run, left down, or run by another instance)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn recheck(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<HealthView>, ApiError> {
    Ok(Json(monitor::recheck(&state.ctx, &caller, &id).await?))
}

/// The window of a history.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Hours back from now, 1–720 (default 24). Minutes are kept for the last hours
    /// (`health.minutes_kept_hours`), hours before that.
    hours: Option<String>,
}

/// A deployment's checks over time: per minute, then per hour; with its uptime.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/health/history", tag = "health", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id"), HistoryQuery),
    responses(
        (status = 200, description = "Samples, oldest first", body = HealthHistory),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such deployment", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `hours`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn history(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<Json<HealthHistory>, ApiError> {
    let hours = match q.hours.as_deref() {
        None => 24,
        Some(h) => h
            .parse::<i64>()
            .ok()
            .filter(|h| (1..=720).contains(h))
            .ok_or_else(|| {
                domain::DomainError::invalid("hours", "must be a whole number from 1 to 720")
            })?,
    };
    let since = chrono::Utc::now() - chrono::Duration::hours(hours);
    Ok(Json(
        monitor::history::history(&state.ctx, &caller, &id, since).await?,
    ))
}

/// How many events.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// 1–1000 (default 100).
    limit: Option<String>,
}

fn limit(q: &EventsQuery) -> Result<u64, domain::DomainError> {
    match q.limit.as_deref() {
        None => Ok(100),
        Some(l) => l
            .parse::<u64>()
            .ok()
            .filter(|l| (1..=1000).contains(l))
            .ok_or_else(|| {
                domain::DomainError::invalid("limit", "must be a whole number from 1 to 1000")
            }),
    }
}

/// A deployment's health events (status changes, restarts, crash loops, breaker changes),
/// newest first.
#[utoipa::path(get, path = "/api/v1/deployments/{id}/health/events", tag = "health", security(("api_key" = [])),
    params(("id" = String, Path, description = "Deployment id"), EventsQuery),
    responses(
        (status = 200, description = "Events, newest first", body = Vec<HealthEvent>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn deployment_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<HealthEvent>>, ApiError> {
    let n = limit(&q)?;
    Ok(Json(
        monitor::history::events(&state.ctx, &caller, Some(&id), n).await?,
    ))
}

/// Health events of every deployment (the incident log), newest first.
#[utoipa::path(get, path = "/api/v1/health/events", tag = "health", security(("api_key" = [])),
    params(EventsQuery),
    responses(
        (status = 200, description = "Events, newest first", body = Vec<HealthEvent>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Bad `limit`", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<HealthEvent>>, ApiError> {
    let n = limit(&q)?;
    Ok(Json(
        monitor::history::events(&state.ctx, &caller, None, n).await?,
    ))
}

/// The fleet: counts by health, open breakers, restarts and uptime over 24 hours, every
/// deployment (unhealthy first) and the latest incidents.
#[utoipa::path(get, path = "/api/v1/health/fleet", tag = "health", security(("api_key" = [])),
    responses(
        (status = 200, description = "The fleet's health", body = FleetHealth),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn fleet(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<FleetHealth>, ApiError> {
    Ok(Json(monitor::history::fleet(&state.ctx, &caller).await?))
}

/// This instance in detail (admins): database, Docker engine, pipeline workers and queue,
/// live deployments, checks in flight, CPU, memory and threads.
#[utoipa::path(get, path = "/health/detailed", tag = "operations", security(("api_key" = [])),
    responses(
        (status = 200, description = "System health", body = SystemHealth),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn detailed(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<SystemHealth>, ApiError> {
    Ok(Json(domain::health::detailed(&state.ctx, &caller).await?))
}
