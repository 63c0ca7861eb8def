//! The audit log: every change, who made it, on what, with which outcome — written in the
//! same transaction as the change itself.

use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use types::{AuditEvent, Page, Role};

use super::Caller;
use crate::{entities::audit_event, Ctx, DomainError};

/// How a change ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Done.
    Success,
    /// Refused for lack of rights.
    Denied,
    /// Attempted and failed (e.g. a wrong password).
    Failure,
}

impl Outcome {
    fn as_str(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Denied => "denied",
            Self::Failure => "failure",
        }
    }
}

/// One change to record.
#[derive(Clone, Debug)]
pub struct Entry {
    /// `noun.verb`, e.g. `api_key.create`.
    pub action: &'static str,
    /// Kind of the thing acted on, e.g. `api_key`.
    pub target_kind: &'static str,
    /// Its id.
    pub target_id: Option<String>,
    /// How it ended.
    pub outcome: Outcome,
    /// Structured detail. Never a secret.
    pub detail: serde_json::Value,
}

/// Appends `entry` for `caller` on `conn` (pass the change's transaction).
pub async fn record<C: ConnectionTrait>(
    conn: &C,
    caller: &Caller,
    entry: Entry,
) -> Result<(), DomainError> {
    let (kind, id, name) = match &caller.principal {
        Some(p) => (p.kind.as_str(), Some(p.id.clone()), p.name.clone()),
        None if caller.request_id.is_none() => ("system", None, "system".to_owned()),
        None => ("anonymous", None, "anonymous".to_owned()),
    };
    audit_event::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        at: Set(Utc::now()),
        actor_kind: Set(kind.to_owned()),
        actor_id: Set(id),
        actor_name: Set(name),
        action: Set(entry.action.to_owned()),
        target_kind: Set(entry.target_kind.to_owned()),
        target_id: Set(entry.target_id),
        outcome: Set(entry.outcome.as_str().to_owned()),
        detail: Set(entry.detail.to_string()),
        request_id: Set(caller.request_id.clone()),
        client_ip: Set(caller.client_ip.clone()),
    }
    .insert(conn)
    .await?;
    Ok(())
}

/// Filters for [`list`]; all optional.
#[derive(Clone, Debug, Default)]
pub struct Filter {
    /// Exact action, e.g. `api_key.revoke`.
    pub action: Option<String>,
    /// Actor id (user or key).
    pub actor_id: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: Option<String>,
    /// Events at or after.
    pub since: Option<DateTime<Utc>>,
    /// Events before.
    pub until: Option<DateTime<Utc>>,
}

/// Largest page.
pub const MAX_LIMIT: u64 = 200;

/// Audit events, newest first, `limit` at a time (admins only). `cursor` is the opaque
/// `next_cursor` of the previous page.
pub async fn list(
    ctx: &Ctx,
    caller: &Caller,
    filter: Filter,
    cursor: Option<&str>,
    limit: u64,
) -> Result<Page<AuditEvent>, DomainError> {
    caller.require(Role::Admin)?;
    let limit = limit.clamp(1, MAX_LIMIT);
    let mut q = audit_event::Entity::find().order_by_desc(audit_event::Column::Id);
    if let Some(c) = cursor {
        // The cursor is the last id seen; ids are UUID v7 text and sort by time.
        if uuid::Uuid::parse_str(c).is_err() {
            return Err(DomainError::invalid(
                "cursor",
                "is not a cursor this server gave out",
            ));
        }
        q = q.filter(audit_event::Column::Id.lt(c));
    }
    if let Some(a) = filter.action {
        q = q.filter(audit_event::Column::Action.eq(a));
    }
    if let Some(a) = filter.actor_id {
        q = q.filter(audit_event::Column::ActorId.eq(a));
    }
    if let Some(o) = filter.outcome {
        q = q.filter(audit_event::Column::Outcome.eq(o));
    }
    if let Some(t) = filter.since {
        q = q.filter(audit_event::Column::At.gte(t));
    }
    if let Some(t) = filter.until {
        q = q.filter(audit_event::Column::At.lt(t));
    }
    let mut rows = q.limit(limit + 1).all(&ctx.db.conn).await?;
    let next_cursor = if rows.len() as u64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|r| r.id.clone())
    } else {
        None
    };
    Ok(Page {
        items: rows.into_iter().map(to_dto).collect(),
        next_cursor,
    })
}

fn to_dto(m: audit_event::Model) -> AuditEvent {
    AuditEvent {
        id: m.id,
        at: m.at,
        actor_kind: m.actor_kind,
        actor_id: m.actor_id,
        actor_name: m.actor_name,
        action: m.action,
        target_kind: m.target_kind,
        target_id: m.target_id,
        outcome: m.outcome,
        detail: serde_json::from_str(&m.detail).unwrap_or(serde_json::Value::Null),
        request_id: m.request_id,
        client_ip: m.client_ip,
    }
}
