//! The HTTP router: `/api/v1` (JSON, OpenAPI), `/health*`, `/metrics`, and the dashboard.
//!
//! Routes that are part of the documented surface are registered through utoipa-axum, so the
//! OpenAPI document is generated from the same list the router serves.

pub mod api;
pub mod dashboard;
pub mod health;
pub mod metrics;
pub mod problem;
pub mod request_context;

use axum::{extract::DefaultBodyLimit, middleware, Router};
use tower_http::{catch_panic::CatchPanicLayer, limit::RequestBodyLimitLayer};
use utoipa::OpenApi;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::state::AppState;

/// The document's fixed parts; paths and schemas come from the handlers.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "MCP Orchestrator API",
        description = "Turns MCP server entries from registries into running, hardened, watched MCP servers. \
            Every error is an RFC 9457 problem (application/problem+json). Every response carries X-Request-ID.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "system", description = "This instance and its configuration"),
        (name = "operations", description = "Health and metrics for load balancers and Prometheus"),
    )
)]
struct ApiDoc;

/// The documented routes and the OpenAPI document describing them.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::system))
        .routes(routes!(api::validate_config))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::summary))
        .routes(routes!(metrics::scrape))
        .split_for_parts()
}

/// The whole application with every layer.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = documented();
    openapi.info.version = domain::VERSION.to_owned();
    let docs =
        utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs").url("/api/v1/openapi.json", openapi);
    let routes = Router::new().merge(api).merge(docs);
    let routes = dashboard::routes(routes, &state);
    with_layers(routes, &state).with_state(state)
}

/// Applies the cross-cutting layers (innermost first): body limit, panic catcher, problem
/// serialization, request context. Public so tests can wrap extra routes the same way.
pub fn with_layers(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    routes
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(problem::finish_problems))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context::request_context,
        ))
}
