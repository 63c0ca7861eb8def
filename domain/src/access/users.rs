//! Users: the initial local admin, password sign-in with a growing delay and a temporary
//! lock, password changes and resets, and the principal behind a session.

use std::time::Duration;

use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, Set,
};
use serde_json::json;
use types::{NewPassword, Role, UserInfo, Username};

use super::{
    audit::{self, Entry, Outcome},
    passwords, Caller, Principal, PrincipalKind,
};
use crate::{entities::user, Ctx, Database, DomainError};

/// Failures in a row before the account is locked.
pub const LOCK_AFTER_FAILURES: i32 = 5;
/// How long a lock lasts.
pub const LOCK_DURATION: Duration = Duration::from_secs(15 * 60);

/// The delay before answering the `n`th failure in a row: 250 ms doubling, at most 4 s. It
/// slows guessing without letting an attacker hold connections for long.
pub fn failure_delay(n: i32) -> Duration {
    let steps = u32::try_from(n.clamp(1, 5) - 1).unwrap_or(0);
    Duration::from_millis(250 * 2u64.pow(steps)).min(Duration::from_secs(4))
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, DomainError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| DomainError::Internal(e.to_string()))
}

/// A new local user row (random id, no failures, not locked).
fn new_local_user(
    username: &str,
    display_name: &str,
    role: Role,
    password_hash: String,
) -> user::ActiveModel {
    user::ActiveModel {
        id: Set(uuid::Uuid::now_v7().to_string()),
        username: Set(username.to_owned()),
        email: Set(None),
        display_name: Set(display_name.to_owned()),
        role: Set(role.as_str().to_owned()),
        password_hash: Set(Some(password_hash)),
        provider: Set("local".into()),
        subject: Set(None),
        disabled: Set(false),
        failed_logins: Set(0),
        locked_until: Set(None),
        created_at: Set(Utc::now()),
        last_login_at: Set(None),
    }
}

/// On first start with no users, creates `admin` with `password` (or a random one, returned
/// so it can be printed once). Returns `None` when users already exist.
pub async fn ensure_initial_admin(
    db: &Database,
    password: Option<String>,
) -> Result<Option<String>, DomainError> {
    if user::Entity::find().count(&db.conn).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match password {
        Some(p) => (
            NewPassword::parse(&p)
                .map_err(|e| DomainError::invalid("MCPO_ADMIN_PASSWORD", e.message))?,
            false,
        ),
        None => (
            NewPassword::parse(&passwords::random()).expect("random passwords are long enough"),
            true,
        ),
    };
    let secret = password.expose().to_owned();
    let phc = blocking(move || passwords::hash(&secret)).await??;
    let txn = db.begin_write().await?;
    let id = new_local_user("admin", "Administrator", Role::Admin, phc)
        .insert(&txn)
        .await?
        .id;
    audit::record(
        &txn,
        &Caller::default(),
        Entry {
            action: "user.create",
            target_kind: "user",
            target_id: Some(id),
            outcome: Outcome::Success,
            detail: json!({"username": "admin", "role": "admin", "initial_admin": true}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(generated.then(|| password.expose().to_owned()))
}

/// Why a sign-in failed. The message never says whether the user exists.
#[derive(Debug)]
pub struct LoginFailure {
    /// What to answer.
    pub error: DomainError,
    /// How long to wait before answering (the growing delay).
    pub delay: Duration,
}

/// Signs in with a user name and password. Counts failures: each one answers a little later,
/// and the fifth in a row locks the account for [`LOCK_DURATION`].
pub async fn login_local(
    ctx: &Ctx,
    caller: &Caller,
    username: &str,
    password: &str,
) -> Result<Principal, LoginFailure> {
    let fail = |error, delay| LoginFailure { error, delay };
    let db = &ctx.db.conn;
    let wrong = || DomainError::invalid("password", "unknown user name or wrong password");
    let name = Username::parse(username).map_err(|_| fail(wrong(), failure_delay(1)))?;
    let found = user::Entity::find()
        .filter(user::Column::Username.eq(name.as_str()))
        .filter(user::Column::Provider.eq("local"))
        .one(db)
        .await
        .map_err(|e| fail(e.into(), Duration::ZERO))?;
    let password = password.to_owned();
    let Some(u) = found else {
        let _ = blocking(move || passwords::verify_dummy(&password)).await;
        let _ = audit_login(
            ctx,
            caller,
            None,
            name.as_str(),
            Outcome::Failure,
            "unknown user",
        )
        .await;
        return Err(fail(wrong(), failure_delay(1)));
    };
    let now = Utc::now();
    if let Some(until) = u.locked_until.filter(|t| *t > now) {
        let secs = u64::try_from((until - now).num_seconds())
            .unwrap_or(0)
            .max(1);
        return Err(fail(
            DomainError::TooManyAttempts {
                retry_after_secs: secs,
            },
            Duration::ZERO,
        ));
    }
    let phc = u.password_hash.clone().unwrap_or_default();
    let ok = blocking(move || passwords::verify(&password, &phc))
        .await
        .map_err(|e| fail(e, Duration::ZERO))?;
    if !ok || u.disabled {
        let failures = if u.locked_until.is_some() {
            1
        } else {
            u.failed_logins + 1
        };
        let locked = failures >= LOCK_AFTER_FAILURES;
        let mut row: user::ActiveModel = u.clone().into();
        row.failed_logins = Set(if locked { 0 } else { failures });
        row.locked_until = Set(locked.then(|| now + LOCK_DURATION));
        row.update(db)
            .await
            .map_err(|e| fail(e.into(), Duration::ZERO))?;
        let why = if u.disabled {
            "disabled"
        } else if locked {
            "wrong password; locked"
        } else {
            "wrong password"
        };
        let _ = audit_login(ctx, caller, Some(&u.id), &u.username, Outcome::Failure, why).await;
        return Err(fail(wrong(), failure_delay(failures)));
    }
    let mut row: user::ActiveModel = u.clone().into();
    row.failed_logins = Set(0);
    row.locked_until = Set(None);
    row.last_login_at = Set(Some(now));
    row.update(db)
        .await
        .map_err(|e| fail(e.into(), Duration::ZERO))?;
    let principal = to_principal(&u).map_err(|e| fail(e, Duration::ZERO))?;
    let signed_in = Caller {
        principal: Some(principal.clone()),
        ..caller.clone()
    };
    let _ = audit_login(
        ctx,
        &signed_in,
        Some(&u.id),
        &u.username,
        Outcome::Success,
        "password",
    )
    .await;
    Ok(principal)
}

async fn audit_login(
    ctx: &Ctx,
    caller: &Caller,
    id: Option<&str>,
    username: &str,
    outcome: Outcome,
    how: &str,
) -> Result<(), DomainError> {
    audit::record(
        &ctx.db.conn,
        caller,
        Entry {
            action: "session.login",
            target_kind: "user",
            target_id: id.map(str::to_owned),
            outcome,
            detail: json!({"username": username, "method": how}),
        },
    )
    .await
}

fn to_principal(u: &user::Model) -> Result<Principal, DomainError> {
    Ok(Principal {
        kind: PrincipalKind::User,
        id: u.id.clone(),
        name: u.username.clone(),
        role: u
            .role
            .parse()
            .map_err(|_| DomainError::Internal(format!("user {} has an unknown role", u.id)))?,
        user_id: Some(u.id.clone()),
    })
}

/// The principal for a session's user id, with the user's current role; `None` when the user
/// is gone or disabled (the session then ends).
pub async fn principal_for(ctx: &Ctx, user_id: &str) -> Result<Option<Principal>, DomainError> {
    let Some(u) = user::Entity::find_by_id(user_id).one(&ctx.db.conn).await? else {
        return Ok(None);
    };
    if u.disabled {
        return Ok(None);
    }
    to_principal(&u).map(Some)
}

/// Sets a new password for the signed-in local user after checking the current one.
pub async fn change_password(
    ctx: &Ctx,
    caller: &Caller,
    current: &str,
    new: NewPassword,
) -> Result<(), DomainError> {
    let me = caller.require(Role::Viewer)?;
    if me.kind != PrincipalKind::User {
        return Err(DomainError::Forbidden(
            "only a signed-in user can change their password".into(),
        ));
    }
    let u = user::Entity::find_by_id(&me.id)
        .one(&ctx.db.conn)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let phc = u.password_hash.clone().ok_or_else(|| {
        DomainError::Conflict("this user signs in through an identity provider".into())
    })?;
    let current = current.to_owned();
    if !blocking(move || passwords::verify(&current, &phc)).await? {
        return Err(DomainError::invalid(
            "current_password",
            "is not your current password",
        ));
    }
    let secret = new.expose().to_owned();
    let new_phc = blocking(move || passwords::hash(&secret)).await??;
    let txn = ctx.db.begin_write().await?;
    let mut row: user::ActiveModel = u.into();
    row.password_hash = Set(Some(new_phc));
    row.update(&txn).await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "user.change_password",
            target_kind: "user",
            target_id: Some(me.id.clone()),
            outcome: Outcome::Success,
            detail: json!({}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(())
}

/// Recovery (`mcp-orchestrator users reset-password NAME`): sets `new` or a random password,
/// clears any lock, and returns the password that is now valid.
pub async fn reset_password(
    db: &Database,
    username: &str,
    new: Option<NewPassword>,
) -> Result<String, DomainError> {
    let name = Username::parse(username)?;
    let u = user::Entity::find()
        .filter(user::Column::Username.eq(name.as_str()))
        .filter(user::Column::Provider.eq("local"))
        .one(&db.conn)
        .await?
        .ok_or(DomainError::NotFound("local user"))?;
    let password = match new {
        Some(p) => p.expose().to_owned(),
        None => passwords::random(),
    };
    let secret = password.clone();
    let phc = blocking(move || passwords::hash(&secret)).await??;
    let txn = db.begin_write().await?;
    let id = u.id.clone();
    let mut row: user::ActiveModel = u.into();
    row.password_hash = Set(Some(phc));
    row.failed_logins = Set(0);
    row.locked_until = Set(None);
    row.update(&txn).await?;
    audit::record(
        &txn,
        &Caller::default(),
        Entry {
            action: "user.reset_password",
            target_kind: "user",
            target_id: Some(id),
            outcome: Outcome::Success,
            detail: json!({"username": name.as_str(), "via": "cli"}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(password)
}

/// Every user (admins only).
pub async fn list(ctx: &Ctx, caller: &Caller) -> Result<Vec<UserInfo>, DomainError> {
    caller.require(Role::Admin)?;
    let rows = user::Entity::find()
        .order_by_asc(user::Column::Username)
        .all(&ctx.db.conn)
        .await?;
    Ok(rows.into_iter().map(to_info).collect())
}

fn to_info(u: user::Model) -> UserInfo {
    UserInfo {
        role: u.role.parse().unwrap_or(Role::Viewer),
        id: u.id,
        username: u.username,
        display_name: u.display_name,
        email: u.email,
        provider: u.provider,
        disabled: u.disabled,
        created_at: u.created_at,
        last_login_at: u.last_login_at,
    }
}

/// Creates a local user (admins only; also used by tests and scripted set-ups).
pub async fn create_local(
    ctx: &Ctx,
    caller: &Caller,
    username: &str,
    role: Role,
    password: NewPassword,
) -> Result<UserInfo, DomainError> {
    caller.require(Role::Admin)?;
    let name = Username::parse(username)?;
    if user::Entity::find()
        .filter(user::Column::Username.eq(name.as_str()))
        .count(&ctx.db.conn)
        .await?
        > 0
    {
        return Err(DomainError::Conflict(format!(
            "a user named {} exists",
            name.as_str()
        )));
    }
    let secret = password.expose().to_owned();
    let phc = blocking(move || passwords::hash(&secret)).await??;
    let txn = ctx.db.begin_write().await?;
    let row = new_local_user(name.as_str(), name.as_str(), role, phc)
        .insert(&txn)
        .await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "user.create",
            target_kind: "user",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail: json!({"username": row.username, "role": row.role}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(to_info(row))
}

/// Changes a user's role or disables/enables them (admins). An admin cannot demote or disable
/// themselves, and the last enabled admin cannot be demoted or disabled: nobody could undo it.
pub async fn update(
    ctx: &Ctx,
    caller: &Caller,
    id: &str,
    change: types::UpdateUser,
) -> Result<UserInfo, DomainError> {
    let me = caller.require(Role::Admin)?;
    let txn = ctx.db.begin_write().await?;
    let u = user::Entity::find_by_id(id)
        .one(&txn)
        .await?
        .ok_or(DomainError::NotFound("user"))?;
    let before_role: Role = u.role.parse().unwrap_or(Role::Viewer);
    let role = change.role.unwrap_or(before_role);
    let disabled = change.disabled.unwrap_or(u.disabled);
    let loses_admin = before_role == Role::Admin && !u.disabled && (role < Role::Admin || disabled);
    if loses_admin {
        if me.user_id.as_deref() == Some(id) {
            return Err(DomainError::Conflict(
                "you cannot demote or disable yourself; ask another admin".into(),
            ));
        }
        let admins = user::Entity::find()
            .filter(user::Column::Role.eq(Role::Admin.as_str()))
            .filter(user::Column::Disabled.eq(false))
            .count(&txn)
            .await?;
        if admins <= 1 {
            return Err(DomainError::Conflict(
                "this is the last enabled admin".into(),
            ));
        }
    }
    let detail = json!({
        "username": u.username,
        "role": {"from": before_role.as_str(), "to": role.as_str()},
        "disabled": {"from": u.disabled, "to": disabled},
    });
    let mut row: user::ActiveModel = u.into();
    row.role = Set(role.as_str().to_owned());
    row.disabled = Set(disabled);
    let row = row.update(&txn).await?;
    audit::record(
        &txn,
        caller,
        Entry {
            action: "user.update",
            target_kind: "user",
            target_id: Some(row.id.clone()),
            outcome: Outcome::Success,
            detail,
        },
    )
    .await?;
    txn.commit().await?;
    // The user's keys follow at once on this instance (their creator's state is cached).
    ctx.keys.forget_all();
    Ok(to_info(row))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_grows_and_is_capped() {
        let d: Vec<u128> = (1..=7).map(|n| failure_delay(n).as_millis()).collect();
        assert_eq!(d, [250, 500, 1000, 2000, 4000, 4000, 4000]);
    }
}
