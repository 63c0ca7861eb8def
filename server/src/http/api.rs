//! `/api/v1`: the versioned JSON API. Handlers parse, call the service layer, map the result.

use axum::{extract::State, Json};
use types::{ConfigValidation, Problem, SystemInfo};

use super::problem::{ApiError, ApiJson};
use crate::{config::Layers, state::AppState};

/// This instance: version, database backend, uptime, instance and migration counts.
#[utoipa::path(get, path = "/api/v1/system", tag = "system",
    responses(
        (status = 200, description = "System information", body = SystemInfo),
        (status = 503, description = "The database is unavailable", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn system(State(state): State<AppState>) -> Result<Json<SystemInfo>, ApiError> {
    Ok(Json(domain::system::info(&state.ctx).await?))
}

/// Validates a configuration document (the TOML file's settings as a JSON object, nested
/// tables as objects) and answers every effective setting, defaults filled in and secrets
/// redacted. Nothing is applied: use it to check a configuration before rolling it out.
#[utoipa::path(post, path = "/api/v1/config/validate", tag = "system",
    request_body(content = Object, description = "Settings, e.g. {\"listen\": \"0.0.0.0:3000\", \"database\": {\"max_connections\": 20}}", content_type = "application/json"),
    responses(
        (status = 200, description = "Valid; every effective setting", body = ConfigValidation),
        (status = 400, description = "The body is not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body is over the size limit", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The body is not declared as JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A setting is unknown or invalid; `field` names it", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn validate_config(
    ApiJson(doc): ApiJson<serde_json::Value>,
) -> Result<Json<ConfigValidation>, ApiError> {
    let invalid = |e: crate::config::ConfigError| {
        let key = e.key().map(str::to_owned);
        ApiError::unprocessable("invalid-config", e.to_string(), key.as_deref())
    };
    let mut layers = Layers::default();
    layers.apply_json(&doc).map_err(invalid)?;
    let config = layers.resolve().map_err(invalid)?;
    Ok(Json(layers.describe(&config)))
}
