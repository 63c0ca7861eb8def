//! Security headers (nonce-based CSP), CORS, and rate limits against the real binary.

use serde_json::Value;
use testkit::{Backend, TestDb, TestServer, ADMIN_PASSWORD};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

async fn spawn(env: &[(&str, &str)]) -> TestServer {
    TestServer::spawn_with(BIN, TestDb::new(Backend::Sqlite).await, env).await
}

fn header(res: &reqwest::Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .map(|v| v.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn pages_get_a_fresh_nonce_csp_and_everything_gets_the_basic_headers() {
    let s = spawn(&[]).await;
    let browser = s.session("admin", ADMIN_PASSWORD).await;
    let mut nonces = Vec::new();
    for _ in 0..2 {
        let res = browser.get(s.url("/")).send().await.unwrap();
        let csp = header(&res, "content-security-policy").expect("CSP on pages");
        let html = res.text().await.unwrap();
        let nonce = csp
            .split("'nonce-")
            .nth(1)
            .and_then(|r| r.split('\'').next())
            .expect("nonce in CSP")
            .to_owned();
        assert!(
            csp.contains("frame-ancestors 'none'")
                && csp.contains("'wasm-unsafe-eval'")
                && !csp.contains("unsafe-inline"),
            "{csp}"
        );
        // Every inline script carries the nonce of this response.
        let scripts = html.matches("<script").count();
        assert!(scripts > 0);
        assert!(
            html.matches(&format!("nonce=\"{nonce}\"")).count() >= scripts,
            "{html}"
        );
        nonces.push(nonce);
    }
    assert_ne!(nonces[0], nonces[1], "a nonce is used once");

    for path in ["/api/v1/system", "/health/live", "/nope"] {
        let res = s.get(path).await;
        assert_eq!(
            header(&res, "content-security-policy").unwrap(),
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        );
        assert_eq!(
            header(&res, "x-content-type-options").as_deref(),
            Some("nosniff")
        );
        assert_eq!(
            header(&res, "referrer-policy").as_deref(),
            Some("no-referrer")
        );
        assert_eq!(header(&res, "x-frame-options").as_deref(), Some("DENY"));
        assert_eq!(
            header(&res, "strict-transport-security"),
            None,
            "no HSTS on plain HTTP by default"
        );
    }
    let docs = s.get("/api/v1/docs/").await;
    assert!(header(&docs, "content-security-policy")
        .unwrap()
        .contains("style-src 'self' 'unsafe-inline'"));

    let s = spawn(&[("MCPO_HTTP_HSTS", "true")]).await;
    assert!(
        header(&s.get("/health/live").await, "strict-transport-security")
            .unwrap()
            .starts_with("max-age=")
    );
}

#[tokio::test]
async fn cors_is_same_origin_unless_configured() {
    let preflight = |s: &TestServer, origin: &str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.url("/api/v1/me"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    let s = spawn(&[]).await;
    let res = preflight(&s, "https://ops.example").await.unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), None);

    let s = spawn(&[("MCPO_HTTP_CORS_ORIGINS", "https://ops.example")]).await;
    let res = preflight(&s, "https://ops.example").await.unwrap();
    assert!(res.status().is_success());
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("https://ops.example")
    );
    assert!(header(&res, "access-control-allow-headers")
        .unwrap()
        .contains("authorization"));
    let res = preflight(&s, "https://evil.example").await.unwrap();
    assert_eq!(header(&res, "access-control-allow-origin"), None);
    let key = s.api_key("viewer");
    let res = s
        .client
        .get(s.url("/api/v1/me"))
        .bearer_auth(&key)
        .header("origin", "https://ops.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        header(&res, "access-control-allow-origin").as_deref(),
        Some("https://ops.example")
    );
    assert_eq!(
        header(&res, "access-control-allow-credentials"),
        None,
        "cookies never cross origins"
    );
}

#[tokio::test]
async fn per_ip_limit_answers_429_problems_but_never_limits_health() {
    let s = spawn(&[
        ("MCPO_RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("MCPO_RATE_LIMIT_PER_IP_BURST", "3"),
    ])
    .await;
    let statuses: Vec<u16> = futures_collect(&s, "/api/v1/system", 5).await;
    assert_eq!(
        &statuses[..3],
        [401, 401, 401],
        "within the burst (no key: 401)"
    );
    assert_eq!(statuses[4], 429);
    let res = s.get("/api/v1/system").await;
    assert_eq!(res.status(), 429);
    assert!(header(&res, "retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(header(&res, "x-ratelimit-limit").as_deref(), Some("3"));
    let p: Value = res.json().await.unwrap();
    assert_eq!(
        (p["status"].as_u64(), p["type"].as_str()),
        (Some(429), Some("/problems/rate-limited"))
    );
    for _ in 0..10 {
        assert_eq!(
            s.get("/health/live").await.status(),
            200,
            "health is exempt"
        );
    }
    let metrics = s.get("/metrics").await.text().await.unwrap();
    assert!(
        metrics.contains("mcpo_rate_limited_total{scope=\"ip\"}"),
        "{metrics}"
    );
}

async fn futures_collect(s: &TestServer, path: &str, n: usize) -> Vec<u16> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(s.get(path).await.status().as_u16());
    }
    out
}

#[tokio::test]
async fn per_principal_and_sign_in_limits() {
    let s = spawn(&[
        ("MCPO_RATE_LIMIT_PER_IP_PER_SECOND", "0"),
        ("MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND", "1"),
        ("MCPO_RATE_LIMIT_PER_PRINCIPAL_BURST", "2"),
        ("MCPO_RATE_LIMIT_LOGIN_PER_MINUTE", "2"),
    ])
    .await;
    let (a, b) = (s.api_key("viewer"), s.api_key("viewer"));
    let codes: Vec<u16> = {
        let mut v = Vec::new();
        for _ in 0..3 {
            v.push(s.get_with(&a, "/api/v1/me").await.status().as_u16());
        }
        v
    };
    assert_eq!(codes, [200, 200, 429]);
    assert_eq!(
        s.get_with(&b, "/api/v1/me").await.status(),
        200,
        "another principal has its own budget"
    );

    let login = || {
        s.client
            .post(s.url("/auth/login"))
            .header("origin", &s.base_url)
            .form(&[("username", "admin"), ("password", "wrong")])
            .send()
    };
    assert_eq!(login().await.unwrap().status(), 303);
    assert_eq!(login().await.unwrap().status(), 303);
    let res = login().await.unwrap();
    assert_eq!(res.status(), 429);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    assert!(header(&res, "retry-after").is_some());
}

#[tokio::test]
async fn forwarded_for_is_believed_only_from_trusted_proxies() {
    let s = spawn(&[
        ("MCPO_RATE_LIMIT_PER_IP_PER_SECOND", "1"),
        ("MCPO_RATE_LIMIT_PER_IP_BURST", "1"),
        ("MCPO_RATE_LIMIT_TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    let from = |ip: &'static str| {
        s.client
            .get(s.url("/api/v1/system"))
            .header("x-forwarded-for", ip)
            .send()
    };
    assert_eq!(from("203.0.113.1").await.unwrap().status(), 401);
    assert_eq!(
        from("203.0.113.1").await.unwrap().status(),
        429,
        "same client behind the proxy"
    );
    assert_eq!(
        from("203.0.113.2").await.unwrap().status(),
        401,
        "another client has its own budget"
    );
}
