//! Sign-in through an identity provider against the real binary and a real OpenID Connect
//! server (npm `oauth2-mock-server`, run by `end2end/oidc-server.mjs` on loopback): the
//! authorization code flow with PKCE, state and nonce checks, provisioning, role mapping, the
//! allow-list, and the plain OAuth2 (user-info) mode.
//!
//! The mock provider signs everybody in at once; extra parameters on its authorize URL pick
//! the identity (`mock_profile`) or make it misbehave (`mock_nonce`, `mock_error`).

use std::{
    net::TcpListener,
    process::{Child, ChildStdin, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use reqwest::{cookie::CookieStore, redirect::Policy, Client, StatusCode};
use serde_json::Value;
use testkit::{Backend, TestDb, TestServer, BACKENDS};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");
const NEXT: &str = "/settings/api-keys";

/// A running `end2end/oidc-server.mjs`. Killed on drop.
struct MockIdp {
    issuer: String,
    child: Child,
    /// Held open: the script exits when it closes, so a killed test leaves no provider behind.
    _stdin: Option<ChildStdin>,
}

impl MockIdp {
    async fn start() -> Self {
        let port = free_port();
        let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
        let mut child = Command::new("node")
            .arg("end2end/oidc-server.mjs")
            .current_dir(root)
            .env("MCPO_E2E_OIDC_PORT", port.to_string())
            .env("MCPO_E2E_OIDC_EXIT_WITH_STDIN", "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect(
                "spawn node end2end/oidc-server.mjs (is Node.js installed and `npm install` done?)",
            );
        // In the struct at once, so a failed start below still kills it on drop.
        let idp = Self {
            issuer: format!("http://127.0.0.1:{port}"),
            _stdin: child.stdin.take(),
            child,
        };
        let discovery = format!("{}/.well-known/openid-configuration", idp.issuer);
        let client = testkit::client_builder()
            .timeout(Duration::from_secs(5))
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(res) = client.get(&discovery).send().await {
                if res.status().is_success() {
                    return idp;
                }
            }
            assert!(
                Instant::now() < deadline,
                "the mock OIDC server did not answer at {discovery}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

impl Drop for MockIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

enum Mode {
    /// OpenID Connect through discovery.
    Oidc,
    /// Plain OAuth2: the mock's authorize, token and user-info endpoints, configured by hand.
    Plain,
}

/// The orchestrator with the mock as its provider; `extra` env overrides the defaults.
async fn orchestrator(
    idp: &MockIdp,
    backend: Backend,
    mode: Mode,
    extra: &[(&str, &str)],
) -> TestServer {
    // The callback URL must name the server's port, so the port is chosen here.
    let port = free_port();
    let listen = format!("127.0.0.1:{port}");
    let redirect = format!("http://127.0.0.1:{port}/auth/oidc/callback");
    let (authorize, token, userinfo) = (
        format!("{}/authorize", idp.issuer),
        format!("{}/token", idp.issuer),
        format!("{}/userinfo", idp.issuer),
    );
    let mut env: Vec<(&str, &str)> = vec![
        ("MCPO_LISTEN", &listen),
        ("MCPO_AUTH_OIDC_CLIENT_ID", "mcpo-test"),
        ("MCPO_AUTH_OIDC_CLIENT_SECRET", "test-secret"),
        ("MCPO_AUTH_OIDC_REDIRECT_URL", &redirect),
        ("MCPO_AUTH_OIDC_DISPLAY_NAME", "Test IdP"),
        ("MCPO_AUTH_OIDC_ROLE_CLAIM", "mcpo_role"),
        ("MCPO_AUTH_OIDC_ALLOWED_DOMAINS", "example.com"),
    ];
    match mode {
        Mode::Oidc => env.push(("MCPO_AUTH_OIDC_ISSUER_URL", &idp.issuer)),
        Mode::Plain => env.extend([
            ("MCPO_AUTH_OIDC_AUTHORIZE_URL", authorize.as_str()),
            ("MCPO_AUTH_OIDC_TOKEN_URL", token.as_str()),
            ("MCPO_AUTH_OIDC_USERINFO_URL", userinfo.as_str()),
        ]),
    }
    env.extend_from_slice(extra);
    TestServer::spawn_with(BIN, TestDb::new(backend).await, &env).await
}

/// A browser stand-in: a cookie jar, no automatic redirects.
fn browser() -> (Client, Arc<reqwest::cookie::Jar>) {
    let jar = Arc::new(reqwest::cookie::Jar::default());
    let client = testkit::client_builder()
        .cookie_provider(jar.clone())
        .redirect(Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    (client, jar)
}

fn location(res: &reqwest::Response) -> String {
    res.headers()
        .get("location")
        .unwrap_or_else(|| panic!("no Location in a {} answer", res.status()))
        .to_str()
        .unwrap()
        .to_owned()
}

/// The session cookie `jar` holds for `s`.
fn session_cookie(s: &TestServer, jar: &reqwest::cookie::Jar) -> Option<String> {
    let url = s.url("/").parse().unwrap();
    let header = jar.cookies(&url)?;
    header
        .to_str()
        .unwrap()
        .split("; ")
        .find(|c| c.starts_with("mcpo_session="))
        .map(str::to_owned)
}

/// `/auth/oidc/start`, then the provider's authorize URL (plus `mock` parameters); returns
/// the callback URL the provider sends the browser to.
async fn authorize(s: &TestServer, client: &Client, mock: &str) -> String {
    let res = client
        .get(s.url(&format!("/auth/oidc/start?next={NEXT}")))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    let mut to_provider = location(&res);
    if !mock.is_empty() {
        to_provider = format!("{to_provider}&{mock}");
    }
    let res = client.get(&to_provider).send().await.unwrap();
    assert!(
        res.status().is_redirection(),
        "authorize answered {}: {}",
        res.status(),
        res.text().await.unwrap()
    );
    let callback = location(&res);
    assert!(
        callback.starts_with(&s.url("/auth/oidc/callback?")),
        "{callback}"
    );
    callback
}

/// A whole sign-in; returns the callback's answer and URL.
async fn sign_in(s: &TestServer, client: &Client, mock: &str) -> (reqwest::Response, String) {
    let callback = authorize(s, client, mock).await;
    (client.get(&callback).send().await.unwrap(), callback)
}

async fn me(s: &TestServer, client: &Client) -> reqwest::Response {
    client.get(s.url("/api/v1/me")).send().await.unwrap()
}

async fn users(s: &TestServer, admin_key: &str) -> Vec<Value> {
    let res = s.get_with(admin_key, "/api/v1/users").await;
    assert_eq!(res.status(), StatusCode::OK);
    res.json::<Vec<Value>>().await.unwrap()
}

/// Asserts a 400 problem of `kind` and returns its detail.
async fn assert_problem(res: reqwest::Response, kind: &str) -> String {
    assert_eq!(res.status(), StatusCode::BAD_REQUEST, "{kind}");
    assert_eq!(
        res.headers()["content-type"],
        "application/problem+json",
        "{kind}"
    );
    let body: Value = res.json().await.unwrap();
    assert_eq!(body["type"], format!("/problems/{kind}"), "{body}");
    assert_eq!(body["status"], 400);
    body["detail"].as_str().unwrap_or_default().to_owned()
}

fn replace_param(url: &str, name: &str, value: &str) -> String {
    let mut u = reqwest::Url::parse(url).unwrap();
    let pairs: Vec<(String, String)> = u
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == name {
                value.to_owned()
            } else {
                v.into_owned()
            };
            (k.into_owned(), v)
        })
        .collect();
    u.query_pairs_mut().clear().extend_pairs(pairs);
    u.to_string()
}

#[tokio::test]
async fn sign_in_provisions_the_user_once_and_maps_the_role() {
    let idp = MockIdp::start().await;
    for backend in BACKENDS {
        let s = orchestrator(&idp, backend, Mode::Oidc, &[]).await;
        let admin_key = s.api_key("admin");

        let (client, jar) = browser();
        let callback = authorize(&s, &client, "").await;
        assert!(!callback.contains("code_verifier"));
        let before = session_cookie(&s, &jar).expect("start sets a session cookie");
        let res = client.get(&callback).send().await.unwrap();
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{backend:?}");
        assert_eq!(location(&res), NEXT);
        let after = session_cookie(&s, &jar).expect("signed in");
        assert_ne!(before, after, "the session id changes at sign-in");

        let first: Value = me(&s, &client).await.json().await.unwrap();
        assert_eq!(first["kind"], "user");
        assert_eq!(first["name"], "ada");
        assert_eq!(first["role"], "admin", "from the mcpo_role claim");

        let listed = users(&s, &admin_key).await;
        let ada: Vec<&Value> = listed.iter().filter(|u| u["provider"] == "oidc").collect();
        assert_eq!(ada.len(), 1, "{listed:?}");
        assert_eq!(ada[0]["username"], "ada");
        assert_eq!(ada[0]["email"], "ada@example.com");
        assert_eq!(ada[0]["display_name"], "Ada Lovelace");
        assert_eq!(ada[0]["role"], "admin");

        // A second sign-in (another browser) is the same user, not a new one.
        let (other, _) = browser();
        let (res, _) = sign_in(&s, &other, "").await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER);
        let second: Value = me(&s, &other).await.json().await.unwrap();
        assert_eq!(second["id"], first["id"]);
        assert_eq!(users(&s, &admin_key).await.len(), listed.len());

        let events = s
            .get_with(&admin_key, "/api/v1/audit-events?action=user.create")
            .await
            .json::<Value>()
            .await
            .unwrap();
        let provisioned = events["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|e| e["target_id"] == first["id"])
            .count();
        assert_eq!(provisioned, 1, "{events}");
    }
}

#[tokio::test]
async fn a_forged_state_is_refused_and_spends_the_flow() {
    let idp = MockIdp::start().await;
    let s = orchestrator(&idp, Backend::Sqlite, Mode::Oidc, &[]).await;
    let (client, jar) = browser();
    let callback = authorize(&s, &client, "").await;
    let cookie = session_cookie(&s, &jar).unwrap();

    let forged = replace_param(&callback, "state", "forged-by-someone-else");
    let res = client.get(&forged).send().await.unwrap();
    let detail = assert_problem(res, "oidc-state").await;
    assert!(detail.contains("state"), "{detail}");
    assert_eq!(me(&s, &client).await.status(), StatusCode::UNAUTHORIZED);

    // The flow is gone from the store too: the genuine callback with the old cookie fails.
    let res = s
        .client
        .get(&callback)
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_problem(res, "oidc-state").await;
}

#[tokio::test]
async fn a_replayed_callback_is_refused() {
    let idp = MockIdp::start().await;
    let s = orchestrator(&idp, Backend::Sqlite, Mode::Oidc, &[]).await;
    let (client, jar) = browser();
    let callback = authorize(&s, &client, "").await;
    let before = session_cookie(&s, &jar).unwrap();
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);

    // Same browser, same code and state.
    let res = client.get(&callback).send().await.unwrap();
    assert_problem(res, "oidc-state").await;
    // The pre-sign-in session, replayed with its cookie.
    let res = s
        .client
        .get(&callback)
        .header("cookie", &before)
        .send()
        .await
        .unwrap();
    assert_problem(res, "oidc-state").await;
    // Another browser (login CSRF: someone else's callback URL).
    let res = s.client.get(&callback).send().await.unwrap();
    assert_problem(res, "oidc-state").await;
    // The first sign-in itself still stands.
    assert_eq!(me(&s, &client).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn callbacks_without_a_flow_or_parameters_are_refused() {
    let idp = MockIdp::start().await;
    let s = orchestrator(&idp, Backend::Sqlite, Mode::Oidc, &[]).await;
    let (client, _) = browser();
    let res = client
        .get(s.url("/auth/oidc/callback?code=abc&state=def"))
        .send()
        .await
        .unwrap();
    assert_problem(res, "oidc-state").await;

    for query in ["", "?state=def", "?code=abc", "?code=&state="] {
        let res = client
            .get(s.url(&format!("/auth/oidc/callback{query}")))
            .send()
            .await
            .unwrap();
        assert_problem(res, "oidc-callback").await;
    }

    // A started flow with a code that the provider never issued.
    let callback = authorize(&s, &client, "").await;
    let res = client
        .get(replace_param(&callback, "code", "made-up-code"))
        .send()
        .await
        .unwrap();
    assert_problem(res, "oidc-code").await;
    assert_eq!(me(&s, &client).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_wrong_nonce_is_refused_and_nothing_is_written() {
    let idp = MockIdp::start().await;
    let s = orchestrator(&idp, Backend::Sqlite, Mode::Oidc, &[]).await;
    let admin_key = s.api_key("admin");
    let (client, _) = browser();
    let (res, _) = sign_in(&s, &client, "mock_nonce=not-the-nonce-we-sent").await;
    let detail = assert_problem(res, "oidc-nonce").await;
    assert!(detail.contains("nonce"), "{detail}");
    assert_eq!(me(&s, &client).await.status(), StatusCode::UNAUTHORIZED);
    assert!(
        users(&s, &admin_key)
            .await
            .iter()
            .all(|u| u["provider"] == "local"),
        "no user was provisioned"
    );
}

#[tokio::test]
async fn identities_outside_the_allow_list_or_without_a_role_are_denied() {
    let idp = MockIdp::start().await;
    let s = orchestrator(&idp, Backend::Sqlite, Mode::Oidc, &[]).await;
    let admin_key = s.api_key("admin");

    // eve@evil.test: not in allowed_domains (example.com), even with an admin role claim.
    // grace@example.com: allowed, but no role claim and no default role.
    for profile in ["eve", "grace"] {
        let (client, _) = browser();
        let (res, _) = sign_in(&s, &client, &format!("mock_profile={profile}")).await;
        assert_eq!(res.status(), StatusCode::SEE_OTHER, "{profile}");
        assert_eq!(
            location(&res),
            "/login?error=denied&next=%2Fsettings%2Fapi-keys",
            "{profile}"
        );
        assert_eq!(me(&s, &client).await.status(), StatusCode::UNAUTHORIZED);
    }
    let listed = users(&s, &admin_key).await;
    assert!(
        listed.iter().all(|u| u["provider"] == "local"),
        "no user row for denied identities: {listed:?}"
    );
    let failures: Value = s
        .get_with(
            &admin_key,
            "/api/v1/audit-events?action=session.login&outcome=failure",
        )
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(failures["items"].as_array().unwrap().len(), 2, "{failures}");

    // A provider that answers with an error sends the browser back to the sign-in page.
    let (client, _) = browser();
    let (res, _) = sign_in(&s, &client, "mock_error=access_denied").await;
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        location(&res),
        "/login?error=sso&next=%2Fsettings%2Fapi-keys"
    );
}

#[tokio::test]
async fn plain_oauth2_mode_signs_in_through_the_userinfo_endpoint() {
    let idp = MockIdp::start().await;
    let s = orchestrator(
        &idp,
        Backend::Sqlite,
        Mode::Plain,
        &[("MCPO_AUTH_OIDC_DEFAULT_ROLE", "viewer")],
    )
    .await;
    let admin_key = s.api_key("admin");

    let (client, _) = browser();
    let callback = authorize(&s, &client, "").await;
    let res = client.get(&callback).send().await.unwrap();
    assert_eq!(res.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&res), NEXT);
    let ada: Value = me(&s, &client).await.json().await.unwrap();
    assert_eq!(
        (ada["name"].as_str(), ada["role"].as_str()),
        (Some("ada"), Some("admin"))
    );

    // No role claim: the default role.
    let (client, _) = browser();
    let (res, _) = sign_in(&s, &client, "mock_profile=grace").await;
    assert_eq!(location(&res), NEXT);
    let grace: Value = me(&s, &client).await.json().await.unwrap();
    assert_eq!(
        (grace["name"].as_str(), grace["role"].as_str()),
        (Some("grace"), Some("viewer"))
    );

    // The allow-list holds here too.
    let (client, _) = browser();
    let (res, _) = sign_in(&s, &client, "mock_profile=eve").await;
    assert!(location(&res).starts_with("/login?error=denied"));

    let oidc_users: Vec<String> = users(&s, &admin_key)
        .await
        .into_iter()
        .filter(|u| u["provider"] == "oidc")
        .map(|u| u["username"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(oidc_users, ["ada", "grace"]);
}

#[tokio::test]
async fn without_a_provider_the_routes_answer_404() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    for path in ["/auth/oidc/start", "/auth/oidc/callback?code=a&state=b"] {
        let res = s.get(path).await;
        assert_eq!(res.status(), StatusCode::NOT_FOUND, "{path}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
    }
}
