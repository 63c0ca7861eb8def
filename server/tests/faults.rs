//! Fault injection with real parts only: the orchestrator binary, a real SQLite file or a real
//! PostgreSQL database, the loopback test registry, a private Docker engine, a real tmpfs.
//! Each fault must end with no data lost, a clear error (an RFC 9457 problem, never a 500 and
//! never a leaked statement or URL) and recovery once the fault is removed.
//!
//! The faults of issue 8 and where each is tested:
//!
//! - kill -9 during a registry sync:
//!   `registries.rs::a_sync_killed_midway_changes_nothing_and_is_marked_interrupted`;
//! - kill -9 during pipeline runs:
//!   `pipeline_runs.rs::kill_9_in_the_middle_of_runs_loses_none_and_leaves_no_orphan`;
//! - the Docker engine stopped cleanly while deployments run (readiness degrades, they come
//!   back): `health.rs::the_docker_engine_goes_away_ready_degrades_everything_serves_and_deployments_come_back`;
//! - the SQLite database locked by another writer:
//!   [`sqlite_locked_by_another_writer_writes_answer_503_reads_serve_and_everything_recovers`];
//! - the PostgreSQL database gone (connections refused and cut), with a registry sync in
//!   flight: [`postgres_database_gone_answers_503_and_the_server_recovers_by_itself`]; with a
//!   pipeline run in flight:
//!   [`postgres_gone_during_a_pipeline_run_ends_it_without_orphans_and_runs_work_after`];
//! - the Docker engine killed during a pipeline run:
//!   [`docker_engine_killed_mid_run_fails_it_clearly_and_everything_recovers_after_restart`];
//! - the disk of the SQLite file full:
//!   [`sqlite_disk_full_fails_writes_clearly_keeps_data_and_recovers_when_space_returns`].

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use sea_orm::sqlx::{self, ConnectOptions as _, Connection as _};
use serde_json::{json, Value};
use testkit::{
    registry::{self, Failure, RegistryServer},
    Backend, TestDb, TestServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

/// Settings of the tests without Docker: no engine, and registry settings that keep failure
/// tests fast.
const FAST: &[(&str, &str)] = &[
    ("MCPO_DEPLOY_DOCKER", "false"),
    ("MCPO_REGISTRY_RETRY_BASE_MS", "20"),
    ("MCPO_REGISTRY_RETRY_MAX_MS", "500"),
    ("MCPO_REGISTRY_MAX_ATTEMPTS", "2"),
    ("MCPO_REGISTRY_REQUEST_TIMEOUT_MS", "10000"),
    ("MCPO_REGISTRY_MIN_SYNC_GAP_SECS", "0"),
];

/// Text that must never reach a client: statements, driver and engine internals.
const LEAKS: &[&str] = &[
    "SELECT",
    "INSERT",
    "UPDATE ",
    "DELETE FROM",
    "sqlx",
    "sea_orm",
    "DbErr",
    "error returned from database",
    "SQLSTATE",
    "sqlite://",
    "postgres://",
    "(code: ",
];

/// Checks `res` is an RFC 9457 problem with `status`, a detail, and nothing internal in it
/// (`secrets`: more text that must not appear, e.g. the database's path or name). The problem.
async fn problem(res: reqwest::Response, status: u16, secrets: &[&str]) -> Value {
    let got = res.status().as_u16();
    let content_type = res
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let text = res.text().await.unwrap_or_default();
    assert_eq!(got, status, "{text}");
    assert!(
        content_type.starts_with("application/problem+json"),
        "{content_type}: {text}"
    );
    let p: Value = serde_json::from_str(&text).expect("a JSON problem");
    assert_eq!(p["status"], status, "{p}");
    assert!(
        p["detail"].as_str().is_some_and(|d| d.len() > 10),
        "a problem says what is wrong: {p}"
    );
    for leak in LEAKS.iter().chain(secrets) {
        assert!(!text.contains(leak), "the problem leaks {leak:?}: {text}");
    }
    p
}

/// The detail of `p`, lower-cased.
fn detail(p: &Value) -> String {
    p["detail"].as_str().unwrap_or_default().to_lowercase()
}

fn urlencode(s: &str) -> String {
    types::query_value(s).replace('/', "%2F")
}

/// Every catalog entry as (name, version, status), all pages, sorted.
async fn catalog(s: &TestServer, key: &str) -> Vec<(String, String, String)> {
    let mut out = Vec::new();
    let mut cursor = String::new();
    for _ in 0..100 {
        let page = s
            .call_json(
                key,
                "GET",
                &format!("/api/v1/catalog?limit=200&cursor={}", urlencode(&cursor)),
                None,
                200,
            )
            .await;
        for e in page["items"].as_array().expect("catalog items") {
            out.push((
                e["name"].as_str().unwrap().to_owned(),
                e["version"].as_str().unwrap().to_owned(),
                e["status"].as_str().unwrap().to_owned(),
            ));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = c.to_owned(),
            None => {
                out.sort();
                return out;
            }
        }
    }
    panic!("the catalog did not end within 100 pages");
}

/// Names of the API keys the admin sees, sorted.
async fn key_names(s: &TestServer, key: &str) -> Vec<String> {
    let v = s.call_json(key, "GET", "/api/v1/api-keys", None, 200).await;
    let items = v
        .as_array()
        .unwrap_or_else(|| panic!("a list of keys: {v}"));
    let mut names: Vec<String> = items
        .iter()
        .map(|k| k["name"].as_str().unwrap().to_owned())
        .collect();
    names.sort();
    names
}

/// `POST /api/v1/api-keys` for a viewer key named `name`.
async fn create_key(s: &TestServer, key: &str, name: &str) -> reqwest::Response {
    s.call(
        key,
        "POST",
        "/api/v1/api-keys",
        Some(json!({"name": name, "role": "viewer"})),
    )
    .await
}

/// `POST /api/v1/registries` for an `mcp-registry` source.
async fn create_registry(s: &TestServer, key: &str, name: &str, url: &str) -> reqwest::Response {
    s.call(
        key,
        "POST",
        "/api/v1/registries",
        Some(json!({"name": name, "kind": "mcp-registry", "url": url})),
    )
    .await
}

/// What a test records before its fault, to show afterwards that nothing was lost.
struct Before {
    /// The synced registry `first`.
    reg_id: String,
    /// [`catalog`] after its sync.
    catalog: Vec<(String, String, String)>,
    /// [`key_names`], `key_name` among them.
    keys: Vec<String>,
}

/// Syncs `reg` as registry `first` and creates the viewer key `key_name`, then records
/// the catalog (not empty) and the key names.
async fn before(s: &TestServer, key: &str, reg: &RegistryServer, key_name: &str) -> Before {
    let first = s.add_synced_registry(key, "first", &reg.url).await;
    assert_eq!(first["state"], "succeeded");
    assert_eq!(create_key(s, key, key_name).await.status(), 201);
    let catalog = catalog(s, key).await;
    assert!(!catalog.is_empty());
    Before {
        reg_id: first["registry_id"].as_str().unwrap().to_owned(),
        catalog,
        keys: key_names(s, key).await,
    }
}

/// A full sync of `reg_id`, waited for: the sync run.
async fn full_sync(s: &TestServer, key: &str, reg_id: &str) -> Value {
    s.call_json(
        key,
        "POST",
        &format!("/api/v1/registries/{reg_id}/sync?wait=true&mode=full"),
        None,
        200,
    )
    .await
}

/// `after` holds every entry of `before`, and more.
fn assert_grew_keeping(before: &[(String, String, String)], after: &[(String, String, String)]) {
    assert!(after.len() > before.len());
    for e in before {
        assert!(after.contains(e), "{e:?} was lost");
    }
}

/// `/health/ready`: (status code, body).
async fn ready(s: &TestServer) -> (u16, Value) {
    let res = s.get("/health/ready").await;
    let code = res.status().as_u16();
    (code, res.json().await.unwrap_or(Value::Null))
}

/// The check named `name` of a readiness answer (a report, or the 503 problem's `checks`).
fn check<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no {name} check in {report}"))
}

/// Polls `GET path` until `done` holds (bounded by `secs`); the last answer.
async fn poll(
    s: &TestServer,
    key: &str,
    path: &str,
    secs: u64,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    let mut last = Value::Null;
    while Instant::now() < deadline {
        let res = s.call(key, "GET", path, None).await;
        if res.status() == 200 {
            last = res.json().await.unwrap_or(Value::Null);
            if done(&last) {
                return last;
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("server log (tail):\n{}", log_tail(s, 80));
    panic!("{path} never {what} within {secs} s: {last}");
}

/// The last `n` lines the server logged, access lines left out.
fn log_tail(s: &TestServer, n: usize) -> String {
    let logs: Vec<String> = s
        .logs()
        .into_iter()
        .filter(|l| !l.contains("\"target\":\"mcp_orchestrator::access\""))
        .collect();
    logs[logs.len().saturating_sub(n)..].join("\n")
}

/// The file path of an `sqlite://` URL.
fn sqlite_path(url: &str) -> PathBuf {
    PathBuf::from(url.strip_prefix("sqlite://").expect("an sqlite:// URL"))
}

/// A connection of our own to the server's SQLite file (no pragma changed).
async fn sqlite_connection(path: &Path) -> sqlx::SqliteConnection {
    sqlx::sqlite::SqliteConnectOptions::new()
        .filename(path)
        .busy_timeout(Duration::from_secs(10))
        .connect()
        .await
        .expect("open the SQLite file")
}

/// `PRAGMA integrity_check` on the file: `ok`, or what is broken.
async fn integrity(path: &Path) -> String {
    let mut c = sqlite_connection(path).await;
    let rows: Vec<(String,)> = sqlx::query_as("PRAGMA integrity_check")
        .fetch_all(&mut c)
        .await
        .expect("integrity_check");
    c.close().await.ok();
    rows.into_iter().map(|r| r.0).collect::<Vec<_>>().join("; ")
}

/// Whether the server process is still alive.
fn alive(s: &TestServer) -> bool {
    testkit::process_alive(s.pid() as i32)
}

// ---------------------------------------------------------------------------------------
// 1. SQLite locked by another writer
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_locked_by_another_writer_writes_answer_503_reads_serve_and_everything_recovers() {
    let reg = RegistryServer::start(registry::synthetic_entries(28)).await;
    let mut env = FAST.to_vec();
    // The server waits this long on a locked file before giving up (default 5 s).
    env.push(("MCPO_DATABASE_BUSY_TIMEOUT_MS", "500"));
    let s = TestServer::spawn_with(BIN, TestDb::new(Backend::Sqlite).await, &env).await;
    let key = s.api_key("admin");
    let path = sqlite_path(&s.db.url);
    let file = path.display().to_string();
    let Before {
        reg_id,
        catalog: catalog_before,
        keys: keys_before,
    } = before(&s, &key, &reg, "before the lock").await;
    assert!(keys_before.contains(&"before the lock".to_owned()));
    let (code, r) = ready(&s).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("pass")), "{r}");

    // A sync is under way (the registry answers slowly) when another process takes the lock.
    let sync_path = start_slow_full_sync(&s, &key, &reg, &reg_id).await;
    reg.set_entries(registry::synthetic_entries(56));

    let mut lock = sqlite_connection(&path).await;
    sqlx::query("BEGIN EXCLUSIVE")
        .execute(&mut lock)
        .await
        .expect("take the write lock");
    let locked_at = Instant::now();

    // Writes: a clear 503 within the busy timeout (not a hang, not a 500).
    let t = Instant::now();
    let p = problem(create_key(&s, &key, "during the lock").await, 503, &[&file]).await;
    assert!(
        t.elapsed() < Duration::from_secs(10),
        "a write waited {:?}",
        t.elapsed()
    );
    let d = detail(&p);
    assert!(d.contains("database"), "the detail names the database: {p}");
    assert!(
        d.contains("busy") || d.contains("locked") || d.contains("unavailable"),
        "{p}"
    );
    problem(
        create_registry(&s, &key, "during the lock", &reg.url).await,
        503,
        &[&file],
    )
    .await;

    // Reads serve on, unchanged.
    assert_eq!(catalog(&s, &key).await, catalog_before);
    assert_eq!(key_names(&s, &key).await, keys_before);
    assert!(alive(&s));
    // Readiness says the database takes no writes (reads still serve: a warning).
    let (code, r) = ready(&s).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["status"], "warn", "{r}");
    let db = check(&r, "database");
    assert_eq!(db["status"], "warn", "{r}");
    assert!(
        db["reason"].as_str().unwrap_or_default().contains("lock"),
        "{r}"
    );

    // The sync's changes hit the lock too: hold it until the sync had to give up.
    tokio::time::sleep(Duration::from_millis(3000).saturating_sub(locked_at.elapsed())).await;
    sqlx::query("ROLLBACK")
        .execute(&mut lock)
        .await
        .expect("release the lock");
    lock.close().await.ok();

    // The sync ends (failed and saying why, or done once the lock went), never left running.
    let ended = poll(&s, &key, &sync_path, 20, "ended", |v| {
        v["state"] != "running"
    })
    .await;
    eprintln!(
        "the sync under the lock: {} ({})",
        ended["state"], ended["error"]
    );
    match ended["state"].as_str() {
        Some("failed") => {
            let e = ended["error"].as_str().unwrap_or_default().to_lowercase();
            assert!(
                e.contains("database") && (e.contains("busy") || e.contains("lock")),
                "{ended}"
            );
            assert_eq!(
                catalog(&s, &key).await,
                catalog_before,
                "a failed sync applied something"
            );
        }
        Some("succeeded") => {}
        other => panic!("unexpected sync state {other:?}: {ended}"),
    }

    // Everything recovers: the same writes succeed, nothing from before is lost.
    assert_eq!(create_key(&s, &key, "during the lock").await.status(), 201);
    assert_eq!(
        create_registry(&s, &key, "after the lock", &reg.url)
            .await
            .status(),
        201
    );
    let keys_after = key_names(&s, &key).await;
    for k in &keys_before {
        assert!(keys_after.contains(k), "{k} was lost: {keys_after:?}");
    }
    // Exactly once: the refused attempt left nothing behind.
    assert_eq!(
        keys_after
            .iter()
            .filter(|k| *k == "during the lock")
            .count(),
        1,
        "{keys_after:?}"
    );
    let names: Vec<String> = s
        .call_json(&key, "GET", "/api/v1/registries", None, 200)
        .await
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        !names.contains(&"during the lock".to_owned()) && names.len() == 2,
        "{names:?}"
    );
    let again = full_sync(&s, &key, &reg_id).await;
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_grew_keeping(&catalog_before, &catalog(&s, &key).await);
    let (code, r) = ready(&s).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("pass")), "{r}");
    assert_eq!(integrity(&path).await, "ok");
}

// ---------------------------------------------------------------------------------------
// 2. PostgreSQL database gone
// ---------------------------------------------------------------------------------------

/// The admin connection of the test PostgreSQL server.
async fn pg_admin() -> sqlx::PgConnection {
    let url = std::env::var("MCPO_TEST_POSTGRES_URL")
        .expect("MCPO_TEST_POSTGRES_URL is not set: run the tests with `make test`");
    sqlx::PgConnection::connect(&url)
        .await
        .expect("connect to the test PostgreSQL server")
}

/// Refuses new connections to `db` and cuts the open ones (only this test's database: the
/// server is shared). Returns once no backend of `db` is left (bounded).
async fn pg_take_away(admin: &mut sqlx::PgConnection, db: &str) {
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS false"))
        .execute(&mut *admin)
        .await
        .expect("disallow connections");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (left,): (i64,) = sqlx::query_as(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) t",
        )
        .bind(db)
        .fetch_one(&mut *admin)
        .await
        .expect("terminate backends");
        if left == 0 {
            return;
        }
        assert!(Instant::now() < deadline, "backends of {db} keep coming");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn pg_bring_back(admin: &mut sqlx::PgConnection, db: &str) {
    sqlx::query(&format!("ALTER DATABASE {db} ALLOW_CONNECTIONS true"))
        .execute(&mut *admin)
        .await
        .expect("allow connections again");
}

#[tokio::test]
async fn postgres_database_gone_answers_503_and_the_server_recovers_by_itself() {
    let reg = RegistryServer::start(registry::synthetic_entries(28)).await;
    let mut env = FAST.to_vec();
    env.push(("MCPO_DATABASE_ACQUIRE_TIMEOUT_MS", "1000"));
    let s = TestServer::spawn_with(BIN, TestDb::new(Backend::Postgres).await, &env).await;
    let db_name = s.db.url.rsplit('/').next().unwrap().to_owned();
    let key = s.api_key("admin");
    // A key never used yet: its first use must look it up in the database.
    let fresh = s.api_key("viewer");
    let Before {
        reg_id,
        catalog: catalog_before,
        keys: keys_before,
    } = before(&s, &key, &reg, "before the outage").await;

    // A sync is under way (the registry answers slowly) when the database goes away.
    reg.set_entries(registry::synthetic_entries(56));
    let sync_path = start_slow_full_sync(&s, &key, &reg, &reg_id).await;

    let mut admin = pg_admin().await;
    pg_take_away(&mut admin, &db_name).await;
    let gone_at = Instant::now();
    let secrets = [db_name.as_str()];

    // Writes and reads: a clear 503, quickly.
    let t = Instant::now();
    let p = problem(
        create_key(&s, &key, "during the outage").await,
        503,
        &secrets,
    )
    .await;
    assert!(detail(&p).contains("database"), "{p}");
    problem(
        s.call(&key, "GET", "/api/v1/catalog", None).await,
        503,
        &secrets,
    )
    .await;
    // A key the server has not seen yet cannot be checked: 503 too, not a 401 (the key is
    // fine; the database is not).
    let p = problem(
        s.call(&fresh, "GET", "/api/v1/catalog", None).await,
        503,
        &secrets,
    )
    .await;
    assert!(detail(&p).contains("database"), "{p}");
    assert!(
        t.elapsed() < Duration::from_secs(15),
        "answers took {:?}",
        t.elapsed()
    );
    // Out of service, and it says why; the process lives on.
    let (code, r) = ready(&s).await;
    assert_eq!(code, 503, "{r}");
    assert_eq!(check(&r, "database")["status"], "fail", "{r}");
    assert!(
        r["failing"]
            .as_array()
            .is_some_and(|f| f.iter().any(|x| x == "database")),
        "{r}"
    );
    assert_eq!(s.get("/health/live").await.status(), 200);

    // The sync needed the database to apply: it cannot have succeeded.
    tokio::time::sleep(Duration::from_millis(3000).saturating_sub(gone_at.elapsed())).await;
    assert!(alive(&s), "the server died without its database");

    // The database returns: the server recovers by itself (the pool reconnects).
    pg_bring_back(&mut admin, &db_name).await;
    let back = Instant::now();
    loop {
        let (code, r) = ready(&s).await;
        if code == 200 {
            assert_eq!(r["status"], "pass", "{r}");
            break;
        }
        assert!(
            back.elapsed() < Duration::from_secs(20),
            "not ready 20 s after the database returned: {r}\n{}",
            log_tail(&s, 40)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!(
        "ready again {} ms after the database returned",
        back.elapsed().as_millis()
    );

    // The interrupted sync ended, saying why; it applied nothing.
    let ended = poll(&s, &key, &sync_path, 30, "ended", |v| {
        v["state"] != "running"
    })
    .await;
    assert_eq!(ended["state"], "failed", "{ended}");
    let e = ended["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(e.contains("database"), "{ended}");
    assert_eq!(
        catalog(&s, &key).await,
        catalog_before,
        "nothing lost, nothing half-applied"
    );
    let keys_after = key_names(&s, &key).await;
    assert_eq!(keys_after, keys_before, "nothing lost");
    s.call_json(&fresh, "GET", "/api/v1/catalog", None, 200)
        .await;

    // Writes work again, and the source syncs again (its lease was released).
    assert_eq!(create_key(&s, &key, "after the outage").await.status(), 201);
    let again = full_sync(&s, &key, &reg_id).await;
    assert_eq!(again["state"], "succeeded", "{again}");
    assert_grew_keeping(&catalog_before, &catalog(&s, &key).await);
    drop(s);
    // This test's database is not needed any more (the cluster is shared).
    sqlx::query(&format!("DROP DATABASE {db_name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}

// ---------------------------------------------------------------------------------------
// 3. The Docker engine killed during a pipeline run
// ---------------------------------------------------------------------------------------

/// Polls run `id` until it ended (bounded by `secs`).
async fn run_end(s: &TestServer, key: &str, id: &str, secs: u64) -> Value {
    poll(
        s,
        key,
        &format!("/api/v1/pipeline-runs/{id}"),
        secs,
        "ended",
        |r| {
            matches!(
                r["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        },
    )
    .await
}

async fn start_run(s: &TestServer, key: &str, body: Value) -> String {
    let r = s
        .call_json(key, "POST", "/api/v1/pipeline-runs", Some(body), 202)
        .await;
    r["id"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn docker_engine_killed_mid_run_fails_it_clearly_and_everything_recovers_after_restart() {
    // A private engine: killing it disturbs no other test.
    let mut engine = testkit::engine::PrivateEngine::start().await;
    let docker = engine.client().await;
    let image = format!("mcpo-test/mcp-test-server:faults-{}", std::process::id());
    testkit::docker::build_mcp_test_server_image(&docker, &image)
        .await
        .expect("build the test-server image");
    let host = engine.host();
    let reg = RegistryServer::start(vec![registry::oci_entry("io.mcpo.test/faults", &image)]).await;
    let s = TestServer::spawn_with(
        BIN,
        TestDb::new(Backend::Sqlite).await,
        &[
            ("DOCKER_HOST", &host),
            ("MCPO_PIPELINE_STEP_ATTEMPTS", "2"),
            ("MCPO_PIPELINE_RETRY_BASE_MS", "100"),
            ("MCPO_PIPELINE_RETRY_MAX_MS", "500"),
            ("MCPO_PIPELINE_POLL_MS", "200"),
            ("MCPO_HEALTH_RESTART_BASE_MS", "200"),
        ],
    )
    .await;
    let key = s.api_key("admin");
    s.add_synced_registry(&key, "test", &reg.url).await;
    let health = json!({"interval_ms": 500, "timeout_ms": 1000, "unhealthy_after": 2});

    // One deployment runs.
    let r1 = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults", "runtime": "docker", "health": health}),
    )
    .await;
    let r1 = run_end(&s, &key, &r1, 60).await;
    assert_eq!(r1["state"], "succeeded", "{r1:#}");
    let d1 = r1["deployment_id"].as_str().unwrap().to_owned();
    let d1_path = format!("/api/v1/deployments/{d1}");
    poll(&s, &key, &d1_path, 15, "healthy", |d| {
        d["health"]["status"] == "healthy"
    })
    .await;

    // A second run hangs in the MCP handshake when the engine dies.
    let r2 = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults", "runtime": "docker",
               "arguments": ["--startup-delay-ms", "60000"]}),
    )
    .await;
    poll(
        &s,
        &key,
        &format!("/api/v1/pipeline-runs/{r2}"),
        30,
        "in initialize",
        |r| {
            r["steps"]
                .as_array()
                .and_then(|st| st.iter().find(|x| x["name"] == "initialize"))
                .is_some_and(|x| x["status"] == "running")
        },
    )
    .await;
    engine.kill();
    let killed = Instant::now();

    // The run ends, failed, and says the engine is the cause; no hang.
    let r2 = run_end(&s, &key, &r2, 60).await;
    eprintln!(
        "the run ended {} ms after the kill",
        killed.elapsed().as_millis()
    );
    assert_eq!(r2["state"], "failed", "{r2:#}");
    let reason = r2["state_reason"]
        .as_str()
        .unwrap_or_default()
        .to_lowercase();
    eprintln!("the run's reason: {reason}");
    assert!(
        reason.contains("docker engine"),
        "the reason names the Docker engine: {r2:#}"
    );

    // The API serves on; readiness warns about the engine only.
    let (code, r) = ready(&s).await;
    assert_eq!(code, 200, "{r}");
    assert_eq!(r["status"], "warn", "{r}");
    assert_eq!(check(&r, "docker")["status"], "warn", "{r}");
    assert_eq!(check(&r, "database")["status"], "pass", "{r}");
    s.call_json(&key, "GET", "/api/v1/deployments", None, 200)
        .await;
    s.call_json(&key, "GET", &d1_path, None, 200).await;
    // A run started while the engine is away fails soon, naming the engine.
    let r3 = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults", "runtime": "docker"}),
    )
    .await;
    let t = Instant::now();
    let r3v = run_end(&s, &key, &r3, 60).await;
    assert_eq!(r3v["state"], "failed", "{r3v:#}");
    eprintln!(
        "the reason of a run while the engine is away: {}",
        r3v["state_reason"]
    );
    assert!(
        r3v["state_reason"]
            .as_str()
            .unwrap_or_default()
            .to_lowercase()
            .contains("docker engine"),
        "{r3v:#}"
    );
    assert!(t.elapsed() < Duration::from_secs(45), "{:?}", t.elapsed());
    // The deployment of before is not running any more, and says so.
    poll(&s, &key, &d1_path, 15, "unhealthy", |d| {
        d["health"]["status"] == "unhealthy"
    })
    .await;

    // The engine returns: the deployment of before comes back, the failed run retried reaches
    // ready, and so does a new one.
    engine.restart().await;
    let d = poll(&s, &key, &d1_path, 45, "back and healthy", |d| {
        d["state"] == "running" && d["health"]["status"] == "healthy"
    })
    .await;
    assert_eq!(d["id"], d1.as_str());
    let (code, r) = ready(&s).await;
    assert_eq!((code, r["status"].as_str()), (200, Some("pass")), "{r}");
    s.call_json(
        &key,
        "POST",
        &format!("/api/v1/pipeline-runs/{r3}/retry"),
        None,
        202,
    )
    .await;
    let r3v = run_end(&s, &key, &r3, 60).await;
    assert_eq!(r3v["state"], "succeeded", "{r3v:#}");
    let r4 = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults", "runtime": "docker"}),
    )
    .await;
    let r4 = run_end(&s, &key, &r4, 60).await;
    assert_eq!(r4["state"], "succeeded", "{r4:#}");
    let dep = r4["deployment_id"].as_str().unwrap();
    let call = s
        .call_json(
            &key,
            "POST",
            &format!("/api/v1/deployments/{dep}/tools/echo/call"),
            Some(json!({"arguments": {"text": "after the crash"}})),
            200,
        )
        .await;
    assert!(
        call["result"].to_string().contains("after the crash"),
        "{call}"
    );
    // Nothing lost: every run is listed.
    let all = s
        .call_json(&key, "GET", "/api/v1/pipeline-runs?limit=200", None, 200)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4, "{all:#}");
    drop(s);
    drop(engine);
}

#[tokio::test]
async fn postgres_gone_during_a_pipeline_run_ends_it_without_orphans_and_runs_work_after() {
    let docker = testkit::docker::connect().await;
    let image = format!("mcpo-test/mcp-test-server:faults-pg-{}", std::process::id());
    testkit::docker::build_mcp_test_server_image(&docker, &image)
        .await
        .expect("build the test-server image");
    let dh = std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)");
    let reg =
        RegistryServer::start(vec![registry::oci_entry("io.mcpo.test/faults-pg", &image)]).await;
    let s = TestServer::spawn_with(
        BIN,
        TestDb::new(Backend::Postgres).await,
        &[
            ("DOCKER_HOST", &dh),
            ("MCPO_DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
            ("MCPO_PIPELINE_POLL_MS", "200"),
            ("MCPO_PIPELINE_LEASE_SECS", "3"),
        ],
    )
    .await;
    let db_name = s.db.url.rsplit('/').next().unwrap().to_owned();
    let key = s.api_key("admin");
    s.add_synced_registry(&key, "test", &reg.url).await;

    // The run is in the MCP handshake (the server starts slowly) when the database goes.
    let run = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults-pg", "runtime": "docker",
               "arguments": ["--startup-delay-ms", "2500"]}),
    )
    .await;
    let run_path = format!("/api/v1/pipeline-runs/{run}");
    let r = poll(&s, &key, &run_path, 30, "in initialize", |r| {
        r["steps"]
            .as_array()
            .and_then(|st| st.iter().find(|x| x["name"] == "initialize"))
            .is_some_and(|x| x["status"] == "running")
    })
    .await;
    let dep = r["deployment_id"]
        .as_str()
        .or(r["deployment_name"].as_str())
        .map(str::to_owned);
    let mut admin = pg_admin().await;
    pg_take_away(&mut admin, &db_name).await;
    problem(s.call(&key, "GET", &run_path, None).await, 503, &[&db_name]).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(alive(&s));
    pg_bring_back(&mut admin, &db_name).await;

    // The run ends, bounded: it succeeded, or it failed saying why and left nothing running.
    let ended = run_end(&s, &key, &run, 60).await;
    eprintln!(
        "the run through the outage: {} ({})",
        ended["state"], ended["state_reason"]
    );
    let deployments = s
        .call_json(&key, "GET", "/api/v1/deployments", None, 200)
        .await;
    let deployments = deployments.as_array().unwrap();
    match ended["state"].as_str() {
        Some("succeeded") => {
            assert_eq!(deployments.len(), 1, "{deployments:?}");
            assert_eq!(deployments[0]["state"], "running");
        }
        Some("failed") => {
            let reason = ended["state_reason"].as_str().unwrap_or_default();
            assert!(
                reason.contains("database") && reason.contains("retry"),
                "the reason says what happened and what to do: {ended}"
            );
            assert!(
                deployments.is_empty(),
                "a failed run leaves no deployment: {deployments:?}"
            );
            if let Some(dep) = &dep {
                let left = testkit::docker::containers_where(
                    &docker,
                    "label",
                    &format!("io.mcpo.deployment={dep}"),
                )
                .await;
                assert!(left.is_empty(), "orphan containers: {left:?}");
            }
        }
        other => panic!("unexpected run state {other:?}: {ended}"),
    }

    // A new run works.
    let again = start_run(
        &s,
        &key,
        json!({"server": "io.mcpo.test/faults-pg", "runtime": "docker"}),
    )
    .await;
    let again = run_end(&s, &key, &again, 60).await;
    assert_eq!(again["state"], "succeeded", "{again}");
    let all = s
        .call_json(&key, "GET", "/api/v1/pipeline-runs?limit=200", None, 200)
        .await;
    assert_eq!(
        all["items"].as_array().unwrap().len(),
        2,
        "nothing lost: {all}"
    );
    for d in s
        .call_json(&key, "GET", "/api/v1/deployments", None, 200)
        .await
        .as_array()
        .unwrap()
    {
        let id = d["id"].as_str().unwrap();
        s.call_json(
            &key,
            "DELETE",
            &format!("/api/v1/deployments/{id}"),
            None,
            204,
        )
        .await;
    }
    let _ = docker
        .remove_image(
            &image,
            None::<bollard::query_parameters::RemoveImageOptions>,
            None,
        )
        .await;
    drop(s);
    sqlx::query(&format!("DROP DATABASE {db_name} WITH (FORCE)"))
        .execute(&mut admin)
        .await
        .expect("drop the test database");
}

// ---------------------------------------------------------------------------------------
// 4. Disk full for the SQLite file
// ---------------------------------------------------------------------------------------

/// A small tmpfs mounted on a fresh temp directory; unmounted (lazily) on drop.
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (e.g. `24m`). `None` only when `MCPO_TEST_SKIP_MOUNT=1` and
    /// mounting is not permitted.
    ///
    /// # Panics
    /// When mounting fails (unless skipping is asked for explicitly).
    fn mount(size: &str) -> Option<Self> {
        let dir =
            std::env::temp_dir().join(format!("mcpo-faults-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).expect("create the mount point");
        let out = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(&dir)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Self { dir }),
            other => {
                let _ = std::fs::remove_dir(&dir);
                let why = match other {
                    Ok(o) => String::from_utf8_lossy(&o.stderr).trim().to_owned(),
                    Err(e) => e.to_string(),
                };
                if std::env::var("MCPO_TEST_SKIP_MOUNT").as_deref() == Ok("1") {
                    eprintln!(
                        "\n!!!!!!!! SKIPPED: the disk-full test cannot mount a tmpfs ({why}) and \
                         MCPO_TEST_SKIP_MOUNT=1 allows that. THE DISK-FULL FAULT IS NOT TESTED. !!!!!!!!\n"
                    );
                    None
                } else {
                    panic!(
                        "the disk-full test needs to mount a small tmpfs (run as root, or with \
                         CAP_SYS_ADMIN): mount failed: {why}. Set MCPO_TEST_SKIP_MOUNT=1 to skip \
                         it explicitly."
                    );
                }
            }
        }
    }

    fn path(&self) -> &Path {
        &self.dir
    }

    /// Free bytes on the file system.
    fn free(&self) -> u64 {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(self.path())
            .output()
            .expect("df");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .expect("df's answer")
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.dir)
            .status();
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Writes `path` until the file system is full (ENOSPC); the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).expect("create the filler");
    let mut written = 0u64;
    for chunk in [1 << 20, 4096, 512] {
        let buf = vec![0xA5u8; chunk];
        loop {
            match f.write(&buf) {
                Ok(0) => break,
                Ok(n) => written += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::StorageFull => break,
                Err(e) => panic!("writing the filler: {e}"),
            }
        }
    }
    let _ = f.sync_all();
    written
}

#[tokio::test]
async fn sqlite_disk_full_fails_writes_clearly_keeps_data_and_recovers_when_space_returns() {
    let Some(fs) = Tmpfs::mount("32m") else {
        return;
    };
    let db_path = fs.path().join("mcpo.db");
    let url = format!("sqlite://{}", db_path.display());
    let reg = RegistryServer::start(registry::synthetic_entries(28)).await;
    let s = TestServer::spawn_with(BIN, TestDb::existing(&url, Backend::Sqlite), FAST).await;
    let key = s.api_key("admin");
    let file = db_path.display().to_string();
    let Before {
        reg_id,
        catalog: catalog_before,
        keys: keys_before,
    } = before(&s, &key, &reg, "before the disk filled").await;

    // Everything committed so far goes into the main file and the WAL is emptied: from here on
    // each write needs new space.
    {
        let mut c = sqlite_connection(&db_path).await;
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
            .execute(&mut c)
            .await
            .expect("checkpoint");
        c.close().await.ok();
    }
    // The disk fills up.
    let filler = fs.path().join("filler");
    let filled = fill(&filler);
    assert!(filled > 1 << 20, "the filler took {filled} bytes");
    assert!(fs.free() < 64 * 1024, "{} bytes still free", fs.free());

    // Writes: a clear problem (507 or 503) naming the full disk, quickly; the server lives.
    for _ in 0..2 {
        let t = Instant::now();
        let res = create_key(&s, &key, "while the disk is full").await;
        let status = res.status().as_u16();
        assert!(matches!(status, 503 | 507), "{status}");
        let p = problem(res, status, &[&file]).await;
        eprintln!("a write on the full disk: {status} {}", p["detail"]);
        let d = detail(&p);
        assert!(
            d.contains("disk") || d.contains("space") || d.contains("storage"),
            "the detail says the disk is full: {p}"
        );
        assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
    }
    let res = create_registry(&s, &key, "while the disk is full", &reg.url).await;
    let status = res.status().as_u16();
    assert!(matches!(status, 503 | 507), "{status}");
    problem(res, status, &[&file]).await;
    // Reads serve on.
    assert_eq!(catalog(&s, &key).await, catalog_before);
    assert_eq!(key_names(&s, &key).await, keys_before);
    assert!(alive(&s));

    // A little room: a sync starts, but its changes (many more entries) do not fit.
    {
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&filler)
            .unwrap();
        f.set_len(filled - 512 * 1024).unwrap();
    }
    reg.set_entries(registry::synthetic_entries(1498));
    let sync = full_sync(&s, &key, &reg_id).await;
    assert_eq!(sync["state"], "failed", "{sync:#}");
    eprintln!("the sync on the full disk: {}", sync["error"]);
    let e = sync["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(
        e.contains("disk") || e.contains("space"),
        "the sync says the disk is full: {sync:#}"
    );
    assert_eq!(
        catalog(&s, &key).await,
        catalog_before,
        "a failed sync applied something"
    );
    assert_eq!(integrity(&db_path).await, "ok", "the file is intact");
    assert!(alive(&s));

    // Space returns: writes work, a new sync completes, nothing from before is lost.
    std::fs::remove_file(&filler).unwrap();
    assert_eq!(
        create_key(&s, &key, "after the disk was freed")
            .await
            .status(),
        201
    );
    let again = full_sync(&s, &key, &reg_id).await;
    assert_eq!(again["state"], "succeeded", "{again:#}");
    let catalog_after = catalog(&s, &key).await;
    assert!(catalog_after.len() > catalog_before.len() * 10);
    let keys_after = key_names(&s, &key).await;
    for k in &keys_before {
        assert!(keys_after.contains(k), "{k} was lost");
    }
    let (code, r) = ready(&s).await;
    if r["status"] != "pass" {
        eprintln!("{}", log_tail(&s, 40));
    }
    assert_eq!((code, r["status"].as_str()), (200, Some("pass")), "{r}");
    drop(s);
    assert_eq!(integrity(&db_path).await, "ok", "the file is intact");
}

/// Starts a full sync of `reg_id` whose first registry answer takes 1.5 s (so a fault can
/// land while it runs); the sync's API path.
async fn start_slow_full_sync(
    s: &TestServer,
    key: &str,
    reg: &RegistryServer,
    reg_id: &str,
) -> String {
    reg.fail(Failure::Delay {
        millis: 1500,
        times: Some(1),
    });
    let running = s
        .call_json(
            key,
            "POST",
            &format!("/api/v1/registries/{reg_id}/sync?mode=full"),
            None,
            202,
        )
        .await;
    format!(
        "/api/v1/registries/{reg_id}/syncs/{}",
        running["id"].as_str().unwrap()
    )
}
