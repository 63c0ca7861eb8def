//! The real binary on a random port, on SQLite and on PostgreSQL: HTTP behaviour.

use std::time::Duration;

use serde_json::Value;
use testkit::{Backend, TestServer, ADMIN_PASSWORD, BACKENDS};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

async fn problem(res: reqwest::Response, status: u16) -> Value {
    assert_eq!(res.status().as_u16(), status);
    let ct = res.headers()["content-type"].to_str().unwrap().to_owned();
    assert_eq!(ct, "application/problem+json");
    let id = res
        .headers()
        .get("x-request-id")
        .expect("X-Request-ID on errors too")
        .to_str()
        .unwrap()
        .to_owned();
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["status"], status);
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    assert_eq!(body["request_id"], id.as_str());
    body
}

#[tokio::test]
async fn dashboard_is_server_rendered_with_navigation() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        // Anonymous visitors are sent to the sign-in page.
        let res = s.get("/").await;
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/login?next=/");
        let browser = s.session("admin", ADMIN_PASSWORD).await;
        let res = browser.get(s.url("/")).send().await.unwrap();
        assert_eq!(res.status(), 200);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        let html = res.text().await.unwrap();
        for label in [
            "Overview",
            "Registries",
            "Catalog",
            "Deployments",
            "Pipeline runs",
            "Health",
            "Settings",
        ] {
            assert!(html.contains(&format!(">{label}<")), "nav lacks {label}");
        }
        assert!(
            html.contains(r#"<nav id="main-nav" aria-label="Main""#),
            "navigation landmark"
        );
        assert!(html.contains(r#"<main id="main""#), "main landmark");
        // Real data from the server, rendered on the server.
        let backend_label = if backend == Backend::Sqlite {
            "SQLite"
        } else {
            "PostgreSQL"
        };
        assert!(
            html.contains(backend_label),
            "{backend:?}: Overview shows the backend"
        );
        assert!(
            html.contains(env!("CARGO_PKG_VERSION")),
            "Overview shows the version"
        );
        // The Health page is rendered on the server, with the fleet summary.
        let html = browser
            .get(s.url("/fleet-health"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(html.contains(">Health</h1>"), "the Health page's heading");
        assert!(
            html.contains(r#"data-testid="fleet-summary""#),
            "fleet summary"
        );
        // Every page is built: none says otherwise.
        for page in [
            "/",
            "/registries",
            "/catalog",
            "/deployments",
            "/pipeline-runs",
            "/fleet-health",
            "/settings",
        ] {
            let html = browser
                .get(s.url(page))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert!(!html.contains("Not built yet."), "{page} is not built");
        }
    }
}

#[tokio::test]
async fn unknown_routes_are_404_problems_or_pages_for_browsers() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    for path in ["/nope", "/api/v1/nope", "/api/v2/system", "/pkg/missing.js"] {
        let body = problem(s.get(path).await, 404).await;
        assert_eq!(body["instance"], path);
    }
    let res = s
        .client
        .post(s.url("/nope"))
        .body("x")
        .send()
        .await
        .unwrap();
    problem(res, 404).await;
    // A browser navigating gets the dashboard's own 404 page.
    let res = s
        .client
        .get(s.url("/nope"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("Page not found"));
}

#[tokio::test]
async fn wrong_method_is_405_problem_with_allow() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let res = s.client.delete(s.url("/health/live")).send().await.unwrap();
    assert!(res.headers().get("allow").is_some(), "Allow header kept");
    problem(res, 405).await;
}

#[tokio::test]
async fn body_errors_are_problems_and_valid_config_is_echoed_redacted() {
    let db = testkit::TestDb::new(Backend::Sqlite).await;
    let s = TestServer::spawn_with(BIN, db, &[("MCPO_HTTP_BODY_LIMIT_BYTES", "2048")]).await;
    let url = s.url("/api/v1/config/validate");
    let admin = s.api_key("admin");
    let post = |body: Vec<u8>, ct: Option<&str>| {
        let mut rb = s.client.post(&url).bearer_auth(&admin).body(body);
        if let Some(ct) = ct {
            rb = rb.header("content-type", ct);
        }
        rb.send()
    };
    let json = Some("application/json");

    problem(post(b"{}".to_vec(), Some("text/plain")).await.unwrap(), 415).await;
    problem(post(b"{}".to_vec(), None).await.unwrap(), 415).await;
    let p = problem(post(b"{\"listen\":".to_vec(), json).await.unwrap(), 400).await;
    assert!(p["detail"].as_str().unwrap().contains("not valid JSON"));
    let p = problem(
        post(br#"{"listen":"nowhere"}"#.to_vec(), json)
            .await
            .unwrap(),
        422,
    )
    .await;
    assert_eq!(p["field"], "listen");
    assert!(p["detail"].as_str().unwrap().contains("`listen`"));
    let p = problem(post(br#"{"lisen":"x"}"#.to_vec(), json).await.unwrap(), 422).await;
    assert_eq!(p["field"], "lisen");
    problem(post(b"[1,2]".to_vec(), json).await.unwrap(), 422).await;
    let big = format!(r#"{{"site_root":"{}"}}"#, "a".repeat(4096));
    problem(post(big.into_bytes(), json).await.unwrap(), 413).await;

    let res = post(
        br#"{"database":{"url":"postgres://u:hunter2@db/x","max_connections":3}}"#.to_vec(),
        json,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 200);
    let text = res.text().await.unwrap();
    assert!(!text.contains("hunter2"), "secret echoed: {text}");
    let v: Value = serde_json::from_str(&text).unwrap();
    let get = |k: &str| {
        v["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == k)
            .unwrap()["value"]
            .clone()
    };
    assert_eq!(get("database.max_connections"), "3");
    assert_eq!(get("database.url"), "postgres://u:***@db/x");
    assert_eq!(get("listen"), "127.0.0.1:3000", "defaults filled in");
}

#[tokio::test]
async fn request_id_is_accepted_or_made_and_on_the_request_log_lines() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let res = s
        .client
        .get(s.url("/api/v1/system"))
        .bearer_auth(s.api_key("viewer"))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-request-id"], "trace-me-42");
    let made = s.get("/health/live").await.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(uuid_like(&made), "{made}");
    let bad = s
        .client
        .get(s.url("/health/live"))
        .header("x-request-id", "a b")
        .send()
        .await
        .unwrap();
    assert_ne!(bad.headers()["x-request-id"], "a b");

    // The access line of that request carries its id in the span.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let lines = s.logs();
        let mine: Vec<&String> = lines.iter().filter(|l| l.contains("trace-me-42")).collect();
        if let Some(line) = mine.iter().find(|l| l.contains("request completed")) {
            let v: Value = serde_json::from_str(line).unwrap();
            assert_eq!(v["span"]["request_id"], "trace-me-42");
            assert_eq!(v["span"]["route"], "/api/v1/system");
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no access line with the request id in:\n{}",
            lines.join("\n")
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36 && s.chars().filter(|c| *c == '-').count() == 4
}

#[tokio::test]
async fn openapi_document_is_3_1_generated_from_the_routes_and_docs_work_offline() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let res = s.get("/api/v1/openapi.json").await;
    assert_eq!(res.status(), 200);
    let doc: Value = res.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3.1"),
        "{}",
        doc["openapi"]
    );
    assert_eq!(doc["info"]["version"], env!("CARGO_PKG_VERSION"));
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/system",
        "/api/v1/config/validate",
        "/health/live",
        "/health/ready",
        "/health",
        "/metrics",
    ] {
        assert!(paths.contains_key(p), "document lacks {p}");
    }
    // Every documented GET is actually served (none answers 404 or 405).
    let admin = s.api_key("admin");
    for (path, item) in paths {
        if item.get("get").is_some() {
            let res = s.get_with(&admin, path).await;
            let status = res.status().as_u16();
            let body: Value = res.json().await.unwrap_or(Value::Null);
            // A templated path with a made-up parameter may be a 404 from the service layer
            // ("No such …"), which shows the route matched; never the router's 404.
            let service_404 = path.contains('{')
                && body["detail"]
                    .as_str()
                    .is_some_and(|d| d.starts_with("No such"));
            assert!(
                (status != 404 || service_404) && status != 405,
                "{path} documented but answers {status}: {body}"
            );
        }
    }
    assert!(doc["components"]["schemas"]["Problem"].is_object());
    // What the shared extractors answer is documented wherever they are used, so a client
    // (or schemathesis's status-code check) meets no undocumented status.
    let mut bodies = 0;
    for (path, item) in paths {
        for (method, op) in item.as_object().unwrap() {
            let responses = &op["responses"];
            let documents = |status: &str| responses.get(status).is_some();
            if op.get("requestBody").is_some() {
                bodies += 1;
                for status in ["400", "413", "415", "422"] {
                    assert!(documents(status), "{method} {path} lacks {status}");
                }
            }
            let has_query = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["in"] == "query"));
            if has_query {
                assert!(documents("422"), "{method} {path} lacks 422");
            }
        }
    }
    assert!(bodies >= 8, "only {bodies} operations take a body");

    // The browsable docs page: served from the binary, no third-party URLs.
    let res = s.get("/api/v1/docs/").await;
    assert_eq!(res.status(), 200);
    let html = res.text().await.unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    for asset in [
        "/api/v1/docs/swagger-ui.css",
        "/api/v1/docs/swagger-ui-bundle.js",
        "/api/v1/docs/swagger-initializer.js",
    ] {
        let res = s.get(asset).await;
        assert_eq!(res.status(), 200, "{asset}");
        let text = res.text().await.unwrap();
        if asset.ends_with("initializer.js") {
            assert!(
                text.contains("/api/v1/openapi.json"),
                "the UI loads our document: {text}"
            );
        }
    }
    assert!(
        !html.contains("https://"),
        "docs page must not load anything from the internet"
    );
}

#[tokio::test]
async fn health_endpoints_and_readiness_names_the_failing_check() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let live: Value = s.get("/health/live").await.json().await.unwrap();
        assert_eq!(live["status"], "pass");
        let res = s.get("/health/ready").await;
        assert_eq!(res.status(), 200);
        let ready: Value = res.json().await.unwrap();
        let names: Vec<&str> = ready["checks"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["database", "migrations", "docker"]);
        // Docker is enabled by default; without an engine (this server has no DOCKER_HOST)
        // the instance is degraded (`warn`), never out of service.
        let docker = &ready["checks"][2]["status"];
        let expect = if docker == "pass" { "pass" } else { "warn" };
        assert_eq!(ready["status"], expect, "{ready}");

        // Roll the schema back underneath the running server: not ready, naming the check.
        let out = std::process::Command::new(BIN)
            .args(["migrate", "down", "--all"])
            .env("DATABASE_URL", &s.db.url)
            .env("MCPO_LOG_FORMAT", "json")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let body = problem(s.get("/health/ready").await, 503).await;
        assert_eq!(
            body["failing"],
            serde_json::json!(["migrations"]),
            "{backend:?}: {body}"
        );
        assert!(body["detail"].as_str().unwrap().contains("migrations"));
        let summary: Value = s.get("/health").await.json().await.unwrap();
        assert_eq!(summary["status"], "fail");
        assert!(
            s.get("/health/live").await.status().is_success(),
            "liveness does not depend on the database"
        );
    }
}

#[tokio::test]
async fn metrics_label_route_templates_never_raw_paths() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    s.get_with(&s.api_key("viewer"), "/api/v1/system").await;
    s.get("/no/such/path/12345").await;
    let res = s.get("/metrics").await;
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/plain"));
    let text = res.text().await.unwrap();
    assert!(
        text.contains(
            r#"mcpo_http_requests_total{method="GET",route="/api/v1/system",status="200"} 1"#
        ),
        "{text}"
    );
    assert!(
        text.contains(
            r#"mcpo_http_requests_total{method="GET",route="<unmatched>",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("12345"), "raw path leaked into labels");
    assert!(text.contains(r#"mcpo_http_request_duration_seconds_bucket{method="GET",route="/api/v1/system",status="200",le="0.005"}"#));
    assert!(text.contains(&format!(
        r#"mcpo_build_info{{rustc_profile="debug",version="{}"}} 1"#,
        env!("CARGO_PKG_VERSION")
    )));
}

#[tokio::test]
async fn system_info_is_real() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let v: Value = s
            .get_with(&s.api_key("viewer"), "/api/v1/system")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            v["database_backend"],
            if backend == Backend::Sqlite {
                "sqlite"
            } else {
                "postgresql"
            }
        );
        assert_eq!(v["migrations"]["pending"], 0);
        assert!(v["migrations"]["applied"].as_u64().unwrap() >= 1);
        assert_eq!(v["instances_live"], 1);
        assert_eq!(v["instances_started"], 1);
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));
    }
}
