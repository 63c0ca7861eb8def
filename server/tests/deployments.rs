//! Deployments end to end: the real binary deploys catalog entries synced from the loopback
//! test registry, on the process runtime (npm `@modelcontextprotocol/server-everything`
//! through npx) and on Docker (our rmcp test server in a FROM scratch image).

use std::time::Duration;

use serde_json::{json, Value};
use testkit::{
    registry::{self, RegistryServer},
    Backend, TestDb, TestServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");
/// server-everything's version on npm (fetched by npx at deploy time).
const EVERYTHING: &str = "2026.8.31";

struct Env {
    s: TestServer,
    key: String,
    _reg: RegistryServer,
}

fn everything_entry() -> Value {
    let mut e = registry::item(
        "io.mcpo.test/everything",
        "1.0.0",
        "server-everything over npx",
    );
    e["server"]["packages"] = json!([{
        "registryType": "npm",
        "identifier": "@modelcontextprotocol/server-everything",
        "version": EVERYTHING,
        "transport": {"type": "stdio"},
        "environmentVariables": [
            {"name": "API_TOKEN", "isSecret": true, "isRequired": true},
            {"name": "LOG_LEVEL", "default": "info"}
        ]
    }]);
    e
}

impl Env {
    async fn start(entries: Vec<Value>, env: &[(&str, &str)]) -> Self {
        let reg = RegistryServer::start(entries).await;
        let s = TestServer::spawn_with(BIN, TestDb::new(Backend::Sqlite).await, env).await;
        let key = s.api_key("admin");
        s.add_synced_registry(&key, "test", &reg.url).await;
        Self { s, key, _reg: reg }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        self.s.call(&self.key, method, path, body).await
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        self.s
            .call_json(&self.key, method, path, body, status)
            .await
    }
}

#[tokio::test]
async fn process_runtime_deploys_server_everything_and_cleans_up() {
    let mut missing_pkg = registry::item("io.mcpo.test/no-such-package", "1.0.0", "fails to start");
    missing_pkg["server"]["packages"][0]["identifier"] = json!("@mcpo-test/no-such-package-7f3a");
    let e = Env::start(
        vec![everything_entry(), missing_pkg],
        &[
            ("MCPO_DEPLOY_DOCKER", "false"),
            ("MCPO_DEPLOY_START_TIMEOUT_SECS", "60"),
        ],
    )
    .await;

    // A deploy that fails leaves no process behind.
    let f = e
        .json(
            "POST",
            "/api/v1/deployments?wait=true",
            Some(json!({"server": "io.mcpo.test/no-such-package"})),
            201,
        )
        .await;
    assert_eq!(f["state"], "failed", "{f}");
    assert!(f["runtime_ref"].is_null());
    let marker = format!("MCPO_DEPLOYMENT_ID={}", f["id"].as_str().unwrap());
    assert_eq!(processes_with(&marker), 0, "a failed start left a process");
    e.json(
        "DELETE",
        &format!("/api/v1/deployments/{}", f["id"].as_str().unwrap()),
        None,
        204,
    )
    .await;

    // Bad configurations are refused before anything runs.
    for (body, why) in [
        (
            json!({"server": "io.mcpo.test/everything"}),
            "required variables are missing: API_TOKEN",
        ),
        (
            json!({"server": "io.mcpo.test/everything", "env": [{"name": "API_TOKEN", "value": "x"}]}),
            "API_TOKEN is a secret",
        ),
        (
            json!({"server": "io.mcpo.test/everything", "env": [{"name": "API_TOKEN", "value": "x", "secret": true}, {"name": "OTHER", "value": "ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"}]}),
            "looks like a GitHub token",
        ),
        (
            json!({"server": "io.mcpo.test/everything", "env": [{"name": "API_TOKEN", "value": "x", "secret": true}, {"name": "LD_PRELOAD", "value": "/x.so"}]}),
            "LD_PRELOAD may not be set",
        ),
        (
            json!({"server": "io.mcpo.test/everything", "runtime": "docker", "env": [{"name": "API_TOKEN", "value": "x", "secret": true}]}),
            "no Docker engine",
        ),
        (
            json!({"server": "io.mcpo.test/everything", "arguments": ["<path>"], "env": [{"name": "API_TOKEN", "value": "x", "secret": true}]}),
            "placeholder argument `<path>`",
        ),
    ] {
        let res = e
            .send("POST", "/api/v1/deployments", Some(body.clone()))
            .await;
        assert_eq!(res.status(), 422, "{body}");
        let text = res.text().await.unwrap();
        assert!(text.contains(why), "{body}: {text}");
    }
    let missing = e
        .send(
            "POST",
            "/api/v1/deployments",
            Some(json!({"server": "no.such/server"})),
        )
        .await;
    assert_eq!(missing.status(), 404);
    assert_eq!(
        e.json("GET", "/api/v1/deployments", None, 200).await,
        json!([]),
        "a refused deployment leaves no record"
    );

    let d = e
        .json(
            "POST",
            "/api/v1/deployments?wait=true",
            Some(json!({"server": "io.mcpo.test/everything",
                        "env": [{"name": "API_TOKEN", "value": "tok-3f9a-very-private", "secret": true}]})),
            201,
        )
        .await;
    assert_eq!(d["state"], "running", "{d}");
    assert_eq!(d["runtime"], "process");
    assert_eq!(
        d["launch"],
        format!("npx -y @modelcontextprotocol/server-everything@{EVERYTHING}")
    );
    let id = d["id"].as_str().unwrap().to_owned();
    let pid: i32 = d["runtime_ref"].as_str().unwrap().parse().unwrap();
    assert!(testkit::process_alive(pid));
    // Secrets are masked everywhere.
    let secret = d["env"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == "API_TOKEN")
        .unwrap();
    assert_eq!(secret["secret"], true);
    assert!(secret["value"].is_null());
    for path in [
        format!("/api/v1/deployments/{id}"),
        "/api/v1/deployments".into(),
        "/api/v1/audit-events".into(),
    ] {
        let body = e.send("GET", &path, None).await.text().await.unwrap();
        assert!(!body.contains("tok-3f9a"), "{path} shows the secret");
    }

    let caps = e
        .json(
            "GET",
            &format!("/api/v1/deployments/{id}/capabilities"),
            None,
            200,
        )
        .await;
    let tools = caps["tools"].as_array().unwrap();
    assert!(tools.iter().any(|t| t["name"] == "echo"), "{caps}");
    assert!(!caps["protocol_version"].as_str().unwrap().is_empty());
    let schema = e
        .json(
            "GET",
            &format!("/api/v1/deployments/{id}/schema"),
            None,
            200,
        )
        .await;
    assert!(
        schema["tools"]["echo"]["input"]["properties"]["message"].is_object(),
        "{schema}"
    );

    let call = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": {"message": "hello through the orchestrator"}})),
            200,
        )
        .await;
    assert_eq!(call["is_error"], false);
    assert!(
        call["result"]
            .to_string()
            .contains("hello through the orchestrator"),
        "{call}"
    );
    // Arguments are checked against the schema before they are sent.
    let bad = e
        .send(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": {"message": 42}})),
        )
        .await;
    assert_eq!(bad.status(), 422);
    assert!(bad
        .text()
        .await
        .unwrap()
        .contains("message: expected string"));
    let none = e
        .send(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/nope/call"),
            Some(json!({})),
        )
        .await;
    assert_eq!(none.status(), 404);

    // Logs: the server's stderr.
    let logs = e
        .json(
            "GET",
            &format!("/api/v1/deployments/{id}/logs?tail=50"),
            None,
            200,
        )
        .await;
    assert!(logs.to_string().contains("Starting"), "{logs}");

    // Follow the logs (server-sent events): the lines so far arrive as `line` events.
    let mut res = e
        .send(
            "GET",
            &format!("/api/v1/deployments/{id}/logs?follow=true&tail=5"),
            None,
        )
        .await;
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let chunk = tokio::time::timeout(Duration::from_secs(10), res.chunk())
        .await
        .expect("an event within 10 s")
        .unwrap()
        .unwrap();
    let text = String::from_utf8_lossy(&chunk);
    assert!(text.contains("event: line"), "{text}");
    drop(res);

    // Kill the process behind the deployment: its state says so.
    unsafe {
        libc_kill(pid);
    }
    let mut state = Value::Null;
    for _ in 0..60 {
        state = e
            .json("GET", &format!("/api/v1/deployments/{id}"), None, 200)
            .await;
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(state["state"], "exited", "{state}");
    assert!(
        state["state_reason"].as_str().unwrap().contains("exited"),
        "{state}"
    );

    // Start it again, restart it, stop it, delete it: no process is left.
    let again = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/start"),
            None,
            200,
        )
        .await;
    assert_eq!(again["state"], "running", "{again}");
    let pid2: i32 = again["runtime_ref"].as_str().unwrap().parse().unwrap();
    let restarted = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/restart"),
            None,
            200,
        )
        .await;
    assert_eq!(restarted["state"], "running", "{restarted}");
    let pid3: i32 = restarted["runtime_ref"].as_str().unwrap().parse().unwrap();
    assert_ne!(pid2, pid3);
    assert!(
        !testkit::process_alive(pid2),
        "restart left the old process"
    );
    let stopped = e
        .json("POST", &format!("/api/v1/deployments/{id}/stop"), None, 200)
        .await;
    assert_eq!(stopped["state"], "stopped");
    assert!(!testkit::process_alive(pid3));
    let res = e
        .send(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/echo/call"),
            Some(json!({"arguments": {"message": "x"}})),
        )
        .await;
    assert_eq!(res.status(), 409, "a stopped deployment takes no calls");
    e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
        .await;
    assert_eq!(
        e.send("GET", &format!("/api/v1/deployments/{id}"), None)
            .await
            .status(),
        404
    );
}

/// Processes whose environment holds `marker` (the runtime sets `MCPO_DEPLOYMENT_ID`).
fn processes_with(marker: &str) -> usize {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| {
            e.file_name()
                .to_string_lossy()
                .bytes()
                .all(|b| b.is_ascii_digit())
        })
        .filter(|e| {
            std::fs::read(e.path().join("environ"))
                .map(|env| env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()))
                .unwrap_or(false)
        })
        .count()
}

/// SIGKILL to a process group (the runtime put the server in its own).
unsafe fn libc_kill(pid: i32) {
    std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
}

mod docker {
    use super::*;
    use bollard::query_parameters::InspectContainerOptions;

    fn oci_entry(name: &str, image: &str, http: bool) -> Value {
        let mut e = registry::item(name, "1.0.0", "our rmcp test server");
        let mut package = json!({
            "registryType": "oci",
            "identifier": image,
            "transport": {"type": "stdio"},
            "environmentVariables": [{"name": "MCP_TEST_GREETING", "default": "hello"}]
        });
        if http {
            package["transport"] =
                json!({"type": "streamable-http", "url": "http://localhost:8080/mcp"});
            package["packageArguments"] = json!([
                {"type": "named", "name": "--transport", "value": "http"},
                {"type": "named", "name": "--listen", "value": "0.0.0.0:8080"}
            ]);
        }
        e["server"]["packages"] = json!([package]);
        e
    }

    async fn containers_of(docker: &bollard::Docker, deployment: &str) -> usize {
        testkit::docker::containers_where(
            docker,
            "label",
            &format!("io.mcpo.deployment={deployment}"),
        )
        .await
        .len()
    }

    async fn wait_state(e: &Env, id: &str, want: &str) -> Value {
        let mut d = Value::Null;
        for _ in 0..100 {
            d = e
                .json("GET", &format!("/api/v1/deployments/{id}"), None, 200)
                .await;
            if d["state"] == want {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("never {want}: {d}");
    }

    #[tokio::test]
    async fn docker_runtime_deploys_our_test_server_hardened_and_cleans_up() {
        let docker = testkit::docker::connect().await;
        let image = format!("mcpo-test/mcp-test-server:it-{}", std::process::id());
        testkit::docker::build_mcp_test_server_image(&docker, &image)
            .await
            .expect("build the test-server image");
        let docker_host = std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)");
        let entries = vec![
            oci_entry("io.mcpo.test/stdio", &image, false),
            oci_entry("io.mcpo.test/http", &image, true),
            oci_entry("io.mcpo.test/broken", "mcpo-test/no-such-image:1", false),
        ];
        let e = Env::start(entries, &[("DOCKER_HOST", &docker_host)]).await;

        // stdio, hardened.
        let d = e
            .json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/stdio", "env": [{"name": "MCP_TEST_GREETING", "value": "hi from env"}]})),
                201,
            )
            .await;
        assert_eq!(
            (d["state"].as_str(), d["runtime"].as_str()),
            (Some("running"), Some("docker")),
            "{d}"
        );
        let id = d["id"].as_str().unwrap().to_owned();
        let cid = d["runtime_ref"].as_str().unwrap().to_owned();
        let info = docker
            .inspect_container(&cid, None::<InspectContainerOptions>)
            .await
            .unwrap();
        let host = info.host_config.unwrap();
        assert_eq!(host.cap_drop.unwrap(), ["ALL"]);
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert!(host
            .security_opt
            .unwrap()
            .iter()
            .any(|o| o.starts_with("no-new-privileges")));
        assert!(host.memory.unwrap() > 0 && host.pids_limit.unwrap() > 0);
        assert_eq!(info.config.unwrap().user.as_deref(), Some("65534"));
        let r = e
            .json(
                "POST",
                &format!("/api/v1/deployments/{id}/tools/env/call"),
                Some(json!({"arguments": {"name": "MCP_TEST_GREETING"}})),
                200,
            )
            .await;
        assert!(r["result"].to_string().contains("hi from env"), "{r}");
        // Kill the container behind it: the state says so.
        docker
            .kill_container(
                &cid,
                None::<bollard::query_parameters::KillContainerOptions>,
            )
            .await
            .unwrap();
        let ended = wait_state(&e, &id, "exited").await;
        assert!(
            ended["state_reason"].as_str().unwrap().contains("exited"),
            "{ended}"
        );
        e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
            .await;
        assert_eq!(
            containers_of(&docker, &id).await,
            0,
            "delete left the container"
        );

        // streamable HTTP on a loopback port.
        let h = e
            .json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/http"})),
                201,
            )
            .await;
        assert_eq!(h["state"], "running", "{h}");
        assert!(
            h["endpoint"]
                .as_str()
                .unwrap()
                .starts_with("http://127.0.0.1:"),
            "{h}"
        );
        let hid = h["id"].as_str().unwrap().to_owned();
        let r = e
            .json(
                "POST",
                &format!("/api/v1/deployments/{hid}/tools/add/call"),
                Some(json!({"arguments": {"a": 20, "b": 22}})),
                200,
            )
            .await;
        assert_eq!(r["result"]["structuredContent"]["sum"], 42.0, "{r}");

        // Concurrent deploys of one server each get their own name and container.
        let many = futures_util::future::join_all((0..5).map(|_| {
            e.json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/stdio"})),
                201,
            )
        }))
        .await;
        let mut names: Vec<&str> = many.iter().map(|d| d["name"].as_str().unwrap()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 5, "{names:?}");
        for d in &many {
            assert_eq!(d["state"], "running", "{d}");
            e.json(
                "DELETE",
                &format!("/api/v1/deployments/{}", d["id"].as_str().unwrap()),
                None,
                204,
            )
            .await;
        }

        // A deploy that fails leaves nothing behind.
        let b = e
            .json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/broken"})),
                201,
            )
            .await;
        assert_eq!(b["state"], "failed", "{b}");
        assert!(
            b["state_reason"]
                .as_str()
                .unwrap()
                .contains("not on this Docker host"),
            "{b}"
        );
        assert_eq!(containers_of(&docker, b["id"].as_str().unwrap()).await, 0);

        // A stdio deployment too: its session cannot be re-attached, so it is replaced.
        let st = e
            .json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/stdio"})),
                201,
            )
            .await;
        let st_id = st["id"].as_str().unwrap().to_owned();
        let st_cid = st["runtime_ref"].as_str().unwrap().to_owned();

        // An orphan: a container with this installation's labels that no deployment owns.
        let labels = docker
            .inspect_container(&st_cid, None::<InspectContainerOptions>)
            .await
            .unwrap()
            .config
            .unwrap()
            .labels
            .unwrap();
        let busybox = testkit::docker::build_busybox_image(&docker).await;
        let orphan_labels = std::collections::HashMap::from([
            ("io.mcpo.managed".to_owned(), "true".to_owned()),
            (
                "io.mcpo.instance".to_owned(),
                labels["io.mcpo.instance"].clone(),
            ),
            (
                "io.mcpo.deployment".to_owned(),
                "0190f0a0-0000-7000-8000-00000000dead".to_owned(),
            ),
        ]);
        let orphan = docker
            .create_container(
                None::<bollard::query_parameters::CreateContainerOptions>,
                bollard::models::ContainerCreateBody {
                    image: Some(busybox.to_owned()),
                    cmd: Some(vec!["sleep".into(), "300".into()]),
                    labels: Some(orphan_labels),
                    ..Default::default()
                },
            )
            .await
            .unwrap()
            .id;

        // The orchestrator dies: at the next start it adopts the running HTTP container (a new
        // session to the same endpoint) and replaces the stdio one.
        let old_cid = h["runtime_ref"].as_str().unwrap().to_owned();
        let url = e.s.db.url.clone();
        std::process::Command::new("kill")
            .args(["-s", "KILL", &e.s.pid().to_string()])
            .status()
            .unwrap();
        let s2 = TestServer::spawn_with(
            BIN,
            TestDb::existing(&url, Backend::Sqlite),
            &[("DOCKER_HOST", &docker_host)],
        )
        .await;
        let e2 = Env {
            s: s2,
            key: e.key.clone(),
            _reg: RegistryServer::start(vec![]).await,
        };
        let back = wait_state(&e2, &hid, "running").await;
        assert_eq!(
            back["runtime_ref"].as_str().unwrap(),
            old_cid,
            "adopted, not replaced"
        );
        let st_back = wait_state(&e2, &st_id, "running").await;
        assert_ne!(
            st_back["runtime_ref"].as_str().unwrap(),
            st_cid,
            "a stdio server is replaced"
        );
        assert_eq!(containers_of(&docker, &st_id).await, 1);
        assert_eq!(
            containers_of(&docker, "0190f0a0-0000-7000-8000-00000000dead").await,
            0,
            "the orphan {orphan} was not removed"
        );
        assert_eq!(
            containers_of(&docker, &hid).await,
            1,
            "exactly one container"
        );
        e2.json(
            "POST",
            &format!("/api/v1/deployments/{hid}/tools/echo/call"),
            Some(json!({"arguments": {"text": "after restart"}})),
            200,
        )
        .await;
        for dep in e2
            .json("GET", "/api/v1/deployments", None, 200)
            .await
            .as_array()
            .unwrap()
        {
            let id = dep["id"].as_str().unwrap();
            e2.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
                .await;
            assert_eq!(containers_of(&docker, id).await, 0);
        }
        let _ = docker
            .remove_image(
                &image,
                None::<bollard::query_parameters::RemoveImageOptions>,
                None,
            )
            .await;
    }
}
