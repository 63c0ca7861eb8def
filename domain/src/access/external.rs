//! Users of an identity provider (OpenID Connect or plain OAuth2): created on their first
//! sign-in, kept in step with the provider on every later one.
//!
//! The adapter checks the provider's answer (state, PKCE, ID token) and decides the role;
//! this module only records the outcome, each sign-in in one transaction with its audit events.

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, PaginatorTrait, QueryFilter, Set,
};
use serde_json::json;
use types::{Role, Username};

use super::{
    audit::{self, Entry, Outcome},
    Caller, Principal, PrincipalKind,
};
use crate::{entities::user, Ctx, DomainError};

/// The `provider` column of identity-provider users.
pub const PROVIDER: &str = "oidc";

/// Longest stored `issuer|subject` (the column's width).
const MAX_SUBJECT: usize = 512;
/// Longest e-mail address (RFC 5321, and the column's width).
const MAX_EMAIL: usize = 254;
/// Longest display name, in characters (the column's width).
const MAX_DISPLAY_NAME: usize = 128;
/// Numbered candidates tried before falling back to a random suffix.
const NUMBERED_CANDIDATES: u32 = 50;

/// Who the provider says signed in.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExternalIdentity {
    /// The provider: the OIDC issuer, or the plain OAuth2 provider's origin.
    pub issuer: String,
    /// The provider's stable id of the user (`sub`, or GitHub's numeric `id`).
    pub subject: String,
    /// E-mail address, when the provider gave one.
    pub email: Option<String>,
    /// Preferred user name (`preferred_username`, `login`), when given.
    pub username_hint: Option<String>,
    /// Full name, when given.
    pub display_name: Option<String>,
}

impl ExternalIdentity {
    /// The stored subject: `issuer|subject`, so equal `sub`s of two providers never meet.
    fn key(&self) -> Result<String, DomainError> {
        if self.issuer.trim().is_empty() || self.subject.trim().is_empty() {
            return Err(DomainError::invalid(
                "subject",
                "the identity provider named no issuer or subject",
            ));
        }
        let key = format!("{}|{}", self.issuer, self.subject);
        if key.len() > MAX_SUBJECT {
            return Err(DomainError::invalid(
                "subject",
                format!("issuer and subject exceed {MAX_SUBJECT} bytes"),
            ));
        }
        Ok(key)
    }

    fn email(&self) -> Option<String> {
        self.email
            .as_deref()
            .map(str::trim)
            .filter(|e| !e.is_empty() && e.len() <= MAX_EMAIL)
            .map(str::to_owned)
    }

    fn display_name(&self) -> Option<String> {
        self.display_name
            .as_deref()
            .map(str::trim)
            .filter(|n| !n.is_empty())
            .map(|n| n.chars().take(MAX_DISPLAY_NAME).collect())
    }

    /// A name for the audit log of a refused sign-in.
    fn label(&self) -> String {
        self.username_hint
            .clone()
            .or_else(|| self.email.clone())
            .unwrap_or_else(|| self.subject.clone())
            .chars()
            .take(MAX_DISPLAY_NAME)
            .collect()
    }
}

/// Signs in the user behind `identity` with `role`: creates the user on the first sign-in (a
/// unique user name derived from the identity), otherwise takes over the role, e-mail and name
/// the provider now states. Refuses disabled users (403).
pub async fn sign_in_external(
    ctx: &Ctx,
    caller: &Caller,
    identity: ExternalIdentity,
    role: Role,
) -> Result<Principal, DomainError> {
    let key = identity.key()?;
    // Two first sign-ins of one identity at once: the loser's insert hits the unique
    // (provider, subject) index, and its second attempt finds the winner's row.
    match attempt(ctx, caller, &identity, &key, role).await {
        Err(DomainError::Database(e)) => {
            tracing::debug!(error = %e, "external sign-in failed once; retrying");
            attempt(ctx, caller, &identity, &key, role).await
        }
        other => other,
    }
}

async fn attempt(
    ctx: &Ctx,
    caller: &Caller,
    identity: &ExternalIdentity,
    key: &str,
    role: Role,
) -> Result<Principal, DomainError> {
    let txn = ctx.db.begin_write().await?;
    let found = user::Entity::find()
        .filter(user::Column::Provider.eq(PROVIDER))
        .filter(user::Column::Subject.eq(key))
        .one(&txn)
        .await?;
    let now = Utc::now();
    let (row, previous_role) = match found {
        Some(u) if u.disabled => {
            audit::record(
                &txn,
                caller,
                Entry {
                    action: "session.login",
                    target_kind: "user",
                    target_id: Some(u.id.clone()),
                    outcome: Outcome::Failure,
                    detail: json!({"username": u.username, "method": PROVIDER, "reason": "disabled"}),
                },
            )
            .await?;
            txn.commit().await?;
            return Err(DomainError::Forbidden("this account is disabled".into()));
        }
        Some(u) => {
            let previous = u.role.clone();
            let mut row: user::ActiveModel = u.into();
            row.role = Set(role.as_str().to_owned());
            // A provider may leave out what was not asked for this time: keep what we know.
            if let Some(email) = identity.email() {
                row.email = Set(Some(email));
            }
            if let Some(name) = identity.display_name() {
                row.display_name = Set(name);
            }
            row.last_login_at = Set(Some(now));
            (row.update(&txn).await?, Some(previous))
        }
        None => {
            let username = unique_username(&txn, identity).await?;
            let row = user::ActiveModel {
                id: Set(uuid::Uuid::now_v7().to_string()),
                display_name: Set(identity.display_name().unwrap_or_else(|| username.clone())),
                username: Set(username),
                email: Set(identity.email()),
                role: Set(role.as_str().to_owned()),
                password_hash: Set(None),
                provider: Set(PROVIDER.to_owned()),
                subject: Set(Some(key.to_owned())),
                disabled: Set(false),
                failed_logins: Set(0),
                locked_until: Set(None),
                created_at: Set(now),
                last_login_at: Set(Some(now)),
            }
            .insert(&txn)
            .await?;
            (row, None)
        }
    };
    let principal = Principal {
        kind: PrincipalKind::User,
        id: row.id.clone(),
        name: row.username.clone(),
        role,
        user_id: Some(row.id.clone()),
    };
    let signed_in = Caller {
        principal: Some(principal.clone()),
        ..caller.clone()
    };
    let change = match previous_role.as_deref() {
        None => Some(Entry {
            action: "user.create",
            target_kind: "user",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({
                "username": row.username,
                "role": row.role,
                "provider": PROVIDER,
                "issuer": identity.issuer,
            }),
        }),
        Some(before) if before != role.as_str() => Some(Entry {
            action: "user.update",
            target_kind: "user",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({
                "username": row.username,
                "role": row.role,
                "previous_role": before,
                "via": "identity provider",
            }),
        }),
        Some(_) => None,
    };
    if let Some(entry) = change {
        audit::record(&txn, &signed_in, entry).await?;
    }
    audit::record(
        &txn,
        &signed_in,
        Entry {
            action: "session.login",
            target_kind: "user",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({"username": row.username, "method": PROVIDER, "issuer": identity.issuer}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(principal)
}

/// Records a refused identity-provider sign-in (not allowed in, or no role): one audit event,
/// nothing else. `reason` is for the audit log.
pub async fn record_denied(
    ctx: &Ctx,
    caller: &Caller,
    identity: &ExternalIdentity,
    reason: &str,
) -> Result<(), DomainError> {
    let known = match identity.key() {
        Ok(key) => user::Entity::find()
            .filter(user::Column::Provider.eq(PROVIDER))
            .filter(user::Column::Subject.eq(key))
            .one(&ctx.db.conn)
            .await?
            .map(|u| u.id),
        Err(_) => None,
    };
    audit::record(
        &ctx.db.conn,
        caller,
        Entry {
            action: "session.login",
            target_kind: "user",
            target_id: known,
            outcome: Outcome::Failure,
            detail: json!({
                "username": identity.label(),
                "method": PROVIDER,
                "issuer": identity.issuer,
                "reason": reason,
            }),
        },
    )
    .await
}

/// The user name a new identity starts from: the preferred user name, else the e-mail's local
/// part, reduced to `a-z 0-9 . _ -`.
fn username_base(identity: &ExternalIdentity) -> String {
    let raw = identity
        .username_hint
        .as_deref()
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .or_else(|| {
            identity
                .email
                .as_deref()
                .and_then(|e| e.trim().split('@').next())
        })
        .unwrap_or("");
    sanitize_username(raw)
}

/// Lower-cases, turns every other character into `-`, trims what may not start or end a name,
/// and pads names shorter than three characters.
fn sanitize_username(raw: &str) -> String {
    let mut out = String::new();
    for c in raw.chars() {
        let c = c.to_ascii_lowercase();
        if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
            out.push(c);
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    let trimmed = out
        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric())
        .trim_end_matches(['-', '.']);
    let mut name: String = trimmed.chars().take(64).collect();
    if name.is_empty() {
        name = "user".to_owned();
    } else if name.len() < 3 {
        name.push_str("-user");
    }
    name
}

/// `base`, else `base-2`, `base-3`, … (cut so the suffix fits), else a random suffix.
async fn unique_username<C: ConnectionTrait>(
    conn: &C,
    identity: &ExternalIdentity,
) -> Result<String, DomainError> {
    let base = username_base(identity);
    let with_suffix = |suffix: &str| {
        let keep = 64 - suffix.len();
        let stem: String = base.chars().take(keep).collect();
        format!("{}{suffix}", stem.trim_end_matches(['-', '.']))
    };
    let candidates = std::iter::once(base.clone())
        .chain((2..=NUMBERED_CANDIDATES).map(|n| with_suffix(&format!("-{n}"))))
        .chain(std::iter::once(with_suffix(&format!(
            "-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ))));
    for candidate in candidates {
        let name = Username::parse(&candidate)?;
        let taken = user::Entity::find()
            .filter(user::Column::Username.eq(name.as_str()))
            .count(conn)
            .await?
            > 0;
        if !taken {
            return Ok(name.as_str().to_owned());
        }
    }
    Err(DomainError::Conflict(format!(
        "no free user name for {base}"
    )))
}

#[cfg(test)]
mod tests {
    use sea_orm::QueryOrder;

    use super::*;
    use crate::{entities::audit_event, Database, DatabaseUrl, DbOptions, Instance};

    #[test]
    fn user_names_are_sanitized() {
        for (raw, want) in [
            ("Ada", "ada"),
            ("Ada Lovelace", "ada-lovelace"),
            ("ada+test", "ada-test"),
            ("_-.x.y", "x.y"),
            ("José", "jos"),
            ("éé", "user"),
            ("", "user"),
            ("jo", "jo-user"),
            ("octo-cat-", "octo-cat"),
        ] {
            assert_eq!(sanitize_username(raw), want, "{raw:?}");
            assert!(Username::parse(&sanitize_username(raw)).is_ok(), "{raw:?}");
        }
        assert_eq!(sanitize_username(&"a".repeat(80)).len(), 64);
    }

    #[test]
    fn base_falls_back_to_the_email() {
        let mut id = identity("s", None);
        id.email = Some("Grace.Hopper@Example.com".into());
        assert_eq!(username_base(&id), "grace.hopper");
        id.username_hint = Some("  ".into());
        assert_eq!(username_base(&id), "grace.hopper");
        id.username_hint = Some("ghopper".into());
        assert_eq!(username_base(&id), "ghopper");
    }

    fn identity(subject: &str, hint: Option<&str>) -> ExternalIdentity {
        ExternalIdentity {
            issuer: "https://id.example.com".into(),
            subject: subject.into(),
            email: Some(format!("{subject}@example.com")),
            username_hint: hint.map(str::to_owned),
            display_name: Some("Ada Lovelace".into()),
        }
    }

    async fn ctx() -> (testkit::TestDb, Ctx) {
        let test_db = testkit::TestDb::new(testkit::Backend::Sqlite).await;
        let db = Database::connect(
            &DatabaseUrl::parse(&test_db.url).unwrap(),
            &DbOptions::default(),
        )
        .await
        .unwrap();
        db.migrate_up().await.unwrap();
        let instance = Instance::register(&db).await.unwrap();
        (test_db, Ctx::new(db, instance))
    }

    async fn actions(ctx: &Ctx) -> Vec<(String, String)> {
        audit_event::Entity::find()
            .order_by_asc(audit_event::Column::Id)
            .all(&ctx.db.conn)
            .await
            .unwrap()
            .into_iter()
            .map(|e| (e.action, e.outcome))
            .collect()
    }

    #[tokio::test]
    async fn provisions_once_then_follows_the_provider() {
        let (_db, ctx) = ctx().await;
        super::super::users::ensure_initial_admin(&ctx.db, Some("initial-admin-password".into()))
            .await
            .unwrap();
        let caller = Caller::default();
        let first = sign_in_external(&ctx, &caller, identity("ada", Some("ada")), Role::Admin)
            .await
            .unwrap();
        assert_eq!((first.name.as_str(), first.role), ("ada", Role::Admin));
        let again = sign_in_external(&ctx, &caller, identity("ada", Some("ada")), Role::Viewer)
            .await
            .unwrap();
        assert_eq!(again.id, first.id, "the same user, not a second one");
        assert_eq!(again.role, Role::Viewer, "the provider's role wins");
        let row = user::Entity::find_by_id(&first.id)
            .one(&ctx.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(row.subject.as_deref(), Some("https://id.example.com|ada"));
        assert_eq!(row.provider, PROVIDER);
        assert_eq!(row.role, "viewer");
        assert!(row.password_hash.is_none());
        assert_eq!(row.email.as_deref(), Some("ada@example.com"));
        assert_eq!(
            actions(&ctx).await,
            [
                ("user.create".into(), "success".into()),
                ("user.create".into(), "success".into()),
                ("session.login".into(), "success".into()),
                ("user.update".into(), "success".into()),
                ("session.login".into(), "success".into()),
            ]
        );

        // Another identity with the same preferred name gets a name of its own.
        let other = sign_in_external(&ctx, &caller, identity("ada2", Some("ada")), Role::Operator)
            .await
            .unwrap();
        assert_eq!(other.name, "ada-2");
        assert_ne!(other.id, first.id);
        // And one named like the local admin never becomes that account.
        let admin = sign_in_external(&ctx, &caller, identity("x", Some("Admin")), Role::Viewer)
            .await
            .unwrap();
        assert_eq!(admin.name, "admin-2");
        let local = user::Entity::find()
            .filter(user::Column::Username.eq("admin"))
            .one(&ctx.db.conn)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (local.provider.as_str(), local.role.as_str()),
            ("local", "admin")
        );
    }

    #[tokio::test]
    async fn disabled_users_are_refused_and_denials_write_only_audit() {
        let (_db, ctx) = ctx().await;
        let caller = Caller::default();
        let p = sign_in_external(&ctx, &caller, identity("ada", None), Role::Admin)
            .await
            .unwrap();
        let mut row: user::ActiveModel = user::Entity::find_by_id(&p.id)
            .one(&ctx.db.conn)
            .await
            .unwrap()
            .unwrap()
            .into();
        row.disabled = Set(true);
        row.update(&ctx.db.conn).await.unwrap();
        let err = sign_in_external(&ctx, &caller, identity("ada", None), Role::Admin)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Forbidden(_)), "{err:?}");

        let users_before = user::Entity::find().count(&ctx.db.conn).await.unwrap();
        record_denied(&ctx, &caller, &identity("eve", None), "not allowed")
            .await
            .unwrap();
        assert_eq!(
            user::Entity::find().count(&ctx.db.conn).await.unwrap(),
            users_before
        );
        let all = actions(&ctx).await;
        assert_eq!(
            &all[all.len() - 2..],
            [
                ("session.login".to_owned(), "failure".to_owned()),
                ("session.login".to_owned(), "failure".to_owned()),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_identities_without_issuer_or_subject() {
        let (_db, ctx) = ctx().await;
        let mut id = identity("", None);
        let err = sign_in_external(&ctx, &Caller::default(), id.clone(), Role::Viewer)
            .await
            .unwrap_err();
        assert!(matches!(err, DomainError::Invalid(_)), "{err:?}");
        id.subject = "x".repeat(600);
        assert!(sign_in_external(&ctx, &Caller::default(), id, Role::Viewer)
            .await
            .is_err());
    }
}
