//! Health, self-healing and observability end to end with real processes: the orchestrator
//! binary, the loopback test registry, our rmcp test server in a FROM scratch image on the
//! real Docker engine (a private, second engine for the outage test).

use std::time::Duration;

use serde_json::{json, Value};
use testkit::{
    registry::{self, RegistryServer},
    Backend, TestDb, TestServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

async fn test_image(docker: &bollard::Docker, what: &str) -> String {
    let image = format!(
        "mcpo-test/mcp-test-server:health-{what}-{}",
        std::process::id()
    );
    testkit::docker::build_mcp_test_server_image(docker, &image)
        .await
        .expect("build the test-server image");
    image
}

struct Env {
    s: TestServer,
    key: String,
    _reg: RegistryServer,
}

impl Env {
    async fn start(entries: Vec<Value>, env: &[(&str, &str)]) -> Self {
        let reg = RegistryServer::start(entries).await;
        let s = TestServer::spawn_with(BIN, TestDb::new(Backend::Sqlite).await, env).await;
        let key = s.api_key("admin");
        s.add_synced_registry(&key, "test", &reg.url).await;
        Self { s, key, _reg: reg }
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        self.s
            .call_json(&self.key, method, path, body, status)
            .await
    }

    async fn deployment(&self, id: &str) -> Value {
        self.json("GET", &format!("/api/v1/deployments/{id}"), None, 200)
            .await
    }

    /// Deploys `server` through a pipeline run; the deployment once the run succeeded.
    async fn deploy(&self, server: &str, health: Value) -> Value {
        let run = self
            .json(
                "POST",
                "/api/v1/pipeline-runs",
                Some(json!({"server": server, "runtime": "docker", "health": health})),
                202,
            )
            .await;
        let id = run["id"].as_str().unwrap().to_owned();
        let mut r = Value::Null;
        for _ in 0..300 {
            r = self
                .json("GET", &format!("/api/v1/pipeline-runs/{id}"), None, 200)
                .await;
            if r["state"] == "succeeded" {
                let dep = r["deployment_id"].as_str().unwrap().to_owned();
                return self.deployment(&dep).await;
            }
            assert!(
                matches!(r["state"].as_str(), Some("queued" | "running")),
                "{r:#}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the run did not end: {r:#}");
    }

    /// Polls deployment `id` until `done` holds (bounded by `secs`).
    async fn wait(&self, id: &str, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut d = Value::Null;
        for _ in 0..secs * 10 {
            d = self.deployment(id).await;
            if done(&d) {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "deployment never {what}: {d:#}\nserver log:\n{}",
            self.s.logs().join("\n")
        );
    }

    async fn events(&self, id: &str) -> Vec<Value> {
        let mut ev = self
            .json(
                "GET",
                &format!("/api/v1/deployments/{id}/health/events?limit=1000"),
                None,
                200,
            )
            .await
            .as_array()
            .unwrap()
            .clone();
        ev.reverse(); // oldest first
        ev
    }

    async fn metrics(&self) -> String {
        self.s.get("/metrics").await.text().await.unwrap()
    }
}

fn health(d: &Value) -> &Value {
    &d["health"]
}

fn ts(v: &Value) -> chrono::DateTime<chrono::Utc> {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap()
}

/// The value of the series `name{labels}` in a scrape (labels as written, e.g.
/// `deployment="x"`), or `None`.
fn sample(scrape: &str, name: &str, labels: &[&str]) -> Option<f64> {
    scrape
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(&format!("{name}{{")) || l.starts_with(&format!("{name} ")))
        .find(|l| labels.iter().all(|x| l.contains(x)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

async fn kill_container(docker: &bollard::Docker, id: &str) {
    docker
        .kill_container(id, None::<bollard::query_parameters::KillContainerOptions>)
        .await
        .unwrap();
}

#[tokio::test]
async fn a_killed_container_goes_degraded_unhealthy_is_restarted_healthy_then_crash_loop_leaves_it_down(
) {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker, "heal").await;
    let dh = std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)");
    // Global checks are slow (1 min): the deployment's own settings make them fast.
    let e = Env::start(
        vec![registry::oci_entry("io.mcpo.test/heal", &image)],
        &[
            ("DOCKER_HOST", &dh),
            ("MCPO_HEALTH_INTERVAL_MS", "60000"),
            ("MCPO_HEALTH_RESTART_BASE_MS", "300"),
            ("MCPO_HEALTH_CRASH_LOOP_RESTARTS", "2"),
        ],
    )
    .await;

    // Bad per-deployment settings are refused before anything runs.
    let p = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/heal", "health": {"interval_ms": 10}})),
            422,
        )
        .await;
    assert!(
        p["detail"].as_str().unwrap().contains("health.interval_ms"),
        "{p}"
    );

    let d = e
        .deploy(
            "io.mcpo.test/heal",
            json!({"interval_ms": 500, "timeout_ms": 2000, "unhealthy_after": 3}),
        )
        .await;
    let id = d["id"].as_str().unwrap().to_owned();
    let name = d["name"].as_str().unwrap().to_owned();
    assert_eq!(health(&d)["config"]["interval_ms"], 500, "{d:#}");
    assert_eq!(health(&d)["config"]["unhealthy_after"], 3);
    assert_eq!(health(&d)["enabled"], true);
    let d = e
        .wait(&id, 10, "healthy", |d| health(d)["status"] == "healthy")
        .await;
    assert_eq!(health(&d)["reachable"], true);
    assert!(health(&d)["latency_ms"].as_f64().unwrap() > 0.0);
    assert_eq!(health(&d)["breaker"]["state"], "closed");

    // A recheck at once: a new check, answered with its outcome.
    let before = ts(&health(&d)["checked_at"]);
    let h = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/health-check"),
            None,
            200,
        )
        .await;
    assert_eq!(h["status"], "healthy", "{h}");
    assert!(ts(&h["checked_at"]) > before, "{h}");

    // Kill the container: degraded, unhealthy, restarted (a new container), healthy again.
    let first = d["runtime_ref"].as_str().unwrap().to_owned();
    kill_container(&docker, &first).await;
    let d = e
        .wait(&id, 30, "restarted and healthy", |d| {
            health(d)["restarts"] == 1
                && health(d)["status"] == "healthy"
                && d["state"] == "running"
        })
        .await;
    let second = d["runtime_ref"].as_str().unwrap().to_owned();
    assert_ne!(second, first, "a new container runs it");
    let ev = e.events(&id).await;
    let find = |kind: &str, from: Option<&str>, to: &str, after: chrono::DateTime<chrono::Utc>| {
        ev.iter()
            .find(|x| {
                x["kind"] == kind
                    && from.is_none_or(|f| x["from"] == f)
                    && x["to"] == to
                    && ts(&x["at"]) >= after
            })
            .unwrap_or_else(|| panic!("no {kind} {from:?} -> {to} after {after} in {ev:#?}"))
            .clone()
    };
    let t0 = ts(&find(
        "health",
        Some("unknown"),
        "healthy",
        before - chrono::Duration::hours(1),
    )["at"]);
    let degraded = find("health", Some("healthy"), "degraded", t0);
    let t_degraded = ts(&degraded["at"]);
    assert!(
        degraded["reason"].as_str().unwrap().contains("exited")
            || degraded["reason"].as_str().unwrap().contains("ping"),
        "{degraded}"
    );
    let t_unhealthy = ts(&find("health", Some("degraded"), "unhealthy", t_degraded)["at"]);
    let t_restart = ts(&find("restart", None, "restarting", t_unhealthy)["at"]);
    let t_restarted = ts(&find("restart", None, "restarted", t_restart)["at"]);
    let t_healthy = ts(&find("health", Some("unhealthy"), "healthy", t_restarted)["at"]);
    // Three failed checks 0.5 s apart: unhealthy about a second after degraded.
    let gap = (t_unhealthy - t_degraded).num_milliseconds();
    assert!(
        (700..10_000).contains(&gap),
        "degraded -> unhealthy took {gap} ms"
    );
    assert!(t_healthy >= t_restarted);
    assert_eq!(ts(&health(&d)["last_restart_at"]), t_restart);
    let old = testkit::docker::containers_where(&docker, "id", &first).await;
    assert!(old.is_empty(), "the killed container was removed: {old:?}");

    // History: checks per minute, the failed ones counted, uptime below 100 %.
    let hist = e
        .json(
            "GET",
            &format!("/api/v1/deployments/{id}/health/history?hours=1"),
            None,
            200,
        )
        .await;
    let samples = hist["samples"].as_array().unwrap();
    let checks: u64 = samples.iter().map(|s| s["checks"].as_u64().unwrap()).sum();
    let failures: u64 = samples
        .iter()
        .map(|s| s["failures"].as_u64().unwrap())
        .sum();
    assert!(checks >= 6 && failures >= 3, "{hist:#}");
    let uptime = hist["uptime_percent"].as_f64().unwrap();
    assert!(uptime > 0.0 && uptime < 100.0, "{hist:#}");
    e.json(
        "GET",
        &format!("/api/v1/deployments/{id}/health/history?hours=0"),
        None,
        422,
    )
    .await;

    // The fleet view and the metrics say the same.
    let fleet = e.json("GET", "/api/v1/health/fleet", None, 200).await;
    assert_eq!(fleet["by_health"]["healthy"], 1, "{fleet:#}");
    assert_eq!(fleet["deployments"][0]["restarts"], 1);
    assert!(fleet["incidents"].as_array().unwrap().len() >= 5);
    let m = e.metrics().await;
    let dep = format!("deployment=\"{name}\"");
    assert_eq!(
        sample(&m, "mcpo_deployment_restarts_total", &[&dep]),
        Some(1.0),
        "{m}"
    );
    assert!(sample(&m, "mcpo_health_check_failures_total", &[&dep]).unwrap() >= 3.0);
    assert_eq!(
        sample(&m, "mcpo_deployments_by_health", &["health=\"healthy\""]),
        Some(1.0)
    );
    assert!(
        sample(
            &m,
            "mcpo_health_checks_total",
            &["runtime=\"docker\"", "outcome=\"ok\""]
        )
        .unwrap()
            >= 3.0
    );

    // Twice more: the second restart goes; the third failure in the window leaves it down.
    kill_container(&docker, &second).await;
    let d = e
        .wait(&id, 30, "restarted twice", |d| {
            health(d)["restarts"] == 2 && health(d)["status"] == "healthy"
        })
        .await;
    kill_container(&docker, d["runtime_ref"].as_str().unwrap()).await;
    let d = e
        .wait(&id, 30, "left down", |d| health(d)["crash_looped"] == true)
        .await;
    assert_eq!(d["state"], "failed", "{d:#}");
    assert!(
        d["state_reason"].as_str().unwrap().contains("crash loop"),
        "{d:#}"
    );
    assert_eq!(health(&d)["enabled"], false);
    assert_eq!(health(&d)["restarts"], 2);
    let ev = e.events(&id).await;
    assert!(
        ev.iter()
            .any(|x| x["kind"] == "crash_loop" && x["to"] == "left_down"),
        "{ev:#?}"
    );
    // It stays down: no restart follows.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = e.deployment(&id).await;
    assert_eq!(still["state"], "failed");
    assert_eq!(health(&still)["restarts"], 2);
    assert!(
        testkit::docker::containers_where(&docker, "label", &format!("io.mcpo.deployment={id}"))
            .await
            .is_empty(),
        "nothing runs it"
    );
    let m = e.metrics().await;
    assert_eq!(
        sample(&m, "mcpo_deployment_crash_loops_total", &[&dep]),
        Some(1.0)
    );
    e.json(
        "POST",
        &format!("/api/v1/deployments/{id}/health-check"),
        None,
        409,
    )
    .await;

    // An operator starts it: the count starts again and checks resume.
    let d = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/start"),
            None,
            200,
        )
        .await;
    assert_eq!(d["state"], "running", "{d:#}");
    assert_eq!(health(&d)["crash_looped"], false);
    assert_eq!(health(&d)["restarts"], 0);
    e.wait(&id, 10, "healthy after the start", |d| {
        health(d)["status"] == "healthy"
    })
    .await;
    e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
        .await;
    let m = e.metrics().await;
    assert_eq!(
        sample(&m, "mcpo_deployment_restarts_total", &[&dep]),
        None,
        "a deleted deployment's series go"
    );
}

#[tokio::test]
async fn failing_tool_calls_open_the_breaker_which_half_opens_and_closes_again() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker, "breaker").await;
    let dh = std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)");
    let e = Env::start(
        vec![registry::oci_entry("io.mcpo.test/breaker", &image)],
        &[
            ("DOCKER_HOST", &dh),
            ("MCPO_HEALTH_BREAKER_FAILURES", "3"),
            ("MCPO_HEALTH_BREAKER_OPEN_MS", "1500"),
        ],
    )
    .await;
    let d = e.deploy("io.mcpo.test/breaker", Value::Null).await;
    let id = d["id"].as_str().unwrap().to_owned();
    let name = d["name"].as_str().unwrap().to_owned();
    let call = |tool: &'static str, status: u16| {
        let e = &e;
        let id = id.clone();
        async move {
            let args = if tool == "fail" {
                json!({"message": "boom"})
            } else {
                json!({"text": "hi"})
            };
            e.json(
                "POST",
                &format!("/api/v1/deployments/{id}/tools/{tool}/call"),
                Some(json!({ "arguments": args })),
                status,
            )
            .await
        }
    };
    let breaker = |d: &Value| d["health"]["breaker"]["state"].as_str().unwrap().to_owned();

    // Three failed calls in a row open it; a success in between resets the count.
    call("fail", 200).await;
    call("echo", 200).await;
    for _ in 0..2 {
        assert_eq!(call("fail", 200).await["is_error"], true);
    }
    assert_eq!(breaker(&e.deployment(&id).await), "closed");
    call("fail", 200).await;
    let d = e.deployment(&id).await;
    assert_eq!(breaker(&d), "open", "{d:#}");
    assert_eq!(d["health"]["breaker"]["consecutive_failures"], 3);

    // Open: refused at once with 503 and Retry-After, the server is not called.
    let res =
        e.s.call(
            &e.key,
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": {"text": "hi"}})),
        )
        .await;
    assert_eq!(res.status().as_u16(), 503);
    assert!(res.headers().get("retry-after").is_some());
    let p: Value = res.json().await.unwrap();
    assert!(p["type"].as_str().unwrap().ends_with("circuit-open"), "{p}");

    // After the open time it shows half-open; a failing trial opens it again.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(breaker(&e.deployment(&id).await), "half_open");
    call("fail", 200).await;
    assert_eq!(breaker(&e.deployment(&id).await), "open");
    call("echo", 503).await;

    // Half-open again; a good trial closes it and calls flow.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    assert_eq!(breaker(&e.deployment(&id).await), "half_open");
    assert_eq!(call("echo", 200).await["is_error"], false);
    let d = e.deployment(&id).await;
    assert_eq!(breaker(&d), "closed", "{d:#}");
    assert_eq!(d["health"]["breaker"]["consecutive_failures"], 0);
    call("echo", 200).await;

    // Every change is an event, in order.
    let ev: Vec<(String, String)> = e
        .events(&id)
        .await
        .iter()
        .filter(|x| x["kind"] == "breaker")
        .map(|x| {
            (
                x["from"].as_str().unwrap().to_owned(),
                x["to"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    };
    assert_eq!(
        ev,
        pairs(&[
            ("closed", "open"),
            ("open", "half_open"),
            ("half_open", "open"),
            ("open", "half_open"),
            ("half_open", "closed"),
        ])
    );

    // Metrics: calls by outcome, refused ones, the breaker gauge; and every documented family
    // is exported.
    let m = e.metrics().await;
    let dep = format!("deployment=\"{name}\"");
    assert_eq!(
        sample(
            &m,
            "mcpo_tool_calls_total",
            &[&dep, "tool=\"fail\"", "outcome=\"error\""]
        ),
        Some(5.0),
        "{m}"
    );
    assert_eq!(
        sample(
            &m,
            "mcpo_tool_calls_total",
            &[&dep, "tool=\"echo\"", "outcome=\"rejected\""]
        ),
        Some(2.0)
    );
    assert_eq!(sample(&m, "mcpo_circuit_breaker_state", &[&dep]), Some(0.0));
    assert!(
        sample(
            &m,
            "mcpo_tool_call_duration_seconds_count",
            &[&dep, "tool=\"echo\""]
        )
        .unwrap()
            >= 3.0
    );
    assert!(
        sample(
            &m,
            "mcpo_pipeline_step_duration_seconds_count",
            &["step=\"deploy\"", "outcome=\"succeeded\""]
        )
        .unwrap()
            >= 1.0
    );
    assert_eq!(
        sample(&m, "mcpo_pipeline_runs", &["state=\"succeeded\""]),
        Some(1.0)
    );
    assert_eq!(sample(&m, "mcpo_pipeline_queue_depth", &[]), Some(0.0));
    assert_eq!(
        sample(
            &m,
            "mcpo_registry_syncs_total",
            &["registry=\"test\"", "outcome=\"success\""]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, "mcpo_docker_engine_up", &[]), Some(1.0));
    assert_eq!(sample(&m, "mcpo_database_up", &[]), Some(1.0));
    for (family, kind) in testkit::metrics::METRIC_FAMILIES {
        let line = format!("# TYPE {family} {}", kind.as_str());
        assert!(
            m.contains(&line),
            "{family} is not exported as a {kind:?}:\n{m}"
        );
    }
    e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
        .await;
}

#[tokio::test]
async fn the_docker_engine_goes_away_ready_degrades_everything_serves_and_deployments_come_back() {
    // A private engine of its own: stopping it disturbs no other test.
    let mut engine = testkit::engine::PrivateEngine::start().await;
    let docker = engine.client().await;
    let image = test_image(&docker, "outage").await;
    let host = engine.host();
    let e = Env::start(
        vec![registry::oci_entry("io.mcpo.test/outage", &image)],
        &[
            ("DOCKER_HOST", &host),
            ("MCPO_HEALTH_RESTART_BASE_MS", "200"),
            ("MCPO_HEALTH_CRASH_LOOP_RESTARTS", "2"),
        ],
    )
    .await;
    let d = e
        .deploy(
            "io.mcpo.test/outage",
            json!({"interval_ms": 500, "timeout_ms": 1000, "unhealthy_after": 2}),
        )
        .await;
    let id = d["id"].as_str().unwrap().to_owned();
    e.wait(&id, 10, "healthy", |d| health(d)["status"] == "healthy")
        .await;
    let ready = e.s.get("/health/ready").await;
    assert_eq!(ready.status(), 200);
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "pass", "{ready}");
    let first = e.deployment(&id).await["runtime_ref"]
        .as_str()
        .unwrap()
        .to_owned();

    // The engine goes away.
    engine.stop().await;
    let t_stop = chrono::Utc::now();
    let ready = e.s.get("/health/ready").await;
    assert_eq!(ready.status(), 200, "degraded, not out of service");
    let ready: Value = ready.json().await.unwrap();
    assert_eq!(ready["status"], "warn", "{ready}");
    let docker_check = ready["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "docker")
        .unwrap()
        .clone();
    assert_eq!(docker_check["status"], "warn", "{ready}");
    // The deployment fails its checks; its restarts wait for the engine (no budget spent).
    let d = e
        .wait(&id, 15, "unhealthy", |d| health(d)["status"] == "unhealthy")
        .await;
    assert_eq!(health(&d)["reachable"], false);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let d = e.deployment(&id).await;
    assert_eq!(
        health(&d)["restarts"],
        0,
        "no restart while the engine is away: {d:#}"
    );
    assert_eq!(health(&d)["crash_looped"], false);
    // The API and the dashboard serve on; the admin's detailed view names the engine.
    e.json("GET", "/api/v1/deployments", None, 200).await;
    e.json("GET", "/api/v1/health/fleet", None, 200).await;
    let detailed = e.json("GET", "/health/detailed", None, 200).await;
    assert_eq!(detailed["status"], "warn", "{detailed:#}");
    assert_eq!(detailed["docker"]["status"], "fail", "{detailed:#}");
    assert_eq!(detailed["database"]["status"], "pass");
    assert!(detailed["memory_rss_bytes"].as_u64().unwrap() > 1 << 20);
    assert!(detailed["threads"].as_u64().unwrap() >= 2);
    let browser = e.s.session("admin", testkit::ADMIN_PASSWORD).await;
    for page in ["/", "/deployments", "/fleet-health"] {
        let res = browser.get(e.s.url(page)).send().await.unwrap();
        assert_eq!(res.status(), 200, "{page} serves while the engine is away");
    }
    let m = e.metrics().await;
    assert_eq!(sample(&m, "mcpo_docker_engine_up", &[]), Some(0.0));

    // It returns: ready again, and the deployment comes back by itself in a new container.
    engine.restart().await;
    let d = e
        .wait(&id, 30, "back after the outage", |d| {
            health(d)["status"] == "healthy" && d["state"] == "running"
        })
        .await;
    assert_eq!(health(&d)["restarts"], 1, "{d:#}");
    assert_ne!(d["runtime_ref"].as_str().unwrap(), first);
    assert!(ts(&health(&d)["last_restart_at"]) > t_stop);
    let ready: Value = e.s.get("/health/ready").await.json().await.unwrap();
    assert_eq!(ready["status"], "pass", "{ready}");
    let r = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": {"text": "back"}})),
            200,
        )
        .await;
    assert!(r["result"].to_string().contains("back"), "{r}");
    e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
        .await;
}
