//! `/api/v1/registries` and `/api/v1/catalog`: thin adapters over `domain::registries` and
//! `domain::catalog`.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension, Json,
};
use domain::{
    access::Caller,
    catalog,
    registries::{self, sync},
};
use types::{
    CatalogPage, CatalogVersion, CreateRegistry, Page, Problem, RegistryInfo, SyncDetail, SyncMode,
    SyncRun, UpdateRegistry, VerdictStatus, VersionSummary,
};

use super::problem::{ApiError, ApiJson, ApiQuery};
use crate::state::AppState;

/// Every registry source, by name (credentials never shown).
#[utoipa::path(get, path = "/api/v1/registries", tag = "registries", security(("api_key" = [])),
    responses(
        (status = 200, description = "Sources with their last sync", body = Vec<RegistryInfo>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn list(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Vec<RegistryInfo>>, ApiError> {
    Ok(Json(registries::list(&state.ctx, &caller).await?))
}

/// Adds a source (admins). `auth_value` goes to the secret store and is never shown again.
#[utoipa::path(post, path = "/api/v1/registries", tag = "registries", security(("api_key" = [])),
    request_body(content = CreateRegistry, content_type = "application/json"),
    responses(
        (status = 201, description = "Created", body = RegistryInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name, URL (https, or http to loopback or an allowed host; no credentials in it), path or interval", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn create(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiJson(req): ApiJson<CreateRegistry>,
) -> Result<(StatusCode, Json<RegistryInfo>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(registries::create(&state.ctx, &caller, req).await?),
    ))
}

/// One source.
#[utoipa::path(get, path = "/api/v1/registries/{id}", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id")),
    responses(
        (status = 200, description = "The source", body = RegistryInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registry", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn get(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<RegistryInfo>, ApiError> {
    Ok(Json(registries::get(&state.ctx, &caller, &id).await?))
}

/// Changes a source (admins); absent fields stay. `auth_value: ""` removes the credential.
#[utoipa::path(patch, path = "/api/v1/registries/{id}", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id")),
    request_body(content = UpdateRegistry, content_type = "application/json"),
    responses(
        (status = 200, description = "The source after the change", body = RegistryInfo),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "An invalid field", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn update(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiJson(req): ApiJson<UpdateRegistry>,
) -> Result<Json<RegistryInfo>, ApiError> {
    Ok(Json(
        registries::update(&state.ctx, &caller, &id, req).await?,
    ))
}

/// Removes a source with its catalog entries, sync history and credential (admins).
#[utoipa::path(delete, path = "/api/v1/registries/{id}", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id")),
    responses(
        (status = 204, description = "Removed"),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an admin", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sync is running", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn delete(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    registries::delete(&state.ctx, &caller, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// How to sync.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SyncQuery {
    /// `full` or `incremental`; default incremental when the source has synced before.
    mode: Option<SyncMode>,
    /// Answer when the sync has ended (200 with its detail) instead of at once (202).
    #[serde(default)]
    wait: bool,
}

/// Starts a sync now (operators and admins). Answers 202 with the running sync (poll
/// `GET …/syncs/{sync_id}`), or with `wait=true` 200 with the ended sync.
#[utoipa::path(post, path = "/api/v1/registries/{id}/sync", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id"), SyncQuery),
    responses(
        (status = 202, description = "Started", body = SyncRun),
        (status = 200, description = "Ended (`wait=true`); `state` says how", body = SyncDetail),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Not an operator", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registry", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "A sync of this source is running", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "The source synced moments ago (Retry-After says when to try)", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn start_sync(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<SyncQuery>,
) -> Result<Response, ApiError> {
    let (run, handle) =
        sync::start(&state.ctx, &caller, &id, q.mode, sync::Trigger::Manual).await?;
    if !q.wait {
        return Ok((StatusCode::ACCEPTED, Json(run)).into_response());
    }
    let ended = sync::wait(handle).await?;
    let detail = registries::sync_detail(&state.ctx, &caller, &id, &ended.id).await?;
    Ok(Json(detail).into_response())
}

/// Paging for sync history.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
    /// Page size, 1–200 (default 20).
    limit: Option<u64>,
}

/// A source's syncs, newest first.
#[utoipa::path(get, path = "/api/v1/registries/{id}/syncs", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id"), PageQuery),
    responses(
        (status = 200, description = "A page of syncs", body = Page<SyncRun>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such registry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn syncs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
    ApiQuery(q): ApiQuery<PageQuery>,
) -> Result<Json<Page<SyncRun>>, ApiError> {
    Ok(Json(
        registries::syncs(
            &state.ctx,
            &caller,
            &id,
            q.cursor.as_deref(),
            q.limit.unwrap_or(20),
        )
        .await?,
    ))
}

/// One sync, with the reason for every skipped entry.
#[utoipa::path(get, path = "/api/v1/registries/{id}/syncs/{sync_id}", tag = "registries", security(("api_key" = [])),
    params(("id" = String, Path, description = "Registry id"), ("sync_id" = String, Path, description = "Sync id")),
    responses(
        (status = 200, description = "The sync", body = SyncDetail),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such sync", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn sync_detail(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((id, sync_id)): Path<(String, String)>,
) -> Result<Json<SyncDetail>, ApiError> {
    Ok(Json(
        registries::sync_detail(&state.ctx, &caller, &id, &sync_id).await?,
    ))
}

/// Catalog search and filters.
#[derive(Debug, Default, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CatalogQuery {
    /// Words that must all appear in the name, title or description (any case).
    pub q: Option<String>,
    /// Only this source (registry id).
    pub registry_id: Option<String>,
    /// Only servers with a package of this type: `npm`, `pypi`, `oci`, …
    pub registry_type: Option<String>,
    /// Only servers reachable over this transport: `stdio`, `streamable-http`, `sse`.
    pub transport: Option<String>,
    /// Only servers that need secrets (`true`) or need none (`false`).
    pub needs_secrets: Option<bool>,
    /// Only servers with this verdict: `ready`, `needs_input`, `unsupported`.
    pub verdict: Option<String>,
    /// Leave deprecated servers out.
    #[serde(default)]
    pub hide_deprecated: bool,
    /// `name` (default) or `updated` (most recently updated first).
    pub sort: Option<String>,
    /// `next_cursor` of the previous page (same filters and order).
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

impl CatalogQuery {
    /// The domain's search.
    pub fn into_search(self) -> Result<catalog::Search, domain::DomainError> {
        Ok(catalog::Search {
            sort: self
                .sort
                .as_deref()
                .map(catalog::Sort::parse)
                .transpose()?
                .unwrap_or_default(),
            verdict: self
                .verdict
                .as_deref()
                .map(|v| {
                    VerdictStatus::parse(v).ok_or_else(|| {
                        domain::DomainError::invalid(
                            "verdict",
                            "must be ready, needs_input or unsupported",
                        )
                    })
                })
                .transpose()?,
            q: self.q.filter(|q| !q.trim().is_empty()),
            registry_id: self.registry_id.filter(|s| !s.is_empty()),
            registry_type: self.registry_type.filter(|s| !s.is_empty()),
            transport: self.transport.filter(|s| !s.is_empty()),
            needs_secrets: self.needs_secrets,
            hide_deprecated: self.hide_deprecated,
            cursor: self.cursor.filter(|s| !s.is_empty()),
            limit: self.limit,
        })
    }
}

/// Searches the catalog: the latest version of each server, with its deployability verdict.
#[utoipa::path(get, path = "/api/v1/catalog", tag = "catalog", security(("api_key" = [])),
    params(CatalogQuery),
    responses(
        (status = 200, description = "A page of servers", body = CatalogPage),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A bad filter, order or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn search(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    ApiQuery(q): ApiQuery<CatalogQuery>,
) -> Result<Json<CatalogPage>, ApiError> {
    Ok(Json(
        catalog::search(&state.ctx, &caller, q.into_search()?).await?,
    ))
}

/// Chooses a source when several hold the same server.
#[derive(Debug, serde::Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SourceQuery {
    /// Registry id; default: every source (list) or the oldest source (one version).
    registry_id: Option<String>,
}

/// Every version of a server, newest first. URL-encode the name (`io.github.x%2Fy`).
#[utoipa::path(get, path = "/api/v1/catalog/{name}/versions", tag = "catalog", security(("api_key" = [])),
    params(("name" = String, Path, description = "Server name, URL-encoded"), SourceQuery),
    responses(
        (status = 200, description = "Versions", body = Vec<VersionSummary>),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such server", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn versions(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(name): Path<String>,
    ApiQuery(q): ApiQuery<SourceQuery>,
) -> Result<Json<Vec<VersionSummary>>, ApiError> {
    Ok(Json(
        catalog::versions(&state.ctx, &caller, &name, q.registry_id.as_deref()).await?,
    ))
}

/// One version in full: packages, arguments, environment variables, remotes, the verdict,
/// and the server.json as published. `latest` names the latest version.
#[utoipa::path(get, path = "/api/v1/catalog/{name}/versions/{version}", tag = "catalog", security(("api_key" = [])),
    params(
        ("name" = String, Path, description = "Server name, URL-encoded"),
        ("version" = String, Path, description = "Exact version, or `latest`"),
        SourceQuery),
    responses(
        (status = 200, description = "The version", body = CatalogVersion),
        (status = 401, description = "No valid credentials", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such server or version", body = Problem, content_type = "application/problem+json"),
    ))]
pub async fn version(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path((name, version)): Path<(String, String)>,
    ApiQuery(q): ApiQuery<SourceQuery>,
) -> Result<Json<CatalogVersion>, ApiError> {
    Ok(Json(
        catalog::version(
            &state.ctx,
            &caller,
            &name,
            &version,
            q.registry_id.as_deref(),
        )
        .await?,
    ))
}
