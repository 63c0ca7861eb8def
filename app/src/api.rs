//! Server functions called by the dashboard. Each body is a thin adapter over `domain`: it
//! takes the caller resolved by the HTTP layer (session cookie) and lets the service layer
//! decide what that caller may do.

use leptos::prelude::*;
use types::{ApiKeyInfo, AuditEvent, CreatedApiKey, Me, Page, Role, SystemInfo, UserInfo};

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::*;

    /// The service context and the caller of this request.
    pub fn service() -> Result<(domain::Ctx, domain::access::Caller), ServerFnError> {
        let ctx = use_context::<domain::Ctx>()
            .ok_or_else(|| ServerFnError::new("the service layer is not available"))?;
        let caller = use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<domain::access::Caller>().cloned())
            .unwrap_or_default();
        Ok((ctx, caller))
    }

    /// A message for the person at the dashboard: what went wrong, never internal detail.
    pub fn shown(e: domain::DomainError) -> ServerFnError {
        use domain::DomainError as D;
        // The same status the JSON API answers (a conflict is not a server failure).
        let status = e.http_status();
        if let (Some(res), Ok(code)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::StatusCode::from_u16(status),
        ) {
            res.set_status(code);
        }
        match e {
            D::Database(cause) => {
                tracing::error!(%cause, "server function: database error");
                ServerFnError::new("The database is unavailable; try again shortly.")
            }
            D::Internal(cause) => {
                tracing::error!(%cause, "server function: internal error");
                ServerFnError::new("Something went wrong on the server.")
            }
            D::Unauthenticated => ServerFnError::new("Your session has ended; sign in again."),
            D::Invalid(f) => {
                ServerFnError::new(format!("{}: {}", f.field.replace('_', " "), f.message))
            }
            other => ServerFnError::new(other.to_string()),
        }
    }
}

/// Version, database, uptime and counts for the Overview page.
#[server(prefix = "/ui/fn", endpoint = "system_info")]
pub async fn get_system_info() -> Result<SystemInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    caller.require(Role::Viewer).map_err(ssr::shown)?;
    domain::system::info(&ctx).await.map_err(ssr::shown)
}

/// What the sign-in page offers (the identity-provider button).
#[server(prefix = "/ui/fn", endpoint = "sign_in_options")]
pub async fn sign_in_options() -> Result<types::SignInOptions, ServerFnError> {
    Ok(use_context::<types::SignInOptions>().unwrap_or_default())
}

/// The signed-in user, if any.
#[server(prefix = "/ui/fn", endpoint = "whoami")]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    let (_, caller) = ssr::service()?;
    Ok(caller.principal.map(|p| Me {
        kind: p.kind.as_str().to_owned(),
        id: p.id,
        name: p.name,
        role: p.role,
    }))
}

/// The caller's API keys (every key for admins).
#[server(prefix = "/ui/fn", endpoint = "api_keys")]
pub async fn my_api_keys() -> Result<Vec<ApiKeyInfo>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::api_keys::list(&ctx, &caller)
        .await
        .map_err(ssr::shown)
}

/// Creates an API key; `expires_in_days` is empty for no expiry.
#[server(prefix = "/ui/fn", endpoint = "create_key")]
pub async fn create_key(
    name: String,
    role: Role,
    expires_in_days: String,
) -> Result<CreatedApiKey, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let expires_at = match expires_in_days.trim() {
        "" => None,
        days => {
            let days: i64 = days
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    ServerFnError::new("expiry: a whole number of days from 1 to 3650, or empty")
                })?;
            Some(chrono::Utc::now() + chrono::Duration::days(days))
        }
    };
    let req = types::CreateApiKey {
        name,
        role,
        expires_at,
    };
    domain::access::api_keys::create(&ctx, &caller, req)
        .await
        .map_err(ssr::shown)
}

/// Revokes an API key.
#[server(prefix = "/ui/fn", endpoint = "revoke_key")]
pub async fn revoke_key(id: String) -> Result<ApiKeyInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::api_keys::revoke(&ctx, &caller, &id)
        .await
        .map_err(ssr::shown)
}

/// Changes the signed-in user's password.
#[server(prefix = "/ui/fn", endpoint = "change_password")]
pub async fn change_my_password(
    current_password: String,
    new_password: String,
) -> Result<(), ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let new = types::NewPassword::parse(&new_password).map_err(|e| ssr::shown(e.into()))?;
    domain::access::users::change_password(&ctx, &caller, &current_password, new)
        .await
        .map_err(ssr::shown)
}

/// Every user (admins).
#[server(prefix = "/ui/fn", endpoint = "users")]
pub async fn all_users() -> Result<Vec<UserInfo>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::users::list(&ctx, &caller)
        .await
        .map_err(ssr::shown)
}

/// Sets a user's role and whether they may sign in (admins).
#[server(prefix = "/ui/fn", endpoint = "update_user")]
pub async fn update_user(
    id: String,
    role: Role,
    enabled: Option<String>,
) -> Result<UserInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    // An unticked checkbox is absent from the form.
    let change = types::UpdateUser {
        role: Some(role),
        disabled: Some(enabled.is_none()),
    };
    domain::access::users::update(&ctx, &caller, &id, change)
        .await
        .map_err(ssr::shown)
}

/// A page of the audit log (admins).
#[server(prefix = "/ui/fn", endpoint = "audit")]
pub async fn audit_page(cursor: Option<String>) -> Result<Page<AuditEvent>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let filter = domain::access::audit::Filter::default();
    domain::access::audit::list(&ctx, &caller, filter, cursor.as_deref(), 50)
        .await
        .map_err(ssr::shown)
}
