//! The catalog: search over synced servers (latest versions), their version lists, and one
//! version in full.

use std::collections::HashMap;

use base64::{engine::general_purpose::URL_SAFE_NO_PAD as B64, Engine};
use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::{Expr, LikeExpr},
    ColumnTrait, Condition, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use types::{
    CatalogEntry, CatalogPage, CatalogVersion, EntryStatus, Role, Verdict, VerdictStatus,
    VersionSummary,
};

use crate::{
    access::Caller,
    entities::{catalog_entry, registry},
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

fn like_escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

fn contains(col: catalog_entry::Column, needle: &str) -> sea_orm::sea_query::SimpleExpr {
    Expr::col((catalog_entry::Entity, col))
        .like(LikeExpr::new(format!("%{}%", like_escape(needle))).escape('\\'))
}

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

fn filters(s: &Search) -> Result<Condition, DomainError> {
    let mut c = Condition::all().add(catalog_entry::Column::IsLatest.eq(true));
    if let Some(q) = &s.q {
        if q.chars().count() > 200 {
            return Err(DomainError::invalid("q", "must be at most 200 characters"));
        }
        for word in q.to_lowercase().split_whitespace().take(10) {
            c = c.add(contains(catalog_entry::Column::SearchText, word));
        }
    }
    if let Some(r) = &s.registry_id {
        c = c.add(catalog_entry::Column::RegistryId.eq(r.clone()));
    }
    if let Some(t) = &s.registry_type {
        let t = token("registry_type", t)?;
        c = c.add(contains(
            catalog_entry::Column::RegistryTypes,
            &format!(" {t} "),
        ));
    }
    if let Some(t) = &s.transport {
        let t = token("transport", t)?;
        c = c.add(contains(
            catalog_entry::Column::Transports,
            &format!(" {t} "),
        ));
    }
    if let Some(n) = s.needs_secrets {
        c = c.add(catalog_entry::Column::NeedsSecrets.eq(n));
    }
    if let Some(v) = s.verdict {
        c = c.add(catalog_entry::Column::VerdictStatus.eq(v.as_str()));
    }
    if s.hide_deprecated {
        c = c.add(catalog_entry::Column::Status.eq("active"));
    }
    Ok(c)
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

fn after(sort: Sort, raw: &str) -> Result<Condition, DomainError> {
    let bytes = B64.decode(raw).map_err(|_| bad_cursor())?;
    let c: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad_cursor())?;
    use catalog_entry::Column as Col;
    let tie = Condition::any().add(Col::Name.gt(c.n.clone())).add(
        Condition::all()
            .add(Col::Name.eq(c.n.clone()))
            .add(Col::RegistryId.gt(c.r.clone())),
    );
    Ok(match (sort, c.t) {
        (Sort::Name, None) => tie,
        (Sort::Updated, Some(t)) => Condition::any()
            .add(Col::SortAt.lt(t))
            .add(Condition::all().add(Col::SortAt.eq(t)).add(tie)),
        _ => return Err(bad_cursor()),
    })
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

fn verdict_of(m: &catalog_entry::Model) -> Verdict {
    serde_json::from_str(&m.verdict).unwrap_or(Verdict {
        status: VerdictStatus::parse(&m.verdict_status).unwrap_or(VerdictStatus::Unsupported),
        runtimes: Vec::new(),
        package: None,
        reasons: Vec::new(),
    })
}

fn set_of(s: &str) -> Vec<String> {
    s.split_whitespace().map(str::to_owned).collect()
}

fn status_of(s: &str) -> EntryStatus {
    EntryStatus::parse(s).unwrap_or(EntryStatus::Active)
}

/// Searches the catalog (latest version of each server).
pub async fn search(ctx: &Ctx, caller: &Caller, s: Search) -> Result<CatalogPage, DomainError> {
    caller.require(Role::Viewer)?;
    let limit = s.limit.unwrap_or(50).clamp(1, MAX_LIMIT);
    let cond = filters(&s)?;
    let total = catalog_entry::Entity::find()
        .filter(cond.clone())
        .count(&ctx.db.conn)
        .await?;
    let mut q = catalog_entry::Entity::find().filter(cond);
    if let Some(c) = &s.cursor {
        q = q.filter(after(s.sort, c)?);
    }
    q = match s.sort {
        Sort::Name => q,
        Sort::Updated => q.order_by_desc(catalog_entry::Column::SortAt),
    };
    let mut rows = q
        .order_by_asc(catalog_entry::Column::Name)
        .order_by_asc(catalog_entry::Column::RegistryId)
        .limit(limit + 1)
        .all(&ctx.db.conn)
        .await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| {
            let c = Cursor {
                t: (s.sort == Sort::Updated).then_some(r.sort_at),
                n: r.name.clone(),
                r: r.registry_id.clone(),
            };
            B64.encode(serde_json::to_vec(&c).unwrap_or_default())
        })
    } else {
        None
    };
    let names = registry_names(ctx).await?;
    // How many versions each listed server has.
    let mut counts: HashMap<(String, String), u32> = HashMap::new();
    if !rows.is_empty() {
        let listed: Vec<String> = rows.iter().map(|r| r.name.clone()).collect();
        let found: Vec<(String, String, i64)> = catalog_entry::Entity::find()
            .select_only()
            .column(catalog_entry::Column::RegistryId)
            .column(catalog_entry::Column::Name)
            .column_as(Expr::col(catalog_entry::Column::Id).count(), "n")
            .filter(catalog_entry::Column::Name.is_in(listed))
            .group_by(catalog_entry::Column::RegistryId)
            .group_by(catalog_entry::Column::Name)
            .into_tuple()
            .all(&ctx.db.conn)
            .await?;
        counts = found
            .into_iter()
            .map(|(r, n, c)| ((r, n), c.max(0) as u32))
            .collect();
    }
    let items = rows
        .into_iter()
        .map(|m| CatalogEntry {
            registry_name: names.get(&m.registry_id).cloned().unwrap_or_default(),
            versions: counts
                .get(&(m.registry_id.clone(), m.name.clone()))
                .copied()
                .unwrap_or(1),
            verdict: verdict_of(&m),
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
        })
        .collect();
    Ok(CatalogPage {
        items,
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
