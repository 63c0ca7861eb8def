//! The HTTP router: `/api/v1` (JSON, OpenAPI), `/health*`, `/metrics`, and the dashboard.
//!
//! Routes that are part of the documented surface are registered through utoipa-axum, so the
//! OpenAPI document is generated from the same list the router serves.

pub mod access;
pub mod api;
pub mod auth;
pub mod dashboard;
pub mod deployments;
pub mod fleet_health;
pub mod health;
pub mod metrics;
pub mod oidc;
pub mod pipeline_runs;
pub mod problem;
pub mod rate_limit;
pub mod registries;
pub mod request_context;
pub mod security;
pub mod sse;

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
    modifiers(&SecuritySchemes),
    tags(
        (name = "system", description = "This instance and its configuration"),
        (name = "access", description = "Who is calling, API keys, users and the audit log"),
        (name = "registries", description = "Registry sources and their syncs"),
        (name = "catalog", description = "MCP servers synced from the registries, with deployability verdicts"),
        (name = "deployments", description = "MCP servers running on Docker or as local processes, their capabilities and tool calls"),
        (name = "pipeline-runs", description = "Durable runs taking a catalog entry to a ready deployment, step by step, with live event streams"),
        (name = "health", description = "Deployment health checks, self-healing, circuit breakers, history and incidents"),
        (name = "operations", description = "Health and metrics for load balancers and Prometheus"),
    )
)]
struct ApiDoc;

/// Declares the bearer API-key scheme that the `security` of each protected path names.
struct SecuritySchemes;

impl utoipa::Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("mcpo_<id>_<secret>")
                    .description(Some("An API key from `POST /api/v1/api-keys` or `mcp-orchestrator api-keys create`."))
                    .build(),
            ),
        );
    }
}

/// The documented routes and the OpenAPI document describing them.
pub fn documented() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, openapi) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(api::system))
        .routes(routes!(api::validate_config))
        .routes(routes!(api::me))
        .routes(routes!(api::list_api_keys, api::create_api_key))
        .routes(routes!(api::revoke_api_key))
        .routes(routes!(api::list_users))
        .routes(routes!(api::update_user))
        .routes(routes!(api::list_audit_events))
        .routes(routes!(registries::list, registries::create))
        .routes(routes!(
            registries::get,
            registries::update,
            registries::delete
        ))
        .routes(routes!(registries::start_sync))
        .routes(routes!(registries::syncs))
        .routes(routes!(registries::sync_detail))
        .routes(routes!(registries::search))
        .routes(routes!(registries::versions))
        .routes(routes!(registries::version))
        .routes(routes!(deployments::list, deployments::create))
        .routes(routes!(deployments::get, deployments::delete))
        .routes(routes!(deployments::stop))
        .routes(routes!(deployments::start))
        .routes(routes!(deployments::restart))
        .routes(routes!(deployments::capabilities))
        .routes(routes!(deployments::schema))
        .routes(routes!(deployments::call_tool))
        .routes(routes!(deployments::logs))
        .routes(routes!(pipeline_runs::list, pipeline_runs::create))
        .routes(routes!(pipeline_runs::create_batch))
        .routes(routes!(pipeline_runs::all_events))
        .routes(routes!(pipeline_runs::get))
        .routes(routes!(pipeline_runs::cancel))
        .routes(routes!(pipeline_runs::retry))
        .routes(routes!(pipeline_runs::rerun))
        .routes(routes!(pipeline_runs::events))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(health::summary))
        .routes(routes!(fleet_health::detailed))
        .routes(routes!(fleet_health::recheck))
        .routes(routes!(fleet_health::history))
        .routes(routes!(fleet_health::deployment_events))
        .routes(routes!(fleet_health::events))
        .routes(routes!(fleet_health::fleet))
        .routes(routes!(metrics::scrape))
        .split_for_parts();
    let mut openapi = openapi;
    document_extractor_errors(&mut openapi);
    (router, openapi)
}

/// Adds the answers the shared layers give, where the handler's own list does not already name
/// that status: every operation can be rate limited (429) or meet a busy or unreachable
/// database (503), every change a full disk (507); a JSON body can be refused with 400 (not
/// JSON), 413 (too large), 415 (not sent as JSON) and 422 (wrong shape); query parameters with
/// 422 (a bad value or a repeated key). See `problem::{ApiJson, ApiQuery, database_problem}`.
fn document_extractor_errors(openapi: &mut utoipa::openapi::OpenApi) {
    use utoipa::openapi::{path::ParameterIn, ContentBuilder, Ref, RefOr, ResponseBuilder};
    let problem = |description: &str| {
        RefOr::T(
            ResponseBuilder::new()
                .description(description)
                .content(
                    types::problem::PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build(),
        )
    };
    for item in openapi.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for (is_get, op) in operations
            .into_iter()
            .enumerate()
            .filter_map(|(i, op)| op.as_mut().map(|op| (i == 0, op)))
        {
            let has_body = op.request_body.is_some();
            let has_query = op.parameters.as_ref().is_some_and(|ps| {
                ps.iter()
                    .any(|p| matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Query))
            });
            let mut wanted: Vec<(&str, &str)> = vec![
                ("429", "Rate limited (Retry-After says when to try again)"),
                ("503", "The database (or another dependency) is busy or unreachable; Retry-After says when to try again"),
            ];
            if !is_get {
                wanted.push((
                    "507",
                    "The disk holding the database is full; nothing was changed",
                ));
            }
            if has_body {
                wanted.extend([
                    ("400", "The body is not JSON"),
                    ("413", "The body is larger than the configured limit"),
                    ("415", "The body was not sent as application/json"),
                    ("422", "The body has the wrong shape or an invalid value"),
                ]);
            }
            if has_query {
                wanted.push(("422", "A query parameter has a bad value or is repeated"));
            }
            for (status, description) in wanted {
                op.responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description));
            }
        }
    }
}

/// Where the OpenAPI document is served (the Swagger UI at `/api/v1/docs` reads it there).
const OPENAPI_PATH: &str = "/api/v1/openapi.json";

/// The OpenAPI document, serialized once at start: the Swagger UI crate would keep the
/// document's tree (about 1.5 MiB of heap) and serialize it again on every request.
fn openapi_json(openapi: &utoipa::openapi::OpenApi) -> axum::body::Bytes {
    // Built from the routes' annotations: it always serializes (tests/http.rs reads it).
    serde_json::to_vec(openapi)
        .expect("the OpenAPI document serializes")
        .into()
}

/// The whole application with every layer.
pub fn router(state: AppState) -> Router {
    let (api, mut openapi) = documented();
    openapi.info.version = domain::VERSION.to_owned();
    let docs = utoipa_swagger_ui::SwaggerUi::new("/api/v1/docs")
        .config(utoipa_swagger_ui::Config::from(OPENAPI_PATH));
    let openapi = openapi_json(&openapi);
    // Fails the start when any route lacks an access rule (see access.rs).
    let _ = access::inventory();
    let routes = Router::new()
        .merge(api)
        .merge(docs)
        .route(
            OPENAPI_PATH,
            axum::routing::get(move || {
                let json = [(axum::http::header::CONTENT_TYPE, "application/json")];
                std::future::ready((json, openapi.clone()))
            }),
        )
        .route(
            "/auth/login",
            axum::routing::post(auth::login).layer(rate_limit::login_layer(
                state.login_per_minute,
                state.metrics.clone(),
            )),
        )
        .route("/auth/logout", axum::routing::post(auth::logout))
        .route("/auth/oidc/start", axum::routing::get(oidc::start))
        .route("/auth/oidc/callback", axum::routing::get(oidc::callback));
    let routes = dashboard::routes(routes, &state);
    with_layers(routes, &state).with_state(state)
}

/// Applies the cross-cutting layers (innermost first): body limit, panic catcher, access
/// rules, authentication, sessions, problem serialization, request context. Public so tests
/// can wrap extra routes the same way.
pub fn with_layers(routes: Router<AppState>, state: &AppState) -> Router<AppState> {
    let sessions = tower_sessions::SessionManagerLayer::new(
        domain::access::session_store::DbSessionStore::new(state.ctx.db.conn.clone()),
    )
    .with_name("mcpo_session")
    .with_http_only(true)
    .with_same_site(tower_sessions::cookie::SameSite::Lax)
    .with_secure(state.secure_cookies)
    .with_path("/")
    .with_expiry(tower_sessions::Expiry::OnInactivity(
        tower_sessions::cookie::time::Duration::seconds(
            i64::try_from(state.session_idle.as_secs()).unwrap_or(i64::MAX),
        ),
    ));
    routes
        .layer(DefaultBodyLimit::max(state.body_limit))
        .layer(RequestBodyLimitLayer::new(state.body_limit))
        .layer(CatchPanicLayer::custom(problem::panic_response))
        .layer(middleware::from_fn(access::enforce))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_principal,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            auth::authenticate,
        ))
        .layer(sessions)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            rate_limit::per_ip,
        ))
        .layer(tower::util::option_layer(security::cors(
            &state.cors_origins,
        )))
        .layer(middleware::from_fn(problem::finish_problems))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            security::headers,
        ))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            request_context::request_context,
        ))
}
