//! Authentication: an API key (`Authorization: Bearer mcpo_…`) or a dashboard session
//! cookie becomes a [`Caller`] in the request extensions; sign-in and sign-out for the
//! dashboard; a cross-site check on every cookie-authenticated change (CSRF).

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap, HeaderValue, Method, StatusCode},
    middleware::Next,
    response::{IntoResponse, Redirect, Response},
    Extension, Form,
};
use domain::access::{api_keys, users, Caller};
use serde::{Deserialize, Serialize};
use tower_sessions::Session;
use types::Problem;

use super::{problem::problem_response, request_context::RequestId};
use crate::state::AppState;

/// Session key holding the signed-in user.
const SESSION_KEY: &str = "auth";

/// What a session remembers about its user.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct SessionAuth {
    user_id: String,
    /// Unix seconds; the absolute lifetime counts from here.
    signed_in_at: i64,
}

fn unauthorized(detail: &str) -> Response {
    let mut res = problem_response(
        Problem::new(401, "Unauthorized")
            .with_type("unauthorized")
            .with_detail(detail),
    );
    res.headers_mut()
        .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    res
}

/// Resolves the caller; refuses bad API keys (401) and cross-site cookie changes (403).
pub async fn authenticate(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut caller = Caller {
        principal: None,
        request_id: req.extensions().get::<RequestId>().map(|r| r.0.clone()),
        // The address after trusted-proxy resolution (rate_limit::per_ip), else the peer.
        client_ip: req
            .extensions()
            .get::<super::rate_limit::ClientIp>()
            .map(|c| c.0.to_string())
            .or_else(|| {
                req.extensions()
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|c| c.0.ip().to_string())
            }),
    };
    let mut by_cookie = false;
    if let Some(value) = req.headers().get(header::AUTHORIZATION) {
        let Some(token) = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
        else {
            return unauthorized("Send an API key as `Authorization: Bearer mcpo_…`.");
        };
        match api_keys::authenticate(&state.ctx, token).await {
            Ok(p) => caller.principal = Some(p),
            Err(api_keys::KeyRejection::Unavailable(fault)) => {
                return super::problem::database_problem(fault).into_response();
            }
            Err(reason) => {
                tracing::info!(?reason, "API key refused");
                return unauthorized(
                    "The API key is not valid: malformed, unknown, revoked or expired.",
                );
            }
        }
    } else if let Some(session) = req.extensions().get::<Session>().cloned() {
        match session.get::<SessionAuth>(SESSION_KEY).await {
            Ok(Some(auth)) => {
                let age = chrono::Utc::now().timestamp() - auth.signed_in_at;
                let expired =
                    u64::try_from(age).map_or(true, |a| a > state.session_absolute.as_secs());
                let principal = if expired {
                    Ok(None)
                } else {
                    users::principal_for(&state.ctx, &auth.user_id).await
                };
                match principal {
                    Ok(Some(p)) => {
                        caller.principal = Some(p);
                        by_cookie = true;
                    }
                    Ok(None) => {
                        let _ = session.flush().await;
                    }
                    Err(e) => return super::problem::ApiError::from(e).into_response(),
                }
            }
            Ok(None) => {}
            Err(e) => tracing::warn!(error = %e, "session could not be loaded"),
        }
    }
    let changes = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let sign_in_form = req.uri().path().starts_with("/auth/");
    if changes && (by_cookie || sign_in_form) && !same_origin(req.headers()) {
        return problem_response(
            Problem::new(403, "Forbidden")
                .with_type("cross-site-request")
                .with_detail("Cross-site request refused: changes with a session cookie must come from this site's own pages."),
        );
    }
    req.extensions_mut().insert(caller);
    next.run(req).await
}

/// Fetch metadata (`Sec-Fetch-Site`) when the browser sends it, else `Origin` against `Host`.
/// Neither present: not a browser form or fetch, so not allowed to ride on a cookie.
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return site == "same-origin" || site == "none";
    }
    match (get("origin"), get("host")) {
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest == host),
        _ => false,
    }
}

/// The sign-in form.
#[derive(Debug, Deserialize)]
pub struct LoginForm {
    username: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

/// Only a path on this site: never `//host` or an absolute URL (no open redirect).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n)
            if n.starts_with('/')
                && !n.starts_with("//")
                && !n.contains('\\')
                && n.len() <= 512 =>
        {
            n.to_owned()
        }
        _ => "/".to_owned(),
    }
}

fn login_page(error: &str, next: &str) -> Redirect {
    let next = types::query_value(next);
    Redirect::to(&format!("/login?error={error}&next={next}"))
}

/// `POST /auth/login`: checks the password; on success a new session id (no fixation) and a
/// redirect to `next`; on failure, after the growing delay, back to the form.
pub async fn login(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    session: Session,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    if form.username.len() > 256 || form.password.len() > types::NewPassword::MAX_BYTES {
        return login_page("invalid", &next).into_response();
    }
    match users::login_local(&state.ctx, &caller, &form.username, &form.password).await {
        Ok(principal) => match establish_session(&session, &principal.id).await {
            Ok(()) => Redirect::to(&next).into_response(),
            Err(res) => res,
        },
        Err(failure) => {
            tokio::time::sleep(failure.delay).await;
            let code = match failure.error {
                domain::DomainError::TooManyAttempts { .. } => "locked",
                domain::DomainError::Database(_) => {
                    return super::problem::ApiError::from(failure.error).into_response()
                }
                _ => "invalid",
            };
            login_page(code, &next).into_response()
        }
    }
}

/// Signs `user_id` in on `session`: a new session id first (no fixation), then the user.
/// Used by the password form and by identity-provider callbacks.
pub async fn establish_session(session: &Session, user_id: &str) -> Result<(), Response> {
    let auth = SessionAuth {
        user_id: user_id.to_owned(),
        signed_in_at: chrono::Utc::now().timestamp(),
    };
    if let Err(e) = session.cycle_id().await {
        tracing::error!(error = %e, "session id rotation failed");
        return Err(super::problem::ApiError::Internal("session".into()).into_response());
    }
    if let Err(e) = session.insert(SESSION_KEY, auth).await {
        tracing::error!(error = %e, "session write failed");
        return Err(super::problem::ApiError::Internal("session".into()).into_response());
    }
    Ok(())
}

/// The `next` target of a sign-in, reduced to a local path (never another site).
pub fn local_path(next: Option<&str>) -> String {
    safe_next(next)
}

/// `POST /auth/logout`: ends the session on the server (the row is deleted), then the form.
pub async fn logout(
    Extension(caller): Extension<Caller>,
    State(state): State<AppState>,
    session: Session,
) -> Response {
    if let Some(p) = &caller.principal {
        let _ = domain::access::audit::record(
            &state.ctx.db.conn,
            &caller,
            domain::access::audit::Entry {
                action: "session.logout",
                target_kind: "user",
                target_id: Some(p.id.clone()),
                outcome: domain::access::audit::Outcome::Success,
                detail: serde_json::json!({}),
            },
        )
        .await;
    }
    if let Err(e) = session.delete().await {
        tracing::warn!(error = %e, "session delete failed");
    }
    (StatusCode::SEE_OTHER, [(header::LOCATION, "/login")]).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_always_a_local_path() {
        assert_eq!(safe_next(Some("/catalog?q=x")), "/catalog?q=x");
        for bad in [
            "//evil.example",
            "https://evil.example",
            "\\\\evil",
            "/\\evil",
            "catalog",
            "",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad}");
        }
        assert_eq!(safe_next(None), "/");
    }

    #[test]
    fn same_origin_rules() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (k, v) in pairs {
                m.insert(*k, HeaderValue::from_static(v));
            }
            m
        };
        assert!(same_origin(&h(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&h(&[
            ("sec-fetch-site", "cross-site"),
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(same_origin(&h(&[
            ("origin", "http://a:1"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&h(&[
            ("origin", "http://evil:1"),
            ("host", "a:1")
        ])));
        assert!(!same_origin(&h(&[("host", "a:1")])));
    }
}
