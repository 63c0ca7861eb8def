//! The Docker runtime against the real engine (`DOCKER_HOST`; `make test` starts a private
//! dockerd when none runs). Our MCP test server runs from a `FROM scratch` image built here
//! (nothing is pulled) over stdio and streamable HTTP; the containers are checked for the
//! hardening, the lifecycle (kill, stop, remove), logs, failed starts that leave nothing
//! behind, and the per-instance listing. Every test uses its own instance id; a guard removes
//! every container of it and, with the last test of the process, the image — even on failure.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use bollard::{
    models::ContainerInspectResponse,
    query_parameters::{
        InspectContainerOptions, KillContainerOptions, RemoveContainerOptionsBuilder,
        RemoveImageOptionsBuilder,
    },
    Docker,
};
use domain::{
    mcp::{Limits, Session},
    runtime::{
        docker::{
            ContainerState, DockerRuntime, DockerSettings, LABEL_DEPLOYMENT, LABEL_INSTANCE,
            LABEL_MANAGED,
        },
        Launch, RuntimeError, Spec, Transport,
    },
    secrets::SecretValue,
};
use serde_json::json;
use types::env::EnvName;

/// Users of the test-server image in this process; the last one out removes it.
static IMAGE_USERS: tokio::sync::Mutex<usize> = tokio::sync::Mutex::const_new(0);

fn image_tag() -> String {
    format!("mcpo-test/mcp-test-server:p{}", std::process::id())
}

/// One test's instance: its containers (by label) and any extra images are removed on drop.
struct Fixture {
    instance: String,
    image: String,
    extra_images: Mutex<Vec<String>>,
}

impl Fixture {
    async fn new() -> (Self, Docker) {
        let docker = testkit::docker::connect().await;
        let image = image_tag();
        let mut users = IMAGE_USERS.lock().await;
        if *users == 0 {
            let t = Instant::now();
            testkit::docker::build_mcp_test_server_image(&docker, &image)
                .await
                .expect("the mcp-test-server image");
            eprintln!("built {image} in {} ms", t.elapsed().as_millis());
        }
        *users += 1;
        let fixture = Self {
            instance: format!("test-{}", uuid::Uuid::new_v4()),
            image,
            extra_images: Mutex::new(Vec::new()),
        };
        (fixture, docker)
    }

    async fn runtime(&self) -> DockerRuntime {
        DockerRuntime::connect(&self.instance, DockerSettings::default())
            .await
            .expect("the Docker runtime connects")
    }

    fn spec(&self, deployment: &str, args: &[&str], env: &[(&str, &str)]) -> Spec {
        Spec {
            deployment_id: format!("{}-{deployment}", self.instance),
            launch: Launch::Oci {
                image: self.image.clone(),
            },
            args: args.iter().map(|a| (*a).to_owned()).collect(),
            env: env
                .iter()
                .map(|(k, v)| (EnvName::parse(k).unwrap(), SecretValue::new(*v)))
                .collect(),
        }
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let instance = self.instance.clone();
        let image = self.image.clone();
        let extra =
            std::mem::take(&mut *self.extra_images.lock().unwrap_or_else(|e| e.into_inner()));
        // Drop runs inside the test's runtime (perhaps while unwinding): clean up on a thread
        // of its own with its own runtime and client.
        let cleanup = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("a runtime for the clean-up");
            rt.block_on(async move {
                let docker = match Docker::connect_with_defaults() {
                    Ok(d) => d.negotiate_version().await.ok(),
                    Err(_) => None,
                };
                let Some(docker) = docker else {
                    eprintln!("clean-up: no Docker engine answers");
                    return;
                };
                for id in labelled(&docker, &instance).await {
                    if let Err(e) = docker
                        .remove_container(
                            &id,
                            Some(
                                RemoveContainerOptionsBuilder::default()
                                    .force(true)
                                    .v(true)
                                    .build(),
                            ),
                        )
                        .await
                    {
                        eprintln!("clean-up: cannot remove container {id}: {e}");
                    }
                }
                let mut users = IMAGE_USERS.lock().await;
                *users -= 1;
                let mut images = extra;
                if *users == 0 {
                    images.push(image);
                }
                for image in images {
                    if let Err(e) = docker
                        .remove_image(
                            &image,
                            Some(RemoveImageOptionsBuilder::default().force(true).build()),
                            None,
                        )
                        .await
                    {
                        eprintln!("clean-up: cannot remove image {image}: {e}");
                    }
                }
            });
        });
        let _ = cleanup.join();
    }
}

/// Ids of every container (running or not) labelled with `instance`.
async fn labelled(docker: &Docker, instance: &str) -> Vec<String> {
    testkit::docker::containers_where(docker, "label", &format!("{LABEL_INSTANCE}={instance}"))
        .await
}

async fn raw_inspect(docker: &Docker, id: &str) -> ContainerInspectResponse {
    docker
        .inspect_container(id, None::<InspectContainerOptions>)
        .await
        .expect("inspect")
}

fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

/// Polls `inspect` until it is `want` (the engine updates the state just after a kill).
async fn wait_state(
    rt: &DockerRuntime,
    id: &str,
    want: impl Fn(ContainerState) -> bool,
) -> ContainerState {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = rt.inspect(id).await.unwrap();
        if want(s) || Instant::now() > deadline {
            return s;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn stdio_server_runs_hardened_and_answers_mcp() {
    let t0 = Instant::now();
    let (fx, docker) = Fixture::new().await;
    let rt = fx.runtime().await;
    rt.ping().await.unwrap();
    let spec = fx.spec(
        "stdio",
        &[],
        &[("MCP_TEST_GREETING", "hello from a container")],
    );
    let mut c = rt.start(&spec, Transport::Stdio).await.unwrap();
    assert!(c.http_url.is_none());
    assert_eq!(c.name, format!("mcpo-{}", spec.deployment_id));
    let (out, inp) = c.stdio.take().expect("stdio streams");
    let s = Session::over_stdio(out, inp, Limits::default())
        .await
        .unwrap();
    let caps = s.discover().await.unwrap();
    assert_eq!(caps.server_name, "mcp-test-server");
    for tool in ["echo", "env"] {
        assert!(caps.tools.iter().any(|t| t.name == tool), "no tool {tool}");
    }
    let r = s
        .call_tool(
            "echo",
            object(json!({"text": "through docker attach"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(r.to_string().contains("through docker attach"), "{r}");
    let r = s
        .call_tool(
            "env",
            object(json!({"name": "MCP_TEST_GREETING"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(r.to_string().contains("hello from a container"), "{r}");
    // Concurrent calls over the one attach stream.
    let calls = (0..10).map(|i| {
        s.call_tool(
            "echo",
            object(json!({"text": format!("n{i}")})),
            Duration::from_secs(5),
        )
    });
    for (i, r) in futures_util::future::join_all(calls)
        .await
        .into_iter()
        .enumerate()
    {
        assert!(r.unwrap().to_string().contains(&format!("n{i}")));
    }

    // The hardening, as the engine reports it.
    let info = raw_inspect(&docker, &c.id).await;
    let host = info.host_config.clone().unwrap();
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert!(host.cap_add.unwrap_or_default().is_empty());
    assert_eq!(host.readonly_rootfs, Some(true));
    assert_eq!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.privileged, Some(false));
    assert!(host
        .security_opt
        .unwrap_or_default()
        .iter()
        .any(|o| o == "no-new-privileges:true"));
    assert_eq!(host.memory, Some(512 * 1024 * 1024));
    assert_eq!(host.memory_swap, Some(512 * 1024 * 1024));
    assert_eq!(host.nano_cpus, Some(1_000_000_000));
    assert_eq!(host.pids_limit, Some(256));
    assert_eq!(host.auto_remove, Some(false));
    let tmp = host.tmpfs.unwrap_or_default();
    assert!(
        tmp["/tmp"].contains("noexec") && tmp["/tmp"].contains("size=64m"),
        "{tmp:?}"
    );
    let config = info.config.clone().unwrap();
    assert_eq!(
        config.user.as_deref(),
        Some("65534"),
        "the image's non-root user"
    );
    assert_eq!(config.tty, Some(false));
    let labels = config.labels.unwrap();
    assert_eq!(labels[LABEL_INSTANCE], fx.instance);
    assert_eq!(labels[LABEL_DEPLOYMENT], spec.deployment_id);
    assert_eq!(labels[LABEL_MANAGED], "true");
    assert!(info
        .network_settings
        .and_then(|n| n.ports)
        .unwrap_or_default()
        .is_empty());

    // Logs: stderr only (stdout is the MCP channel).
    let logs = rt.logs(&c.id, 100).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.text.contains("serving MCP over stdio")),
        "{logs:?}"
    );
    assert!(
        !logs.iter().any(|l| l.text.contains("jsonrpc")),
        "stdout leaked into logs"
    );
    assert!(c
        .attached_stderr(100)
        .iter()
        .any(|l| l.text.contains("serving MCP over stdio")));
    assert_eq!(rt.logs(&c.id, 1).await.unwrap().len(), 1);

    // Killed from outside: inspect says so, and the session sees the end.
    docker
        .kill_container(&c.id, None::<KillContainerOptions>)
        .await
        .unwrap();
    let state = wait_state(&rt, &c.id, |s| matches!(s, ContainerState::Exited(_))).await;
    assert_eq!(state, ContainerState::Exited(137));
    assert!(s.ping(Duration::from_secs(2)).await.is_err());
    s.close().await;
    assert_eq!(
        rt.stop(&c.id, Duration::from_secs(1)).await.unwrap(),
        ContainerState::Exited(137)
    );
    rt.remove(&c.id).await.unwrap();
    assert_eq!(rt.inspect(&c.id).await.unwrap(), ContainerState::Missing);
    rt.remove(&c.id).await.unwrap();
    assert_eq!(
        rt.stop(&c.id, Duration::from_secs(1)).await.unwrap(),
        ContainerState::Missing
    );
    assert!(rt.logs(&c.id, 10).await.unwrap().is_empty());
    eprintln!("stdio test: {} ms", t0.elapsed().as_millis());
}

#[tokio::test]
async fn http_server_is_published_on_loopback_only() {
    let t0 = Instant::now();
    let (fx, docker) = Fixture::new().await;
    let rt = fx.runtime().await;
    let spec = fx.spec(
        "http",
        &["--transport", "http", "--listen", "0.0.0.0:8080"],
        &[],
    );
    let c = rt
        .start(
            &spec,
            Transport::Http {
                port: 8080,
                path: "/mcp".into(),
            },
        )
        .await
        .unwrap();
    assert!(c.stdio.is_none());
    let url = c.http_url.clone().expect("http url");
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    rt.wait_until_listening(&c, Duration::from_secs(15))
        .await
        .unwrap();
    let s = Session::over_http(&url, Limits::default()).await.unwrap();
    let caps = s.discover().await.unwrap();
    assert!(caps.tools.iter().any(|t| t.name == "echo"));
    let r = s
        .call_tool(
            "echo",
            object(json!({"text": "over published http"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(r.to_string().contains("over published http"), "{r}");
    s.close().await;

    let info = raw_inspect(&docker, &c.id).await;
    let host = info.host_config.clone().unwrap();
    assert_ne!(host.network_mode.as_deref(), Some("none"));
    assert_eq!(host.cap_drop, Some(vec!["ALL".to_owned()]));
    assert_eq!(host.readonly_rootfs, Some(true));
    let ports = info.network_settings.and_then(|n| n.ports).unwrap();
    let bindings: Vec<_> = ports.values().flatten().flatten().collect();
    assert!(!bindings.is_empty());
    for b in &bindings {
        assert_eq!(b.host_ip.as_deref(), Some("127.0.0.1"), "{bindings:?}");
    }
    let port = bindings[0].host_port.clone().unwrap();
    assert!(url.contains(&format!(":{port}/")));

    // Logs: stdout and stderr.
    let logs = rt.logs(&c.id, 100).await.unwrap();
    assert!(
        logs.iter()
            .any(|l| l.text.contains("listening on http://0.0.0.0:8080/mcp")),
        "{logs:?}"
    );
    assert!(
        logs.iter()
            .any(|l| l.text.contains("serving MCP over streamable HTTP")),
        "{logs:?}"
    );

    // A graceful stop (the server exits on SIGTERM), then remove.
    let t = Instant::now();
    let state = rt.stop(&c.id, Duration::from_secs(10)).await.unwrap();
    assert!(matches!(state, ContainerState::Exited(_)), "{state:?}");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "SIGTERM was not enough"
    );
    rt.remove(&c.id).await.unwrap();
    assert_eq!(rt.inspect(&c.id).await.unwrap(), ContainerState::Missing);
    eprintln!("http test: {} ms", t0.elapsed().as_millis());
}

#[tokio::test]
async fn failed_starts_are_clear_and_leave_nothing_behind() {
    let t0 = Instant::now();
    let (fx, docker) = Fixture::new().await;
    let rt = fx.runtime().await;
    assert!(labelled(&docker, &fx.instance).await.is_empty());

    // An image that is not on the host, pulling off.
    let mut spec = fx.spec("missing", &[], &[]);
    spec.launch = Launch::Oci {
        image: format!("mcpo-test/not-here:{}", fx.instance),
    };
    let e = rt.start(&spec, Transport::Stdio).await.unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("mcpo-test/not-here:")
            && msg.contains("is not on this Docker host and pulling is off"),
        "{msg}"
    );
    // So does the npm runner when its image is missing here.
    spec.launch = Launch::Npm {
        package: "@modelcontextprotocol/server-everything".into(),
        version: "1.0.0".into(),
    };
    let rt_npm = DockerRuntime::connect(
        &fx.instance,
        DockerSettings {
            npm_runner_image: format!("mcpo-test/no-node:{}", fx.instance),
            ..DockerSettings::default()
        },
    )
    .await
    .unwrap();
    let e = rt_npm.start(&spec, Transport::Stdio).await.unwrap_err();
    assert!(e.to_string().contains("mcpo-test/no-node:"), "{e}");

    // A program on this host is not for the docker runtime; an image is not for processes.
    spec.launch = Launch::Program {
        path: "/bin/true".into(),
    };
    let e = rt.start(&spec, Transport::Stdio).await.unwrap_err();
    assert!(matches!(e, RuntimeError::Unsupported(_)), "{e}");
    let oci = fx.spec("oci", &[], &[]);
    assert!(matches!(oci.command(), Err(RuntimeError::Unsupported(_))));

    // Created, but the start fails (its entrypoint does not exist): the container goes too.
    let broken = format!(
        "mcpo-test/broken:{}",
        fx.instance.trim_start_matches("test-")
    );
    fx.extra_images.lock().unwrap().push(broken.clone());
    testkit::docker::build_image(
        &docker,
        &broken,
        &[("/empty", 0o644, b"x".to_vec())],
        &["/no-such-program"],
    )
    .await;
    spec.launch = Launch::Oci { image: broken };
    let e = rt.start(&spec, Transport::Stdio).await.unwrap_err();
    assert!(e.to_string().contains("cannot start container"), "{e}");
    let e = rt
        .start(
            &spec,
            Transport::Http {
                port: 8080,
                path: "/mcp".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("cannot start container"), "{e}");

    assert!(
        labelled(&docker, &fx.instance).await.is_empty(),
        "a failed start left a container behind"
    );
    assert!(rt.list_managed().await.unwrap().is_empty());
    eprintln!("failed-start test: {} ms", t0.elapsed().as_millis());
}

#[tokio::test]
async fn list_managed_sees_exactly_this_instances_containers() {
    let t0 = Instant::now();
    let (fx, _docker) = Fixture::new().await;
    let (other, _) = Fixture::new().await;
    let rt = fx.runtime().await;
    let rt_other = other.runtime().await;

    let a = rt
        .start(&fx.spec("a", &[], &[]), Transport::Stdio)
        .await
        .unwrap();
    let b_spec = fx.spec("b", &[], &[]);
    let b = rt.start(&b_spec, Transport::Stdio).await.unwrap();
    let x = rt_other
        .start(&other.spec("x", &[], &[]), Transport::Stdio)
        .await
        .unwrap();
    // The test server exits on SIGTERM (code 0), well within the grace.
    let t = Instant::now();
    assert_eq!(
        rt.stop(&b.id, Duration::from_secs(10)).await.unwrap(),
        ContainerState::Exited(0)
    );
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "SIGTERM was not enough"
    );

    let mut mine = rt.list_managed().await.unwrap();
    mine.sort();
    let mut want = vec![
        (a.id.clone(), format!("{}-a", fx.instance), true),
        (b.id.clone(), format!("{}-b", fx.instance), false),
    ];
    want.sort();
    assert_eq!(mine, want);
    assert_eq!(
        rt_other.list_managed().await.unwrap(),
        vec![(x.id.clone(), format!("{}-x", other.instance), true)]
    );
    // Another instance's container is not ours to stop or remove.
    assert!(matches!(
        rt.remove(&x.id).await,
        Err(RuntimeError::Unsupported(_))
    ));
    assert_eq!(
        rt_other.inspect(&x.id).await.unwrap(),
        ContainerState::Running
    );

    // The same deployment again: the stopped container holding its name is replaced; a
    // running one is not.
    let b2 = rt.start(&b_spec, Transport::Stdio).await.unwrap();
    assert_ne!(b2.id, b.id);
    assert_eq!(rt.inspect(&b.id).await.unwrap(), ContainerState::Missing);
    let e = rt.start(&b_spec, Transport::Stdio).await.unwrap_err();
    assert!(e.to_string().contains("already exists"), "{e}");
    // Restart = stop + remove + a new start.
    let b3 = rt
        .restart(&b2.id, Duration::from_secs(1), &b_spec, Transport::Stdio)
        .await
        .unwrap();
    assert_eq!(rt.inspect(&b2.id).await.unwrap(), ContainerState::Missing);
    assert_eq!(rt.inspect(&b3.id).await.unwrap(), ContainerState::Running);
    assert_eq!(rt.list_managed().await.unwrap().len(), 2);
    drop(other);
    eprintln!("list test: {} ms", t0.elapsed().as_millis());
}
