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
        let e = Self { s, key, _reg: reg };
        let r = e
            .json(
                "POST",
                "/api/v1/registries",
                Some(json!({"name": "test", "kind": "mcp-registry", "url": e._reg.url})),
                201,
            )
            .await;
        let sync = e
            .json(
                "POST",
                &format!(
                    "/api/v1/registries/{}/sync?wait=true",
                    r["id"].as_str().unwrap()
                ),
                None,
                200,
            )
            .await;
        assert_eq!(sync["state"], "succeeded", "{sync}");
        e
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        let mut req = self
            .s
            .client
            .request(method.parse().unwrap(), self.s.url(path))
            .timeout(Duration::from_secs(180))
            .bearer_auth(&self.key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        let res = self.send(method, path, body).await;
        let got = res.status().as_u16();
        let text = res.text().await.unwrap();
        assert_eq!(got, status, "{method} {path}: {text}");
        if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        }
    }
}

fn alive(pid: i32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

#[tokio::test]
async fn process_runtime_deploys_server_everything_and_cleans_up() {
    let e = Env::start(vec![everything_entry()], &[("MCPO_DEPLOY_DOCKER", "false")]).await;

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
    assert!(alive(pid));
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
    assert!(!alive(pid2), "restart left the old process");
    let stopped = e
        .json("POST", &format!("/api/v1/deployments/{id}/stop"), None, 200)
        .await;
    assert_eq!(stopped["state"], "stopped");
    assert!(!alive(pid3));
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

/// SIGKILL to a process group (the runtime put the server in its own).
unsafe fn libc_kill(pid: i32) {
    std::process::Command::new("kill")
        .args(["-s", "KILL", "--", &format!("-{pid}")])
        .status()
        .unwrap();
}
