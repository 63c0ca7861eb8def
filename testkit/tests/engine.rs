//! `PrivateEngine`: an isolated dockerd that goes away (cleanly or by a crash) and comes back
//! with its images, while the shared engine of `DOCKER_HOST` keeps answering.

use std::time::{Duration, Instant};

use bollard::{
    models::{ContainerCreateBody, HostConfig},
    query_parameters::{CreateContainerOptionsBuilder, InspectContainerOptions},
    Docker,
};
use testkit::engine::{engine_processes, PrivateEngine};

const IMAGE: &str = "mcpo-test/engine-probe:1";

/// Runs `fut` for at most `secs` seconds.
async fn bounded<T>(secs: u64, what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(secs), fut)
        .await
        .unwrap_or_else(|_| panic!("{what} took over {secs} s"))
}

async fn answers(docker: &Docker) -> bool {
    matches!(
        tokio::time::timeout(Duration::from_secs(10), docker.ping()).await,
        Ok(Ok(_))
    )
}

async fn shared_still_answers(shared: &Docker, shared_id: &str) {
    let info = bounded(10, "shared engine info", shared.info())
        .await
        .expect("the shared engine answers");
    assert_eq!(
        info.id.as_deref(),
        Some(shared_id),
        "the shared engine changed"
    );
}

/// Creates and starts a container of the test server with stdin open (it serves stdio until
/// stdin closes), returns its id once it has run for a second.
async fn run_probe(docker: &Docker, name: &str) -> String {
    let id = bounded(
        30,
        "create",
        docker.create_container(
            Some(CreateContainerOptionsBuilder::default().name(name).build()),
            ContainerCreateBody {
                image: Some(IMAGE.to_owned()),
                open_stdin: Some(true),
                labels: Some([("mcpo.test".to_owned(), "engine".to_owned())].into()),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("create the probe container")
    .id;
    bounded(30, "start", docker.start_container(&id, None))
        .await
        .expect("start the probe container");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        running(docker, &id).await,
        "the probe container is not running"
    );
    id
}

async fn running(docker: &Docker, id: &str) -> bool {
    bounded(
        10,
        "inspect",
        docker.inspect_container(id, None::<InspectContainerOptions>),
    )
    .await
    .expect("inspect the probe container")
    .state
    .and_then(|s| s.running)
    .expect("container state")
}

/// The host's network interfaces, `name:ifindex`, but veth pairs (the shared engine's
/// containers come and go while this runs).
fn host_interfaces() -> Vec<String> {
    let mut all: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .filter_map(|e| {
            let e = e.ok()?;
            if e.file_name().to_string_lossy().starts_with("veth") {
                return None;
            }
            let index = std::fs::read_to_string(e.path().join("ifindex")).ok()?;
            Some(format!(
                "{}:{}",
                e.file_name().to_string_lossy(),
                index.trim()
            ))
        })
        .collect();
    all.sort();
    all
}

fn netns_of(pid: i32) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/net"))
        .unwrap_or_else(|e| panic!("netns of {pid}: {e}"))
        .display()
        .to_string()
}

/// The process command lines (NUL → space) that contain `needle`.
fn processes_naming(needle: &str) -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|d| d.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| testkit::process_alive(*pid))
        .filter_map(|pid| {
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            cmd.contains(needle).then_some((pid, cmd))
        })
        .collect()
}

#[tokio::test]
async fn private_engine_goes_away_and_comes_back_beside_the_shared_one() {
    let shared = testkit::docker::connect().await;
    let shared_id = bounded(10, "shared info", shared.info())
        .await
        .expect("shared engine info")
        .id
        .expect("shared engine id");
    let shared_host = std::env::var("DOCKER_HOST").unwrap_or_default();
    let interfaces = host_interfaces();

    let t = Instant::now();
    let mut engine = bounded(90, "PrivateEngine::start", PrivateEngine::start()).await;
    let start_ms = t.elapsed().as_millis();
    assert!(engine.is_running());
    assert_ne!(engine.host(), shared_host);
    let docker = engine.client().await;
    let info = bounded(10, "private info", docker.info())
        .await
        .expect("private engine info");
    assert_ne!(info.id.as_deref(), Some(shared_id.as_str()));
    let root = engine.root().display().to_string();
    assert!(
        info.docker_root_dir
            .as_deref()
            .is_some_and(|d| d.starts_with(&root)),
        "data root {:?} is not under {root}",
        info.docker_root_dir
    );
    assert_eq!(info.driver.as_deref(), Some("vfs"));
    // dockerd and its own containerd, nothing else yet.
    let own = processes_naming(&format!("{root}/"));
    assert_eq!(own.len(), 2, "engine processes: {own:?}");
    let containerd = own
        .iter()
        .find(|(_, c)| c.starts_with("containerd "))
        .expect("its containerd")
        .0;
    let dockerd = own
        .iter()
        .find(|(_, c)| {
            c.starts_with("dockerd ")
                && c.contains(&format!("--containerd {root}/containerd/containerd.sock"))
        })
        .expect("its dockerd")
        .0;
    // Both in one network namespace of their own; the host's interfaces are untouched.
    let private_netns = netns_of(containerd);
    assert_eq!(netns_of(dockerd), private_netns);
    assert_ne!(private_netns, netns_of(std::process::id() as i32));
    assert_eq!(
        host_interfaces(),
        interfaces,
        "the host's interfaces changed"
    );
    shared_still_answers(&shared, &shared_id).await;

    let t = Instant::now();
    bounded(
        600,
        "image build",
        testkit::docker::build_mcp_test_server_image(&docker, IMAGE),
    )
    .await
    .expect("build the probe image in the private engine");
    eprintln!("image built in {} ms", t.elapsed().as_millis());
    assert!(
        bounded(10, "shared inspect", shared.inspect_image(IMAGE))
            .await
            .is_err(),
        "the image went to the shared engine"
    );

    // A clean outage.
    let id = run_probe(&docker, "engine-probe-1").await;
    // Its shim talks to this engine's containerd, not the shared one's.
    let shims = processes_naming(&format!("-id {id}"));
    assert_eq!(shims.len(), 1, "shims: {shims:?}");
    assert!(
        shims[0]
            .1
            .contains(&format!("-address {root}/containerd/containerd.sock")),
        "shim: {shims:?}"
    );
    // Networking works inside the private namespace: an address on the private bridge; a
    // `host`-network container shares the engine's namespace, not the host's.
    let probe = bounded(
        10,
        "inspect",
        docker.inspect_container(&id, None::<InspectContainerOptions>),
    )
    .await
    .unwrap();
    let address = probe
        .network_settings
        .and_then(|n| n.networks?.get("bridge")?.ip_address.clone())
        .unwrap_or_default();
    assert!(address.starts_with("172."), "bridge address {address:?}");
    let pid = probe.state.and_then(|s| s.pid).expect("pid") as i32;
    assert_ne!(netns_of(pid), private_netns);
    let host_mode = bounded(
        30,
        "create",
        docker.create_container(
            Some(
                CreateContainerOptionsBuilder::default()
                    .name("engine-probe-host")
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(IMAGE.to_owned()),
                open_stdin: Some(true),
                host_config: Some(HostConfig {
                    network_mode: Some("host".to_owned()),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
    )
    .await
    .expect("create a host-network container")
    .id;
    bounded(30, "start", docker.start_container(&host_mode, None))
        .await
        .expect("start the host-network container");
    let pid = bounded(
        10,
        "inspect",
        docker.inspect_container(&host_mode, None::<InspectContainerOptions>),
    )
    .await
    .unwrap()
    .state
    .and_then(|s| s.pid)
    .expect("pid") as i32;
    assert_eq!(netns_of(pid), private_netns, "a host-network container");
    assert_eq!(
        host_interfaces(),
        interfaces,
        "the host's interfaces changed"
    );

    let t = Instant::now();
    bounded(120, "stop", engine.stop()).await;
    let stop_ms = t.elapsed().as_millis();
    assert!(!engine.is_running());
    assert!(!answers(&docker).await, "the stopped engine still answers");
    assert_eq!(engine_processes(engine.root()), Vec::<i32>::new());
    shared_still_answers(&shared, &shared_id).await;

    let t = Instant::now();
    bounded(90, "restart", engine.restart()).await;
    let restart_ms = t.elapsed().as_millis();
    assert!(engine.is_running());
    // The client made before the outage works again.
    assert!(
        answers(&docker).await,
        "the restarted engine does not answer"
    );
    assert!(answers(&engine.client().await).await);
    bounded(10, "inspect image", docker.inspect_image(IMAGE))
        .await
        .expect("the image survives a restart");
    assert!(
        !running(&docker, &id).await,
        "the container survived the stop"
    );
    shared_still_answers(&shared, &shared_id).await;

    // A crash.
    let id2 = run_probe(&docker, "engine-probe-2").await;
    let t = Instant::now();
    engine.kill();
    let kill_ms = t.elapsed().as_millis();
    assert!(!engine.is_running());
    assert!(!answers(&docker).await, "the killed engine still answers");
    assert_eq!(engine_processes(engine.root()), Vec::<i32>::new());
    shared_still_answers(&shared, &shared_id).await;
    let t = Instant::now();
    bounded(90, "restart after kill", engine.restart()).await;
    let restart_after_kill_ms = t.elapsed().as_millis();
    assert!(answers(&docker).await);
    assert!(
        !running(&docker, &id2).await,
        "the container survived the kill"
    );
    bounded(10, "inspect image", docker.inspect_image(IMAGE))
        .await
        .expect("the image survives a crash");
    // The containers start again after the outage.
    bounded(30, "start again", docker.start_container(&id, None))
        .await
        .expect("restart the first probe");
    assert!(running(&docker, &id).await);

    let t = Instant::now();
    let dir = engine.root().to_owned();
    drop(engine);
    let drop_ms = t.elapsed().as_millis();
    assert!(!dir.exists(), "{} is left behind", dir.display());
    assert_eq!(processes_naming(&format!("{root}/")), vec![]);
    assert_eq!(
        host_interfaces(),
        interfaces,
        "the host's interfaces changed"
    );
    shared_still_answers(&shared, &shared_id).await;

    eprintln!(
        "timings: start {start_ms} ms, stop (2 running containers) {stop_ms} ms, restart \
         {restart_ms} ms, kill {kill_ms} ms, restart after kill {restart_after_kill_ms} ms, \
         drop (1 running container) {drop_ms} ms"
    );
}
