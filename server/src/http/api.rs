//! `/api/v1`: the versioned JSON API. Handlers parse, call the service layer, map the result.

use axum::{extract::State, Json};
use types::{ConfigValidation, Problem, SystemInfo};

use super::problem::{ApiError, ApiJson, ApiQuery};
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

// ----- access -------------------------------------------------------------------------------

use axum::{extract::Path, http::StatusCode, Extension};
use domain::access::{api_keys, audit, users, Caller};
use types::{ApiKeyInfo, AuditEvent, CreateApiKey, CreatedApiKey, Me, Page, UserInfo};

/// Who is calling: the signed-in user or the API key, with the effective role.
#[utoipa::path(get, path = "/api/v1/me", tag = "access", security(("api_key" = [])),
    responses(
        (status = 200, description = "The caller", body = Me),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn me(Extension(caller): Extension<Caller>) -> Result<Json<Me>, ApiError> {
    let p = caller.require(types::Role::Viewer)?;
    Ok(Json(Me {
        kind: p.kind.as_str().to_owned(),
        id: p.id.clone(),
        name: p.name.clone(),
        role: p.role,
    }))
}

/// API keys: the caller's own, or every key for admins. Never the secret.
#[utoipa::path(get, path = "/api/v1/api-keys", tag = "access", security(("api_key" = [])),
    responses(
        (status = 200, description = "Keys, newest first", body = Vec<ApiKeyInfo>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_api_keys(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<ApiKeyInfo>>, ApiError> {
    Ok(Json(api_keys::list(&state.ctx, &caller).await?))
}

/// Creates an API key with a role no higher than the caller's. The key is in this answer only.
#[utoipa::path(post, path = "/api/v1/api-keys", tag = "access", security(("api_key" = [])),
    request_body(content = CreateApiKey, content_type = "application/json"),
    responses(
        (status = 201, description = "Created; `key` is shown this once", body = CreatedApiKey),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "The requested role exceeds the caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, role or expiry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create_api_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> Result<(StatusCode, Json<CreatedApiKey>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(api_keys::create(&state.ctx, &caller, req).await?),
    ))
}

/// Revokes an API key (its creator or an admin). Calls with it are refused from now on.
#[utoipa::path(delete, path = "/api/v1/api-keys/{id}", tag = "access", security(("api_key" = [])),
    params(("id" = String, Path, description = "Key id")),
    responses(
        (status = 200, description = "Revoked", body = ApiKeyInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such key (or not the caller's)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<ApiKeyInfo>, ApiError> {
    Ok(Json(api_keys::revoke(&state.ctx, &caller, &id).await?))
}

/// Every user (admins).
#[utoipa::path(get, path = "/api/v1/users", tag = "access", security(("api_key" = [])),
    responses(
        (status = 200, description = "Users by name", body = Vec<UserInfo>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_users(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<UserInfo>>, ApiError> {
    Ok(Json(users::list(&state.ctx, &caller).await?))
}

/// Filters and paging for the audit log.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Exact action, e.g. `api_key.revoke`.
    action: Option<String>,
    /// Actor id (user or key).
    actor_id: Option<String>,
    /// `success`, `denied` or `failure`.
    outcome: Option<String>,
    /// Events at or after (RFC 3339).
    since: Option<chrono::DateTime<chrono::Utc>>,
    /// Events before (RFC 3339).
    until: Option<chrono::DateTime<chrono::Utc>>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    limit: Option<u64>,
}

/// The audit log, newest first (admins).
#[utoipa::path(get, path = "/api/v1/audit-events", tag = "access", security(("api_key" = [])),
    params(AuditQuery),
    responses(
        (status = 200, description = "A page of events", body = Page<AuditEvent>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad cursor or filter", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list_audit_events(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Page<AuditEvent>>, ApiError> {
    let filter = audit::Filter {
        action: q.action,
        actor_id: q.actor_id,
        outcome: q.outcome,
        since: q.since,
        until: q.until,
    };
    Ok(Json(
        audit::list(
            &state.ctx,
            &caller,
            filter,
            q.cursor.as_deref(),
            q.limit.unwrap_or(50),
        )
        .await?,
    ))
}

/// Changes a user's role, or disables / enables them (admins). A disabled user's sessions and
/// API keys stop working; a demoted user's keys act with at most the new role.
#[utoipa::path(patch, path = "/api/v1/users/{id}", tag = "access", security(("api_key" = [])),
    params(("id" = String, Path, description = "User id")),
    request_body(content = types::UpdateUser, content_type = "application/json"),
    responses(
        (status = 200, description = "The user after the change", body = UserInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such user", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Would demote or disable yourself or the last admin", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid role or field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update_user(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(change): ApiJson<types::UpdateUser>,
) -> Result<Json<UserInfo>, ApiError> {
    Ok(Json(users::update(&state.ctx, &caller, &id, change).await?))
}
