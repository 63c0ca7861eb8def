//! Who may call which route. Every route the router serves has a rule here; the router refuses
//! to build when a documented route, a dashboard page or a server function lacks one, so a
//! new route cannot ship without a decision. The service layer checks roles again itself;
//! this table gives every face the same 401/403/redirect behaviour.

use axum::{
    extract::{MatchedPath, Request},
    http::{header, Method, StatusCode},
    middleware::Next,
    response::{Html, IntoResponse, Response},
};
use domain::access::Caller;
use types::{Problem, Role};

use super::problem::problem_response;

/// The rule for one route.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Anyone, signed in or not.
    Public,
    /// A principal holding at least this role.
    Role(Role),
}

use Access::{Public, Role as R};

/// JSON API, health and metrics: (method, route template, rule).
const API: &[(&str, &str, Access)] = &[
    ("GET", "/health/live", Public),
    ("GET", "/health/ready", Public),
    ("GET", "/health", Public),
    ("GET", "/health/detailed", R(Role::Admin)),
    ("GET", "/api/v1/health/fleet", R(Role::Viewer)),
    ("GET", "/api/v1/health/events", R(Role::Viewer)),
    (
        "POST",
        "/api/v1/deployments/{id}/health-check",
        R(Role::Operator),
    ),
    (
        "GET",
        "/api/v1/deployments/{id}/health/history",
        R(Role::Viewer),
    ),
    (
        "GET",
        "/api/v1/deployments/{id}/health/events",
        R(Role::Viewer),
    ),
    ("GET", "/metrics", Public),
    ("GET", "/api/v1/system", R(Role::Viewer)),
    ("POST", "/api/v1/config/validate", R(Role::Admin)),
    ("GET", "/api/v1/me", R(Role::Viewer)),
    ("GET", "/api/v1/api-keys", R(Role::Viewer)),
    ("POST", "/api/v1/api-keys", R(Role::Viewer)),
    ("DELETE", "/api/v1/api-keys/{id}", R(Role::Viewer)),
    ("GET", "/api/v1/users", R(Role::Admin)),
    ("PATCH", "/api/v1/users/{id}", R(Role::Admin)),
    ("GET", "/api/v1/audit-events", R(Role::Admin)),
    ("GET", "/api/v1/registries", R(Role::Viewer)),
    ("POST", "/api/v1/registries", R(Role::Admin)),
    ("GET", "/api/v1/registries/{id}", R(Role::Viewer)),
    ("PATCH", "/api/v1/registries/{id}", R(Role::Admin)),
    ("DELETE", "/api/v1/registries/{id}", R(Role::Admin)),
    ("POST", "/api/v1/registries/{id}/sync", R(Role::Operator)),
    ("GET", "/api/v1/registries/{id}/syncs", R(Role::Viewer)),
    (
        "GET",
        "/api/v1/registries/{id}/syncs/{sync_id}",
        R(Role::Viewer),
    ),
    ("GET", "/api/v1/catalog", R(Role::Viewer)),
    ("GET", "/api/v1/deployments", R(Role::Viewer)),
    ("POST", "/api/v1/deployments", R(Role::Operator)),
    ("GET", "/api/v1/deployments/{id}", R(Role::Viewer)),
    ("DELETE", "/api/v1/deployments/{id}", R(Role::Operator)),
    ("POST", "/api/v1/deployments/{id}/stop", R(Role::Operator)),
    ("POST", "/api/v1/deployments/{id}/start", R(Role::Operator)),
    (
        "POST",
        "/api/v1/deployments/{id}/restart",
        R(Role::Operator),
    ),
    (
        "GET",
        "/api/v1/deployments/{id}/capabilities",
        R(Role::Viewer),
    ),
    ("GET", "/api/v1/deployments/{id}/schema", R(Role::Viewer)),
    (
        "POST",
        "/api/v1/deployments/{id}/tools/{tool}/call",
        R(Role::Operator),
    ),
    ("GET", "/api/v1/deployments/{id}/logs", R(Role::Viewer)),
    ("GET", "/api/v1/pipeline-runs", R(Role::Viewer)),
    ("POST", "/api/v1/pipeline-runs", R(Role::Operator)),
    ("POST", "/api/v1/pipeline-runs/batch", R(Role::Operator)),
    ("GET", "/api/v1/pipeline-runs/events", R(Role::Viewer)),
    ("GET", "/api/v1/pipeline-runs/{id}", R(Role::Viewer)),
    (
        "POST",
        "/api/v1/pipeline-runs/{id}/cancel",
        R(Role::Operator),
    ),
    (
        "POST",
        "/api/v1/pipeline-runs/{id}/retry",
        R(Role::Operator),
    ),
    (
        "POST",
        "/api/v1/pipeline-runs/{id}/rerun",
        R(Role::Operator),
    ),
    ("GET", "/api/v1/pipeline-runs/{id}/events", R(Role::Viewer)),
    ("GET", "/api/v1/catalog/{name}/versions", R(Role::Viewer)),
    (
        "GET",
        "/api/v1/catalog/{name}/versions/{version}",
        R(Role::Viewer),
    ),
];

/// Dashboard pages (GET), by route path.
const PAGES: &[(&str, Access)] = &[
    ("/login", Public),
    ("/", R(Role::Viewer)),
    ("/registries", R(Role::Viewer)),
    ("/catalog", R(Role::Viewer)),
    ("/catalog/entry", R(Role::Viewer)),
    ("/deployments", R(Role::Viewer)),
    ("/deployments/view", R(Role::Viewer)),
    ("/pipeline-runs", R(Role::Viewer)),
    ("/pipeline-runs/view", R(Role::Viewer)),
    ("/fleet-health", R(Role::Viewer)),
    ("/settings", R(Role::Viewer)),
    ("/settings/account", R(Role::Viewer)),
    ("/settings/api-keys", R(Role::Viewer)),
    ("/settings/users", R(Role::Admin)),
    ("/settings/audit", R(Role::Admin)),
];

/// The dashboard's server functions (POST), by path. Same roles as the service layer asks.
const SERVER_FNS: &[(&str, Access)] = &[
    ("/ui/fn/sign_in_options", Public),
    ("/ui/fn/whoami", Public),
    ("/ui/fn/system_info", R(Role::Viewer)),
    ("/ui/fn/api_keys", R(Role::Viewer)),
    ("/ui/fn/create_key", R(Role::Viewer)),
    ("/ui/fn/revoke_key", R(Role::Viewer)),
    ("/ui/fn/change_password", R(Role::Viewer)),
    ("/ui/fn/users", R(Role::Admin)),
    ("/ui/fn/update_user", R(Role::Admin)),
    ("/ui/fn/audit", R(Role::Admin)),
    ("/ui/fn/registries", R(Role::Viewer)),
    ("/ui/fn/create_registry", R(Role::Admin)),
    ("/ui/fn/update_registry", R(Role::Admin)),
    ("/ui/fn/delete_registry", R(Role::Admin)),
    ("/ui/fn/sync_registry", R(Role::Operator)),
    ("/ui/fn/sync_detail", R(Role::Viewer)),
    ("/ui/fn/catalog_search", R(Role::Viewer)),
    ("/ui/fn/catalog_versions", R(Role::Viewer)),
    ("/ui/fn/catalog_version", R(Role::Viewer)),
    ("/ui/fn/deployments", R(Role::Viewer)),
    ("/ui/fn/deployment", R(Role::Viewer)),
    ("/ui/fn/create_deployment", R(Role::Operator)),
    ("/ui/fn/stop_deployment", R(Role::Operator)),
    ("/ui/fn/start_deployment", R(Role::Operator)),
    ("/ui/fn/restart_deployment", R(Role::Operator)),
    ("/ui/fn/delete_deployment", R(Role::Operator)),
    ("/ui/fn/deployment_capabilities", R(Role::Viewer)),
    ("/ui/fn/call_tool", R(Role::Operator)),
    ("/ui/fn/deployment_logs", R(Role::Viewer)),
    ("/ui/fn/pipeline_runs", R(Role::Viewer)),
    ("/ui/fn/pipeline_run", R(Role::Viewer)),
    ("/ui/fn/create_pipeline_run", R(Role::Operator)),
    ("/ui/fn/cancel_pipeline_run", R(Role::Operator)),
    ("/ui/fn/retry_pipeline_run", R(Role::Operator)),
    ("/ui/fn/rerun_pipeline_run", R(Role::Operator)),
    ("/ui/fn/fleet_health", R(Role::Viewer)),
    ("/ui/fn/deployment_health_history", R(Role::Viewer)),
    ("/ui/fn/deployment_health_events", R(Role::Viewer)),
    ("/ui/fn/recheck_deployment", R(Role::Operator)),
    // Viewers: answers `None` to anyone but admins.
    ("/ui/fn/system_health", R(Role::Viewer)),
];

/// Everything else the router serves, by method and route-template prefix.
const PREFIXES: &[(&str, &str, Access)] = &[
    ("POST", "/auth/login", Public),
    ("POST", "/auth/logout", Public),
    ("GET", "/auth/oidc/", Public),
    ("GET", "/api/v1/openapi.json", Public),
    ("GET", "/api/v1/docs", Public),
    ("GET", "/pkg", Public),
];

/// The rule for `method` on the route template `route`; `None` when there is none.
pub fn rule(method: &Method, route: &str) -> Option<Access> {
    let m = method.as_str();
    let m = if m == "HEAD" { "GET" } else { m };
    API.iter()
        .find(|(am, path, _)| *am == m && *path == route)
        .map(|(_, _, a)| *a)
        .or_else(|| {
            (m == "GET")
                .then(|| PAGES.iter().find(|(p, _)| *p == route).map(|(_, a)| *a))
                .flatten()
        })
        .or_else(|| {
            (m == "POST")
                .then(|| {
                    SERVER_FNS
                        .iter()
                        .find(|(p, _)| *p == route)
                        .map(|(_, a)| *a)
                })
                .flatten()
        })
        .or_else(|| {
            PREFIXES
                .iter()
                .find(|(pm, prefix, _)| *pm == m && route.starts_with(prefix))
                .map(|(_, _, a)| *a)
        })
}

/// A route the router serves, and who may call it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteRule {
    /// HTTP method.
    pub method: Method,
    /// Route template, e.g. `/api/v1/api-keys/{id}`.
    pub path: String,
    /// A dashboard page (anonymous callers are sent to the sign-in page).
    pub page: bool,
    /// The rule.
    pub access: Access,
}

/// Every documented route, dashboard page and server function with its rule.
///
/// # Panics
/// When one has no rule: the server must not start with an undecided route.
pub fn inventory() -> Vec<RouteRule> {
    let mut routes = Vec::new();
    let (_, doc) = super::documented();
    for (path, item) in &doc.paths.paths {
        for (method, op) in [
            (Method::GET, &item.get),
            (Method::POST, &item.post),
            (Method::PUT, &item.put),
            (Method::PATCH, &item.patch),
            (Method::DELETE, &item.delete),
        ] {
            if op.is_some() {
                routes.push((method, path.clone(), false));
            }
        }
    }
    for listing in leptos_axum::generate_route_list(app::App) {
        routes.push((Method::GET, listing.path().to_owned(), true));
    }
    for (path, method) in leptos::server_fn::axum::server_fn_paths() {
        routes.push((method, path.to_owned(), false));
    }
    routes
        .into_iter()
        .map(|(method, path, page)| {
            let access = rule(&method, &path).unwrap_or_else(|| {
                panic!("route {method} {path} has no access rule in server/src/http/access.rs")
            });
            RouteRule {
                method,
                path,
                page,
                access,
            }
        })
        .collect()
}

/// Applies the rule of the matched route to the caller: 401 (or a redirect to sign-in for
/// pages) without credentials, 403 with too low a role. A route with no rule is refused.
pub async fn enforce(req: Request, next: Next) -> Response {
    let Some(route) = req
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_owned())
    else {
        return next.run(req).await; // the fallback: static files and 404s
    };
    let Some(access) = rule(req.method(), &route) else {
        if ["GET", "POST", "PUT", "PATCH", "DELETE"].iter().any(|m| {
            rule(
                &Method::from_bytes(m.as_bytes()).unwrap_or_default(),
                &route,
            )
            .is_some()
        }) {
            // A known route with another method: let the router answer 405 with `Allow`.
            return next.run(req).await;
        }
        tracing::error!(method = %req.method(), route, "route has no access rule; refusing");
        return problem_response(
            Problem::new(403, "Forbidden")
                .with_type("forbidden")
                .with_detail("This route is not open to anyone."),
        );
    };
    let Access::Role(needed) = access else {
        return next.run(req).await;
    };
    let page = *req.method() == Method::GET && PAGES.iter().any(|(p, _)| *p == route);
    let caller = req
        .extensions()
        .get::<Caller>()
        .cloned()
        .unwrap_or_default();
    match &caller.principal {
        None if page => {
            let target = req
                .uri()
                .path_and_query()
                .map_or("/", |p| p.as_str())
                .to_owned();
            let location = format!(
                "/login?next={}",
                target
                    .replace('%', "%25")
                    .replace('&', "%26")
                    .replace('#', "%23")
            );
            (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response()
        }
        None => {
            let mut res = problem_response(
                Problem::new(401, "Unauthorized")
                    .with_type("unauthorized")
                    .with_detail("Sign in, or send an API key as `Authorization: Bearer mcpo_…`."),
            );
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
            res
        }
        Some(p) if p.role < needed => {
            let detail = format!("This needs the {needed} role; you have {}.", p.role);
            if page {
                let body = format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Forbidden · MCP Orchestrator</title></head>\
                     <body><main><h1>Forbidden</h1><p>{detail}</p><p><a href=\"/\">Back to the overview</a></p></main></body></html>"
                );
                (StatusCode::FORBIDDEN, Html(body)).into_response()
            } else {
                problem_response(
                    Problem::new(403, "Forbidden")
                        .with_type("forbidden")
                        .with_detail(detail),
                )
            }
        }
        Some(_) => next.run(req).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn every_route_has_a_rule() {
        let routes = inventory();
        assert!(routes
            .iter()
            .any(|r| r.path == "/api/v1/api-keys" && r.method == Method::POST));
        assert!(routes
            .iter()
            .any(|r| r.page && r.path == "/settings/users" && r.access == R(Role::Admin)));
        assert!(routes.iter().any(|r| r.path.starts_with("/ui/fn/")));
    }

    #[test]
    fn head_follows_get_and_unknown_routes_have_no_rule() {
        assert_eq!(rule(&Method::HEAD, "/health/live"), Some(Public));
        assert_eq!(rule(&Method::GET, "/api/v1/nothing"), None);
        assert_eq!(rule(&Method::DELETE, "/api/v1/system"), None);
    }
}
