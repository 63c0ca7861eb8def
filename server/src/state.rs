//! What every handler can reach.

use std::sync::Arc;

use axum::extract::FromRef;
use leptos::config::LeptosOptions;

use crate::http::metrics::Metrics;

/// Shared state of the HTTP server.
#[derive(Clone)]
pub struct AppState {
    /// The service layer's context.
    pub ctx: domain::Ctx,
    /// Prometheus registry and instruments.
    pub metrics: Arc<Metrics>,
    /// Where the built site lives and what its files are called.
    pub leptos: LeptosOptions,
    /// Largest accepted request body, in bytes.
    pub body_limit: usize,
    /// A session ends this long after sign-in, however active.
    pub session_absolute: std::time::Duration,
    /// A session ends after this long without a request.
    pub session_idle: std::time::Duration,
    /// Whether the session cookie is `Secure`.
    pub secure_cookies: bool,
    /// Per-IP and per-principal rate limiters.
    pub limiters: Arc<crate::http::rate_limit::Limiters>,
    /// Sign-in attempts per minute per client IP.
    pub login_per_minute: u32,
    /// Send `Strict-Transport-Security`.
    pub hsts: bool,
    /// Origins allowed to call the API from browsers (CORS).
    pub cors_origins: Vec<String>,
    /// The identity provider, when one is configured.
    pub oidc: Option<Arc<crate::http::oidc::Oidc>>,
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
