//! Registry sources (the MCP Registry API, file catalogs): managing them, and syncing them
//! into the catalog ([`sync`]), by hand or on a schedule ([`scheduler`]).

pub mod fetch;
pub mod scheduler;
pub mod server_json;
pub mod sync;

use std::{
    path::{Component, Path, PathBuf},
    time::Duration,
};

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde_json::json;
use types::{
    ApiVersion, CreateRegistry, HeaderName, Page, RegistryInfo, RegistryKind, RegistryName, Role,
    SkippedEntry, SyncDetail, SyncMode, SyncRun, SyncState, UpdateRegistry,
};

use crate::{
    access::{
        audit::{self, Entry, Outcome},
        Caller,
    },
    entities::{catalog_entry, registry, registry_sync},
    secrets::{self, SecretValue},
    Ctx, DomainError,
};

/// Limits and defaults of registry syncs (from the `registry.*` settings).
#[derive(Clone, Debug)]
pub struct Settings {
    /// Hosts that may be reached over plain HTTP besides loopback.
    pub allowed_http_hosts: Vec<String>,
    /// Directories file sources may read from; empty: any absolute path.
    pub file_roots: Vec<PathBuf>,
    /// Timeout of one HTTP request.
    pub request_timeout: Duration,
    /// Timeout of a whole sync (fetching every page).
    pub sync_timeout: Duration,
    /// Attempts per request (5xx, 429, connection errors and timeouts are retried).
    pub max_attempts: u32,
    /// First retry delay; doubles per attempt, with jitter.
    pub retry_base: Duration,
    /// Longest wait between attempts, and the longest `Retry-After` honoured.
    pub retry_max: Duration,
    /// Entries asked for per page.
    pub page_size: u32,
    /// Most pages one sync fetches.
    pub max_pages: u32,
    /// Most entries one sync fetches.
    pub max_entries: u32,
    /// Largest response body (one page, or a whole file).
    pub max_response_bytes: usize,
    /// Shortest time between two syncs of one source.
    pub min_sync_gap: Duration,
    /// Shortest schedule interval.
    pub min_interval: Duration,
    /// How often the scheduler looks for due syncs.
    pub scheduler_tick: Duration,
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            allowed_http_hosts: Vec::new(),
            file_roots: Vec::new(),
            request_timeout: Duration::from_secs(30),
            sync_timeout: Duration::from_secs(600),
            max_attempts: 4,
            retry_base: Duration::from_millis(500),
            retry_max: Duration::from_secs(30),
            page_size: 100,
            max_pages: 2_000,
            max_entries: 100_000,
            max_response_bytes: 16 * 1024 * 1024,
            min_sync_gap: Duration::from_secs(10),
            min_interval: Duration::from_secs(60),
            scheduler_tick: Duration::from_secs(5),
        }
    }
}

/// Where a source's entries are read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Location {
    /// An HTTP(S) URL.
    Http(reqwest::Url),
    /// A local file.
    Path(PathBuf),
}

fn bad_url(message: impl Into<String>) -> DomainError {
    DomainError::invalid("url", message)
}

fn is_loopback_host(host: &url::Host<&str>) -> bool {
    match host {
        url::Host::Domain(d) => d.eq_ignore_ascii_case("localhost"),
        url::Host::Ipv4(ip) => ip.is_loopback(),
        url::Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks an HTTP(S) URL: https, or http to loopback or an allowed host; no credentials.
fn http_url(raw: &str, settings: &Settings, base: bool) -> Result<reqwest::Url, DomainError> {
    let url = reqwest::Url::parse(raw).map_err(|e| bad_url(format!("not a URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad_url(
            "must not hold credentials; give them as auth_value, which is kept in the secret store",
        ));
    }
    let host = url.host().ok_or_else(|| bad_url("has no host"))?;
    match url.scheme() {
        "https" => {}
        "http" => {
            let allowed = is_loopback_host(&host)
                || settings
                    .allowed_http_hosts
                    .iter()
                    .any(|h| h.eq_ignore_ascii_case(&host.to_string()));
            if !allowed {
                return Err(bad_url(
                    "must use https (plain http only to loopback or to a host in registry.allowed_http_hosts)",
                ));
            }
        }
        other => return Err(bad_url(format!("scheme {other} is not http(s)"))),
    }
    if url.fragment().is_some() {
        return Err(bad_url("must not have a #fragment"));
    }
    if base && url.query().is_some() {
        return Err(bad_url("a base URL must not have a query"));
    }
    Ok(url)
}

fn local_path(path: PathBuf, settings: &Settings) -> Result<PathBuf, DomainError> {
    if !path.is_absolute() {
        return Err(bad_url("a file path must be absolute"));
    }
    if path
        .components()
        .any(|c| matches!(c, Component::ParentDir | Component::CurDir))
    {
        return Err(bad_url("a file path must not contain . or .. parts"));
    }
    if !settings.file_roots.is_empty() && !settings.file_roots.iter().any(|r| path.starts_with(r)) {
        return Err(bad_url(
            "the file is outside the directories in registry.file_roots",
        ));
    }
    if !Path::new(&path).is_file() {
        return Err(bad_url("no such file (or not a regular file)"));
    }
    Ok(path)
}

/// Validates a source's URL or path for its kind.
pub fn location(
    kind: RegistryKind,
    raw: &str,
    settings: &Settings,
) -> Result<Location, DomainError> {
    let raw = raw.trim();
    if raw.is_empty() || raw.len() > 2048 {
        return Err(bad_url("must be 1 to 2048 characters"));
    }
    match kind {
        RegistryKind::McpRegistry => {
            let mut url = http_url(raw, settings, true)?;
            let trimmed = url.path().trim_end_matches('/').to_owned();
            url.set_path(&trimmed);
            Ok(Location::Http(url))
        }
        RegistryKind::File => {
            if raw.starts_with('/') {
                local_path(PathBuf::from(raw), settings).map(Location::Path)
            } else if raw.starts_with("file:") {
                let url =
                    reqwest::Url::parse(raw).map_err(|e| bad_url(format!("not a URL: {e}")))?;
                let path = url
                    .to_file_path()
                    .map_err(|()| bad_url("not a local file URL"))?;
                local_path(path, settings).map(Location::Path)
            } else {
                http_url(raw, settings, false).map(Location::Http)
            }
        }
    }
}

fn location_text(loc: &Location) -> String {
    match loc {
        Location::Http(u) => u.to_string(),
        Location::Path(p) => p.display().to_string(),
    }
}

fn secret_name(id: &str) -> String {
    format!("registry/{id}/auth")
}

fn interval(secs: Option<u32>, settings: &Settings) -> Result<Option<i32>, DomainError> {
    match secs {
        None | Some(0) => Ok(None),
        Some(s) if u64::from(s) < settings.min_interval.as_secs() || s > 30 * 86_400 => {
            Err(DomainError::invalid(
                "sync_interval_secs",
                format!(
                    "must be 0 (manual only) or {} to {} seconds",
                    settings.min_interval.as_secs(),
                    30 * 86_400
                ),
            ))
        }
        Some(s) => Ok(Some(s as i32)),
    }
}

fn auth_value(raw: &str) -> Result<SecretValue, DomainError> {
    if raw.len() > 4096 || raw.chars().any(|c| c.is_control()) {
        return Err(DomainError::invalid(
            "auth_value",
            "must be at most 4096 characters without control characters",
        ));
    }
    Ok(SecretValue::new(raw))
}

fn next_due(interval_secs: Option<i32>) -> Option<chrono::DateTime<Utc>> {
    interval_secs.map(|s| Utc::now() + scheduler::jittered(Duration::from_secs(s as u64)))
}

async fn unique_name(ctx: &Ctx, name: &str, except: Option<&str>) -> Result<(), DomainError> {
    let mut q = registry::Entity::find().filter(registry::Column::Name.eq(name));
    if let Some(id) = except {
        q = q.filter(registry::Column::Id.ne(id));
    }
    if q.count(&ctx.db.conn).await? > 0 {
        return Err(DomainError::Conflict(format!(
            "a registry named {name:?} exists"
        )));
    }
    Ok(())
}

/// Adds a source (admins).
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    req: CreateRegistry,
) -> Result<RegistryInfo, DomainError> {
    caller.require(Role::Admin)?;
    let name = RegistryName::parse(&req.name)?;
    let loc = location(req.kind, &req.url, &ctx.registry)?;
    let interval = interval(req.sync_interval_secs, &ctx.registry)?;
    if req.kind == RegistryKind::File && req.api_version.is_some() {
        return Err(DomainError::invalid(
            "api_version",
            "only mcp-registry sources have an API version",
        ));
    }
    let header = req
        .auth_header_name
        .as_deref()
        .map(HeaderName::parse)
        .transpose()?;
    let auth = req
        .auth_value
        .as_deref()
        .filter(|v| !v.is_empty())
        .map(auth_value)
        .transpose()?;
    if header.is_some() && auth.is_none() {
        return Err(DomainError::invalid(
            "auth_value",
            "a header name needs a value",
        ));
    }
    if auth.is_some() && matches!(loc, Location::Path(_)) {
        return Err(DomainError::invalid(
            "auth_value",
            "a local file needs no credentials",
        ));
    }
    unique_name(ctx, name.as_str(), None).await?;
    let id = uuid::Uuid::now_v7().to_string();
    let now = Utc::now();
    let txn = ctx.db.begin_write().await?;
    let auth_secret = match &auth {
        Some(value) => {
            let sname = secret_name(&id);
            secrets::put(&txn, ctx.secrets()?, &sname, value).await?;
            Some(sname)
        }
        None => None,
    };
    let row = registry::ActiveModel {
        id: Set(id.clone()),
        name: Set(name.as_str().to_owned()),
        kind: Set(req.kind.as_str().to_owned()),
        url: Set(location_text(&loc)),
        api_version: Set((req.kind == RegistryKind::McpRegistry)
            .then(|| req.api_version.unwrap_or_default().as_str().to_owned())),
        auth_header_name: Set(auth
            .as_ref()
            .map(|_| header.map_or("Authorization".to_owned(), |h| h.as_str().to_owned()))),
        auth_secret: Set(auth_secret),
        sync_interval_secs: Set(interval),
        enabled: Set(req.enabled.unwrap_or(true)),
        next_sync_at: Set(interval.map(|_| now)),
        watermark: Set(None),
        lease_owner: Set(None),
        lease_until: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    }
    .insert(&txn)
    .await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "registry.create",
            target_kind: "registry",
            target_id: Some(id),
            outcome: Outcome::Success,
            detail: json!({"name": row.name, "kind": row.kind, "url": row.url, "has_auth": row.auth_secret.is_some()}),
        },
    )
    .await?;
    txn.commit().await?;
    info(ctx, row).await
}

/// Changes a source (admins). A changed URL or kind of data starts the next sync from
/// scratch (full).
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    req: UpdateRegistry,
) -> Result<RegistryInfo, DomainError> {
    caller.require(Role::Admin)?;
    let row = find(ctx, id).await?;
    let kind = RegistryKind::parse(&row.kind).unwrap_or(RegistryKind::File);
    let mut active: registry::ActiveModel = row.clone().into();
    let mut changed = Vec::new();
    if let Some(n) = &req.name {
        let name = RegistryName::parse(n)?;
        unique_name(ctx, name.as_str(), Some(id)).await?;
        active.name = Set(name.as_str().to_owned());
        changed.push("name");
    }
    if let Some(u) = &req.url {
        let loc = location(kind, u, &ctx.registry)?;
        let text = location_text(&loc);
        if text != row.url {
            active.watermark = Set(None);
        }
        active.url = Set(text);
        changed.push("url");
    }
    if let Some(v) = req.api_version {
        if kind != RegistryKind::McpRegistry {
            return Err(DomainError::invalid(
                "api_version",
                "only mcp-registry sources have an API version",
            ));
        }
        active.api_version = Set(Some(v.as_str().to_owned()));
        active.watermark = Set(None);
        changed.push("api_version");
    }
    if let Some(s) = req.sync_interval_secs {
        let iv = interval(Some(s), &ctx.registry)?;
        active.sync_interval_secs = Set(iv);
        active.next_sync_at = Set(next_due(iv));
        changed.push("sync_interval_secs");
    }
    if let Some(e) = req.enabled {
        active.enabled = Set(e);
        changed.push("enabled");
    }
    let header = req
        .auth_header_name
        .as_deref()
        .map(HeaderName::parse)
        .transpose()?;
    let txn = ctx.db.begin_write().await?;
    match req.auth_value.as_deref() {
        Some("") => {
            secrets::delete(&txn, &secret_name(id)).await?;
            active.auth_secret = Set(None);
            active.auth_header_name = Set(None);
            changed.push("auth");
        }
        Some(v) => {
            if kind == RegistryKind::File && row.url.starts_with('/') {
                return Err(DomainError::invalid(
                    "auth_value",
                    "a local file needs no credentials",
                ));
            }
            let value = auth_value(v)?;
            secrets::put(&txn, ctx.secrets()?, &secret_name(id), &value).await?;
            active.auth_secret = Set(Some(secret_name(id)));
            if row.auth_header_name.is_none() && header.is_none() {
                active.auth_header_name = Set(Some("Authorization".into()));
            }
            changed.push("auth");
        }
        None => {}
    }
    if let Some(h) = header {
        if row.auth_secret.is_none() && req.auth_value.as_deref().unwrap_or("").is_empty() {
            return Err(DomainError::invalid(
                "auth_header_name",
                "set auth_value with it",
            ));
        }
        active.auth_header_name = Set(Some(h.as_str().to_owned()));
        changed.push("auth_header_name");
    }
    active.updated_at = Set(Utc::now());
    let row = active.update(&txn).await?;
    if changed.contains(&"name") {
        // Entries show their source's name.
        crate::catalog::bump(&txn).await?;
    }
    audit::record(
        &txn,
        caller,
        Entry {
            action: "registry.update",
            target_kind: "registry",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({"name": row.name, "changed": changed}),
        },
    )
    .await?;
    txn.commit().await?;
    info(ctx, row).await
}

/// Removes a source, its catalog entries, its sync history and its credential (admins).
pub async fn delete(ctx: &Ctx, caller: &Caller, id: &str) -> Result<(), DomainError> {
    caller.require(Role::Admin)?;
    let row = find(ctx, id).await?;
    if row.lease_until.is_some_and(|t| t > Utc::now()) {
        return Err(DomainError::Conflict(
            "a sync of this registry is running; delete it when the sync has ended".into(),
        ));
    }
    let txn = ctx.db.begin_write().await?;
    let entries = catalog_entry::Entity::delete_many()
        .filter(catalog_entry::Column::RegistryId.eq(id))
        .exec(&txn)
        .await?
        .rows_affected;
    registry_sync::Entity::delete_many()
        .filter(registry_sync::Column::RegistryId.eq(id))
        .exec(&txn)
        .await?;
    secrets::delete(&txn, &secret_name(id)).await?;
    registry::Entity::delete_by_id(id).exec(&txn).await?;
    crate::catalog::bump(&txn).await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "registry.delete",
            target_kind: "registry",
            target_id: Some(id.to_owned()),
            outcome: Outcome::Success,
            detail: json!({"name": row.name, "entries_removed": entries}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

pub(crate) async fn find(ctx: &Ctx, id: &str) -> Result<registry::Model, DomainError> {
    registry::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("registry"))
}

/// Every source, by name.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Vec<RegistryInfo>, DomainError> {
    caller.require(Role::Viewer)?;
    let rows = registry::Entity::find()
        .order_by_asc(registry::Column::Name)
        .all(&ctx.db.conn)
        .await?;
    let mut out = Vec::with_capacity(rows.len());
    for row in rows {
        out.push(info(ctx, row).await?);
    }
    Ok(out)
}

/// One source.
pub async fn get(ctx: &Ctx, caller: &Caller, id: &str) -> Result<RegistryInfo, DomainError> {
    caller.require(Role::Viewer)?;
    info(ctx, find(ctx, id).await?).await
}

async fn info(ctx: &Ctx, row: registry::Model) -> Result<RegistryInfo, DomainError> {
    let entries = catalog_entry::Entity::find()
        .filter(catalog_entry::Column::RegistryId.eq(&row.id))
        .count(&ctx.db.conn)
        .await?;
    let last = registry_sync::Entity::find()
        .filter(registry_sync::Column::RegistryId.eq(&row.id))
        .order_by_desc(registry_sync::Column::StartedAt)
        .order_by_desc(registry_sync::Column::Id)
        .one(&ctx.db.conn)
        .await?;
    Ok(RegistryInfo {
        kind: RegistryKind::parse(&row.kind).unwrap_or(RegistryKind::File),
        api_version: row.api_version.as_deref().and_then(ApiVersion::parse),
        has_auth: row.auth_secret.is_some(),
        auth_header_name: row.auth_header_name,
        sync_interval_secs: row.sync_interval_secs.map(|s| s as u32),
        next_sync_at: row.next_sync_at.filter(|_| row.enabled),
        last_sync: last.map(sync_run),
        id: row.id,
        name: row.name,
        url: row.url,
        enabled: row.enabled,
        entries,
        created_at: row.created_at,
        updated_at: row.updated_at,
    })
}

pub(crate) fn sync_run(m: registry_sync::Model) -> SyncRun {
    let n = |v: i32| v.max(0) as u32;
    SyncRun {
        mode: if m.mode == "incremental" {
            SyncMode::Incremental
        } else {
            SyncMode::Full
        },
        state: SyncState::parse(&m.state).unwrap_or(SyncState::Failed),
        pages: n(m.pages),
        fetched: n(m.fetched),
        added: n(m.added),
        updated: n(m.updated),
        unchanged: n(m.unchanged),
        removed: n(m.removed),
        skipped: n(m.skipped),
        id: m.id,
        registry_id: m.registry_id,
        trigger: m.trigger,
        started_at: m.started_at,
        finished_at: m.finished_at,
        error: m.error,
    }
}

/// Largest page of sync history.
pub const MAX_LIMIT: u64 = 200;

/// A source's syncs, newest first. `cursor` is the previous page's `next_cursor`.
pub async fn syncs(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<SyncRun>, DomainError> {
    caller.require(Role::Viewer)?;
    find(ctx, id).await?;
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = registry_sync::Entity::find()
        .filter(registry_sync::Column::RegistryId.eq(id))
        .order_by_desc(registry_sync::Column::Id);
    if let Some(c) = cursor {
        // Ids are UUID v7 text: they sort by start time.
        if uuid::Uuid::parse_str(c).is_err() {
            return Err(DomainError::invalid(
                "cursor",
                "is not a cursor this server gave out",
            ));
        }
        q = q.filter(registry_sync::Column::Id.lt(c));
    }
    let mut rows = q.limit(limit + 1).all(&ctx.db.conn).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(sync_run).collect(),
        next_cursor,
    })
}

/// One sync with the reason for every skipped entry.
pub async fn sync_detail(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    sync_id: &str,
) -> Result<SyncDetail, DomainError> {
    caller.require(Role::Viewer)?;
    let row = registry_sync::Entity::find_by_id(sync_id)
        .filter(registry_sync::Column::RegistryId.eq(id))
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("sync"))?;
    let skipped_entries: Vec<SkippedEntry> =
        serde_json::from_str(&row.skipped_entries).unwrap_or_default();
    Ok(SyncDetail {
        run: sync_run(row),
        skipped_entries,
    })
}
