//! A Docker engine for tests, and images built locally without any registry.
//!
//! `make test` exports `DOCKER_HOST`: the engine already running on this machine, or a
//! private `dockerd` it started (scripts/test-services.sh). Tests that need Docker fail with
//! a clear message when no engine answers; they never pass by skipping.

use bollard::{query_parameters::BuildImageOptionsBuilder, Docker};
use futures_util::StreamExt;

/// Name of the tiny image built from the static busybox binary on this machine.
pub const BUSYBOX_IMAGE: &str = "mcpo-test/busybox:local";

/// Connects to the engine named by `DOCKER_HOST` (or the default socket) and checks it answers.
///
/// # Panics
/// When no engine answers.
pub async fn connect() -> Docker {
    let docker = Docker::connect_with_defaults().expect("Docker client");
    if let Err(e) = docker.ping().await {
        panic!(
            "no Docker engine answers at DOCKER_HOST={:?}: {e}. Run the tests with `make test`, \
             which starts a private dockerd when none is running",
            std::env::var("DOCKER_HOST").ok()
        );
    }
    docker
}

/// Builds `FROM scratch` + `files` (path in image, mode, bytes) with `cmd` as the command,
/// tagged `tag`. Nothing is pulled.
pub async fn build_image(docker: &Docker, tag: &str, files: &[(&str, u32, Vec<u8>)], cmd: &[&str]) {
    let mut dockerfile = String::from("FROM scratch\n");
    for (path, _, _) in files {
        dockerfile.push_str(&format!("COPY {} {path}\n", context_name(path)));
    }
    dockerfile.push_str(&format!("CMD {}\n", serde_json::to_string(cmd).unwrap()));
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes());
    for (path, mode, bytes) in files {
        append(&mut tar, &context_name(path), *mode, bytes);
    }
    let context = tar.into_inner().expect("tar");
    let options = BuildImageOptionsBuilder::default()
        .t(tag)
        .rm(true)
        .forcerm(true)
        .build();
    let mut stream = docker.build_image(options, None, Some(bollard::body_full(context.into())));
    let mut log = String::new();
    while let Some(item) = stream.next().await {
        match item {
            Ok(info) => {
                if let Some(s) = info.stream {
                    log.push_str(&s);
                }
                if let Some(detail) = info.error_detail {
                    panic!("image build failed: {detail:?}\n{log}");
                }
            }
            Err(e) => panic!("image build failed: {e}\n{log}"),
        }
    }
}

/// Builds [`BUSYBOX_IMAGE`] from the static busybox binary (Debian `busybox-static`).
pub async fn build_busybox_image(docker: &Docker) -> &'static str {
    let path = ["/bin/busybox", "/usr/bin/busybox"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
        .expect("a static busybox (Debian busybox-static); `make test` installs it");
    let bytes = std::fs::read(path).expect("read busybox");
    build_image(
        docker,
        BUSYBOX_IMAGE,
        &[("/bin/busybox", 0o755, bytes)],
        &["/bin/busybox", "sleep", "3600"],
    )
    .await;
    BUSYBOX_IMAGE
}

fn context_name(path: &str) -> String {
    path.trim_start_matches('/').replace('/', "_")
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, bytes: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
        .expect("tar entry");
}
