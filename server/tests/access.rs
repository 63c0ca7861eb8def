//! Identity and access against the real binary: the access matrix over every route the
//! router serves, sign-in and sessions, CSRF, API keys, and the audit log.

use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use server::http::access::{inventory, Access};
use testkit::{Backend, TestServer, ADMIN_PASSWORD, BACKENDS};
use types::Role;

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

/// Creates a local user directly in the server's database through the service layer.
async fn add_user(s: &TestServer, name: &str, role: Role, password: &str) {
    let url = domain::DatabaseUrl::parse(&s.db.url).unwrap();
    let db = domain::Database::connect(&url, &domain::DbOptions::default())
        .await
        .unwrap();
    let instance = domain::Instance::register(&db).await.unwrap();
    let ctx = domain::Ctx::new(db, instance);
    let admin = domain::access::Caller::new(domain::access::Principal {
        kind: domain::access::PrincipalKind::User,
        id: "test".into(),
        name: "test".into(),
        role: Role::Admin,
        user_id: None,
    });
    domain::access::users::create_local(
        &ctx,
        &admin,
        name,
        role,
        types::NewPassword::parse(password).unwrap(),
    )
    .await
    .unwrap();
    ctx.db.close().await;
}

async fn create_key(s: &TestServer, with: &str, body: Value) -> reqwest::Response {
    s.client
        .post(s.url("/api/v1/api-keys"))
        .bearer_auth(with)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[derive(Debug)]
enum Who {
    Anonymous,
    Key(Role, String),
    Revoked(String),
    Expired(String),
}

#[tokio::test]
async fn access_matrix_over_every_route_the_router_serves() {
    // Hundreds of requests from one address in a few seconds: the per-IP limit is not what
    // this test is about (hardening.rs tests it).
    let s = TestServer::spawn_with(
        BIN,
        testkit::TestDb::new(Backend::Sqlite).await,
        &[("MCPO_RATE_LIMIT_PER_IP_BURST", "100000")],
    )
    .await;
    let admin = s.api_key("admin");
    let mut who = vec![Who::Anonymous];
    for role in Role::ALL {
        who.push(Who::Key(role, s.api_key(role.as_str())));
    }
    let revoked: Value = create_key(&s, &admin, json!({"name": "to revoke", "role": "admin"}))
        .await
        .json()
        .await
        .unwrap();
    let id = revoked["info"]["id"].as_str().unwrap();
    assert_eq!(
        s.client
            .delete(s.url(&format!("/api/v1/api-keys/{id}")))
            .bearer_auth(&admin)
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    who.push(Who::Revoked(revoked["key"].as_str().unwrap().to_owned()));
    let soon = (chrono::Utc::now() + chrono::Duration::milliseconds(1500)).to_rfc3339();
    let expired: Value = create_key(
        &s,
        &admin,
        json!({"name": "short", "role": "admin", "expires_at": soon}),
    )
    .await
    .json()
    .await
    .unwrap();
    who.push(Who::Expired(expired["key"].as_str().unwrap().to_owned()));
    tokio::time::sleep(Duration::from_millis(1600)).await;

    let routes = inventory();
    assert!(routes.len() > 20, "inventory looks incomplete: {routes:?}");
    let mut checked = 0;
    for route in &routes {
        let path = route
            .path
            .replace("{id}", "0190f0a0-0000-7000-8000-000000000000");
        for w in &who {
            let method = Method::from_bytes(route.method.as_str().as_bytes()).unwrap();
            let mut req = s.client.request(method.clone(), s.url(&path));
            if method != Method::GET && method != Method::DELETE {
                req = req.header("content-type", "application/json").body("{}");
            }
            let token = match w {
                Who::Anonymous => None,
                Who::Key(_, k) | Who::Revoked(k) | Who::Expired(k) => Some(k),
            };
            if let Some(k) = token {
                req = req.bearer_auth(k);
            }
            let status = req.send().await.unwrap().status().as_u16();
            let denied = status == 401 || status == 403 || (route.page && status == 303);
            let expected_ok = match (w, route.access) {
                (Who::Revoked(_) | Who::Expired(_), _) => {
                    assert_eq!(
                        status, 401,
                        "{} {} as {w:?}: a bad key is refused everywhere",
                        route.method, route.path
                    );
                    checked += 1;
                    continue;
                }
                (_, Access::Public) => true,
                (Who::Anonymous, Access::Role(_)) => {
                    let want = if route.page { 303 } else { 401 };
                    assert_eq!(status, want, "{} {} anonymous", route.method, route.path);
                    checked += 1;
                    continue;
                }
                (Who::Key(have, _), Access::Role(need)) => *have >= need,
            };
            if expected_ok {
                assert!(
                    !denied,
                    "{} {} as {w:?} was refused ({status})",
                    route.method, route.path
                );
            } else {
                assert_eq!(
                    status, 403,
                    "{} {} as {w:?} should be forbidden",
                    route.method, route.path
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, routes.len() * who.len());
}

#[tokio::test]
async fn sign_in_sessions_and_sign_out() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let browser = testkit::client_builder()
            .cookie_store(true)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login = |user: &'static str, pass: &'static str, next: &'static str| {
            browser
                .post(s.url("/auth/login"))
                .header("origin", &s.base_url)
                .form(&[("username", user), ("password", pass), ("next", next)])
                .send()
        };
        let res = login("admin", ADMIN_PASSWORD, "/settings/api-keys")
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        assert_eq!(res.headers()["location"], "/settings/api-keys");
        let cookie = res.headers()["set-cookie"].to_str().unwrap().to_owned();
        assert!(cookie.starts_with("mcpo_session="), "{cookie}");
        assert!(
            cookie.contains("HttpOnly")
                && cookie.contains("SameSite=Lax")
                && cookie.contains("Path=/"),
            "{cookie}"
        );
        assert!(
            !cookie.contains("Secure"),
            "plain HTTP on loopback: {cookie}"
        );
        let me: Value = browser
            .get(s.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["name"], "admin");
        assert_eq!(me["role"], "admin");

        // Signing in again rotates the session id; the old one is gone from the store.
        let old_id = cookie.split(';').next().unwrap().to_owned();
        let res = login("admin", ADMIN_PASSWORD, "/").await.unwrap();
        let new_id = res.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .split(';')
            .next()
            .unwrap()
            .to_owned();
        assert_ne!(old_id, new_id, "session id must change at sign-in");
        let stale = s
            .client
            .get(s.url("/api/v1/me"))
            .header("cookie", &old_id)
            .send()
            .await
            .unwrap();
        assert_eq!(
            stale.status(),
            401,
            "{backend:?}: the pre-login session id must not work"
        );

        // An open redirect is refused: `next` must be a local path.
        let res = login("admin", ADMIN_PASSWORD, "//evil.example/x")
            .await
            .unwrap();
        assert_eq!(res.headers()["location"], "/");

        // Sign-out ends the session on the server: the cookie value is dead even if replayed.
        let res = browser
            .post(s.url("/auth/logout"))
            .header("origin", &s.base_url)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 303);
        let replay = s
            .client
            .get(s.url("/api/v1/me"))
            .header("cookie", &new_id)
            .send()
            .await
            .unwrap();
        assert_eq!(replay.status(), 401, "{backend:?}");

        // A viewer's session: pages open, admin pages forbidden (as a page, not JSON).
        add_user(&s, "vera", Role::Viewer, "viewer-password-123").await;
        let viewer = s.session("vera", "viewer-password-123").await;
        assert_eq!(viewer.get(s.url("/")).send().await.unwrap().status(), 200);
        let res = viewer.get(s.url("/settings/users")).send().await.unwrap();
        assert_eq!(res.status(), 403);
        assert!(res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(res.text().await.unwrap().contains("needs the admin role"));
        let p: Value = viewer
            .get(s.url("/api/v1/users"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p["status"], 403);
    }
}

#[tokio::test]
async fn failed_sign_ins_slow_down_then_lock_and_the_cli_recovers() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let attempt = |pass: String| {
        let c = s.client.clone();
        let url = s.url("/auth/login");
        let origin = s.base_url.clone();
        async move {
            let t = Instant::now();
            let res = c
                .post(url)
                .header("origin", origin)
                .form(&[("username", "admin"), ("password", pass.as_str())])
                .send()
                .await
                .unwrap();
            (
                res.headers()["location"].to_str().unwrap().to_owned(),
                t.elapsed(),
            )
        }
    };
    let (loc, took) = attempt("wrong password 1".into()).await;
    assert!(loc.starts_with("/login?error=invalid"), "{loc}");
    assert!(
        took >= Duration::from_millis(240),
        "first failure waits: {took:?}"
    );
    let (_, took2) = attempt("wrong password 2".into()).await;
    assert!(
        took2 >= Duration::from_millis(490),
        "the delay grows: {took2:?}"
    );
    for i in 3..=5 {
        attempt(format!("wrong password {i}")).await;
    }
    let (loc, _) = attempt(ADMIN_PASSWORD.into()).await;
    assert!(
        loc.starts_with("/login?error=locked"),
        "the right password is refused while locked: {loc}"
    );
    // Unknown users get the same answer as wrong passwords.
    let res = s
        .client
        .post(s.url("/auth/login"))
        .header("origin", &s.base_url)
        .form(&[("username", "nobody"), ("password", "whatever")])
        .send()
        .await
        .unwrap();
    assert!(res.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/login?error=invalid"));

    let out = std::process::Command::new(BIN)
        .args(["users", "reset-password", "admin"])
        .env("DATABASE_URL", &s.db.url)
        .env("MCPO_LOG_FORMAT", "json")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let password = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(password.len() >= 20);
    s.session("admin", &password).await; // panics unless the sign-in succeeds
}

#[tokio::test]
async fn cookie_authenticated_changes_must_come_from_this_site() {
    let s = TestServer::spawn(BIN, Backend::Sqlite).await;
    let browser = s.session("admin", ADMIN_PASSWORD).await;
    for (name, value) in [
        ("origin", "http://evil.example"),
        ("sec-fetch-site", "cross-site"),
    ] {
        let res = browser
            .post(s.url("/auth/logout"))
            .header(name, value)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403, "{name}: {value}");
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let res = browser
            .post(s.url("/ui/fn/revoke_key"))
            .header(name, value)
            .form(&[("id", "x")])
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 403);
    }
    // No Origin and no fetch metadata: not a browser page, so not allowed to use the cookie.
    let res = browser
        .post(s.url("/ui/fn/revoke_key"))
        .form(&[("id", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
    // The session survived all of that.
    assert_eq!(
        browser
            .get(s.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // Sign-in itself is protected against login CSRF.
    let res = s
        .client
        .post(s.url("/auth/login"))
        .header("origin", "http://evil.example")
        .form(&[("username", "admin"), ("password", ADMIN_PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 403);
}

#[tokio::test]
async fn api_keys_lifecycle_validation_and_storage() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let admin = s.api_key("admin");
        // An operator signed in to the dashboard manages their own keys.
        add_user(&s, "otto", Role::Operator, "operator-password-123").await;
        let otto = s.session("otto", "operator-password-123").await;
        let origin = s.base_url.clone();
        let otto_create = |body: Value| {
            otto.post(s.url("/api/v1/api-keys"))
                .header("origin", &origin)
                .json(&body)
                .send()
        };

        let res = otto_create(json!({"name": "  ci deploy ", "role": "viewer"}))
            .await
            .unwrap();
        assert_eq!(res.status(), 201);
        let created: Value = res.json().await.unwrap();
        let key = created["key"].as_str().unwrap().to_owned();
        assert!(
            key.starts_with("mcpo_") && key.len() == 5 + 12 + 1 + 32,
            "{key}"
        );
        assert_eq!(created["info"]["name"], "ci deploy");
        assert!(key.starts_with(created["info"]["prefix"].as_str().unwrap()));

        let me: Value = s.get_with(&key, "/api/v1/me").await.json().await.unwrap();
        assert_eq!(
            (me["kind"].as_str(), me["role"].as_str()),
            (Some("api_key"), Some("viewer"))
        );

        // Listing never shows a secret; a non-admin sees only their own keys.
        let listed = s
            .get_with(&admin, "/api/v1/api-keys")
            .await
            .text()
            .await
            .unwrap();
        assert!(
            listed.contains("ci deploy") && !listed.contains(&key[18..]),
            "{listed}"
        );
        let mine: Value = otto
            .get(s.url("/api/v1/api-keys"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(mine.as_array().unwrap().len(), 1, "{mine}");

        // A role above the creator's is refused; bad input is a 4xx naming the field.
        let p: Value = otto_create(json!({"name": "x", "role": "admin"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(p["status"], 403);
        for (body, field) in [
            (json!({"name": "", "role": "viewer"}), Some("name")),
            (
                json!({"name": "k".repeat(101), "role": "viewer"}),
                Some("name"),
            ),
            (json!({"name": "x", "role": "root"}), None),
            (json!({"name": "x", "role": "viewer", "extra": 1}), None),
            (
                json!({"name": "x", "role": "viewer", "expires_at": "2001-01-01T00:00:00Z"}),
                Some("expires_at"),
            ),
        ] {
            let res = create_key(&s, &admin, body.clone()).await;
            assert_eq!(res.status(), 422, "{body}");
            let p: Value = res.json().await.unwrap();
            if let Some(f) = field {
                assert_eq!(p["field"], f, "{body}: {p}");
            }
        }
        // The same key with its last character changed (to a different one, always).
        let last = if key.ends_with('X') { 'Y' } else { 'X' };
        let altered = format!("{}{last}", &key[..key.len() - 1]);
        for bad in ["mcpo_short", "not-a-key", altered.as_str()] {
            let res = s.get_with(bad, "/api/v1/me").await;
            assert_eq!(res.status(), 401, "{bad}");
            assert_eq!(res.headers()["www-authenticate"], "Bearer");
        }
        let res = s
            .client
            .get(s.url("/api/v1/me"))
            .header("authorization", "Basic YTpi")
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 401);

        // Someone else's key is "not found" for a non-admin.
        let other: Value = create_key(&s, &admin, json!({"name": "admins", "role": "viewer"}))
            .await
            .json()
            .await
            .unwrap();
        let oid = other["info"]["id"].as_str().unwrap();
        let res = otto
            .delete(s.url(&format!("/api/v1/api-keys/{oid}")))
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 404);

        // Revoke: the next call is refused at once.
        let id = created["info"]["id"].as_str().unwrap();
        let res = otto
            .delete(s.url(&format!("/api/v1/api-keys/{id}")))
            .header("origin", &origin)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        assert_eq!(
            s.get_with(&key, "/api/v1/me").await.status(),
            401,
            "{backend:?}"
        );

        // Only the hash is stored.
        let stored = dump_api_keys(&s).await;
        assert!(
            !stored.contains(&key) && !stored.contains(&key[18..]),
            "{backend:?}: plaintext key at rest"
        );
    }
}

async fn dump_api_keys(s: &TestServer) -> String {
    use sea_orm::{ConnectionTrait, Statement};
    let url = domain::DatabaseUrl::parse(&s.db.url).unwrap();
    let db = domain::Database::connect(&url, &domain::DbOptions::default())
        .await
        .unwrap();
    let rows = db
        .conn
        .query_all(Statement::from_string(
            db.conn.get_database_backend(),
            "SELECT name, prefix, secret_hash FROM api_keys",
        ))
        .await
        .unwrap();
    let mut out = String::new();
    for r in rows {
        for i in 0..3 {
            out.push_str(&r.try_get_by_index::<String>(i).unwrap());
            out.push('|');
        }
    }
    db.close().await;
    out
}

#[tokio::test]
async fn audit_log_records_changes_with_filters_and_cursor_pages() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let admin = s.api_key("admin");
        for i in 0..3 {
            let res = s
                .client
                .post(s.url("/api/v1/api-keys"))
                .bearer_auth(&admin)
                .header("x-request-id", format!("audit-{i}"))
                .json(&json!({"name": format!("k{i}"), "role": "viewer"}))
                .send()
                .await
                .unwrap();
            assert_eq!(res.status(), 201);
        }
        s.session("admin", ADMIN_PASSWORD).await;

        let page: Value = s
            .get_with(
                &admin,
                "/api/v1/audit-events?action=api_key.create&limit=100",
            )
            .await
            .json()
            .await
            .unwrap();
        let items = page["items"].as_array().unwrap();
        // Three through the API, plus the CLI key behind `admin`.
        assert_eq!(items.len(), 4, "{backend:?}: {page}");
        let api_made: Vec<&Value> = items
            .iter()
            .filter(|e| e["actor_kind"] == "api_key")
            .collect();
        assert_eq!(api_made.len(), 3);
        assert_eq!(api_made[0]["request_id"], "audit-2", "newest first");
        assert_eq!(api_made[0]["client_ip"], "127.0.0.1");
        assert_eq!(api_made[0]["outcome"], "success");
        assert_eq!(api_made[0]["detail"]["name"], "k2");
        let logins: Value = s
            .get_with(&admin, "/api/v1/audit-events?action=session.login")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(logins["items"][0]["actor_name"], "admin");

        // Cursor pagination walks everything exactly once.
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let path = match &cursor {
                Some(c) => format!("/api/v1/audit-events?limit=2&cursor={c}"),
                None => "/api/v1/audit-events?limit=2".to_owned(),
            };
            let page: Value = s.get_with(&admin, &path).await.json().await.unwrap();
            for e in page["items"].as_array().unwrap() {
                seen.push(e["id"].as_str().unwrap().to_owned());
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = Some(c.to_owned()),
                None => break,
            }
            assert!(seen.len() < 100, "pagination does not end");
        }
        let all: Value = s
            .get_with(&admin, "/api/v1/audit-events?limit=200")
            .await
            .json()
            .await
            .unwrap();
        let all: Vec<String> = all["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["id"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(seen, all);

        let res = s
            .get_with(&admin, "/api/v1/audit-events?cursor=garbage")
            .await;
        assert_eq!(res.status(), 422);
        let res = s
            .get_with(&admin, "/api/v1/audit-events?since=yesterday")
            .await;
        assert_eq!(res.status(), 422);
        assert_eq!(res.headers()["content-type"], "application/problem+json");
        let p: Value = res.json().await.unwrap();
        assert_eq!(p["field"], "since", "{p}");
        assert_eq!(
            p["type"].as_str().unwrap().rsplit('/').next(),
            Some("invalid-query")
        );
        // A repeated key and a non-number are the same kind of error, never a bare 400.
        for query in ["limit=abc", "limit=5&limit=6"] {
            let res = s
                .get_with(&admin, &format!("/api/v1/audit-events?{query}"))
                .await;
            assert_eq!(res.status(), 422, "{query}");
            let p: Value = res.json().await.unwrap();
            assert!(
                p["detail"].as_str().unwrap().contains("limit"),
                "{query}: {p}"
            );
        }
        let viewer = s.api_key("viewer");
        assert_eq!(
            s.get_with(&viewer, "/api/v1/audit-events").await.status(),
            StatusCode::FORBIDDEN
        );
    }
}

#[tokio::test]
async fn admins_manage_users_and_keys_follow_their_creator() {
    for backend in BACKENDS {
        let s = TestServer::spawn(BIN, backend).await;
        let admin = s.api_key("admin");
        add_user(&s, "olga", Role::Operator, "operator-password-123").await;
        let olga = s.session("olga", "operator-password-123").await;
        let origin = s.base_url.clone();
        let key: Value = olga
            .post(s.url("/api/v1/api-keys"))
            .header("origin", &origin)
            .json(&json!({"name": "olga's", "role": "operator"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let olga_key = key["key"].as_str().unwrap().to_owned();
        let users: Value = s
            .get_with(&admin, "/api/v1/users")
            .await
            .json()
            .await
            .unwrap();
        let id = |name: &str| {
            users
                .as_array()
                .unwrap()
                .iter()
                .find(|u| u["username"] == name)
                .unwrap()["id"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let (olga_id, admin_id) = (id("olga"), id("admin"));
        let patch = |who: &str, body: Value| {
            s.client
                .patch(s.url(&format!("/api/v1/users/{who}")))
                .bearer_auth(&admin)
                .json(&body)
                .send()
        };

        // Demote: the session and the key both act as viewers from now on.
        let res = patch(&olga_id, json!({"role": "viewer"})).await.unwrap();
        assert_eq!(res.status(), 200);
        let me: Value = olga
            .get(s.url("/api/v1/me"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(me["role"], "viewer");
        let me: Value = s
            .get_with(&olga_key, "/api/v1/me")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            me["role"], "viewer",
            "{backend:?}: a key never outranks its creator"
        );

        // Disable: the session and the key stop working at once.
        assert_eq!(
            patch(&olga_id, json!({"disabled": true}))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(
            olga.get(s.url("/api/v1/me")).send().await.unwrap().status(),
            401
        );
        assert_eq!(s.get_with(&olga_key, "/api/v1/me").await.status(), 401);
        let res = s
            .client
            .post(s.url("/auth/login"))
            .header("origin", &origin)
            .form(&[("username", "olga"), ("password", "operator-password-123")])
            .send()
            .await
            .unwrap();
        assert!(
            res.headers()["location"]
                .to_str()
                .unwrap()
                .starts_with("/login?error="),
            "a disabled user cannot sign in"
        );
        // Enable again: the key works again, as a viewer.
        assert_eq!(
            patch(&olga_id, json!({"disabled": false}))
                .await
                .unwrap()
                .status(),
            200
        );
        assert_eq!(s.get_with(&olga_key, "/api/v1/me").await.status(), 200);

        // Nobody locks the admins out.
        let p: Value = patch(&admin_id, json!({"role": "viewer"}))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            (p["status"].as_u64(), p["type"].as_str()),
            (Some(409), Some("/problems/conflict")),
            "{p}"
        );
        let me_session = s.session("admin", ADMIN_PASSWORD).await;
        let res = me_session
            .patch(s.url(&format!("/api/v1/users/{admin_id}")))
            .header("origin", &origin)
            .json(&json!({"disabled": true}))
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 409);

        // Bad input and unknown users.
        assert_eq!(
            patch(&olga_id, json!({"role": "root"}))
                .await
                .unwrap()
                .status(),
            422
        );
        assert_eq!(
            patch(&olga_id, json!({"rank": 1})).await.unwrap().status(),
            422
        );
        assert_eq!(
            patch(
                "0190f0a0-0000-7000-8000-000000000000",
                json!({"role": "viewer"})
            )
            .await
            .unwrap()
            .status(),
            404
        );
        let audit: Value = s
            .get_with(&admin, "/api/v1/audit-events?action=user.update")
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(
            audit["items"].as_array().unwrap().len(),
            3,
            "{backend:?}: {audit}"
        );
        assert_eq!(audit["items"][2]["detail"]["role"]["to"], "viewer");
    }
}
