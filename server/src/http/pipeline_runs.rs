//! `/api/v1/pipeline-runs`: thin adapters over `domain::pipeline`, and the event streams.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Path, State},
    http::{HeaderMap, HeaderValue, StatusCode},
    response::{
        sse::{Event, KeepAlive, Sse},
        IntoResponse, Response,
    },
    Extension, Json,
};
use domain::{access::Caller, pipeline, DomainError};
use types::{
    deployment::CreateDeployment,
    pipeline::{CreateRuns, CreatedRuns, RunFilter, RunInfo, RunState},
    Page, Problem,
};

use super::problem::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;

fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, DomainError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v.to_str().map(|s| Some(s.to_owned())).map_err(|_| {
            DomainError::invalid("Idempotency-Key", "must be visible ASCII characters")
        }),
    }
}

fn created(
    status: StatusCode,
    replayed: bool,
    body: impl serde::Serialize,
    location: Option<&str>,
) -> Response {
    let mut res = (status, Json(body)).into_response();
    if replayed {
        res.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    if let Some(l) = location.and_then(|l| HeaderValue::from_str(l).ok()) {
        res.headers_mut().insert("location", l);
    }
    res
}

/// Starts a pipeline run for a catalog entry and a configuration (operators): the request is
/// checked at once (422 for a bad configuration), then queued for a worker. With an
/// `Idempotency-Key` header, repeating the request returns the same run (200,
/// `Idempotent-Replayed: true`); the same key with another body is a 422.
#[utoipa::path(post, path = "/api/v1/pipeline-runs", tag = "pipeline-runs", security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to repeat (1–255 visible ASCII characters)")),
    request_body(content = CreateDeployment, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued", body = RunInfo),
        (status = 200, description = "Replayed: the run an earlier request with this key created", body = RunInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog entry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Not deployable, a bad configuration, or a reused Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateDeployment>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (run, replayed) = pipeline::create(&state.ctx, &caller, req, key.as_deref()).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let location = format!("/api/v1/pipeline-runs/{}", run.id);
    Ok(created(status, replayed, run, Some(&location)))
}

/// Starts several runs at once (operators; 1 to 500), queued in request order; every request
/// is checked before any run is created. `Idempotency-Key` as for one run.
#[utoipa::path(post, path = "/api/v1/pipeline-runs/batch", tag = "pipeline-runs", security(("api_key" = [])),
    params(("Idempotency-Key" = Option<String>, Header, description = "Makes the request safe to repeat")),
    request_body(content = CreateRuns, content_type = "application/json"),
    responses(
        (status = 202, description = "Queued", body = CreatedRuns),
        (status = 200, description = "Replayed", body = CreatedRuns),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such catalog entry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad request (its index is named), or a reused Idempotency-Key", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
    ApiJson(req): ApiJson<CreateRuns>,
) -> Result<Response, ApiError> {
    let key = idempotency_key(&headers)?;
    let (runs, replayed) = pipeline::create_batch(&state.ctx, &caller, req, key.as_deref()).await?;
    let status = if replayed {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    Ok(created(status, replayed, CreatedRuns { runs }, None))
}

/// Filters of the runs list, as sent.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// `queued`, `running`, `cancelling`, `succeeded`, `failed` or `cancelled`.
    state: Option<String>,
    /// Catalog server name (exact).
    server: Option<String>,
    /// User or API-key name that started the run.
    created_by: Option<String>,
    /// Created at or after (RFC 3339).
    since: Option<String>,
    /// Created before (RFC 3339).
    until: Option<String>,
    /// Cursor from the previous page.
    cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    limit: Option<String>,
}

fn time(
    field: &'static str,
    v: Option<String>,
) -> Result<Option<chrono::DateTime<chrono::Utc>>, DomainError> {
    v.filter(|s| !s.is_empty())
        .map(|s| {
            chrono::DateTime::parse_from_rfc3339(&s)
                .map(|t| t.with_timezone(&chrono::Utc))
                .map_err(|_| {
                    DomainError::invalid(
                        field,
                        "must be an RFC 3339 time, e.g. 2026-11-21T10:00:00Z",
                    )
                })
        })
        .transpose()
}

impl ListQuery {
    fn into_filter(self) -> Result<RunFilter, DomainError> {
        Ok(RunFilter {
            state: match self.state.filter(|s| !s.is_empty()) {
                None => None,
                Some(s) => Some(RunState::parse(&s).ok_or_else(|| {
                    DomainError::invalid(
                        "state",
                        "must be queued, running, cancelling, succeeded, failed or cancelled",
                    )
                })?),
            },
            server: self.server.filter(|s| !s.is_empty()),
            created_by: self.created_by.filter(|s| !s.is_empty()),
            since: time("since", self.since)?,
            until: time("until", self.until)?,
            cursor: self.cursor.filter(|s| !s.is_empty()),
            limit: match self.limit.filter(|s| !s.is_empty()) {
                None => None,
                Some(l) => Some(
                    l.parse::<u32>()
                        .ok()
                        .filter(|n| (1..=200).contains(n))
                        .ok_or_else(|| DomainError::invalid("limit", "must be 1 to 200"))?,
                ),
            },
        })
    }
}

/// Runs, newest first, filtered (steps without their logs).
#[utoipa::path(get, path = "/api/v1/pipeline-runs", tag = "pipeline-runs", security(("api_key" = [])),
    params(ListQuery),
    responses(
        (status = 200, description = "A page of runs", body = Page<RunInfo>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Json<Page<RunInfo>>, ApiError> {
    Ok(Json(
        pipeline::list(&state.ctx, &caller, q.into_filter()?).await?,
    ))
}

/// One run: its steps with status, attempts, times, errors and logs.
#[utoipa::path(get, path = "/api/v1/pipeline-runs/{id}", tag = "pipeline-runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "The run", body = RunInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RunInfo>, ApiError> {
    Ok(Json(pipeline::get(&state.ctx, &caller, &id).await?))
}

/// Cancels a run (operators): a queued one at once; a running one is stopped by the instance
/// executing it, which removes what the run created (watch its state become `cancelled`).
#[utoipa::path(post, path = "/api/v1/pipeline-runs/{id}/cancel", tag = "pipeline-runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "Cancelled, or being cancelled", body = RunInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run has ended", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn cancel(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = pipeline::cancel(&state.ctx, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

/// Queues a failed or cancelled run again from its failed step (operators).
#[utoipa::path(post, path = "/api/v1/pipeline-runs/{id}/retry", tag = "pipeline-runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "Queued again", body = RunInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The run is not failed or cancelled", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn retry(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = pipeline::retry(&state.ctx, &caller, &id).await?;
    Ok((StatusCode::ACCEPTED, Json(run)).into_response())
}

/// Starts a new run with the same request as this one (operators).
#[utoipa::path(post, path = "/api/v1/pipeline-runs/{id}/rerun", tag = "pipeline-runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 202, description = "The new run, queued", body = RunInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run, or its catalog entry is gone", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The request no longer resolves", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn rerun(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let run = pipeline::rerun(&state.ctx, &caller, &id).await?;
    let location = format!("/api/v1/pipeline-runs/{}", run.id);
    Ok(created(StatusCode::ACCEPTED, false, run, Some(&location)))
}

/// The change number a stream resumes after (`Last-Event-ID`).
fn last_event_id(headers: &HeaderMap) -> Option<i64> {
    headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// Follows one run (SSE): an `run` event with the whole run (steps and logs) now and after
/// every change, ending once the run has ended. Resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/api/v1/pipeline-runs/{id}/events", tag = "pipeline-runs", security(("api_key" = [])),
    params(("id" = String, Path, description = "Run id")),
    responses(
        (status = 200, description = "`text/event-stream` of `run` events (data: the run as JSON)", body = super::sse::RunEventFrame, content_type = "text/event-stream"),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such run", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let run = pipeline::get(&state.ctx, &caller, &id).await?;
    let resume = last_event_id(&headers);
    let start = pipeline::latest_event(&state.ctx, Some(&id)).await?;
    // A fresh stream starts with the run as it is; a resumed one only with what is newer.
    let first = match resume {
        Some(seen) if seen >= start => None,
        _ => Some(run),
    };
    let stream = follow(
        state.ctx.clone(),
        caller,
        Some(id),
        resume.unwrap_or(start).min(start),
        first,
        start,
    );
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Follows every run (SSE): a `run` event (steps without logs) whenever one changes.
/// Resumes after `Last-Event-ID`.
#[utoipa::path(get, path = "/api/v1/pipeline-runs/events", tag = "pipeline-runs", security(("api_key" = [])),
    responses(
        (status = 200, description = "`text/event-stream` of `run` events (data: the run as JSON)", body = super::sse::RunEventFrame, content_type = "text/event-stream"),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn all_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    caller.require(types::Role::Viewer)?;
    let start = pipeline::latest_event(&state.ctx, None).await?;
    let after = last_event_id(&headers).map_or(start, |s| s.min(start));
    let stream = follow(state.ctx.clone(), caller, None, after, None, start);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

fn run_event(run: &RunInfo, seq: i64) -> Event {
    Event::default()
        .event("run")
        .id(seq.to_string())
        .json_data(run)
        .unwrap_or_default()
}

/// Change-log follower: wakes on this instance's changes at once and polls every second for
/// other instances' (bounded: one query per wake-up while the client stays).
fn follow(
    ctx: domain::Ctx,
    caller: Caller,
    run: Option<String>,
    after: i64,
    first: Option<RunInfo>,
    first_seq: i64,
) -> impl futures_util::Stream<Item = Result<Event, Infallible>> {
    let rx = ctx.pipeline.subscribe();
    let closing = ctx.pipeline.closing();
    let pending: std::collections::VecDeque<(i64, RunInfo)> =
        first.map(|r| (first_seq, r)).into_iter().collect();
    futures_util::stream::unfold(
        (ctx, caller, run, after, pending, rx, closing, false),
        |(ctx, caller, run, mut after, mut pending, mut rx, mut closing, mut done)| async move {
            loop {
                if let Some((seq, r)) = pending.pop_front() {
                    if run.is_some() && r.state.is_final() {
                        done = true;
                    }
                    let ev = run_event(&r, seq);
                    return Some((
                        Ok(ev),
                        (ctx, caller, run, after, pending, rx, closing, done),
                    ));
                }
                // Ends with the run, or when this instance shuts down (clients reconnect
                // elsewhere with Last-Event-ID).
                if done || *closing.borrow() {
                    return None;
                }
                tokio::select! {
                    _ = tokio::time::timeout(Duration::from_secs(1), rx.changed()) => {}
                    _ = closing.changed() => return None,
                }
                let (last, runs) = pipeline::changes(&ctx, &caller, run.as_deref(), after)
                    .await
                    .ok()?;
                after = last;
                pending.extend(runs.into_iter().map(|r| (last, r)));
            }
        },
    )
}
