//! One sync of one source: fetch every page (bounded in pages, entries, bytes and time),
//! check every entry, then apply all changes in one transaction. A failure anywhere before
//! the commit leaves the catalog as it was; the sync's record says what happened.

use std::{
    collections::{HashMap, HashSet},
    time::Instant,
};

use chrono::{DateTime, Utc};
use sea_orm::{
    sea_query::Expr, ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};
use types::{RegistryKind, Role, SkippedEntry, SyncMode, SyncRun, SyncState};

use super::{
    fetch::{self, Fetcher},
    find, server_json, sync_run, Location,
};
use crate::{
    access::{
        audit::{self, Entry, Outcome},
        Caller,
    },
    entities::{catalog_entry, registry, registry_sync},
    secrets, Ctx, DomainError,
};

/// Why a sync started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Trigger {
    /// "Sync now" (API or dashboard).
    Manual,
    /// The schedule.
    Scheduled,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Manual => "manual",
            Self::Scheduled => "scheduled",
        }
    }
}

/// Registry `updatedAt` clocks are not ours: an incremental sync asks for a little more than
/// strictly needed (unchanged entries are recognised and counted as such).
const WATERMARK_OVERLAP: chrono::Duration = chrono::Duration::seconds(60);

/// Starts a sync of registry `id` (operators and admins) and returns its record at once; the
/// sync goes on in the background (await the handle to wait for it). `mode` defaults to
/// incremental when the source supports it and has synced successfully before.
pub async fn start(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    mode: Option<SyncMode>,
    trigger: Trigger,
) -> Result<(SyncRun, tokio::task::JoinHandle<SyncRun>), DomainError> {
    if trigger == Trigger::Manual {
        caller.require(Role::Operator)?;
    }
    let reg = find(ctx, id).await?;
    let now = Utc::now();
    let last = registry_sync::Entity::find()
        .filter(registry_sync::Column::RegistryId.eq(id))
        .order_by_desc(registry_sync::Column::Id)
        .one(&ctx.db.conn)
        .await?;
    if let Some(last) = &last {
        let gap = chrono::Duration::from_std(ctx.registry.min_sync_gap).unwrap_or_default();
        let since = now - last.started_at;
        if since < gap && last.state != SyncState::Running.as_str() {
            let wait = (gap - since).num_milliseconds().max(0) as u64;
            return Err(DomainError::TooSoon {
                message: format!(
                    "this registry synced {} s ago; syncs of one source are at least {} s apart (registry.min_sync_gap_secs)",
                    since.num_seconds(),
                    gap.num_seconds()
                ),
                retry_after_secs: wait.div_ceil(1000).max(1),
            });
        }
    }
    // The lease: one sync per source across every instance sharing the database.
    let lease_for = chrono::Duration::from_std(ctx.registry.sync_timeout).unwrap_or_default()
        + chrono::Duration::seconds(60);
    let claimed = registry::Entity::update_many()
        .col_expr(
            registry::Column::LeaseOwner,
            Expr::value(ctx.instance.id.clone()),
        )
        .col_expr(registry::Column::LeaseUntil, Expr::value(now + lease_for))
        .filter(registry::Column::Id.eq(id))
        .filter(
            registry::Column::LeaseUntil
                .is_null()
                .or(registry::Column::LeaseUntil.lt(now)),
        )
        .exec(&ctx.db.conn)
        .await?
        .rows_affected;
    if claimed == 0 {
        return Err(DomainError::Conflict(
            "a sync of this registry is running".into(),
        ));
    }
    let kind = RegistryKind::parse(&reg.kind).unwrap_or(RegistryKind::File);
    let incremental_possible = kind == RegistryKind::McpRegistry && reg.watermark.is_some();
    let mode = match mode {
        Some(SyncMode::Incremental) | None if incremental_possible => SyncMode::Incremental,
        _ => SyncMode::Full,
    };
    let txn = ctx.db.begin_write().await?;
    // Syncs an earlier (crashed) holder of the lease left running are over.
    fail_syncs(INTERRUPTED)
        .filter(registry_sync::Column::RegistryId.eq(id))
        .filter(registry_sync::Column::State.eq("running"))
        .exec(&txn)
        .await?;
    let row = registry_sync::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        registry_id: Set(id.to_owned()),
        trigger: Set(trigger.as_str().to_owned()),
        mode: Set(mode.as_str().to_owned()),
        state: Set("running".to_owned()),
        instance_id: Set(ctx.instance.id.clone()),
        started_at: Set(now),
        finished_at: Set(None),
        pages: Set(0),
        fetched: Set(0),
        added: Set(0),
        updated: Set(0),
        unchanged: Set(0),
        removed: Set(0),
        skipped: Set(0),
        error: Set(None),
        skipped_entries: Set("[]".to_owned()),
    }
    .insert(&txn)
    .await?;
    if trigger == Trigger::Manual {
        audit::record(
            &txn,
            caller,
            Entry {
                action: "registry.sync",
                target_kind: "registry",
                target_id: Some(id.to_owned()),
                outcome: Outcome::Success,
                detail: serde_json::json!({"name": reg.name, "sync_id": row.id, "mode": mode.as_str()}),
            },
        )
        .await?;
    }
    txn.commit().await?;
    let run = sync_run(row.clone());
    let ctx = ctx.clone();
    let handle = tokio::spawn(async move { execute(ctx, reg, row, mode).await });
    Ok((run, handle))
}

/// Runs a started sync to its end and records the outcome.
async fn execute(
    ctx: Ctx,
    reg: registry::Model,
    row: registry_sync::Model,
    mode: SyncMode,
) -> SyncRun {
    let t0 = Instant::now();
    let sync_id = row.id.clone();
    let outcome = match tokio::time::timeout(
        ctx.registry.sync_timeout,
        fetch_all(&ctx, &reg, &row, mode),
    )
    .await
    {
        Err(_) => Err(format!(
            "the sync took longer than {} s (registry.sync_timeout_secs)",
            ctx.registry.sync_timeout.as_secs()
        )),
        Ok(Err(e)) => Err(e),
        Ok(Ok(fetched)) => apply(&ctx, &reg, &row, mode, fetched)
            .await
            .map_err(|e| match e {
                DomainError::Database(db) => {
                    tracing::error!(target: "mcp_orchestrator::registry", error = %db, "applying a sync failed");
                    match crate::DbFault::of(&db) {
                        crate::DbFault::Other => {
                            "the database refused the changes; nothing was applied".to_owned()
                        }
                        fault => format!("{}; nothing was applied", fault.describe()),
                    }
                }
                other => other.to_string(),
            }),
    };
    ctx.metrics
        .syncs
        .with_label_values(&[
            reg.name.as_str(),
            if outcome.is_ok() { "success" } else { "failed" },
        ])
        .inc();
    ctx.metrics
        .sync_duration
        .with_label_values(&[reg.name.as_str()])
        .observe(t0.elapsed().as_secs_f64());
    // The database may be what failed: its end is recorded once the database takes writes
    // again (bounded), so the sync never stays running with its lease held.
    if let Err(message) = &outcome {
        tracing::warn!(target: "mcp_orchestrator::registry", registry = %reg.name, sync_id = %sync_id, error = %message, "sync failed");
        persist("record the failed sync", || {
            fail_syncs(message)
                .filter(registry_sync::Column::Id.eq(&sync_id))
                .exec(&ctx.db.conn)
        })
        .await;
    }
    persist("release the sync lease", || {
        release_leases()
            .filter(registry::Column::Id.eq(&reg.id))
            .filter(registry::Column::LeaseOwner.eq(ctx.instance.id.clone()))
            .exec(&ctx.db.conn)
    })
    .await;
    let finished = registry_sync::Entity::find_by_id(&sync_id)
        .one(&ctx.db.conn)
        .await
        .ok()
        .flatten()
        .unwrap_or(row);
    let run = sync_run(finished);
    tracing::info!(target: "mcp_orchestrator::registry", registry = %reg.name, sync_id = %sync_id,
        state = run.state.as_str(), ms = t0.elapsed().as_millis() as u64, pages = run.pages,
        fetched = run.fetched, added = run.added, updated = run.updated, unchanged = run.unchanged,
        removed = run.removed, skipped = run.skipped, "sync ended");
    run
}

/// How long the end of a sync is retried while the database refuses it.
const PERSIST_FOR: std::time::Duration = std::time::Duration::from_secs(30);

/// Runs `write` until it succeeds, retrying with backoff for at most [`PERSIST_FOR`].
async fn persist<T, F, Fut>(what: &str, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sea_orm::DbErr>>,
{
    let deadline = Instant::now() + PERSIST_FOR;
    let mut wait = std::time::Duration::from_millis(100);
    loop {
        match write().await {
            Ok(_) => return,
            Err(e) if Instant::now() + wait < deadline => {
                tracing::warn!(target: "mcp_orchestrator::registry", error = %e, "could not {what}; retrying in {} ms", wait.as_millis());
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(std::time::Duration::from_secs(2));
            }
            Err(e) => {
                tracing::error!(target: "mcp_orchestrator::registry", error = %e, "could not {what}; giving up");
                return;
            }
        }
    }
}

/// One fetched entry, still raw.
struct Fetched {
    server: Box<RawValue>,
    status: Option<String>,
    published_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
}

#[derive(Deserialize)]
struct ListPage {
    servers: Vec<ListItem>,
    #[serde(default)]
    metadata: Option<ListMetadata>,
}

#[derive(Deserialize)]
struct ListMetadata {
    #[serde(default, alias = "nextCursor")]
    next_cursor: Option<String>,
}

#[derive(Deserialize)]
struct ListItem {
    server: Box<RawValue>,
    #[serde(default, rename = "_meta")]
    meta: Option<ItemMeta>,
}

#[derive(Deserialize, Default)]
struct ItemMeta {
    #[serde(default, rename = "io.modelcontextprotocol.registry/official")]
    official: Option<Official>,
}

/// Registry metadata. Lenient: a malformed timestamp or status on one entry must not sink
/// the whole page (the entry is checked on its own later).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Official {
    #[serde(default)]
    status: Option<serde_json::Value>,
    #[serde(default)]
    published_at: Option<serde_json::Value>,
    #[serde(default)]
    updated_at: Option<serde_json::Value>,
}

fn timestamp(v: Option<serde_json::Value>) -> Option<DateTime<Utc>> {
    v.as_ref()
        .and_then(serde_json::Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc))
}

/// A file element: a list item, or a server.json document itself.
#[derive(Deserialize)]
struct Probe {
    #[serde(default)]
    server: Option<Box<RawValue>>,
    #[serde(default, rename = "_meta")]
    meta: Option<ItemMeta>,
}

/// `{"servers": [...]}` (a saved registry answer).
#[derive(Deserialize)]
struct Wrapped {
    servers: Vec<Box<RawValue>>,
}

/// The elements of a file: a JSON array, or a saved registry answer. (Not an untagged enum:
/// serde cannot buffer raw values.)
fn file_elements(body: &[u8]) -> Result<Vec<Box<RawValue>>, serde_json::Error> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'{') {
        serde_json::from_slice::<Wrapped>(body).map(|w| w.servers)
    } else {
        serde_json::from_slice(body)
    }
}

impl From<ListItem> for Fetched {
    fn from(item: ListItem) -> Self {
        let official = item.meta.and_then(|m| m.official).unwrap_or_default();
        Fetched {
            server: item.server,
            status: official.status.map(|s| match s {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            }),
            published_at: timestamp(official.published_at),
            updated_at: timestamp(official.updated_at),
        }
    }
}

async fn progress(ctx: &Ctx, sync_id: &str, pages: u32, fetched: usize) {
    let _ = registry_sync::Entity::update_many()
        .col_expr(registry_sync::Column::Pages, Expr::value(pages as i32))
        .col_expr(registry_sync::Column::Fetched, Expr::value(fetched as i32))
        .filter(registry_sync::Column::Id.eq(sync_id))
        .exec(&ctx.db.conn)
        .await;
}

async fn credential(
    ctx: &Ctx,
    reg: &registry::Model,
) -> Result<Option<(String, secrets::SecretValue)>, String> {
    let Some(name) = &reg.auth_secret else {
        return Ok(None);
    };
    let key = ctx.secrets().map_err(|e| e.to_string())?;
    let value = secrets::get(&ctx.db.conn, key, name)
        .await
        .map_err(|e| format!("cannot read the registry's credential: {e}"))?
        .ok_or("the registry's credential is missing from the secret store")?;
    Ok(Some((
        reg.auth_header_name
            .clone()
            .unwrap_or("Authorization".into()),
        value,
    )))
}

async fn fetch_all(
    ctx: &Ctx,
    reg: &registry::Model,
    row: &registry_sync::Model,
    mode: SyncMode,
) -> Result<Vec<Fetched>, String> {
    let settings = &ctx.registry;
    let kind = RegistryKind::parse(&reg.kind).unwrap_or(RegistryKind::File);
    let loc = match kind {
        RegistryKind::McpRegistry => reqwest::Url::parse(&reg.url)
            .map(Location::Http)
            .map_err(|e| format!("the stored URL is invalid: {e}"))?,
        RegistryKind::File if reg.url.starts_with('/') => {
            Location::Path(std::path::PathBuf::from(&reg.url))
        }
        RegistryKind::File => reqwest::Url::parse(&reg.url)
            .map(Location::Http)
            .map_err(|e| format!("the stored URL is invalid: {e}"))?,
    };
    let auth = credential(ctx, reg).await?;
    let fetcher = Fetcher::new(settings, auth)?;
    if kind == RegistryKind::File {
        let body = match &loc {
            Location::Path(p) => fetch::read_file(p, settings.max_response_bytes).await,
            Location::Http(u) => fetcher.get(u).await,
        }
        .map_err(|e| e.to_string())?;
        progress(ctx, &row.id, 1, 0).await;
        let elements = file_elements(&body).map_err(|e| {
            format!(
                "the file is not a JSON array of server.json documents or registry list items: {e}"
            )
        })?;
        if elements.len() > settings.max_entries as usize {
            return Err(format!(
                "the file holds {} entries; the limit is {} (registry.max_entries)",
                elements.len(),
                settings.max_entries
            ));
        }
        let out: Vec<Fetched> = elements
            .into_iter()
            .map(|raw| match serde_json::from_str::<Probe>(raw.get()) {
                Ok(Probe {
                    server: Some(server),
                    meta,
                }) => ListItem { server, meta }.into(),
                _ => Fetched {
                    server: raw,
                    status: None,
                    published_at: None,
                    updated_at: None,
                },
            })
            .collect();
        progress(ctx, &row.id, 1, out.len()).await;
        return Ok(out);
    }
    let Location::Http(base) = loc else {
        return Err("an mcp-registry source needs a URL".into());
    };
    let api = reg.api_version.as_deref().unwrap_or("v0.1");
    let list_url = reqwest::Url::parse(&format!(
        "{}/{api}/servers",
        base.as_str().trim_end_matches('/')
    ))
    .map_err(|e| format!("the stored URL is invalid: {e}"))?;
    let since = match mode {
        SyncMode::Incremental => reg.watermark.map(|w| w - WATERMARK_OVERLAP),
        SyncMode::Full => None,
    };
    let mut out: Vec<Fetched> = Vec::new();
    let mut cursor: Option<String> = None;
    let mut seen = HashSet::new();
    let mut pages = 0u32;
    loop {
        if pages >= settings.max_pages {
            return Err(format!(
                "the registry has more than {} pages (registry.max_pages); nothing was applied",
                settings.max_pages
            ));
        }
        let mut url = list_url.clone();
        {
            // query_pairs_mut percent-encodes: cursors are opaque and may hold anything.
            let mut q = url.query_pairs_mut();
            q.append_pair("limit", &settings.page_size.to_string());
            if let Some(c) = &cursor {
                q.append_pair("cursor", c);
            }
            if let Some(s) = since {
                q.append_pair(
                    "updated_since",
                    &s.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                );
            }
        }
        let body = fetcher.get(&url).await.map_err(|e| e.to_string())?;
        pages += 1;
        let page: ListPage = serde_json::from_slice(&body)
            .map_err(|e| format!("page {pages} is not a valid registry list answer: {e}"))?;
        drop(body);
        out.extend(page.servers.into_iter().map(Fetched::from));
        if out.len() > settings.max_entries as usize {
            return Err(format!(
                "the registry lists more than {} entries (registry.max_entries); nothing was applied",
                settings.max_entries
            ));
        }
        progress(ctx, &row.id, pages, out.len()).await;
        match page
            .metadata
            .and_then(|m| m.next_cursor)
            .filter(|c| !c.is_empty())
        {
            None => break,
            Some(next) => {
                if !seen.insert(next.clone()) {
                    return Err(format!(
                        "page {pages} repeated a cursor the registry gave before; stopped instead of looping"
                    ));
                }
                cursor = Some(next);
            }
        }
    }
    Ok(out)
}

/// A checked entry, ready to write.
struct Checked {
    name: String,
    version: String,
    status: String,
    deleted: bool,
    title: Option<String>,
    description: String,
    search_text: String,
    registry_types: String,
    transports: String,
    needs_secrets: bool,
    has_remotes: bool,
    verdict_status: String,
    verdict: String,
    published_at: Option<DateTime<Utc>>,
    updated_at: Option<DateTime<Utc>>,
    hash: String,
    document: String,
}

/// PostgreSQL text cannot hold NUL; the document keeps it (escaped), derived columns do not.
fn column_text(s: &str) -> String {
    s.replace('\0', "\u{FFFD}")
}

fn set_text<'a>(items: impl Iterator<Item = &'a str>) -> String {
    let mut v: Vec<&str> = items.filter(|s| !s.is_empty()).collect();
    v.sort_unstable();
    v.dedup();
    if v.is_empty() {
        String::new()
    } else {
        format!(" {} ", v.join(" "))
    }
}

fn check(f: &Fetched) -> Result<Checked, String> {
    let raw = f.server.get();
    let doc = server_json::parse(raw)?;
    if let Some(why) = server_json::check(raw.len(), &doc) {
        return Err(why);
    }
    let status = f.status.clone().unwrap_or_else(|| "active".into());
    let deleted = match status.as_str() {
        "active" | "deprecated" => false,
        "deleted" => true,
        other => {
            return Err(format!(
                "unknown status {:?} (active, deprecated or deleted)",
                server_json::shorten(other)
            ))
        }
    };
    let packages = server_json::packages(&doc);
    let remotes = server_json::remotes(&doc);
    let verdict = server_json::verdict(&packages, &remotes);
    let needs_secrets = packages.iter().any(|p| {
        p.environment_variables.iter().any(|e| e.is_secret)
            || p.package_arguments.iter().any(|a| a.is_secret)
            || p.runtime_arguments.iter().any(|a| a.is_secret)
            || p.transport.headers.iter().any(|h| h.is_secret)
    }) || remotes
        .iter()
        .any(|r| r.headers.iter().any(|h| h.is_secret));
    let description = column_text(doc.description.as_deref().unwrap_or(""));
    let title = doc.title.as_deref().map(column_text);
    let search_text = format!(
        "{} {} {}",
        doc.name,
        title.as_deref().unwrap_or(""),
        description
    )
    .to_lowercase();
    let mut h = Sha256::new();
    h.update(raw.as_bytes());
    h.update([0]);
    h.update(status.as_bytes());
    let hash = h
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<String>();
    Ok(Checked {
        registry_types: set_text(packages.iter().map(|p| p.registry_type.as_str())),
        transports: set_text(
            packages
                .iter()
                .map(|p| p.transport.kind.as_str())
                .chain(remotes.iter().map(|r| r.kind.as_str())),
        ),
        needs_secrets,
        has_remotes: !remotes.is_empty(),
        verdict_status: verdict.status.as_str().to_owned(),
        verdict: serde_json::to_string(&verdict).unwrap_or_default(),
        name: doc.name,
        version: doc.version,
        status,
        deleted,
        title,
        description,
        search_text,
        published_at: f.published_at,
        updated_at: f.updated_at,
        hash,
        document: raw.to_owned(),
    })
}

/// How versions compare: (exact semver, publication time, text).
pub type VersionKey = (Option<semver::Version>, Option<DateTime<Utc>>, String);

/// Orders versions: exact semver above anything else, then by publication, then by text.
pub fn version_key(version: &str, published: Option<DateTime<Utc>>) -> VersionKey {
    (
        semver::Version::parse(version.trim_start_matches('v')).ok(),
        published,
        version.to_owned(),
    )
}

type Existing = (String, String, String, String, bool, Option<DateTime<Utc>>);

#[derive(Default)]
struct Counts {
    added: u32,
    updated: u32,
    unchanged: u32,
    removed: u32,
}

async fn apply(
    ctx: &Ctx,
    reg: &registry::Model,
    row: &registry_sync::Model,
    mode: SyncMode,
    fetched: Vec<Fetched>,
) -> Result<(), DomainError> {
    let fetched_count = fetched.len();
    // Check every entry; keep the first of each name + version.
    let mut skipped = Vec::new();
    let mut incoming: Vec<Checked> = Vec::with_capacity(fetched.len());
    let mut first_at: HashMap<(String, String), usize> = HashMap::new();
    for (i, f) in fetched.into_iter().enumerate() {
        match check(&f) {
            Ok(c) => {
                let key = (c.name.clone(), c.version.clone());
                if let Some(j) = first_at.get(&key) {
                    skipped.push(SkippedEntry {
                        index: i as u32,
                        name: c.name,
                        version: c.version,
                        reason: format!("duplicate of entry {j} (same name and version)"),
                    });
                } else {
                    first_at.insert(key, i);
                    incoming.push(c);
                }
            }
            Err(reason) => {
                let doc = server_json::parse(f.server.get()).unwrap_or_default();
                if let Some(j) = first_at.get(&(doc.name.clone(), doc.version.clone())) {
                    skipped.push(SkippedEntry {
                        index: i as u32,
                        name: server_json::shorten(&doc.name),
                        version: server_json::shorten(&doc.version),
                        reason: format!("{reason}; also a duplicate of entry {j}"),
                    });
                    continue;
                }
                first_at.insert((doc.name.clone(), doc.version.clone()), i);
                skipped.push(SkippedEntry {
                    index: i as u32,
                    name: server_json::shorten(&doc.name),
                    version: server_json::shorten(&doc.version),
                    reason,
                });
            }
        }
    }

    let txn = ctx.db.begin_write().await?;
    let existing: Vec<Existing> = catalog_entry::Entity::find()
        .select_only()
        .columns([
            catalog_entry::Column::Id,
            catalog_entry::Column::Name,
            catalog_entry::Column::Version,
            catalog_entry::Column::ContentHash,
            catalog_entry::Column::IsLatest,
            catalog_entry::Column::PublishedAt,
        ])
        .filter(catalog_entry::Column::RegistryId.eq(&reg.id))
        .into_tuple()
        .all(&txn)
        .await?;
    let mut by_key: HashMap<(String, String), usize> = existing
        .iter()
        .enumerate()
        .map(|(i, e)| ((e.1.clone(), e.2.clone()), i))
        .collect();
    let mut counts = Counts::default();
    let mut delete_ids: Vec<String> = Vec::new();
    let mut writes: Vec<(String, Checked)> = Vec::new();
    let mut kept = vec![mode == SyncMode::Incremental; existing.len()];
    for c in incoming {
        let key = (c.name.clone(), c.version.clone());
        match by_key.remove(&key) {
            Some(i) => {
                let e = &existing[i];
                if c.deleted {
                    counts.removed += 1;
                    delete_ids.push(e.0.clone());
                    kept[i] = false;
                } else if e.3 == c.hash {
                    counts.unchanged += 1;
                    kept[i] = true;
                } else {
                    counts.updated += 1;
                    delete_ids.push(e.0.clone());
                    kept[i] = false;
                    writes.push((e.0.clone(), c));
                }
            }
            // A deleted entry we never had changes nothing.
            None if c.deleted => counts.unchanged += 1,
            None => {
                counts.added += 1;
                writes.push((uuid::Uuid::now_v7().to_string(), c));
            }
        }
    }
    // A full sync mirrors the source: what it no longer lists goes.
    if mode == SyncMode::Full {
        for i in by_key.into_values() {
            counts.removed += 1;
            delete_ids.push(existing[i].0.clone());
        }
    }
    // The latest version of each name after the changes.
    let mut latest: HashMap<String, VersionKey> = HashMap::new();
    let candidates = existing
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(e, _)| (e.1.as_str(), e.2.as_str(), e.5))
        .chain(
            writes
                .iter()
                .map(|(_, c)| (c.name.as_str(), c.version.as_str(), c.published_at)),
        );
    for (name, version, published) in candidates {
        let key = version_key(version, published);
        match latest.get(name) {
            Some(best) if *best >= key => {}
            _ => {
                latest.insert(name.to_owned(), key);
            }
        }
    }
    let is_latest = |name: &str, version: &str| latest.get(name).is_some_and(|k| k.2 == version);
    let (mut now_latest, mut no_longer) = (Vec::new(), Vec::new());
    for (e, k) in existing.iter().zip(&kept) {
        if *k {
            let want = is_latest(&e.1, &e.2);
            if want != e.4 {
                if want {
                    now_latest.push(e.0.clone());
                } else {
                    no_longer.push(e.0.clone());
                }
            }
        }
    }
    for ids in delete_ids.chunks(500) {
        catalog_entry::Entity::delete_many()
            .filter(catalog_entry::Column::Id.is_in(ids.iter().cloned()))
            .exec(&txn)
            .await?;
    }
    let flags_changed = now_latest.len() + no_longer.len();
    for (ids, flag) in [(now_latest, true), (no_longer, false)] {
        for chunk in ids.chunks(500) {
            catalog_entry::Entity::update_many()
                .col_expr(catalog_entry::Column::IsLatest, Expr::value(flag))
                .filter(catalog_entry::Column::Id.is_in(chunk.iter().cloned()))
                .exec(&txn)
                .await?;
        }
    }
    let synced_at = Utc::now();
    let models: Vec<catalog_entry::ActiveModel> = writes
        .into_iter()
        .map(|(id, c)| {
            let latest = is_latest(&c.name, &c.version);
            catalog_entry::ActiveModel {
                id: Set(id),
                registry_id: Set(reg.id.clone()),
                is_latest: Set(latest),
                status: Set(c.status),
                title: Set(c.title),
                description: Set(c.description),
                search_text: Set(c.search_text),
                registry_types: Set(c.registry_types),
                transports: Set(c.transports),
                needs_secrets: Set(c.needs_secrets),
                has_remotes: Set(c.has_remotes),
                verdict_status: Set(c.verdict_status),
                verdict: Set(c.verdict),
                published_at: Set(c.published_at),
                updated_at: Set(c.updated_at),
                sort_at: Set(c.updated_at.or(c.published_at).unwrap_or(synced_at)),
                synced_at: Set(synced_at),
                content_hash: Set(c.hash),
                document: Set(c.document),
                name: Set(c.name),
                version: Set(c.version),
            }
        })
        .collect();
    let models_written = models.len();
    let mut models = models.into_iter().peekable();
    while models.peek().is_some() {
        let batch: Vec<_> = models.by_ref().take(400).collect();
        catalog_entry::Entity::insert_many(batch)
            .exec_without_returning(&txn)
            .await?;
    }
    registry::Entity::update_many()
        .col_expr(registry::Column::Watermark, Expr::value(row.started_at))
        .filter(registry::Column::Id.eq(&reg.id))
        .exec(&txn)
        .await?;
    if !(delete_ids.is_empty() && models_written == 0 && flags_changed == 0) {
        crate::catalog::bump(&txn).await?;
    }
    let skipped_json = serde_json::to_string(&skipped).unwrap_or_else(|_| "[]".into());
    registry_sync::Entity::update_many()
        .col_expr(registry_sync::Column::State, Expr::value("succeeded"))
        .col_expr(registry_sync::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(
            registry_sync::Column::Fetched,
            Expr::value(fetched_count as i32),
        )
        .col_expr(
            registry_sync::Column::Added,
            Expr::value(counts.added as i32),
        )
        .col_expr(
            registry_sync::Column::Updated,
            Expr::value(counts.updated as i32),
        )
        .col_expr(
            registry_sync::Column::Unchanged,
            Expr::value(counts.unchanged as i32),
        )
        .col_expr(
            registry_sync::Column::Removed,
            Expr::value(counts.removed as i32),
        )
        .col_expr(
            registry_sync::Column::Skipped,
            Expr::value(skipped.len() as i32),
        )
        .col_expr(
            registry_sync::Column::SkippedEntries,
            Expr::value(skipped_json),
        )
        .filter(registry_sync::Column::Id.eq(&row.id))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// Waits for the sync `id` to end and returns it (used by `?wait=true`).
pub async fn wait(handle: tokio::task::JoinHandle<SyncRun>) -> Result<SyncRun, DomainError> {
    handle
        .await
        .map_err(|e| DomainError::Internal(format!("the sync task failed: {e}")))
}

/// Why a sync left running by a dead instance failed.
const INTERRUPTED: &str = "interrupted: the instance running it stopped";

/// Sets matching syncs to failed with `message`.
fn fail_syncs(message: &str) -> sea_orm::UpdateMany<registry_sync::Entity> {
    registry_sync::Entity::update_many()
        .col_expr(registry_sync::Column::State, Expr::value("failed"))
        .col_expr(registry_sync::Column::FinishedAt, Expr::value(Utc::now()))
        .col_expr(
            registry_sync::Column::Error,
            Expr::value(message.to_owned()),
        )
}

/// Clears the sync lease of matching registries.
fn release_leases() -> sea_orm::UpdateMany<registry::Entity> {
    registry::Entity::update_many()
        .col_expr(
            registry::Column::LeaseOwner,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            registry::Column::LeaseUntil,
            Expr::value(Option::<DateTime<Utc>>::None),
        )
}

/// Releases sync leases whose holder is gone (see [`crate::system::live_instances`]), then
/// fails the syncs left running on registries without a live lease, so the history never
/// shows a sync running forever.
pub async fn reap_interrupted(ctx: &Ctx) -> Result<u64, DomainError> {
    let conn = &ctx.db.conn;
    let mut gone = release_leases()
        .filter(registry::Column::LeaseOwner.is_not_null())
        .filter(registry::Column::LeaseOwner.ne(ctx.instance.id.clone()));
    if let Some(live) = crate::system::live_instances(ctx).await? {
        gone = gone.filter(registry::Column::LeaseOwner.is_not_in(live));
    }
    gone.exec(conn).await?;
    let now = Utc::now();
    let stale: Vec<String> = registry::Entity::find()
        .select_only()
        .column(registry::Column::Id)
        .filter(
            registry::Column::LeaseUntil
                .is_null()
                .or(registry::Column::LeaseUntil.lt(now)),
        )
        .into_tuple()
        .all(conn)
        .await?;
    let mut n = 0;
    for chunk in stale.chunks(500) {
        n += fail_syncs(INTERRUPTED)
            .filter(registry_sync::Column::State.eq("running"))
            .filter(registry_sync::Column::RegistryId.is_in(chunk.iter().cloned()))
            .exec(conn)
            .await?
            .rows_affected;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_order_semver_first() {
        let k = |v: &str| version_key(v, None);
        assert!(k("1.10.0") > k("1.9.0"));
        assert!(k("1.0.0") > k("1.0.0-beta.1"));
        assert!(k("0.0.1") > k("banana"));
        assert!(k("v2.0.0") > k("1.0.0"));
    }

    #[test]
    fn sets_are_space_delimited() {
        assert_eq!(
            set_text(["pypi", "npm", "npm", ""].into_iter()),
            " npm pypi "
        );
        assert_eq!(set_text(std::iter::empty()), "");
    }
}
