//! API keys for `/api/v1`: `mcpo_<public id>_<secret>`.
//!
//! A key is 190 random bits, so a fast hash is right for it (argon2id is for passwords, which
//! people choose): the database keeps the public prefix and the SHA-256 of the whole key.
//! Authentication looks the prefix up in a small in-process cache (a few seconds), compares
//! hashes in constant time, and writes `last_used_at` at most every few seconds per key, so a
//! request pays microseconds, not a database round trip. Revocation evicts the key from this
//! instance's cache at once; other instances notice within [`CACHE_TTL`].

use std::{
    collections::HashMap,
    sync::{Mutex, RwLock},
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use rand::{distributions::Alphanumeric, Rng};
use sea_orm::{ActiveModelTrait, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use types::{ApiKeyInfo, CreateApiKey, CreatedApiKey, KeyName, Role};

use super::{
    audit::{self, Entry, Outcome},
    Caller, Principal, PrincipalKind,
};
use crate::{entities::api_key, Ctx, Database, DomainError};

/// Every key starts with this, so leaked keys are easy to recognise (and to scan for).
pub const KEY_PREFIX: &str = "mcpo_";
const PUBLIC_LEN: usize = 12;
const SECRET_LEN: usize = 32;
/// How long a looked-up key is trusted without asking the database again.
pub const CACHE_TTL: Duration = Duration::from_secs(5);
/// `last_used_at` is written at most this often per key.
pub const LAST_USED_EVERY: Duration = Duration::from_secs(10);

/// Why a bearer token was refused (all answer 401; the reason goes to the log).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRejection {
    /// Not of the `mcpo_…` shape.
    Malformed,
    /// No such key, or the secret does not match.
    Unknown,
    /// Revoked.
    Revoked,
    /// Past its expiry.
    Expired,
    /// The key could not be checked: the database failed (a 503, not a 401: the key may be
    /// fine).
    Unavailable(crate::DbFault),
}

#[derive(Clone)]
struct Cached {
    row: Option<api_key::Model>,
    /// The creating user's (disabled, role), when the key has a creator: a key never outlives
    /// or outranks the person who made it.
    creator: Option<(bool, Role)>,
    fetched: Instant,
}

/// Looked-up keys and when each was last recorded as used.
#[derive(Default)]
pub struct KeyCache {
    by_prefix: RwLock<HashMap<String, Cached>>,
    last_written: Mutex<HashMap<String, Instant>>,
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyCache")
    }
}

impl KeyCache {
    fn evict(&self, prefix: &str) {
        self.by_prefix
            .write()
            .expect("key cache lock")
            .remove(prefix);
    }

    /// Drops every cached key (after a user's role or status changed).
    pub fn forget_all(&self) {
        self.by_prefix.write().expect("key cache lock").clear();
    }
}

fn random_chars(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Splits `mcpo_<12>_<32>` into its stored prefix (`mcpo_<12>`); `None` when malformed.
fn prefix_of(token: &str) -> Option<&str> {
    let rest = token.strip_prefix(KEY_PREFIX)?;
    let (public, secret) = rest.split_once('_')?;
    let ok = public.len() == PUBLIC_LEN
        && secret.len() == SECRET_LEN
        && public
            .bytes()
            .chain(secret.bytes())
            .all(|b| b.is_ascii_alphanumeric());
    ok.then(|| &token[..KEY_PREFIX.len() + PUBLIC_LEN])
}

/// Authenticates a bearer token.
pub async fn authenticate(ctx: &Ctx, token: &str) -> Result<Principal, KeyRejection> {
    let prefix = prefix_of(token).ok_or(KeyRejection::Malformed)?;
    let cache = &ctx.keys;
    let cached = cache
        .by_prefix
        .read()
        .expect("key cache lock")
        .get(prefix)
        .cloned();
    let entry = match cached.filter(|c| c.fetched.elapsed() < CACHE_TTL) {
        Some(c) => c,
        None => {
            let lookup = async {
                let row = api_key::Entity::find()
                    .filter(api_key::Column::Prefix.eq(prefix))
                    .one(&ctx.db.conn)
                    .await?;
                let creator = match row.as_ref().and_then(|r| r.created_by.clone()) {
                    Some(uid) => crate::entities::user::Entity::find_by_id(uid)
                        .one(&ctx.db.conn)
                        .await?
                        // A deleted creator counts as disabled.
                        .map_or(Some((true, Role::Viewer)), |u| {
                            Some((u.disabled, u.role.parse().unwrap_or(Role::Viewer)))
                        }),
                    None => None,
                };
                Ok::<_, sea_orm::DbErr>(Cached {
                    row,
                    creator,
                    fetched: Instant::now(),
                })
            };
            let entry = lookup.await.map_err(|e| {
                tracing::warn!(error = %e, "API key lookup failed");
                KeyRejection::Unavailable(crate::DbFault::of(&e))
            })?;
            cache
                .by_prefix
                .write()
                .expect("key cache lock")
                .insert(prefix.to_owned(), entry.clone());
            entry
        }
    };
    let row = entry.row;
    let row = row.ok_or(KeyRejection::Unknown)?;
    if !bool::from(
        sha256_hex(token)
            .as_bytes()
            .ct_eq(row.secret_hash.as_bytes()),
    ) {
        return Err(KeyRejection::Unknown);
    }
    if row.revoked_at.is_some() {
        return Err(KeyRejection::Revoked);
    }
    if row.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(KeyRejection::Expired);
    }
    let mut role: Role = row.role.parse().map_err(|_| KeyRejection::Unknown)?;
    if let Some((creator_disabled, creator_role)) = entry.creator {
        if creator_disabled {
            return Err(KeyRejection::Revoked);
        }
        role = role.min(creator_role);
    }
    touch(ctx, &row.id);
    Ok(Principal {
        kind: PrincipalKind::ApiKey,
        id: row.id.clone(),
        name: row.name.clone(),
        role,
        user_id: row.created_by.clone(),
    })
}

/// Records a use, at most every [`LAST_USED_EVERY`], off the request path.
fn touch(ctx: &Ctx, id: &str) {
    {
        let mut written = ctx.keys.last_written.lock().expect("last-used lock");
        if written
            .get(id)
            .is_some_and(|t| t.elapsed() < LAST_USED_EVERY)
        {
            return;
        }
        written.insert(id.to_owned(), Instant::now());
    }
    let (db, id) = (ctx.db.conn.clone(), id.to_owned());
    tokio::spawn(async move {
        let r = api_key::Entity::update_many()
            .col_expr(api_key::Column::LastUsedAt, Some(Utc::now()).into())
            .filter(api_key::Column::Id.eq(id))
            .exec(&db)
            .await;
        if let Err(e) = r {
            tracing::warn!(error = %e, "could not record API key use");
        }
    });
}

async fn insert(
    db: &Database,
    caller: &Caller,
    name: KeyName,
    role: Role,
    expires_at: Option<DateTime<Utc>>,
    created_by: Option<String>,
) -> Result<CreatedApiKey, DomainError> {
    let public = random_chars(PUBLIC_LEN);
    let key = format!("{KEY_PREFIX}{public}_{}", random_chars(SECRET_LEN));
    let txn = db.begin_write().await?;
    let row = api_key::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        name: Set(name.as_str().to_owned()),
        prefix: Set(format!("{KEY_PREFIX}{public}")),
        secret_hash: Set(sha256_hex(&key)),
        role: Set(role.as_str().to_owned()),
        created_by: Set(created_by),
        created_at: Set(Utc::now()),
        expires_at: Set(expires_at),
        revoked_at: Set(None),
        last_used_at: Set(None),
    }
    .insert(&txn)
    .await?;
    audit::record(&txn, caller, Entry {
        action: "api_key.create",
        target_kind: "api_key",
        target_id: Some(row.id.clone()),
        outcome: Outcome::Success,
        detail: json!({"name": row.name, "role": row.role, "prefix": row.prefix, "expires_at": row.expires_at}),
    })
    .await?;
    txn.commit().await?;
    Ok(CreatedApiKey {
        key,
        info: to_info(row),
    })
}

/// Creates a key with a role no higher than the caller's own. The key is in the answer, once.
pub async fn create(
    ctx: &Ctx,
    caller: &Caller,
    req: CreateApiKey,
) -> Result<CreatedApiKey, DomainError> {
    let me = caller.require(Role::Viewer)?;
    let name = KeyName::parse(&req.name)?;
    if req.role > me.role {
        return Err(DomainError::Forbidden(format!(
            "a key's role cannot exceed yours ({})",
            me.role
        )));
    }
    if req.expires_at.is_some_and(|t| t <= Utc::now()) {
        return Err(DomainError::invalid("expires_at", "must be in the future"));
    }
    insert(
        &ctx.db,
        caller,
        name,
        req.role,
        req.expires_at,
        me.user_id.clone(),
    )
    .await
}

/// For scripted set-ups (`mcp-orchestrator api-keys create`): no caller, audited as the system.
pub async fn create_bootstrap(
    db: &Database,
    name: &str,
    role: Role,
) -> Result<CreatedApiKey, DomainError> {
    insert(
        db,
        &Caller::default(),
        KeyName::parse(name)?,
        role,
        None,
        None,
    )
    .await
}

/// Keys the caller may see: their own, or every key for admins.
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Vec<ApiKeyInfo>, DomainError> {
    let me = caller.require(Role::Viewer)?;
    let mut q = api_key::Entity::find().order_by_desc(api_key::Column::CreatedAt);
    if me.role < Role::Admin {
        q = q.filter(api_key::Column::CreatedBy.eq(me.user_id.clone()));
    }
    Ok(q.all(&ctx.db.conn)
        .await?
        .into_iter()
        .map(to_info)
        .collect())
}

/// Revokes a key (its creator, or an admin). Takes effect at once on this instance.
pub async fn revoke(ctx: &Ctx, caller: &Caller, id: &str) -> Result<ApiKeyInfo, DomainError> {
    let me = caller.require(Role::Viewer)?;
    let row = api_key::Entity::find_by_id(id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("API key"))?;
    if me.role < Role::Admin && (row.created_by.is_none() || row.created_by != me.user_id) {
        // Not theirs: answer as if it did not exist.
        return Err(DomainError::NotFound("API key"));
    }
    if row.revoked_at.is_some() {
        return Ok(to_info(row));
    }
    let txn = ctx.db.begin_write().await?;
    let prefix = row.prefix.clone();
    let mut active: api_key::ActiveModel = row.into();
    active.revoked_at = Set(Some(Utc::now()));
    let row = active.update(&txn).await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "api_key.revoke",
            target_kind: "api_key",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({"name": row.name, "prefix": prefix}),
        },
    )
    .await?;
    txn.commit().await?;
    ctx.keys.evict(&prefix);
    Ok(to_info(row))
}

fn to_info(m: api_key::Model) -> ApiKeyInfo {
    ApiKeyInfo {
        role: m.role.parse().unwrap_or(Role::Viewer),
        id: m.id,
        name: m.name,
        prefix: m.prefix,
        created_by: m.created_by,
        created_at: m.created_at,
        expires_at: m.expires_at,
        revoked_at: m.revoked_at,
        last_used_at: m.last_used_at,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_only_well_formed_keys() {
        let key = format!("mcpo_{}_{}", "a".repeat(12), "B".repeat(32));
        assert_eq!(prefix_of(&key), Some(&key[..17]));
        for bad in [
            "",
            "mcpo_",
            "Bearer x",
            &format!("mcpo_{}_{}", "a".repeat(11), "B".repeat(32)),
            &format!("mcpo_{}_{}", "a".repeat(12), "B".repeat(33)),
            &format!("mcpo_{}_{}", "a".repeat(12), "-".repeat(32)),
            &format!("xmcpo_{}_{}", "a".repeat(12), "B".repeat(32)),
        ] {
            assert_eq!(prefix_of(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn hashes_are_hex_sha256() {
        assert_eq!(
            sha256_hex("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
