//! A Docker engine for tests, and images built locally without any registry.
//!
//! `make test` exports `DOCKER_HOST`: the engine already running on this machine, or a
//! private `dockerd` it started (scripts/test-services.sh). Tests that need Docker fail with
//! a clear message when no engine answers; they never pass by skipping.

use std::path::{Path, PathBuf};

use bollard::{
    query_parameters::{BuildImageOptionsBuilder, ListContainersOptions},
    Docker,
};
use futures_util::StreamExt;

/// Name of the tiny image built from the static busybox binary on this machine.
pub const BUSYBOX_IMAGE: &str = "mcpo-test/busybox:local";

/// Connects to the engine named by `DOCKER_HOST` (or the default socket) and checks it answers.
/// The API version is negotiated: older engines (e.g. Debian's 20.10, API 1.41) reject
/// requests from a newer client version.
///
/// # Panics
/// When no engine answers.
pub async fn connect() -> Docker {
    let docker = Docker::connect_with_defaults().expect("Docker client");
    match docker.negotiate_version().await {
        Ok(docker) => docker,
        Err(e) => panic!(
            "no Docker engine answers at DOCKER_HOST={:?}: {e}. Run the tests with `make test`, \
             which starts a private dockerd when none is running",
            std::env::var("DOCKER_HOST").ok()
        ),
    }
}

/// Builds `FROM scratch` + `files` (path in image, mode, bytes) with `cmd` as the command,
/// tagged `tag`. Nothing is pulled.
pub async fn build_image(docker: &Docker, tag: &str, files: &[(&str, u32, Vec<u8>)], cmd: &[&str]) {
    let mut dockerfile = String::from("FROM scratch\n");
    for (path, _, _) in files {
        dockerfile.push_str(&format!("COPY {} {path}\n", context_name(path)));
    }
    dockerfile.push_str(&format!("CMD {}\n", serde_json::to_string(cmd).unwrap()));
    if let Err(e) = build_dockerfile(docker, tag, &dockerfile, files).await {
        panic!("{e}");
    }
}

/// Builds `dockerfile` with `files` in its context (named by [`context_name`]) as `tag`.
async fn build_dockerfile(
    docker: &Docker,
    tag: &str,
    dockerfile: &str,
    files: &[(&str, u32, Vec<u8>)],
) -> Result<(), BoxError> {
    let mut tar = tar::Builder::new(Vec::new());
    append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes());
    for (path, mode, bytes) in files {
        append(&mut tar, &context_name(path), *mode, bytes);
    }
    build_context(docker, tag, tar.into_inner()?).await
}

/// Builds the tar build `context` (a `Dockerfile` at its root) as `tag`.
async fn build_context(docker: &Docker, tag: &str, context: Vec<u8>) -> Result<(), BoxError> {
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
                    return Err(format!("image build of {tag} failed: {detail:?}\n{log}").into());
                }
            }
            Err(e) => return Err(format!("image build of {tag} failed: {e}\n{log}").into()),
        }
    }
    Ok(())
}

/// Errors of the fallible helpers.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The target the static test server is built for (glibc, static CRT: no musl toolchain).
pub const STATIC_TARGET: &str = "x86_64-unknown-linux-gnu";

static STATIC_TEST_SERVER: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();

/// Builds `mcp-test-server` as a static binary (once per test process; cargo no-ops when it
/// is up to date) and returns its path:
/// `cargo build -p mcp-test-server --release --target x86_64-unknown-linux-gnu` with
/// `RUSTFLAGS="-C target-feature=+crt-static"` in its own target dir (`$CARGO_TARGET_DIR` or
/// the workspace's `target`, then `/static`: the same as `mcp-test-server/build-static.sh`),
/// so the different flags never rebuild the shared one. Fails unless the result is static
/// (no ELF interpreter).
pub async fn static_mcp_test_server() -> Result<PathBuf, BoxError> {
    STATIC_TEST_SERVER
        .get_or_try_init(|| async {
            let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
                .parent()
                .ok_or("no workspace root")?
                .to_path_buf();
            let target_dir = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| workspace.join("target"))
                .join("static");
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            let started = std::time::Instant::now();
            let out = tokio::process::Command::new(cargo)
                .current_dir(&workspace)
                .args(["build", "-p", "mcp-test-server", "--release", "--target"])
                .arg(STATIC_TARGET)
                .arg("--target-dir")
                .arg(&target_dir)
                .env("RUSTFLAGS", "-C target-feature=+crt-static")
                .env_remove("CARGO_ENCODED_RUSTFLAGS")
                .env_remove("CARGO_BUILD_RUSTFLAGS")
                .env_remove("CARGO_TARGET_DIR")
                .kill_on_drop(true)
                .output()
                .await?;
            if !out.status.success() {
                return Err(format!(
                    "the static build of mcp-test-server failed ({}):\n{}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            let bin = target_dir
                .join(STATIC_TARGET)
                .join("release")
                .join("mcp-test-server");
            let bytes = tokio::fs::read(&bin).await?;
            if !is_static_elf(&bytes) {
                return Err(format!(
                    "{} is not a static executable (it names an ELF interpreter)",
                    bin.display()
                )
                .into());
            }
            eprintln!(
                "static mcp-test-server: {} ({} ms)",
                bin.display(),
                started.elapsed().as_millis()
            );
            Ok(bin)
        })
        .await
        .cloned()
}

/// Builds a `FROM scratch` image of the static `mcp-test-server` ([`static_mcp_test_server`])
/// tagged `tag`: `USER 65534`, `ENTRYPOINT ["/mcp-test-server"]` (stdio by default; pass
/// `--transport http --listen 0.0.0.0:8080` as the command for HTTP). Nothing is pulled.
/// Returns the tag. The caller removes the image when done.
pub async fn build_mcp_test_server_image(docker: &Docker, tag: &str) -> Result<String, BoxError> {
    let bin = static_mcp_test_server().await?;
    let bytes = tokio::fs::read(&bin).await?;
    let dockerfile = format!(
        "FROM scratch\nCOPY {} /mcp-test-server\nUSER 65534\nENTRYPOINT [\"/mcp-test-server\"]\n",
        context_name("/mcp-test-server")
    );
    build_dockerfile(
        docker,
        tag,
        &dockerfile,
        &[("/mcp-test-server", 0o755, bytes)],
    )
    .await?;
    Ok(tag.to_owned())
}

/// Whether `elf` is an ELF executable without a `PT_INTERP` program header (static or
/// static-pie).
fn is_static_elf(elf: &[u8]) -> bool {
    const PT_INTERP: u32 = 3;
    // 64-bit little-endian ELF only (the target above).
    if elf.len() < 64 || &elf[..4] != b"\x7fELF" || elf[4] != 2 || elf[5] != 1 {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([elf[o], elf[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(elf[0x20..0x28].try_into().unwrap()) as usize;
    let (phentsize, phnum) = (u16_at(0x36), u16_at(0x38));
    (0..phnum).all(|i| {
        let o = phoff + i * phentsize;
        elf.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != PT_INTERP)
    })
}

/// The version of npm `@modelcontextprotocol/server-everything` that
/// [`build_everything_image`] installs.
pub const EVERYTHING_VERSION: &str = "2026.8.31";

/// The node binary of this machine that [`build_everything_image`] puts in its image.
const NODE: &str = "/usr/bin/node";

/// Builds a `FROM scratch` image of npm `@modelcontextprotocol/server-everything`
/// ([`EVERYTHING_VERSION`]) tagged `tag`, from files on this machine only: `npm install` into a
/// temporary directory (the npm registry is the only download), then this machine's
/// `/usr/bin/node` with every shared library `ldd` names for it (and the dynamic loader) at the
/// same paths, and the installed `node_modules` under `/app`. `ENTRYPOINT` is node with the
/// package's `bin` script (stdio by default), `USER 65534`, `HOME=/tmp`: it runs with a read-only
/// root and a tmpfs `/tmp`. Returns the tag. The caller removes the image when done.
pub async fn build_everything_image(docker: &Docker, tag: &str) -> Result<String, BoxError> {
    const PACKAGE: &str = "@modelcontextprotocol/server-everything";
    let started = std::time::Instant::now();
    let dir = tempfile::tempdir()?;
    let mut npm = tokio::process::Command::new("npm");
    npm.arg("install")
        .arg("--prefix")
        .arg(dir.path())
        .arg(format!("{PACKAGE}@{EVERYTHING_VERSION}"))
        .args(["--no-audit", "--no-fund", "--loglevel=error"])
        .current_dir(dir.path())
        .kill_on_drop(true);
    let out = tokio::time::timeout(std::time::Duration::from_secs(300), npm.output())
        .await
        .map_err(|_| "npm install of server-everything took over 300 s")??;
    if !out.status.success() {
        return Err(format!(
            "npm install {PACKAGE}@{EVERYTHING_VERSION} failed ({}):\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    // The script the package runs as (`bin`), relative to the package.
    let package_dir = format!("node_modules/{PACKAGE}");
    let manifest: serde_json::Value = serde_json::from_slice(
        &tokio::fs::read(dir.path().join(&package_dir).join("package.json")).await?,
    )?;
    let bin = match &manifest["bin"] {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Object(m) => m
            .values()
            .find_map(|v| v.as_str())
            .ok_or("server-everything's package.json has an empty `bin`")?
            .to_owned(),
        _ => return Err("server-everything's package.json has no `bin`".into()),
    };
    let script = format!("/app/{package_dir}/{}", bin.trim_start_matches("./"));
    let libraries = shared_libraries(NODE).await?;
    let dockerfile = format!(
        "FROM scratch\nCOPY rootfs/ /\nENV HOME=/tmp\nUSER 65534\nENTRYPOINT {}\n",
        serde_json::to_string(&[NODE, script.as_str()])?
    );
    let modules = dir.path().join("node_modules");
    let context = tokio::task::spawn_blocking(move || -> Result<Vec<u8>, BoxError> {
        let mut tar = tar::Builder::new(Vec::new());
        tar.mode(tar::HeaderMode::Deterministic);
        // npm's `.bin` links stay links.
        tar.follow_symlinks(false);
        append(&mut tar, "Dockerfile", 0o644, dockerfile.as_bytes());
        let mut dirs = std::collections::BTreeSet::new();
        for file in std::iter::once(Path::new(NODE)).chain(libraries.iter().map(PathBuf::as_path)) {
            let mut parent = file.parent();
            while let Some(p) = parent.filter(|p| *p != Path::new("/")) {
                dirs.insert(p.to_path_buf());
                parent = p.parent();
            }
        }
        for d in &dirs {
            append_dir(&mut tar, &format!("rootfs{}", d.display()));
        }
        // Read through links (libstdc++.so.6 -> libstdc++.so.6.0.30): the copy keeps the name
        // the loader looks for.
        append(
            &mut tar,
            &format!("rootfs{NODE}"),
            0o755,
            &std::fs::read(NODE)?,
        );
        for lib in &libraries {
            append(
                &mut tar,
                &format!("rootfs{}", lib.display()),
                0o755,
                &std::fs::read(lib)?,
            );
        }
        append_dir(&mut tar, "rootfs/app");
        tar.append_dir_all("rootfs/app/node_modules", &modules)?;
        Ok(tar.into_inner()?)
    })
    .await??;
    build_context(docker, tag, context).await?;
    eprintln!(
        "image {tag}: server-everything {EVERYTHING_VERSION} on this machine's node ({} ms)",
        started.elapsed().as_millis()
    );
    Ok(tag.to_owned())
}

/// The shared libraries `ldd` names for `binary`, the dynamic loader included (absolute paths,
/// as the binary and the loader look for them; the vDSO has no file and is left out).
async fn shared_libraries(binary: &str) -> Result<Vec<PathBuf>, BoxError> {
    let out = tokio::process::Command::new("ldd")
        .arg(binary)
        .kill_on_drop(true)
        .output()
        .await?;
    if !out.status.success() {
        return Err(format!(
            "ldd {binary} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let libraries: Vec<PathBuf> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|line| {
            // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux….so.2 (0x…)`
            let path = line.split("=>").last()?.split_whitespace().next()?;
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    if libraries.is_empty() {
        return Err(format!("ldd names no shared library for {binary}").into());
    }
    if let Some(missing) = String::from_utf8_lossy(&out.stdout)
        .lines()
        .find(|l| l.contains("not found"))
    {
        return Err(format!("{binary} misses a library: {}", missing.trim()).into());
    }
    Ok(libraries)
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

fn append_dir(tar: &mut tar::Builder<Vec<u8>>, name: &str) {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_size(0);
    header.set_mode(0o755);
    header.set_cksum();
    tar.append_data(&mut header, name, std::io::empty())
        .expect("tar entry");
}

fn append(tar: &mut tar::Builder<Vec<u8>>, name: &str, mode: u32, bytes: &[u8]) {
    let mut header = tar::Header::new_gnu();
    header.set_size(bytes.len() as u64);
    header.set_mode(mode);
    header.set_cksum();
    tar.append_data(&mut header, name, bytes)
        .expect("tar entry");
}

/// Ids of every container (running or not) matching the engine's list filter `key=value`,
/// e.g. `("label", "io.mcpo.deployment=…")` or `("ancestor", image)`.
///
/// # Panics
/// When the engine does not answer.
pub async fn containers_where(docker: &Docker, key: &str, value: &str) -> Vec<String> {
    let filters = std::collections::HashMap::from([(key.to_owned(), vec![value.to_owned()])]);
    docker
        .list_containers(Some(ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..Default::default()
        }))
        .await
        .expect("list containers")
        .into_iter()
        .filter_map(|c| c.id)
        .collect()
}
