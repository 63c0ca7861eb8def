//! Real, published MCP servers deployed end to end by the real binary from catalog entries of
//! the loopback test registry (SQLite):
//!
//! - PyPI `mcp-server-time` on the process runtime (`uvx mcp-server-time==VERSION`; `uvx` must
//!   be on the `PATH` of the test process, which `scripts/setup.sh test` sees to);
//! - npm `@modelcontextprotocol/server-everything` on Docker, from an `oci` package whose image
//!   is built on this machine (`testkit::docker::build_everything_image`: this machine's node
//!   and the npm-installed package in a `FROM scratch` image, nothing pulled).

use std::time::Duration;

use serde_json::{json, Value};
use testkit::{
    registry::{self, RegistryServer},
    Backend, TestDb, TestServer,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");
/// `mcp-server-time`'s version on PyPI (fetched by uvx at deploy time).
const TIME_VERSION: &str = "2026.10.19";
/// The bound of each test, downloads included.
const TEST_TIMEOUT: Duration = Duration::from_secs(300);

struct Env {
    s: TestServer,
    key: String,
    _reg: RegistryServer,
}

impl Env {
    /// The server on a fresh SQLite database with `env`, and the test registry holding `entries`
    /// added and synced.
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

    /// Panics with the deployment's last log lines unless `d` is running.
    async fn assert_running(&self, d: &Value) {
        if d["state"] != "running" {
            let logs = self
                .json(
                    "GET",
                    &format!(
                        "/api/v1/deployments/{}/logs?tail=40",
                        d["id"].as_str().unwrap_or_default()
                    ),
                    None,
                    200,
                )
                .await;
            panic!("not running: {d}\nlogs: {logs}");
        }
    }

    /// The names of the deployment's tools.
    async fn tools(&self, id: &str) -> Vec<String> {
        let caps = self
            .json(
                "GET",
                &format!("/api/v1/deployments/{id}/capabilities"),
                None,
                200,
            )
            .await;
        caps["tools"]
            .as_array()
            .unwrap_or_else(|| panic!("no tools: {caps}"))
            .iter()
            .filter_map(|t| t["name"].as_str().map(str::to_owned))
            .collect()
    }
}

fn entry(name: &str, description: &str, package: Value) -> Value {
    let mut e = registry::item(name, "1.0.0", description);
    e["server"]["packages"] = json!([package]);
    e
}

#[tokio::test]
async fn pypi_mcp_server_time_runs_as_a_process_through_uvx() {
    tokio::time::timeout(TEST_TIMEOUT, pypi_time())
        .await
        .expect("the test took over 300 s");
}

async fn pypi_time() {
    let started = std::time::Instant::now();
    // The orchestrator passes PATH (and the TLS roots variables) to its children; the test
    // server gets this process's PATH, the roots are passed on when set here (uv reads them).
    let path = std::env::var("PATH").unwrap_or_default();
    assert!(
        std::env::split_paths(&path).any(|d| d.join("uvx").is_file()),
        "uvx is not on PATH ({path}); `scripts/setup.sh test` installs uv"
    );
    let tls: Vec<(&str, String)> = ["SSL_CERT_FILE", "SSL_CERT_DIR"]
        .into_iter()
        .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
        .collect();
    let mut env: Vec<(&str, &str)> = vec![("MCPO_DEPLOY_DOCKER", "false")];
    env.extend(tls.iter().map(|(k, v)| (*k, v.as_str())));
    let e = Env::start(
        vec![entry(
            "io.mcpo.test/time",
            "mcp-server-time from PyPI",
            json!({
                "registryType": "pypi",
                "identifier": "mcp-server-time",
                "version": TIME_VERSION,
                "transport": {"type": "stdio"}
            }),
        )],
        &env,
    )
    .await;

    let d = e
        .json(
            "POST",
            "/api/v1/deployments?wait=true",
            Some(json!({"server": "io.mcpo.test/time"})),
            201,
        )
        .await;
    let id = d["id"].as_str().unwrap().to_owned();
    e.assert_running(&d).await;
    assert_eq!(d["runtime"], "process", "{d}");
    assert_eq!(d["launch"], format!("uvx mcp-server-time=={TIME_VERSION}"));
    let pid: i32 = d["runtime_ref"].as_str().unwrap().parse().unwrap();
    assert!(testkit::process_alive(pid), "{d}");
    eprintln!(
        "mcp-server-time running ({} ms)",
        started.elapsed().as_millis()
    );

    let tools = e.tools(&id).await;
    assert!(tools.iter().any(|t| t == "get_current_time"), "{tools:?}");
    let call = e
        .json(
            "POST",
            &format!("/api/v1/deployments/{id}/tools/get_current_time/call"),
            Some(json!({"arguments": {"timezone": "UTC"}})),
            200,
        )
        .await;
    assert_eq!(call["is_error"], false, "{call}");
    // The time as structured content, or as the JSON text of the first content block.
    let time = match &call["result"]["structuredContent"] {
        Value::Object(_) => call["result"]["structuredContent"].clone(),
        _ => serde_json::from_str(call["result"]["content"][0]["text"].as_str().unwrap())
            .unwrap_or_else(|err| panic!("{err}: {call}")),
    };
    assert_eq!(time["timezone"], "UTC", "{call}");
    let at = chrono::DateTime::parse_from_rfc3339(time["datetime"].as_str().unwrap())
        .unwrap_or_else(|err| panic!("{err}: {call}"));
    let skew = (chrono::Utc::now() - at.to_utc()).num_seconds().abs();
    assert!(skew < 120, "{at} is {skew} s off");

    e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
        .await;
    // The runtime ends the whole group (uvx and the python it started) and reaps it.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while (testkit::process_alive(pid) || !testkit::process_group_members(pid).is_empty())
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !testkit::process_alive(pid),
        "delete left the uvx process {pid}"
    );
    assert_eq!(
        testkit::process_group_members(pid),
        Vec::<i32>::new(),
        "delete left processes"
    );
    eprintln!("pypi test done ({} ms)", started.elapsed().as_millis());
}

mod docker {
    use super::*;
    use bollard::query_parameters::{
        InspectContainerOptions, RemoveContainerOptions, RemoveImageOptions,
    };

    #[tokio::test]
    async fn npm_server_everything_runs_in_a_locally_built_hardened_container() {
        let docker = testkit::docker::connect().await;
        let image = format!("mcpo-test/server-everything:it-{}", std::process::id());
        // The body runs as its own task so that the image is removed whatever happens in it.
        let body = tokio::spawn(tokio::time::timeout(
            TEST_TIMEOUT,
            everything_in_docker(docker.clone(), image.clone()),
        ))
        .await;
        // Containers of the image (left by a failure) go first: a used image cannot go.
        for id in testkit::docker::containers_where(&docker, "ancestor", &image).await {
            let _ = docker
                .remove_container(
                    &id,
                    Some(RemoveContainerOptions {
                        force: true,
                        ..Default::default()
                    }),
                )
                .await;
        }
        let removed = docker
            .remove_image(
                &image,
                Some(RemoveImageOptions {
                    force: true,
                    ..Default::default()
                }),
                None,
            )
            .await;
        match body {
            Err(join) if join.is_panic() => std::panic::resume_unwind(join.into_panic()),
            Err(join) => panic!("{join}"),
            Ok(Err(_)) => panic!("the test took over 300 s"),
            Ok(Ok(())) => {
                removed.unwrap_or_else(|err| panic!("removing {image}: {err}"));
            }
        }
    }

    async fn everything_in_docker(docker: bollard::Docker, image: String) {
        let started = std::time::Instant::now();
        testkit::docker::build_everything_image(&docker, &image)
            .await
            .expect("build the server-everything image");
        eprintln!("image built ({} ms)", started.elapsed().as_millis());
        let docker_host = std::env::var("DOCKER_HOST").expect("DOCKER_HOST (make test sets it)");
        let e = Env::start(
            vec![entry(
                "io.mcpo.test/everything-oci",
                "server-everything in a local image",
                json!({
                    "registryType": "oci",
                    "identifier": image,
                    "transport": {"type": "stdio"}
                }),
            )],
            &[("DOCKER_HOST", &docker_host)],
        )
        .await;

        let d = e
            .json(
                "POST",
                "/api/v1/deployments?wait=true",
                Some(json!({"server": "io.mcpo.test/everything-oci"})),
                201,
            )
            .await;
        let id = d["id"].as_str().unwrap().to_owned();
        e.assert_running(&d).await;
        assert_eq!(d["runtime"], "docker", "{d}");
        let cid = d["runtime_ref"].as_str().unwrap().to_owned();
        eprintln!(
            "server-everything running ({} ms)",
            started.elapsed().as_millis()
        );

        // Hardened: the image's entrypoint under the defaults of every container.
        let info = docker
            .inspect_container(&cid, None::<InspectContainerOptions>)
            .await
            .unwrap();
        let host = info.host_config.unwrap();
        assert_eq!(host.cap_drop.as_deref(), Some(&["ALL".to_owned()][..]));
        assert_eq!(host.readonly_rootfs, Some(true));
        assert_eq!(host.network_mode.as_deref(), Some("none"));
        assert!(host
            .security_opt
            .unwrap_or_default()
            .iter()
            .any(|o| o.starts_with("no-new-privileges")));
        assert!(host.tmpfs.unwrap_or_default().contains_key("/tmp"));
        let config = info.config.unwrap();
        assert_eq!(config.user.as_deref(), Some("65534"));
        assert_eq!(
            config.labels.unwrap_or_default().get("io.mcpo.deployment"),
            Some(&id)
        );

        let tools = e.tools(&id).await;
        assert!(tools.iter().any(|t| t == "echo"), "{tools:?}");
        let call = e
            .json(
                "POST",
                &format!("/api/v1/deployments/{id}/tools/echo/call"),
                Some(json!({"arguments": {"message": "hello from a scratch image"}})),
                200,
            )
            .await;
        assert_eq!(call["is_error"], false, "{call}");
        assert!(
            call["result"]["content"][0]["text"]
                .as_str()
                .is_some_and(|t| t.contains("hello from a scratch image")),
            "{call}"
        );

        let deleting = std::time::Instant::now();
        e.json("DELETE", &format!("/api/v1/deployments/{id}"), None, 204)
            .await;
        eprintln!("deleted ({} ms)", deleting.elapsed().as_millis());
        let left = testkit::docker::containers_where(
            &docker,
            "label",
            &format!("io.mcpo.deployment={id}"),
        )
        .await;
        assert_eq!(left, Vec::<String>::new(), "delete left containers");
        eprintln!("docker test done ({} ms)", started.elapsed().as_millis());
    }
}
