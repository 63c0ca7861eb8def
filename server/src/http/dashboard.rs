//! The dashboard: server-rendered Leptos routes, server functions, static files, and the
//! fallback that answers unknown paths (an HTML page for browsers, problem+json otherwise).

use app::{shell, App};
use axum::{
    extract::{Request, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get_service, MethodRouter},
    Router,
};
use leptos::prelude::provide_context;
use leptos_axum::{generate_route_list, LeptosRoutes};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::{
    compression::{predicate::DefaultPredicate, CompressionLayer, Predicate},
    services::ServeDir,
    set_header::SetResponseHeaderLayer,
};

use super::problem::{generic, problem_response};
use crate::state::AppState;

/// Adds the Leptos pages and server functions, `/pkg` assets and the fallback.
pub fn routes(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let leptos_routes = generate_route_list(App);
    let ctx = state.ctx.clone();
    let options = state.leptos.clone();
    let sign_in = types::SignInOptions {
        sso: state.oidc.as_ref().map(|o| o.display_name().to_owned()),
    };
    let site_root = std::path::PathBuf::from(&*state.leptos.site_root);
    router
        .leptos_routes_with_context(
            state,
            leptos_routes,
            page_context(ctx.clone(), sign_in.clone()),
            move || shell(options.clone()),
        )
        .nest_service(
            "/pkg",
            pkg_files(site_root.join(&*state.leptos.site_pkg_dir)),
        )
        .fallback(fallback)
}

/// The built JS, WASM and CSS under `/pkg`.
///
/// Compressed: the `.br` / `.gz` files next to them when the build wrote them
/// (`cargo leptos build --release --precompress`: brotli at its best, done once), otherwise
/// gzip on the fly. A debug server skips the on-the-fly step: it serves a debug build (a WASM
/// file of some 16 MB) on loopback, where compressing every download with an unoptimised
/// encoder costs seconds and saves nothing.
///
/// Cached with `no-cache`: kept, but checked (`If-Modified-Since` → 304) on each use. The file
/// names carry no content hash, so a long lifetime would keep an old front end running against
/// a new server after an upgrade.
fn pkg_files(dir: std::path::PathBuf) -> MethodRouter {
    let on_the_fly = DefaultPredicate::new().and(|_, _, _: &_, _: &_| !cfg!(debug_assertions));
    let mut files = ServeDir::new(&dir);
    if precompressed_fresh(&dir) {
        files = files.precompressed_br().precompressed_gzip();
    }
    get_service(
        ServiceBuilder::new()
            .layer(SetResponseHeaderLayer::overriding(
                header::CACHE_CONTROL,
                HeaderValue::from_static("no-cache"),
            ))
            // The same URL answers in brotli, gzip or plain: caches must tell them apart.
            .layer(SetResponseHeaderLayer::if_not_present(
                header::VARY,
                HeaderValue::from_static("accept-encoding"),
            ))
            .layer(
                CompressionLayer::new()
                    .gzip(true)
                    .no_br()
                    .no_deflate()
                    .no_zstd()
                    .compress_when(on_the_fly),
            )
            .service(files),
    )
}

/// Whether every `.br` / `.gz` file in `dir` is at least as new as the file it compresses. A
/// build without `--precompress` after one with it leaves the old ones behind; serving those
/// would pair an old WASM with new JS, so then none are used (and the rest is gzipped on the
/// fly).
fn precompressed_fresh(dir: &std::path::Path) -> bool {
    let modified = |p: &std::path::Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return true;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !matches!(path.extension().and_then(|e| e.to_str()), Some("br" | "gz")) {
            continue;
        }
        let original = path.with_extension("");
        if let (Some(packed), Some(source)) = (modified(&path), modified(&original)) {
            if packed < source {
                tracing::warn!(
                    file = %path.display(),
                    "precompressed file older than its source (a later build without --precompress?); serving /pkg without precompressed files"
                );
                return false;
            }
        }
    }
    true
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
        let options = state.leptos.clone();
        let sign_in = types::SignInOptions {
            sso: state.oidc.as_ref().map(|o| o.display_name().to_owned()),
        };
        let render = leptos_axum::render_app_to_stream_with_context(
            page_context(state.ctx.clone(), sign_in),
            move || shell(options.clone()),
        );
        let mut res = render(req).await;
        *res.status_mut() = StatusCode::NOT_FOUND;
        return res;
    }
    problem_response(generic(StatusCode::NOT_FOUND))
}

/// What every rendered page and server function gets in its context: the service layer, the
/// sign-in options, and (pages) a Content-Security-Policy allowing exactly this render's nonce.
fn page_context(
    ctx: domain::Ctx,
    sign_in: types::SignInOptions,
) -> impl Fn() + Clone + Send + Sync + 'static {
    move || {
        provide_context(ctx.clone());
        provide_context(sign_in.clone());
        if let (Some(nonce), Some(res)) = (
            leptos::nonce::use_nonce(),
            leptos::prelude::use_context::<leptos_axum::ResponseOptions>(),
        ) {
            if let Ok(v) = axum::http::HeaderValue::from_str(&super::security::page_csp(&nonce)) {
                res.insert_header(header::CONTENT_SECURITY_POLICY, v);
            }
        }
    }
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
