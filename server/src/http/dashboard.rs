//! The dashboard: server-rendered Leptos routes, server functions, static files, and the
//! fallback that answers unknown paths (an HTML page for browsers, problem+json otherwise).

use app::{shell, App};
use axum::{
    extract::{Request, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::ServiceExt;
use tower_http::services::ServeDir;

use super::problem::{generic, problem_response};
use crate::state::AppState;

/// Adds the Leptos pages and server functions, `/pkg` assets and the fallback.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let leptos_routes = generate_route_list(App);
    let ctx = state.ctx.clone();
    let options = state.leptos.clone();
    let site_root = std::path::PathBuf::from(&*state.leptos.site_root);
    router
        .leptos_routes_with_context(
            state,
            leptos_routes,
            move || provide_context(ctx.clone()),
            move || shell(options.clone()),
        )
        .nest_service(
            "/pkg",
            ServeDir::new(site_root.join(&*state.leptos.site_pkg_dir)),
        )
        .fallback(fallback)
}

/// Public files from the site root; for anything else, a 404 in the caller's language.
async fn fallback(State(state): State<AppState>, req: Request) -> Response {
    let root = std::path::PathBuf::from(&*state.leptos.site_root);
    let is_read = matches!(
        *req.method(),
        axum::http::Method::GET | axum::http::Method::HEAD
    );
    if is_read && !req.uri().path().ends_with('/') {
        let (parts, body) = req.into_parts();
        let probe = Request::from_parts(parts.clone(), axum::body::Body::empty());
        let Ok(res) = ServeDir::new(&root).oneshot(probe).await;
        if res.status() == StatusCode::OK || res.status() == StatusCode::NOT_MODIFIED {
            return res.into_response();
        }
        return not_found(state, Request::from_parts(parts, body)).await;
    }
    not_found(state, req).await
}

async fn not_found(state: AppState, req: Request) -> Response {
    if wants_html(&req) {
        let ctx = state.ctx.clone();
        let options = state.leptos.clone();
        let render = leptos_axum::render_app_to_stream_with_context(
            move || provide_context(ctx.clone()),
            move || shell(options.clone()),
        );
        let mut res = render(req).await;
        *res.status_mut() = StatusCode::NOT_FOUND;
        return res;
    }
    problem_response(generic(StatusCode::NOT_FOUND))
}

/// A browser navigating (Accept lists text/html) gets the dashboard's 404 page.
fn wants_html(req: &Request) -> bool {
    *req.method() == axum::http::Method::GET
        && req
            .headers()
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"))
}
