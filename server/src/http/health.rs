//! `/health/live`, `/health/ready`, `/health`.

use axum::{extract::State, http::StatusCode, response::IntoResponse, Json};
use types::{HealthReport, HealthStatus, Problem};

use super::problem::problem_response;
use crate::state::AppState;

/// Liveness: the process is up and answering. Touches nothing else.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, description = "The process is up", body = serde_json::Value, example = json!({"status": "pass"}))))]
pub async fn live() -> impl IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        r#"{"status":"pass"}"#,
    )
}

/// Readiness: the database answers and every migration is applied. Otherwise 503 naming the
/// failing checks. A Docker engine that does not answer degrades the instance: still 200,
/// with `status` `warn` and the `docker` check saying why (the API and dashboard serve on).
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses(
        (status = 200, description = "Ready to serve", body = HealthReport),
        (status = 503, description = "Not ready; `failing` names the checks", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn ready(State(state): State<AppState>) -> axum::response::Response {
    let report = domain::health::report(&state.ctx).await;
    if report.status != HealthStatus::Fail {
        return Json(report).into_response();
    }
    let failing = report.failing().join(", ");
    problem_response(
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE.as_u16(),
            "Service Unavailable",
        )
        .with_type("not-ready")
        .with_detail(format!("Not ready; failing checks: {failing}."))
        .with_extension("failing", serde_json::json!(report.failing()))
        .with_extension(
            "checks",
            serde_json::to_value(&report.checks).unwrap_or_default(),
        ),
    )
}

/// Summary of every check, always 200 (use `/health/ready` as the gate).
#[utoipa::path(get, path = "/health", tag = "operations",
    responses((status = 200, description = "Health summary", body = HealthReport)))]
pub async fn summary(State(state): State<AppState>) -> Json<HealthReport> {
    Json(domain::health::report(&state.ctx).await)
}
