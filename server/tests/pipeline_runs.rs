//! Pipeline runs end to end with real processes: the orchestrator binary, the loopback test
//! registry, our rmcp test server in a FROM scratch image on the real Docker engine, SQLite and
//! PostgreSQL. Covers the API (idempotency, validation, filters, cursor, event streams),
//! retries and rollback, cancel, kill -9 in the middle of runs, and two instances sharing one
//! queue on PostgreSQL.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use futures_util::StreamExt as _;
use serde_json::{json, Value};
use testkit::{
    registry::{self, RegistryServer},
    Backend, TestDb, TestServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

fn oci_entry(name: &str, image: &str) -> Value {
    let mut e = registry::item(name, "1.0.0", "our rmcp test server");
    e["server"]["packages"] = json!([{
        "registryType": "oci",
        "identifier": image,
        "transport": {"type": "stdio"},
        "environmentVariables": [{"name": "MCP_TEST_GREETING", "default": "hello"}]
    }]);
    e
}

async fn test_image(docker: &bollard::Docker) -> String {
    let image = format!("mcpo-test/mcp-test-server:runs-{}", std::process::id());
    testkit::docker::build_mcp_test_server_image(docker, &image)
        .await
        .expect("build the test-server image");
    image
}

fn docker_host() -> String {
    std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)")
}

struct Env {
    s: TestServer,
    key: String,
    reg: RegistryServer,
}

impl Env {
    async fn start(db: TestDb, entries: Vec<Value>, env: &[(&str, &str)]) -> Self {
        let reg = RegistryServer::start(entries).await;
        let s = TestServer::spawn_with(BIN, db, env).await;
        let key = s.api_key("admin");
        s.add_synced_registry(&key, "test", &reg.url).await;
        Self { s, key, reg }
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        self.s
            .call_json(&self.key, method, path, body, status)
            .await
    }

    /// Queues `runs` in one batch; their ids, in order.
    async fn batch(&self, runs: Vec<Value>) -> Vec<String> {
        let b = self
            .json(
                "POST",
                "/api/v1/pipeline-runs/batch",
                Some(json!({ "runs": runs })),
                202,
            )
            .await;
        b["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["id"].as_str().unwrap().to_owned())
            .collect()
    }

    async fn run(&self, id: &str) -> Value {
        self.json("GET", &format!("/api/v1/pipeline-runs/{id}"), None, 200)
            .await
    }

    /// Polls run `id` until `done` holds (bounded: 60 s).
    async fn wait_run(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let mut r = Value::Null;
        for _ in 0..300 {
            r = self.run(id).await;
            if done(&r) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!(
            "run never {what}: {r:#}\nserver log:\n{}",
            self.s.logs().join("\n")
        );
    }

    async fn wait_final(&self, id: &str) -> Value {
        self.wait_run(id, "ended", |r| {
            matches!(
                r["state"].as_str(),
                Some("succeeded" | "failed" | "cancelled")
            )
        })
        .await
    }
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name} in {run:#}"))
}

fn kill9(pid: u32) {
    std::process::Command::new("kill")
        .args(["-s", "KILL", &pid.to_string()])
        .status()
        .unwrap();
}

/// Containers of the installation (the database) that deployment `dep` belongs to: other
/// tests share the engine.
async fn installation_containers(docker: &bollard::Docker, dep: &str) -> Vec<String> {
    let ours =
        testkit::docker::containers_where(docker, "label", &format!("io.mcpo.deployment={dep}"))
            .await;
    let c = docker
        .inspect_container(
            &ours[0],
            None::<bollard::query_parameters::InspectContainerOptions>,
        )
        .await
        .unwrap();
    let inst = c.config.unwrap().labels.unwrap()["io.mcpo.instance"].clone();
    testkit::docker::containers_where(docker, "label", &format!("io.mcpo.instance={inst}")).await
}

/// Reads SSE events from `res` until the stream ends, `max` events came or `stop` holds for
/// one (bounded by a 25 s timeout): each event's name and data.
async fn sse_events(
    res: reqwest::Response,
    max: usize,
    stop: impl Fn(&Value) -> bool,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    let mut buf = String::new();
    let mut body = res.bytes_stream();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(25);
    while out.len() < max {
        let Ok(Some(Ok(chunk))) = tokio::time::timeout_at(deadline, body.next()).await else {
            break;
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let block: String = buf.drain(..end + 2).collect();
            let mut name = String::new();
            let mut data = String::new();
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    name = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !name.is_empty() {
                let data = serde_json::from_str(&data).unwrap_or(Value::Null);
                let done = stop(&data);
                out.push((name, data));
                if done {
                    return out;
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn a_run_takes_an_entry_to_ready_through_every_step() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker).await;
    let dh = docker_host();
    let e = Env::start(
        TestDb::new(Backend::Sqlite).await,
        vec![oci_entry("io.mcpo.test/stdio", &image)],
        &[("DOCKER_HOST", &dh)],
    )
    .await;

    // Bad input is refused before anything is queued.
    let p = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/none"})),
            404,
        )
        .await;
    assert_eq!(p["status"], 404);
    let p = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/stdio", "env": [{"name": "LD_PRELOAD", "value": "x"}]})),
            422,
        )
        .await;
    assert!(p["detail"].as_str().unwrap().contains("LD_PRELOAD"), "{p}");
    let p = e
        .json(
            "POST",
            "/api/v1/pipeline-runs/batch",
            Some(json!({"runs": [{"server": "io.mcpo.test/stdio"}, {"server": "io.mcpo.test/stdio", "runtime": "warp"}]})),
            422,
        )
        .await;
    assert_eq!(p["status"], 422, "{p}");
    let list = e.json("GET", "/api/v1/pipeline-runs", None, 200).await;
    assert_eq!(
        list["items"].as_array().unwrap().len(),
        0,
        "nothing was queued: {list}"
    );

    // Idempotency-Key: the same key and body give the same run; another body is a 422.
    let body = json!({"server": "io.mcpo.test/stdio", "env": [{"name": "MCP_TEST_GREETING", "value": "hi from a run"}]});
    let send = |body: Value, key: &'static str| {
        e.s.client
            .post(e.s.url("/api/v1/pipeline-runs"))
            .bearer_auth(&e.key)
            .header("Idempotency-Key", key)
            .json(&body)
            .send()
    };
    let first = send(body.clone(), "deploy-1").await.unwrap();
    assert_eq!(first.status(), 202);
    assert!(first.headers()["location"]
        .to_str()
        .unwrap()
        .starts_with("/api/v1/pipeline-runs/"));
    let first: Value = first.json().await.unwrap();
    let id = first["id"].as_str().unwrap().to_owned();
    assert_eq!(first["state"], "queued");
    assert_eq!(first["steps"].as_array().unwrap().len(), 7);
    let again = send(body.clone(), "deploy-1").await.unwrap();
    assert_eq!(again.status(), 200);
    assert_eq!(again.headers()["idempotent-replayed"], "true");
    assert_eq!(again.json::<Value>().await.unwrap()["id"], id.as_str());
    let other = send(json!({"server": "io.mcpo.test/stdio"}), "deploy-1")
        .await
        .unwrap();
    assert_eq!(other.status(), 422);
    assert!(other.text().await.unwrap().contains("Idempotency-Key"));

    // It goes through every step once, in order, and leaves a running deployment.
    let r = e.wait_final(&id).await;
    assert_eq!(r["state"], "succeeded", "{r:#}");
    let mut last_end = String::new();
    for name in [
        "resolve",
        "prepare",
        "deploy",
        "initialize",
        "discover",
        "verify",
        "ready",
    ] {
        let s = step(&r, name);
        assert_eq!(s["status"], "succeeded", "{name}: {s}");
        assert_eq!(s["attempts"], 1, "{name}: {s}");
        let (start, end) = (
            s["started_at"].as_str().unwrap(),
            s["finished_at"].as_str().unwrap(),
        );
        assert!(
            start <= end && last_end.as_str() <= start,
            "{name} out of order: {r:#}"
        );
        last_end = end.to_owned();
        assert!(
            !s["logs"].as_array().unwrap().is_empty(),
            "{name} logged nothing"
        );
        assert!(s["error"].is_null());
    }
    let discovered = step(&r, "discover")["logs"][0]["text"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(discovered.contains("tools"), "{discovered}");
    // Secret values never show; plain ones do.
    assert_eq!(r["request"]["env"][0]["value"], "hi from a run");
    let dep = r["deployment_id"].as_str().unwrap();
    let d = e
        .json("GET", &format!("/api/v1/deployments/{dep}"), None, 200)
        .await;
    assert_eq!(d["state"], "running", "{d}");
    let called = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{dep}/tools/env/call"),
            Some(json!({"arguments": {"name": "MCP_TEST_GREETING"}})),
            200,
        )
        .await;
    assert!(called.to_string().contains("hi from a run"), "{called}");

    // The run's event stream: the run as it is, then it ends (the run has ended).
    let res =
        e.s.client
            .get(e.s.url(&format!("/api/v1/pipeline-runs/{id}/events")))
            .bearer_auth(&e.key)
            .send()
            .await
            .unwrap();
    assert_eq!(res.status(), 200);
    assert!(res.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = sse_events(res, 10, |_| false).await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].0, "run");
    assert_eq!(events[0].1["state"], "succeeded");

    // A second run, followed live on the all-runs stream from its creation to its end.
    let all =
        e.s.client
            .get(e.s.url("/api/v1/pipeline-runs/events"))
            .bearer_auth(&e.key)
            .send()
            .await
            .unwrap();
    let second = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/stdio"})),
            202,
        )
        .await;
    let sid = second["id"].as_str().unwrap().to_owned();
    let seen = {
        let sid = sid.clone();
        tokio::spawn(sse_events(all, 100, move |d| {
            d["id"] == sid.as_str() && d["state"] == "succeeded"
        }))
    };
    let r2 = e.wait_final(&sid).await;
    assert_eq!(r2["state"], "succeeded", "{r2:#}");
    let seen = seen.await.unwrap();
    let states: Vec<&str> = seen
        .iter()
        .filter(|(_, d)| d["id"] == sid.as_str())
        .map(|(_, d)| d["state"].as_str().unwrap())
        .collect();
    assert!(
        states.contains(&"running") && states.last() == Some(&"succeeded"),
        "{states:?}"
    );

    // Filters and cursor.
    let by_state = e
        .json(
            "GET",
            "/api/v1/pipeline-runs?state=succeeded&server=io.mcpo.test%2Fstdio",
            None,
            200,
        )
        .await;
    assert_eq!(by_state["items"].as_array().unwrap().len(), 2);
    assert!(
        by_state["items"][0]["steps"][0]["logs"]
            .as_array()
            .unwrap()
            .is_empty(),
        "lists carry no logs"
    );
    let page1 = e
        .json("GET", "/api/v1/pipeline-runs?limit=1", None, 200)
        .await;
    assert_eq!(page1["items"][0]["id"], sid.as_str(), "newest first");
    let cursor = page1["next_cursor"].as_str().unwrap();
    let page2 = e
        .json(
            "GET",
            &format!("/api/v1/pipeline-runs?limit=1&cursor={cursor}"),
            None,
            200,
        )
        .await;
    assert_eq!(page2["items"][0]["id"], id.as_str());
    assert!(page2["next_cursor"].is_null());
    let none = e
        .json("GET", "/api/v1/pipeline-runs?created_by=nobody", None, 200)
        .await;
    assert!(none["items"].as_array().unwrap().is_empty());
    let future = e
        .json(
            "GET",
            "/api/v1/pipeline-runs?since=2999-01-01T00:00:00Z",
            None,
            200,
        )
        .await;
    assert!(future["items"].as_array().unwrap().is_empty());
    for bad in ["state=done", "since=yesterday", "limit=0", "cursor=abc"] {
        let p = e
            .json("GET", &format!("/api/v1/pipeline-runs?{bad}"), None, 422)
            .await;
        assert_eq!(p["status"], 422, "{bad}");
    }
    e.json("GET", "/api/v1/pipeline-runs/not-a-run", None, 404)
        .await;

    // Ended runs cannot be cancelled or retried; a re-run starts a new one.
    e.json(
        "POST",
        &format!("/api/v1/pipeline-runs/{id}/cancel"),
        None,
        409,
    )
    .await;
    e.json(
        "POST",
        &format!("/api/v1/pipeline-runs/{id}/retry"),
        None,
        409,
    )
    .await;
    let rerun = e
        .json(
            "POST",
            &format!("/api/v1/pipeline-runs/{id}/rerun"),
            None,
            202,
        )
        .await;
    assert_eq!(rerun["rerun_of"], id.as_str());
    let r3 = e.wait_final(rerun["id"].as_str().unwrap()).await;
    assert_eq!(r3["state"], "succeeded", "{r3:#}");
    assert_ne!(r3["deployment_id"], r["deployment_id"]);

    // A viewer reads but does not start.
    let viewer = e.s.api_key("viewer");
    e.s.call_json(&viewer, "GET", "/api/v1/pipeline-runs", None, 200)
        .await;
    e.s.call_json(
        &viewer,
        "POST",
        "/api/v1/pipeline-runs",
        Some(json!({"server": "io.mcpo.test/stdio"})),
        403,
    )
    .await;
    e.s.call_json(
        &viewer,
        "POST",
        &format!("/api/v1/pipeline-runs/{sid}/rerun"),
        None,
        403,
    )
    .await;

    for run in [&r, &r2, &r3] {
        let dep = run["deployment_id"].as_str().unwrap();
        e.json("DELETE", &format!("/api/v1/deployments/{dep}"), None, 204)
            .await;
    }
}

#[tokio::test]
async fn failures_retry_with_backoff_then_roll_back_and_cancel_rolls_back() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker).await;
    let dh = docker_host();
    let e = Env::start(
        TestDb::new(Backend::Sqlite).await,
        vec![
            oci_entry("io.mcpo.test/stdio", &image),
            oci_entry("io.mcpo.test/missing", "mcpo-test/no-such-image:1"),
        ],
        &[
            ("DOCKER_HOST", &dh),
            ("MCPO_PIPELINE_RETRY_BASE_MS", "100"),
            ("MCPO_PIPELINE_STEP_ATTEMPTS", "3"),
        ],
    )
    .await;

    // prepare fails (the image is not on the host): three attempts with backoff, then the run
    // fails, visible with its error, and nothing is left.
    let r = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/missing"})),
            202,
        )
        .await;
    let id = r["id"].as_str().unwrap().to_owned();
    let r = e.wait_final(&id).await;
    assert_eq!(r["state"], "failed", "{r:#}");
    let prep = step(&r, "prepare");
    assert_eq!(
        (prep["status"].as_str(), prep["attempts"].as_u64()),
        (Some("failed"), Some(3)),
        "{prep}"
    );
    assert!(
        prep["error"].as_str().unwrap().contains("no-such-image"),
        "{prep}"
    );
    let logs: Vec<&str> = prep["logs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["text"].as_str().unwrap())
        .collect();
    assert_eq!(
        logs.iter().filter(|l| l.contains("retrying in")).count(),
        2,
        "{logs:?}"
    );
    assert!(
        r["state_reason"].as_str().unwrap().contains("prepare"),
        "{r}"
    );
    for later in ["deploy", "initialize", "discover", "verify", "ready"] {
        assert_eq!(step(&r, later)["status"], "skipped");
    }
    assert!(r["deployment_id"].is_null());
    // An operator retries it: from the failed step, attempts keep counting.
    let again = e
        .json(
            "POST",
            &format!("/api/v1/pipeline-runs/{id}/retry"),
            None,
            202,
        )
        .await;
    assert_eq!(
        (again["state"].as_str(), again["retries"].as_u64()),
        (Some("queued"), Some(1))
    );
    assert_eq!(
        step(&again, "resolve")["status"],
        "succeeded",
        "resolve is not run again"
    );
    let r = e.wait_final(&id).await;
    assert_eq!(
        (
            r["state"].as_str(),
            step(&r, "prepare")["attempts"].as_u64()
        ),
        (Some("failed"), Some(6))
    );

    // The server exits at once (a bad argument): the handshake fails, the run rolls back the
    // deployment and its container.
    let r = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/stdio", "arguments": ["--bogus"]})),
            202,
        )
        .await;
    let r = e.wait_final(r["id"].as_str().unwrap()).await;
    assert_eq!(r["state"], "failed", "{r:#}");
    assert_eq!(step(&r, "deploy")["status"], "succeeded");
    assert_eq!(step(&r, "initialize")["status"], "failed");
    assert_eq!(
        step(&r, "initialize")["attempts"],
        1,
        "a used-up channel is not retried"
    );
    let text = r.to_string();
    assert!(
        text.contains("rolled back: removed") && text.contains("deployment"),
        "{r:#}"
    );
    assert!(r["deployment_id"].is_null());
    let deps = e.json("GET", "/api/v1/deployments", None, 200).await;
    assert!(deps.as_array().unwrap().is_empty(), "{deps}");

    // Cancel while the server is slow to start: the run stops, rolls back, says who.
    let slow = e
        .json(
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/stdio", "arguments": ["--startup-delay-ms", "60000"]})),
            202,
        )
        .await;
    let sid = slow["id"].as_str().unwrap().to_owned();
    let running = e
        .wait_run(&sid, "in initialize", |r| {
            step(r, "initialize")["status"] == "running"
        })
        .await;
    let dep = running["deployment_id"].as_str().unwrap().to_owned();
    assert_eq!(
        testkit::docker::containers_where(&docker, "label", &format!("io.mcpo.deployment={dep}"))
            .await
            .len(),
        1
    );
    let c = e
        .json(
            "POST",
            &format!("/api/v1/pipeline-runs/{sid}/cancel"),
            None,
            202,
        )
        .await;
    assert!(
        matches!(c["state"].as_str(), Some("cancelling" | "cancelled")),
        "{c}"
    );
    let r = e.wait_final(&sid).await;
    assert_eq!(r["state"], "cancelled", "{r:#}");
    assert!(
        r["state_reason"].as_str().unwrap().contains("cancelled by"),
        "{r}"
    );
    assert_eq!(step(&r, "initialize")["status"], "cancelled");
    assert_eq!(step(&r, "ready")["status"], "skipped");
    assert!(
        r.to_string().contains("rolled back: removed container"),
        "{r:#}"
    );
    assert!(
        testkit::docker::containers_where(&docker, "label", &format!("io.mcpo.deployment={dep}"))
            .await
            .is_empty(),
        "the cancelled run's container is gone"
    );
    e.json("GET", &format!("/api/v1/deployments/{dep}"), None, 404)
        .await;

    // A queued run is cancelled at once.
    let batch = e
        .json(
            "POST",
            "/api/v1/pipeline-runs/batch",
            Some(json!({"runs": (0..6).map(|_| json!({"server": "io.mcpo.test/stdio", "arguments": ["--startup-delay-ms", "60000"]})).collect::<Vec<_>>()})),
            202,
        )
        .await;
    let last = batch["runs"][5]["id"].as_str().unwrap().to_owned();
    // Concurrency 4 (the default): the sixth waits.
    let c = e
        .json(
            "POST",
            &format!("/api/v1/pipeline-runs/{last}/cancel"),
            None,
            202,
        )
        .await;
    assert_eq!(c["state"], "cancelled", "{c}");
    assert!(c["steps"]
        .as_array()
        .unwrap()
        .iter()
        .all(|s| s["status"] == "skipped"));
    for r in batch["runs"].as_array().unwrap().iter().take(5) {
        let id = r["id"].as_str().unwrap();
        let _ =
            e.s.call(
                &e.key,
                "POST",
                &format!("/api/v1/pipeline-runs/{id}/cancel"),
                None,
            )
            .await;
    }
    for r in batch["runs"].as_array().unwrap() {
        let r = e.wait_final(r["id"].as_str().unwrap()).await;
        assert_eq!(r["state"], "cancelled", "{r:#}");
    }
    let deps = e.json("GET", "/api/v1/deployments", None, 200).await;
    assert!(deps.as_array().unwrap().is_empty(), "{deps}");
}

#[tokio::test]
async fn kill_9_in_the_middle_of_runs_loses_none_and_leaves_no_orphan() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker).await;
    let dh = docker_host();
    let env = [
        ("DOCKER_HOST", dh.as_str()),
        ("MCPO_PIPELINE_CONCURRENCY", "2"),
    ];
    let e = Env::start(
        TestDb::new(Backend::Sqlite).await,
        vec![oci_entry("io.mcpo.test/stdio", &image)],
        &env,
    )
    .await;
    // Two slow runs take both workers (they hang in initialize); four more wait in the queue.
    let slow =
        json!({"server": "io.mcpo.test/stdio", "arguments": ["--startup-delay-ms", "60000"]});
    let fast = json!({"server": "io.mcpo.test/stdio"});
    let ids = e
        .batch(vec![
            slow.clone(),
            slow,
            fast.clone(),
            fast.clone(),
            fast.clone(),
            fast,
        ])
        .await;
    let mut slow_deps = Vec::new();
    for id in &ids[..2] {
        let r = e
            .wait_run(id, "in initialize", |r| {
                step(r, "initialize")["status"] == "running"
            })
            .await;
        slow_deps.push(r["deployment_id"].as_str().unwrap().to_owned());
    }
    for id in &ids[2..] {
        assert_eq!(e.run(id).await["state"], "queued");
    }
    let ours = installation_containers(&docker, &slow_deps[0]).await;
    assert_eq!(ours.len(), 2);

    // kill -9, then start again on the same database.
    let url = e.s.db.url.clone();
    kill9(e.s.pid());
    let s2 = TestServer::spawn_with(BIN, TestDb::existing(&url, Backend::Sqlite), &env).await;
    let e2 = Env {
        s: s2,
        key: e.key.clone(),
        reg: RegistryServer::start(vec![]).await,
    };
    let mut ended = Vec::new();
    for id in &ids {
        ended.push(e2.wait_final(id).await);
    }
    // The two that were deploying: failed as interrupted, rolled back, not started again.
    for (r, dep) in ended[..2].iter().zip(&slow_deps) {
        assert_eq!(r["state"], "failed", "{r:#}");
        assert!(
            r["state_reason"]
                .as_str()
                .unwrap()
                .starts_with("interrupted"),
            "{r}"
        );
        assert_eq!(step(r, "deploy")["attempts"], 1, "deploy ran once: {r:#}");
        assert_eq!(step(r, "initialize")["status"], "failed");
        assert!(
            testkit::docker::containers_where(
                &docker,
                "label",
                &format!("io.mcpo.deployment={dep}")
            )
            .await
            .is_empty(),
            "orphan container of {dep}"
        );
        e2.json("GET", &format!("/api/v1/deployments/{dep}"), None, 404)
            .await;
    }
    // The queued ones ran on the new process, each step once.
    for r in &ended[2..] {
        assert_eq!(r["state"], "succeeded", "{r:#}");
        for s in r["steps"].as_array().unwrap() {
            assert_eq!(s["attempts"], 1, "{r:#}");
        }
    }
    let deps = e2.json("GET", "/api/v1/deployments", None, 200).await;
    assert_eq!(deps.as_array().unwrap().len(), 4, "{deps}");
    let live = installation_containers(&docker, deps[0]["id"].as_str().unwrap()).await;
    assert_eq!(
        live.len(),
        4,
        "one container per ready run, no orphan: {live:?}"
    );
    // Nothing was lost: every run is listed.
    let all = e2
        .json("GET", "/api/v1/pipeline-runs?limit=200", None, 200)
        .await;
    assert_eq!(all["items"].as_array().unwrap().len(), 6);
    // A failed-interrupted run can be retried: it deploys afresh (fast this time? no: the
    // same slow arguments) — retry puts it back in the queue from deploy.
    let retried = e2
        .json(
            "POST",
            &format!("/api/v1/pipeline-runs/{}/retry", ids[0]),
            None,
            202,
        )
        .await;
    assert_eq!(step(&retried, "deploy")["status"], "pending");
    assert_eq!(step(&retried, "prepare")["status"], "succeeded");
    e2.json(
        "POST",
        &format!("/api/v1/pipeline-runs/{}/cancel", ids[0]),
        None,
        202,
    )
    .await;
    assert_eq!(e2.wait_final(&ids[0]).await["state"], "cancelled");
    for d in deps.as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        e2.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
            .await;
    }
    drop(e2.reg);
}

#[tokio::test]
async fn two_instances_on_postgresql_run_each_run_exactly_once_and_take_over() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker).await;
    let dh = docker_host();
    let env = [
        ("DOCKER_HOST", dh.as_str()),
        ("MCPO_PIPELINE_CONCURRENCY", "3"),
        ("MCPO_PIPELINE_POLL_MS", "100"),
        ("MCPO_PIPELINE_LEASE_SECS", "3"),
    ];
    let a = Env::start(
        TestDb::new(Backend::Postgres).await,
        vec![oci_entry("io.mcpo.test/stdio", &image)],
        &env,
    )
    .await;
    let url = a.s.db.url.clone();
    let b = TestServer::spawn_with(BIN, TestDb::existing(&url, Backend::Postgres), &env).await;

    let runs: Vec<Value> = (0..20)
        .map(|_| json!({"server": "io.mcpo.test/stdio"}))
        .collect();
    let ids = a.batch(runs).await;
    let mut by_instance: HashMap<String, usize> = HashMap::new();
    let mut deployments = HashSet::new();
    for id in &ids {
        let r = a.wait_final(id).await;
        assert_eq!(r["state"], "succeeded", "{r:#}");
        // Every step once, all by one instance.
        let instances: HashSet<&str> = r["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["attempts"], 1, "{r:#}");
                s["instance"].as_str().unwrap()
            })
            .collect();
        assert_eq!(instances.len(), 1, "one executor per run: {r:#}");
        *by_instance
            .entry(instances.into_iter().next().unwrap().to_owned())
            .or_default() += 1;
        assert!(deployments.insert(r["deployment_id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(
        by_instance.len(),
        2,
        "both instances took runs: {by_instance:?}"
    );
    assert_eq!(by_instance.values().sum::<usize>(), 20);
    let deps = a.json("GET", "/api/v1/deployments", None, 200).await;
    assert_eq!(deps.as_array().unwrap().len(), 20, "one deployment per run");
    let first_dep = deployments.iter().next().unwrap().clone();
    assert_eq!(
        installation_containers(&docker, &first_dep).await.len(),
        20,
        "one container per run"
    );

    // Instance B dies while executing runs: A takes them over when their leases expire.
    let slow =
        json!({"server": "io.mcpo.test/stdio", "arguments": ["--startup-delay-ms", "60000"]});
    let slow_ids = a.batch(vec![slow; 6]).await;
    let mut owners = HashMap::new();
    for id in &slow_ids {
        let r = a
            .wait_run(id, "in initialize", |r| {
                step(r, "initialize")["status"] == "running"
            })
            .await;
        owners.insert(
            id.clone(),
            (
                step(&r, "initialize")["instance"]
                    .as_str()
                    .unwrap()
                    .to_owned(),
                r["deployment_id"].as_str().unwrap().to_owned(),
            ),
        );
    }
    let a_instance = a.json("GET", "/api/v1/system", None, 200).await["instance_id"]
        .as_str()
        .map(str::to_owned);
    let b_runs: Vec<&String> = slow_ids
        .iter()
        .filter(|id| Some(&owners[*id].0) != a_instance.as_ref())
        .collect();
    assert_eq!(b_runs.len(), 3, "each instance holds three: {owners:?}");
    kill9(b.pid());
    // A's own slow runs are cancelled (its workers were all busy with them); then A takes
    // over B's runs as their leases expire, and settles them by the crash rules.
    for id in slow_ids.iter().filter(|id| !b_runs.contains(id)) {
        a.json(
            "POST",
            &format!("/api/v1/pipeline-runs/{id}/cancel"),
            None,
            202,
        )
        .await;
        assert_eq!(a.wait_final(id).await["state"], "cancelled");
    }
    for id in &b_runs {
        let r = a.wait_final(id).await;
        assert_eq!(r["state"], "failed", "{r:#}");
        assert!(
            r["state_reason"]
                .as_str()
                .unwrap()
                .starts_with("interrupted"),
            "{r}"
        );
        assert_eq!(step(&r, "deploy")["attempts"], 1);
        let dep = &owners[*id].1;
        assert!(
            testkit::docker::containers_where(
                &docker,
                "label",
                &format!("io.mcpo.deployment={dep}")
            )
            .await
            .is_empty(),
            "B's container for {dep} was removed by A"
        );
    }
    let left = installation_containers(&docker, &first_dep).await;
    assert_eq!(
        left.len(),
        20,
        "only the first batch's containers: {left:?}"
    );
    for d in deps.as_array().unwrap() {
        let id = d["id"].as_str().unwrap();
        a.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
            .await;
    }
}

#[tokio::test]
async fn the_queue_is_fair_between_starters() {
    let docker = testkit::docker::connect().await;
    let image = test_image(&docker).await;
    let dh = docker_host();
    let e = Env::start(
        TestDb::new(Backend::Sqlite).await,
        vec![oci_entry("io.mcpo.test/stdio", &image)],
        &[("DOCKER_HOST", &dh), ("MCPO_PIPELINE_CONCURRENCY", "2")],
    )
    .await;
    let other = e.s.api_key("operator");
    // The admin key queues four slow runs: two take the workers, two wait.
    let slow =
        json!({"server": "io.mcpo.test/stdio", "arguments": ["--startup-delay-ms", "60000"]});
    let ids = e.batch(vec![slow; 4]).await;
    for id in &ids[..2] {
        e.wait_run(id, "in initialize", |r| {
            step(r, "initialize")["status"] == "running"
        })
        .await;
    }
    // Another starter queues one run after them; when a worker frees up, it goes first.
    let theirs =
        e.s.call_json(
            &other,
            "POST",
            "/api/v1/pipeline-runs",
            Some(json!({"server": "io.mcpo.test/stdio"})),
            202,
        )
        .await;
    let tid = theirs["id"].as_str().unwrap().to_owned();
    assert_ne!(theirs["created_by"], e.run(&ids[0]).await["created_by"]);
    e.json(
        "POST",
        &format!("/api/v1/pipeline-runs/{}/cancel", ids[0]),
        None,
        202,
    )
    .await;
    let t = e.wait_final(&tid).await;
    assert_eq!(t["state"], "succeeded", "{t:#}");
    for id in &ids[2..] {
        // Queued before it, claimed after it (or not yet).
        let r = e.run(id).await;
        if let Some(started) = r["started_at"].as_str() {
            let at = |s: &str| chrono::DateTime::parse_from_rfc3339(s).unwrap();
            assert!(
                at(started) > at(t["started_at"].as_str().unwrap()),
                "{r:#}\n{t:#}"
            );
        }
    }
    for id in &ids[1..] {
        e.json(
            "POST",
            &format!("/api/v1/pipeline-runs/{id}/cancel"),
            None,
            202,
        )
        .await;
        assert_eq!(e.wait_final(id).await["state"], "cancelled");
    }
    let dep = t["deployment_id"].as_str().unwrap();
    e.json("DELETE", &format!("/api/v1/deployments/{dep}"), None, 204)
        .await;
}
