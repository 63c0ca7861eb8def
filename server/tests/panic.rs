//! A panicking handler becomes a 500 problem with no internal detail, and the server lives on.
//! In-process: the same layer stack as the binary, plus one route that panics.

use std::sync::Arc;

use axum::{body::Body, http::Request, routing::get, Router};
use http_body_util::BodyExt;
use server::{http::metrics::Metrics, state::AppState};
use tower::ServiceExt;

#[tokio::test]
async fn a_panic_is_a_500_problem_without_detail() {
    let db = testkit::TestDb::new(testkit::Backend::Sqlite).await;
    let url = domain::DatabaseUrl::parse(&db.url).unwrap();
    let database = domain::Database::connect(&url, &domain::DbOptions::default())
        .await
        .unwrap();
    database.migrate_up().await.unwrap();
    let instance = domain::Instance::register(&database).await.unwrap();
    let ctx = domain::Ctx::new(database, instance);
    let state = AppState {
        metrics: Arc::new(Metrics::new(&ctx.metrics, false)),
        ctx,
        leptos: leptos::config::LeptosOptions::builder()
            .output_name("x")
            .build(),
        body_limit: 1024,
        session_absolute: std::time::Duration::from_secs(3600),
        session_idle: std::time::Duration::from_secs(600),
        secure_cookies: false,
        oidc: None,
        limiters: Arc::new(server::http::rate_limit::Limiters::new(
            &server::config::Layers::default()
                .resolve()
                .unwrap()
                .rate_limit,
        )),
        login_per_minute: 10,
        hsts: false,
        cors_origins: Vec::new(),
    };
    // Public routes of the real rule table (a route without a rule is refused outright).
    let routes: Router<AppState> = Router::new()
        .route(
            "/health/live",
            get(|| async { panic!("secret internal state: db password is hunter2") as &str }),
        )
        .route("/health", get(|| async { "ok" }));
    let app = server::http::with_layers(routes, &state).with_state(state.clone());

    let res = app
        .clone()
        .oneshot(Request::get("/health/live").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 500);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(res.headers().contains_key("x-request-id"));
    let body = res.into_body().collect().await.unwrap().to_bytes();
    let text = String::from_utf8_lossy(&body);
    assert!(
        !text.contains("hunter2") && !text.contains("secret"),
        "{text}"
    );
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["status"], 500);
    assert_eq!(v["instance"], "/health/live");

    let res = app
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), 200, "still serving after a panic");
    assert!(state
        .metrics
        .render()
        .contains(r#"route="/health/live",status="500""#));
}
