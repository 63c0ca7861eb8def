//! The catalog: search over synced servers (latest versions), their version lists, and one
//! version in full. Searches run over an in-memory index of the latest versions (see
//! [`Index`]), rebuilt when the catalog's generation moves; versions are read from the
//! database.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use chrono::{DateTime, Utc};
use sea_orm::{sea_query::Expr, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use types::{
    CatalogEntry, CatalogPage, CatalogVersion, EntryStatus, Role, Verdict, VerdictStatus,
    VersionSummary,
};

use crate::{
    access::Caller,
    entities::{catalog_entry, catalog_state, registry},
    registries::server_json,
    Ctx, DomainError,
};

/// Listing order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Sort {
    /// By name (then source).
    #[default]
    Name,
    /// Most recently updated first.
    Updated,
}

impl Sort {
    /// Parses `name` or `updated`.
    pub fn parse(s: &str) -> Result<Self, DomainError> {
        match s {
            "name" => Ok(Self::Name),
            "updated" => Ok(Self::Updated),
            _ => Err(DomainError::invalid("sort", "must be name or updated")),
        }
    }
}

/// A catalog search; every part optional.
#[derive(Clone, Debug, Default)]
pub struct Search {
    /// Words that must all appear in the name, title or description (any case).
    pub q: Option<String>,
    /// Only this source.
    pub registry_id: Option<String>,
    /// Only servers with a package of this type (`npm`, `pypi`, `oci`…).
    pub registry_type: Option<String>,
    /// Only servers with a package or remote on this transport.
    pub transport: Option<String>,
    /// Only servers that need (or do not need) secrets.
    pub needs_secrets: Option<bool>,
    /// Only servers with this verdict.
    pub verdict: Option<VerdictStatus>,
    /// Leave deprecated servers out.
    pub hide_deprecated: bool,
    /// Order.
    pub sort: Sort,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1–200 (default 50).
    pub limit: Option<u64>,
}

/// Largest page.
pub const MAX_LIMIT: u64 = 200;

fn token(field: &'static str, v: &str) -> Result<String, DomainError> {
    let v = v.trim().to_ascii_lowercase();
    if v.is_empty()
        || v.len() > 64
        || !v
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
    {
        return Err(DomainError::invalid(
            field,
            "must be a word such as npm, pypi, oci, stdio or streamable-http",
        ));
    }
    Ok(v)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// Sort time (updated order only).
    t: Option<DateTime<Utc>>,
    n: String,
    r: String,
}

fn bad_cursor() -> DomainError {
    DomainError::invalid(
        "cursor",
        "is not a cursor this server gave out for this order",
    )
}

async fn registry_names(ctx: &Ctx) -> Result<HashMap<String, String>, DomainError> {
    Ok(registry::Entity::find()
        .select_only()
        .columns([registry::Column::Id, registry::Column::Name])
        .into_tuple::<(String, String)>()
        .all(&ctx.db.conn)
        .await?
        .into_iter()
        .collect())
}

fn verdict_from(json: &str, status: &str) -> Verdict {
    serde_json::from_str(json).unwrap_or(Verdict {
        status: VerdictStatus::parse(status).unwrap_or(VerdictStatus::Unsupported),
        runtimes: Vec::new(),
        package: None,
        reasons: Vec::new(),
    })
}

fn verdict_of(m: &catalog_entry::Model) -> Verdict {
    verdict_from(&m.verdict, &m.verdict_status)
}

fn set_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn status_of(s: &str) -> EntryStatus {
    EntryStatus::parse(s).unwrap_or(EntryStatus::Active)
}

/// Bumps the catalog's generation; call inside every transaction that changes the catalog.
pub(crate) async fn bump<C: sea_orm::ConnectionTrait>(conn: &C) -> Result<(), DomainError> {
    catalog_state::Entity::update_many()
        .col_expr(
            catalog_state::Column::Generation,
            Expr::col(catalog_state::Column::Generation).add(1),
        )
        .exec(conn)
        .await?;
    Ok(())
}

async fn generation(ctx: &Ctx) -> Result<i64, DomainError> {
    Ok(catalog_state::Entity::find_by_id(1)
        .one(&ctx.db.conn)
        .await?
        .map_or(0, |r| r.generation))
}

/// One listed server, ready to filter in memory.
struct Item {
    entry: CatalogEntry,
    search: String,
    registry_types: String,
    transports: String,
    verdict: VerdictStatus,
    sort_at: DateTime<Utc>,
}

/// The latest version of every server, in name order, with a second order for "recently
/// updated". Searches run over it in memory; it is rebuilt when the generation moves.
pub struct Index {
    generation: i64,
    items: Vec<Item>,
    by_updated: Vec<u32>,
}

/// This instance's catalog index.
#[derive(Default)]
pub struct IndexCache {
    current: std::sync::RwLock<Option<std::sync::Arc<Index>>>,
    rebuilding: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IndexCache")
    }
}

impl IndexCache {
    fn get(&self, generation: i64) -> Option<std::sync::Arc<Index>> {
        self.current
            .read()
            .ok()?
            .as_ref()
            .filter(|i| i.generation == generation)
            .cloned()
    }
}

#[derive(sea_orm::FromQueryResult)]
struct Row {
    registry_id: String,
    name: String,
    version: String,
    status: String,
    title: Option<String>,
    description: String,
    search_text: String,
    registry_types: String,
    transports: String,
    needs_secrets: bool,
    has_remotes: bool,
    verdict_status: String,
    verdict: String,
    updated_at: Option<DateTime<Utc>>,
    sort_at: DateTime<Utc>,
}

async fn build(ctx: &Ctx, generation: i64) -> Result<Index, DomainError> {
    use catalog_entry::Column as C;
    let rows: Vec<Row> = catalog_entry::Entity::find()
        .select_only()
        .columns([
            C::RegistryId,
            C::Name,
            C::Version,
            C::Status,
            C::Title,
            C::Description,
            C::SearchText,
            C::RegistryTypes,
            C::Transports,
            C::NeedsSecrets,
            C::HasRemotes,
            C::VerdictStatus,
            C::Verdict,
            C::UpdatedAt,
            C::SortAt,
        ])
        .filter(C::IsLatest.eq(true))
        .order_by_asc(C::Name)
        .order_by_asc(C::RegistryId)
        .into_model::<Row>()
        .all(&ctx.db.conn)
        .await?;
    let counts: HashMap<(String, String), u32> = catalog_entry::Entity::find()
        .select_only()
        .column(C::RegistryId)
        .column(C::Name)
        .column_as(Expr::col(C::Id).count(), "n")
        .group_by(C::RegistryId)
        .group_by(C::Name)
        .into_tuple::<(String, String, i64)>()
        .all(&ctx.db.conn)
        .await?
        .into_iter()
        .map(|(r, n, c)| ((r, n), c.max(0) as u32))
        .collect();
    let names = registry_names(ctx).await?;
    let items: Vec<Item> = rows
        .into_iter()
        .map(|m| Item {
            verdict: VerdictStatus::parse(&m.verdict_status).unwrap_or(VerdictStatus::Unsupported),
            sort_at: m.sort_at,
            entry: CatalogEntry {
                registry_name: names.get(&m.registry_id).cloned().unwrap_or_default(),
                versions: counts
                    .get(&(m.registry_id.clone(), m.name.clone()))
                    .copied()
                    .unwrap_or(1),
                verdict: verdict_from(&m.verdict, &m.verdict_status),
                status: status_of(&m.status),
                registry_types: set_of(&m.registry_types),
                transports: set_of(&m.transports),
                registry_id: m.registry_id,
                name: m.name,
                title: m.title,
                description: m.description,
                version: m.version,
                needs_secrets: m.needs_secrets,
                has_remotes: m.has_remotes,
                updated_at: m.updated_at,
            },
            search: m.search_text,
            registry_types: m.registry_types,
            transports: m.transports,
        })
        .collect();
    let mut by_updated: Vec<u32> = (0..items.len() as u32).collect();
    // Items are in (name, source) order already: a stable sort keeps it as the tie-break.
    by_updated.sort_by(|a, b| items[*b as usize].sort_at.cmp(&items[*a as usize].sort_at));
    Ok(Index {
        generation,
        items,
        by_updated,
    })
}

/// The index for the current generation, rebuilt when a change happened.
async fn index(ctx: &Ctx) -> Result<std::sync::Arc<Index>, DomainError> {
    let generation = generation(ctx).await?;
    if let Some(i) = ctx.catalog.get(generation) {
        return Ok(i);
    }
    // One rebuild at a time; whoever waited finds it done.
    let _guard = ctx.catalog.rebuilding.lock().await;
    if let Some(i) = ctx.catalog.get(generation) {
        return Ok(i);
    }
    let t0 = std::time::Instant::now();
    let built = std::sync::Arc::new(build(ctx, generation).await?);
    tracing::debug!(target: "mcp_orchestrator::catalog", generation, entries = built.items.len(), ms = t0.elapsed().as_millis() as u64, "catalog index rebuilt");
    if let Ok(mut w) = ctx.catalog.current.write() {
        *w = Some(built.clone());
    }
    Ok(built)
}

/// Searches the catalog (latest version of each server).
pub async fn search(ctx: &Ctx, caller: &Caller, s: Search) -> Result<CatalogPage, DomainError> {
    caller.require(Role::Viewer)?;
    let limit = s.limit.unwrap_or(50).clamp(1, MAX_LIMIT) as usize;
    // Validate every input before touching the index.
    if s.q.as_ref().is_some_and(|q| q.chars().count() > 200) {
        return Err(DomainError::invalid("q", "must be at most 200 characters"));
    }
    let words: Vec<String> =
        s.q.as_deref()
            .unwrap_or("")
            .to_lowercase()
            .split_whitespace()
            .take(10)
            .map(str::to_owned)
            .collect();
    let registry_type = s
        .registry_type
        .as_deref()
        .map(|t| token("registry_type", t).map(|t| format!(" {t} ")))
        .transpose()?;
    let transport = s
        .transport
        .as_deref()
        .map(|t| token("transport", t).map(|t| format!(" {t} ")))
        .transpose()?;
    let after: Option<Cursor> = match &s.cursor {
        None => None,
        Some(raw) => {
            let bytes = B64.decode(raw).map_err(|_| bad_cursor())?;
            let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
            if c.t.is_some() != (s.sort == Sort::Updated) {
                return Err(bad_cursor());
            }
            Some(c)
        }
    };
    let idx = index(ctx).await?;
    let matches = |it: &Item| {
        words.iter().all(|w| it.search.contains(w.as_str()))
            && s.registry_id
                .as_ref()
                .is_none_or(|r| &it.entry.registry_id == r)
            && registry_type
                .as_ref()
                .is_none_or(|t| it.registry_types.contains(t.as_str()))
            && transport
                .as_ref()
                .is_none_or(|t| it.transports.contains(t.as_str()))
            && s.needs_secrets.is_none_or(|n| it.entry.needs_secrets == n)
            && s.verdict.is_none_or(|v| it.verdict == v)
            && !(s.hide_deprecated && it.entry.status == EntryStatus::Deprecated)
    };
    let is_after = |it: &Item| match &after {
        None => true,
        Some(c) => {
            let by_name = (it.entry.name.as_str(), it.entry.registry_id.as_str())
                > (c.n.as_str(), c.r.as_str());
            match c.t {
                None => by_name,
                Some(t) => it.sort_at < t || (it.sort_at == t && by_name),
            }
        }
    };
    let order: Box<dyn Iterator<Item = &Item>> = match s.sort {
        Sort::Name => Box::new(idx.items.iter()),
        Sort::Updated => Box::new(idx.by_updated.iter().map(|i| &idx.items[*i as usize])),
    };
    let mut total = 0u64;
    let mut page: Vec<&Item> = Vec::with_capacity(limit + 1);
    for it in order {
        if matches(it) {
            total += 1;
            if page.len() <= limit && is_after(it) {
                page.push(it);
            }
        }
    }
    let next_cursor = if page.len() > limit {
        page.truncate(limit);
        page.last().map(|r| {
            let c = Cursor {
                t: (s.sort == Sort::Updated).then_some(r.sort_at),
                n: r.entry.name.clone(),
                r: r.entry.registry_id.clone(),
            };
            B64.encode(serde_json::to_vec(&c).unwrap_or_default())
        })
    } else {
        None
    };
    Ok(CatalogPage {
        items: page.into_iter().map(|it| it.entry.clone()).collect(),
        next_cursor,
        total,
    })
}

/// Every version of server `name`, newest first (`registry_id` narrows to one source).
pub async fn versions(
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
    registry_id: Option<&str>,
) -> Result<Vec<VersionSummary>, DomainError> {
    caller.require(Role::Viewer)?;
    let mut q = catalog_entry::Entity::find()
        .select_only()
        .columns([
            catalog_entry::Column::RegistryId,
            catalog_entry::Column::Version,
            catalog_entry::Column::IsLatest,
            catalog_entry::Column::Status,
            catalog_entry::Column::VerdictStatus,
            catalog_entry::Column::PublishedAt,
            catalog_entry::Column::UpdatedAt,
        ])
        .filter(catalog_entry::Column::Name.eq(name));
    if let Some(r) = registry_id {
        q = q.filter(catalog_entry::Column::RegistryId.eq(r));
    }
    type Row = (
        String,
        String,
        bool,
        String,
        String,
        Option<DateTime<Utc>>,
        Option<DateTime<Utc>>,
    );
    let rows: Vec<Row> = q.into_tuple().all(&ctx.db.conn).await?;
    if rows.is_empty() {
        return Err(DomainError::NotFound("catalog entry"));
    }
    let mut out: Vec<VersionSummary> = rows
        .into_iter()
        .map(
            |(r, v, latest, status, verdict, published, updated)| VersionSummary {
                registry_id: r,
                version: v,
                is_latest: latest,
                status: status_of(&status),
                verdict: VerdictStatus::parse(&verdict).unwrap_or(VerdictStatus::Unsupported),
                published_at: published,
                updated_at: updated,
            },
        )
        .collect();
    out.sort_by(|a, b| {
        crate::registries::sync::version_key(&b.version, b.published_at)
            .cmp(&crate::registries::sync::version_key(
                &a.version,
                a.published_at,
            ))
            .then_with(|| a.registry_id.cmp(&b.registry_id))
    });
    Ok(out)
}

/// One version in full; `latest` names the latest. When several sources hold the server and
/// `registry_id` does not choose, the oldest source wins.
pub async fn version(
    ctx: &Ctx,
    caller: &Caller,
    name: &str,
    version: &str,
    registry_id: Option<&str>,
) -> Result<CatalogVersion, DomainError> {
    caller.require(Role::Viewer)?;
    find_version(ctx, name, version, registry_id).await
}

/// [`version`] for the service layer's own use (no caller: the work was authorized when it
/// was asked for, e.g. a pipeline run's resolve step).
pub(crate) async fn find_version(
    ctx: &Ctx,
    name: &str,
    version: &str,
    registry_id: Option<&str>,
) -> Result<CatalogVersion, DomainError> {
    let mut q = catalog_entry::Entity::find().filter(catalog_entry::Column::Name.eq(name));
    q = if version == "latest" {
        q.filter(catalog_entry::Column::IsLatest.eq(true))
    } else {
        q.filter(catalog_entry::Column::Version.eq(version))
    };
    if let Some(r) = registry_id {
        q = q.filter(catalog_entry::Column::RegistryId.eq(r));
    }
    // Registry ids are UUID v7: ascending id is creation order.
    let m = q
        .order_by_asc(catalog_entry::Column::RegistryId)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("catalog entry"))?;
    let names = registry_names(ctx).await?;
    let doc = server_json::parse(&m.document).unwrap_or_default();
    let server_json: serde_json::Value =
        serde_json::from_str(&m.document).unwrap_or(serde_json::Value::Null);
    Ok(CatalogVersion {
        registry_name: names.get(&m.registry_id).cloned().unwrap_or_default(),
        packages: server_json::packages(&doc),
        remotes: server_json::remotes(&doc),
        verdict: verdict_of(&m),
        status: status_of(&m.status),
        website_url: doc.website_url,
        repository_url: doc.repository.and_then(|r| r.url),
        // The document's own text (the columns replace NUL characters).
        title: doc.title,
        description: doc.description.unwrap_or_default(),
        server_json,
        registry_id: m.registry_id,
        name: m.name,
        version: m.version,
        is_latest: m.is_latest,
        published_at: m.published_at,
        updated_at: m.updated_at,
        synced_at: m.synced_at,
    })
}
