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
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}
