//! A private, isolated Docker engine that a test can stop and start again ("the Docker engine
//! goes away, then comes back") without disturbing the shared engine of `DOCKER_HOST`.
//!
//! [`PrivateEngine::start`] runs Debian's `dockerd` (docker.io 20.10) and a `containerd` of its
//! own, with every path under a fresh `/tmp/mcpo-engine-XXXXXX/` directory:
//!
//! - `docker.sock` (`--host`), `data/` (`--data-root`), `exec/` (`--exec-root`), `dockerd.pid`
//!   (`--pidfile`), `daemon.json` (`--config-file`: `/etc/docker/daemon.json` is never read),
//!   `key.json` (`deprecated-key-path` in `daemon.json`, there is no flag: the engine ID that
//!   `docker info` reports derives from it, and with the default `/etc/docker/key.json` every
//!   engine on the machine has the same ID), `dockerd.log`;
//! - `containerd/` with its config, root, state, gRPC/ttrpc/debug sockets and `containerd.log`.
//!   This module starts that containerd itself and passes `--containerd`: dockerd 20.10 only
//!   supervises a containerd of its own when `/run/containerd/containerd.sock` does not *exist*
//!   (it `lstat`s the file), and otherwise shares that system containerd (same `moby`
//!   namespace) with every other engine. With an explicit socket that cannot happen.
//!
//! Networking is private: containerd starts in a new network namespace (loopback up, nothing
//! else) and dockerd joins it, so the engine's default bridge (`docker0`), its veth pairs,
//! sysctls and any rule it would add live there, never on the host, and containers on the
//! `host` network share that namespace, not the host's. This matters: a second dockerd on the
//! host's network would fight the shared engine over `docker0` (with `--bridge=none`, dockerd
//! 20.10 even *deletes* an existing `docker0` at start-up, breaking the shared engine's
//! containers). On top, `--iptables=false`, `--ip6tables=false`, `--ip-masq=false`,
//! `--ip-forward=false` and `--userland-proxy=false` keep it off the shared iptables lock and
//! quick to start. Containers get an address on the private bridge (172.17.0.0/16 inside the
//! namespace) and can reach each other, but nothing outside: **published ports are not
//! reachable from the host** and containers have no network access. Tests talk to them over
//! stdio (attach), which is what the orchestrator does.
//!
//! Shared with other engines on purpose (harmless): the mount namespace, the `docker` cgroup
//! parent (container ids are unique) and containerd's shim socket directory
//! `/run/containerd/s` (names are hashed from this engine's containerd socket; a killed
//! shim leaves its socket there, which [`PrivateEngine::kill`] and drop remove).
//!
//! Life cycle:
//! - [`PrivateEngine::stop`] is a clean outage: SIGTERM to dockerd, which stops its running
//!   containers (SIGTERM, then SIGKILL after each container's stop timeout, 10 s by default:
//!   a container that ignores SIGTERM makes `stop` take about 10 s), then containerd.
//! - [`PrivateEngine::kill`] is a crash: SIGKILL to dockerd, containerd, the shims and every
//!   container process, like the host losing power.
//! - [`PrivateEngine::restart`] starts the same engine again on the same data root: images
//!   built earlier are still there; containers that were running are there but exited (no
//!   live-restore).
//! - Dropping the engine kills everything (as [`PrivateEngine::kill`]), unmounts what is
//!   mounted under its directory and removes it. An engine left behind by a test process that
//!   died without dropping it is removed by the next [`PrivateEngine::start`] (each directory
//!   names its owner process).
//!
//! Measured here (2 cores, vfs, debug test build, other builds running or not): start
//! 0.2–0.8 s, stop 0.15–0.4 s with containers that exit on SIGTERM (about 11 s with one that
//! ignores it, e.g. a shell or `sleep` as PID 1), restart 0.15–0.85 s, kill 30–90 ms, drop
//! 50–300 ms.
//!
//! Clients: [`PrivateEngine::client`] pins the API version the engine negotiated at start and
//! keeps no idle connection, so a client made before [`PrivateEngine::stop`] fails while the
//! engine is away and works again after [`PrivateEngine::restart`].

use std::{
    collections::BTreeSet,
    ffi::{CString, OsString},
    fs,
    io::{Read, Seek, SeekFrom},
    os::{
        fd::AsRawFd,
        unix::{
            fs::{FileTypeExt, PermissionsExt},
            net::UnixStream,
            process::CommandExt,
        },
    },
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Stdio},
    sync::OnceLock,
    time::{Duration, Instant},
};

use bollard::{ClientVersion, Docker, API_DEFAULT_VERSION};

/// How long [`PrivateEngine::start`] and [`PrivateEngine::restart`] wait for dockerd to answer.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long containerd may take to listen.
const CONTAINERD_START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long dockerd may take to exit after SIGTERM: it stops each running container first
/// (their stop timeout, 10 s by default, plus its own grace).
const STOP_TIMEOUT: Duration = Duration::from_secs(90);
/// How long containerd may take to exit after SIGTERM.
const CONTAINERD_STOP_TIMEOUT: Duration = Duration::from_secs(15);
/// How long killed processes may take to disappear.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);
/// Request timeout (seconds) of the clients [`PrivateEngine::client`] makes (image builds
/// included).
const CLIENT_TIMEOUT_SECS: u64 = 120;
/// Where engines live: short paths (a unix socket path has at most 107 bytes), whatever
/// `TMPDIR` says.
const BASE_DIR: &str = "/tmp";
/// Name prefix of every engine directory under [`BASE_DIR`].
const DIR_PREFIX: &str = "mcpo-engine-";

/// Environment variables dockerd and containerd must not inherit from the test.
const SCRUBBED_ENV: &[&str] = &[
    "DOCKER_HOST",
    "DOCKER_TMPDIR",
    "DOCKER_DRIVER",
    "DOCKER_RAMDISK",
    "DOCKER_CERT_PATH",
    "DOCKER_TLS_VERIFY",
    "DOCKER_CONFIG",
    "CONTAINERD_ADDRESS",
    "NOTIFY_SOCKET",
];

/// A private `dockerd` (with its own containerd) under a temporary directory. See the module
/// documentation. Killed, unmounted and removed on drop.
pub struct PrivateEngine {
    dir: tempfile::TempDir,
    dockerd: Option<Child>,
    containerd: Option<Child>,
    /// The API version negotiated at the last (re)start (20.10: 1.41).
    api: ClientVersion,
}

impl PrivateEngine {
    /// Starts a fresh isolated engine and waits (at most 60 s) until it answers a ping.
    ///
    /// # Panics
    /// When it does not come up, with the tail of dockerd's and containerd's logs.
    pub async fn start() -> Self {
        reap_stale_engines();
        let dir = tempfile::Builder::new()
            .prefix(DIR_PREFIX)
            .tempdir_in(BASE_DIR)
            .expect("create the private engine's directory");
        // First, and atomically (a rename), so that a concurrent `start` never takes this
        // directory for a stale one.
        fs::write(
            dir.path().join("owner.new"),
            process_identity(std::process::id() as i32).expect("own /proc/self/stat"),
        )
        .expect("write the owner file");
        fs::rename(dir.path().join("owner.new"), dir.path().join("owner"))
            .expect("rename the owner file");
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o711))
            .expect("chmod the engine directory");
        let mut engine = Self {
            dir,
            dockerd: None,
            containerd: None,
            api: *API_DEFAULT_VERSION,
        };
        let longest = engine.containerd_socket().as_os_str().len() + ".ttrpc".len();
        assert!(
            longest < 100,
            "socket paths under {} are too long",
            engine.root().display()
        );
        // The engine's ID derives from this key (a daemon.json setting only, no flag); the
        // default /etc/docker/key.json would give it the ID of every other engine here.
        let config = serde_json::json!({
            "deprecated-key-path": engine.root().join("key.json"),
        });
        fs::write(engine.root().join("daemon.json"), config.to_string())
            .expect("write daemon.json");
        fs::create_dir_all(engine.root().join("containerd")).expect("mkdir containerd");
        fs::write(
            engine.root().join("containerd/containerd.toml"),
            containerd_config(engine.root()),
        )
        .expect("write containerd.toml");
        let started = Instant::now();
        engine.boot().await;
        eprintln!(
            "private engine {}: started in {} ms (API {}.{})",
            engine.host(),
            started.elapsed().as_millis(),
            engine.api.major_version,
            engine.api.minor_version
        );
        engine
    }

    /// `unix:///tmp/mcpo-engine-…/docker.sock`, suitable for `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    /// The engine's directory (data root, exec root, logs, containerd).
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// A client of this engine, at the API version it negotiated at start. It keeps no idle
    /// connection: made before [`Self::stop`], it fails while the engine is away and works
    /// again after [`Self::restart`].
    ///
    /// # Panics
    /// When the engine is not running (bollard needs the socket file to exist).
    pub async fn client(&self) -> Docker {
        Docker::connect_with_unix(&self.host(), CLIENT_TIMEOUT_SECS, &self.api)
            .unwrap_or_else(|e| panic!("private engine {} is not running: {e}", self.host()))
    }

    /// Stops the engine like an outage: SIGTERM to dockerd (which stops its running
    /// containers), waits (bounded) until it has exited and its socket no longer answers, then
    /// stops containerd. Does nothing when it is not running.
    ///
    /// # Panics
    /// When dockerd does not exit within 90 s (it is then killed) or its socket still answers.
    pub async fn stop(&mut self) {
        let started = Instant::now();
        if let Some(mut dockerd) = self.dockerd.take() {
            signal(dockerd.id() as i32, libc::SIGTERM);
            if wait_child(&mut dockerd, STOP_TIMEOUT).await.is_none() {
                let _ = dockerd.kill();
                let _ = dockerd.wait();
                self.kill_everything();
                panic!(
                    "private dockerd did not exit within {} s of SIGTERM\n{}",
                    STOP_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while UnixStream::connect(self.socket()).is_ok() {
            assert!(
                Instant::now() < deadline,
                "the private engine's socket still answers after dockerd exited\n{}",
                self.log_tail()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        if let Some(mut containerd) = self.containerd.take() {
            signal(containerd.id() as i32, libc::SIGTERM);
            if wait_child(&mut containerd, CONTAINERD_STOP_TIMEOUT)
                .await
                .is_none()
            {
                eprintln!(
                    "private engine {}: containerd ignored SIGTERM for {} s, killing it",
                    self.host(),
                    CONTAINERD_STOP_TIMEOUT.as_secs()
                );
                let _ = containerd.kill();
                let _ = containerd.wait();
            }
        }
        // A clean shutdown leaves nothing; anything left (a shim, a container) is killed.
        let left = kill_processes(self.root());
        if !left.is_empty() {
            eprintln!(
                "private engine {}: killed {} process(es) left after the shutdown: {left:?}",
                self.host(),
                left.len()
            );
        }
        eprintln!(
            "private engine {}: stopped in {} ms",
            self.host(),
            started.elapsed().as_millis()
        );
    }

    /// Crashes the engine: SIGKILL to dockerd, containerd, the shims and every container
    /// process, then unmounts what they left mounted (like a host losing power). Returns once
    /// they are gone (bounded). [`Self::restart`] brings the engine back.
    pub fn kill(&mut self) {
        let started = Instant::now();
        self.kill_everything();
        eprintln!(
            "private engine {}: killed in {} ms",
            self.host(),
            started.elapsed().as_millis()
        );
    }

    /// Starts the same engine again (same data root: images built earlier are still there;
    /// containers that were running are there, exited) and waits (at most 60 s) until it
    /// answers. Stops it first ([`Self::stop`]) when it is running.
    ///
    /// # Panics
    /// As [`Self::start`].
    pub async fn restart(&mut self) {
        if self.is_running() {
            self.stop().await;
        }
        let started = Instant::now();
        self.boot().await;
        eprintln!(
            "private engine {}: restarted in {} ms",
            self.host(),
            started.elapsed().as_millis()
        );
    }

    /// Whether dockerd is running (it may not answer yet, or any more).
    pub fn is_running(&self) -> bool {
        self.dockerd
            .as_ref()
            .is_some_and(|c| crate::process_alive(c.id() as i32))
    }

    /// The last lines of dockerd's and containerd's logs.
    pub fn log_tail(&self) -> String {
        format!(
            "--- {0}/dockerd.log (tail) ---\n{1}\n--- {0}/containerd/containerd.log (tail) ---\n{2}",
            self.root().display(),
            tail(&self.root().join("dockerd.log"), 40),
            tail(&self.root().join("containerd/containerd.log"), 15),
        )
    }

    fn socket(&self) -> PathBuf {
        self.root().join("docker.sock")
    }

    fn containerd_socket(&self) -> PathBuf {
        self.root().join("containerd/containerd.sock")
    }

    /// Starts containerd (unless it runs) and dockerd, and waits until dockerd answers.
    async fn boot(&mut self) {
        if let Some(status) = self.containerd.as_mut().and_then(|c| c.try_wait().ok()?) {
            eprintln!(
                "private engine {}: containerd had exited ({status})",
                self.host()
            );
            self.containerd = None;
        }
        if let Some(status) = self.dockerd.as_mut().and_then(|c| c.try_wait().ok()?) {
            eprintln!(
                "private engine {}: dockerd had exited ({status})",
                self.host()
            );
            self.dockerd = None;
        }
        assert!(
            self.dockerd.is_none(),
            "private engine {} is already running",
            self.host()
        );
        if self.containerd.is_none() {
            let config = self.root().join("containerd/containerd.toml");
            let child = self.spawn(
                "containerd",
                &["--config".into(), config.into()],
                &self.root().join("containerd/containerd.log"),
                NetNs::New,
            );
            self.containerd = Some(child);
            self.wait_containerd().await;
        }
        let root = self.root().to_owned();
        let path = |p: &str| -> OsString { root.join(p).into() };
        let mut args: Vec<OsString> = vec![
            "--config-file".into(),
            path("daemon.json"),
            "--host".into(),
            self.host().into(),
            "--data-root".into(),
            path("data"),
            "--exec-root".into(),
            path("exec"),
            "--pidfile".into(),
            path("dockerd.pid"),
            "--containerd".into(),
            self.containerd_socket().into(),
            "--storage-driver=vfs".into(),
            "--iptables=false".into(),
            "--ip-forward=false".into(),
            "--ip-masq=false".into(),
            "--userland-proxy=false".into(),
        ];
        if dockerd_has_ip6tables_flag() {
            args.push("--ip6tables=false".into());
        }
        let containerd = self.containerd.as_ref().expect("containerd runs").id();
        let netns = fs::File::open(format!("/proc/{containerd}/ns/net"))
            .unwrap_or_else(|e| panic!("open containerd's network namespace: {e}"));
        let child = self.spawn(
            "dockerd",
            &args,
            &self.root().join("dockerd.log"),
            NetNs::Join(netns),
        );
        self.dockerd = Some(child);
        self.wait_dockerd().await;
    }

    /// Runs `program` in its own process group (a Ctrl-C of the test does not reach it) and in
    /// the network namespace `netns`, its output appended to `log`.
    fn spawn(&self, program: &str, args: &[OsString], log: &Path, netns: NetNs) -> Child {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .expect("open the engine log");
        let mut cmd = Command::new(program);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("dup the engine log"))
            .stderr(log)
            .process_group(0);
        for var in SCRUBBED_ENV {
            cmd.env_remove(var);
        }
        match &netns {
            // SAFETY: the hooks only make system calls (no allocation, no lock).
            NetNs::New => unsafe {
                cmd.pre_exec(enter_new_netns);
            },
            NetNs::Join(file) => {
                // Open (O_CLOEXEC) until the spawn returns.
                let fd = file.as_raw_fd();
                // SAFETY: as above.
                unsafe {
                    cmd.pre_exec(move || join_netns(fd));
                }
            }
        }
        cmd.spawn().unwrap_or_else(|e| {
            panic!("cannot run {program} (Debian docker.io / containerd installs it): {e}")
        })
    }

    async fn wait_containerd(&mut self) {
        let deadline = Instant::now() + CONTAINERD_START_TIMEOUT;
        loop {
            if let Some(status) = self.containerd.as_mut().and_then(|c| c.try_wait().ok()?) {
                self.containerd = None;
                panic!(
                    "the private engine's containerd exited ({status})\n{}",
                    self.log_tail()
                );
            }
            if UnixStream::connect(self.containerd_socket()).is_ok() {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "the private engine's containerd does not listen after {} s\n{}",
                    CONTAINERD_START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    async fn wait_dockerd(&mut self) {
        let deadline = Instant::now() + START_TIMEOUT;
        let mut last_error = String::from("its socket does not exist");
        loop {
            if let Some(status) = self.dockerd.as_mut().and_then(|c| c.try_wait().ok()?) {
                self.dockerd = None;
                panic!("the private dockerd exited ({status})\n{}", self.log_tail());
            }
            if self.socket().exists() {
                match self.probe().await {
                    Ok(api) => {
                        self.api = api;
                        return;
                    }
                    Err(e) => last_error = e,
                }
            }
            if Instant::now() > deadline {
                panic!(
                    "the private dockerd does not answer after {} s: {last_error}\n{}",
                    START_TIMEOUT.as_secs(),
                    self.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Negotiates the API version and pings, each attempt bounded.
    async fn probe(&self) -> Result<ClientVersion, String> {
        let attempt = async {
            let docker = Docker::connect_with_unix(&self.host(), 5, API_DEFAULT_VERSION)
                .map_err(|e| e.to_string())?
                .negotiate_version()
                .await
                .map_err(|e| e.to_string())?;
            docker.ping().await.map_err(|e| e.to_string())?;
            Ok(docker.client_version())
        };
        tokio::time::timeout(Duration::from_secs(5), attempt)
            .await
            .map_err(|_| "no answer within 5 s".to_owned())?
    }

    /// SIGKILL to every process of the engine, reaps dockerd and containerd, waits (bounded)
    /// until the rest are gone, then unmounts what they left under the directory and removes
    /// the pid file.
    fn kill_everything(&mut self) {
        for child in [&mut self.dockerd, &mut self.containerd]
            .into_iter()
            .flatten()
        {
            let _ = child.kill();
        }
        kill_engine(self.root());
        for mut child in [self.dockerd.take(), self.containerd.take()]
            .into_iter()
            .flatten()
        {
            let _ = child.wait();
        }
        let _ = fs::remove_file(self.root().join("dockerd.pid"));
    }
}

impl Drop for PrivateEngine {
    fn drop(&mut self) {
        self.kill_everything();
        // The `TempDir` removes the directory next.
    }
}

/// The network namespace a process of the engine starts in.
enum NetNs {
    /// A new one, with loopback up (containerd).
    New,
    /// The one of this `/proc/PID/ns/net` (dockerd joins containerd's).
    Join(fs::File),
}

/// In the child between fork and exec: a new network namespace, loopback up.
fn enter_new_netns() -> std::io::Result<()> {
    // SAFETY: plain system calls on a zeroed `ifreq` and a socket closed before returning.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        let sock = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if sock < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut result = libc::ioctl(sock, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= (libc::IFF_UP | libc::IFF_RUNNING) as libc::c_short;
            result = libc::ioctl(sock, libc::SIOCSIFFLAGS, &req);
        }
        let error = std::io::Error::last_os_error();
        libc::close(sock);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

/// In the child between fork and exec: joins the network namespace open as `fd`.
fn join_netns(fd: std::os::fd::RawFd) -> std::io::Result<()> {
    // SAFETY: a system call on a descriptor the parent keeps open across the spawn.
    if unsafe { libc::setns(fd, libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// containerd's configuration: every path under `root/containerd`, CRI off.
fn containerd_config(root: &Path) -> String {
    let dir = root.join("containerd");
    let d = dir.display();
    format!(
        r#"version = 2
root = "{d}/root"
state = "{d}/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{d}/containerd.sock"

[ttrpc]
  address = "{d}/containerd.sock.ttrpc"

[debug]
  address = "{d}/debug.sock"

[plugins."io.containerd.internal.v1.opt"]
  path = "{d}/opt"
"#
    )
}

/// Whether this dockerd knows `--ip6tables` (20.10 does).
fn dockerd_has_ip6tables_flag() -> bool {
    static HAS: OnceLock<bool> = OnceLock::new();
    *HAS.get_or_init(|| {
        Command::new("dockerd")
            .arg("--help")
            .stdin(Stdio::null())
            .output()
            .is_ok_and(|out| {
                String::from_utf8_lossy(&out.stdout).contains("--ip6tables")
                    || String::from_utf8_lossy(&out.stderr).contains("--ip6tables")
            })
    })
}

/// Polls `child` until it exits or `timeout` passes.
async fn wait_child(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Some(status);
        }
        if Instant::now() > deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn signal(pid: i32, sig: i32) {
    // SAFETY: kill(2) has no memory effects.
    unsafe {
        libc::kill(pid, sig);
    }
}

/// `"PID STARTTIME"` of a live process: survives pid reuse.
fn process_identity(pid: i32) -> Option<String> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields = crate::stat_fields(&stat)?;
    // Field 22 of stat(5) (starttime); the fields here start at field 3 (state).
    if fields[0] == "Z" {
        return None;
    }
    Some(format!("{pid} {}", fields.get(19)?))
}

/// `(pid, ppid)` of every process.
fn process_table() -> Vec<(i32, i32)> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|d| d.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| {
            let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            let ppid = crate::stat_fields(&stat)?.get(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect()
}

/// The live processes of the engine under `root`: those whose command line names a path under
/// it (dockerd, containerd, the shims), and all their descendants (the containers).
pub fn engine_processes(root: &Path) -> Vec<i32> {
    let needle = format!("{}/", root.display()).into_bytes();
    let table = process_table();
    let me = std::process::id() as i32;
    let mut set: BTreeSet<i32> = table
        .iter()
        .map(|(pid, _)| *pid)
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read(format!("/proc/{pid}/cmdline"))
                .is_ok_and(|cmd| cmd.windows(needle.len()).any(|w| w == needle.as_slice()))
        })
        .collect();
    loop {
        let children: Vec<i32> = table
            .iter()
            .filter(|(pid, ppid)| set.contains(ppid) && !set.contains(pid) && *pid != me)
            .map(|(pid, _)| *pid)
            .collect();
        if children.is_empty() {
            break;
        }
        set.extend(children);
    }
    set.into_iter()
        .filter(|pid| crate::process_alive(*pid))
        .collect()
}

/// SIGKILLs the engine's processes (see [`engine_processes`]) until none is left (bounded);
/// returns those it found first.
fn kill_processes(root: &Path) -> Vec<i32> {
    let first = engine_processes(root);
    let deadline = Instant::now() + KILL_TIMEOUT;
    let mut pids = first.clone();
    while !pids.is_empty() && Instant::now() < deadline {
        for pid in &pids {
            signal(*pid, libc::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(20));
        pids = engine_processes(root);
    }
    if !pids.is_empty() {
        eprintln!(
            "private engine {}: processes still alive after SIGKILL: {pids:?}",
            root.display()
        );
    }
    first
}

/// Kills everything of the engine under `root` (see [`engine_processes`]) and cleans what the
/// processes would have on exit: mounts under `root`, their containers' cgroups and the shims'
/// sockets in `/run/containerd/s`. Returns the processes it found.
fn kill_engine(root: &Path) -> Vec<i32> {
    let sockets = shim_sockets(root);
    let killed = kill_processes(root);
    unmount_under(root);
    remove_cgroups(root);
    for socket in sockets {
        if fs::symlink_metadata(&socket).is_ok_and(|m| m.file_type().is_socket()) {
            let _ = fs::remove_file(socket);
        }
    }
    killed
}

/// The sockets of the engine's containerd shims (v2 shims write theirs to `address` in their
/// bundle: `unix:///run/containerd/s/<hash>`).
fn shim_sockets(root: &Path) -> Vec<PathBuf> {
    let tasks = root.join("containerd/state/io.containerd.runtime.v2.task");
    let Ok(namespaces) = fs::read_dir(tasks) else {
        return vec![];
    };
    namespaces
        .filter_map(Result::ok)
        .filter_map(|ns| fs::read_dir(ns.path()).ok())
        .flatten()
        .filter_map(|bundle| fs::read_to_string(bundle.ok()?.path().join("address")).ok())
        .filter_map(|address| {
            let path = PathBuf::from(address.trim().strip_prefix("unix://")?);
            path.starts_with("/run/containerd/s/").then_some(path)
        })
        .collect()
}

/// Lazily unmounts every mount point at or under `root` (deepest first; a few rounds for
/// stacked mounts).
fn unmount_under(root: &Path) {
    let prefix = root.display().to_string();
    for _ in 0..5 {
        let Ok(info) = fs::read_to_string("/proc/self/mountinfo") else {
            return;
        };
        let mut points: Vec<String> = info
            .lines()
            .filter_map(|line| line.split(' ').nth(4))
            .map(unescape_mount_path)
            .filter(|p| *p == prefix || p.starts_with(&format!("{prefix}/")))
            .collect();
        if points.is_empty() {
            return;
        }
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for point in points {
            if let Ok(c) = CString::new(point) {
                // SAFETY: a valid NUL-terminated path.
                unsafe {
                    libc::umount2(c.as_ptr(), libc::MNT_DETACH);
                }
            }
        }
    }
}

/// `/proc/self/mountinfo` escapes space, tab, newline and backslash as `\ooo`.
fn unescape_mount_path(escaped: &str) -> String {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        if let (b'\\', Some(d)) = (bytes[i], octal) {
            out.push(
                d.iter()
                    .fold(0u8, |v, b| v.wrapping_mul(8).wrapping_add(b - b'0')),
            );
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Removes the (empty) cgroups of the engine's containers that a kill left behind (cgroupfs
/// driver: `<hierarchy>/docker/<id>`).
fn remove_cgroups(root: &Path) {
    let Ok(containers) = fs::read_dir(root.join("data/containers")) else {
        return;
    };
    let ids: Vec<String> = containers
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|id| id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        .collect();
    if ids.is_empty() {
        return;
    }
    let mut parents = vec![PathBuf::from("/sys/fs/cgroup/docker")];
    if let Ok(hierarchies) = fs::read_dir("/sys/fs/cgroup") {
        parents.extend(hierarchies.filter_map(|h| Some(h.ok()?.path().join("docker"))));
    }
    for parent in parents {
        for id in &ids {
            let _ = fs::remove_dir(parent.join(id));
        }
    }
}

/// The last `lines` lines of `path` (at most its last 16 KiB).
fn tail(path: &Path, lines: usize) -> String {
    let Ok(mut file) = fs::File::open(path) else {
        return format!("({} cannot be read)", path.display());
    };
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = file.seek(SeekFrom::Start(len.saturating_sub(16 * 1024)));
    let mut bytes = Vec::new();
    let _ = file.read_to_end(&mut bytes);
    let text = String::from_utf8_lossy(&bytes);
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Removes engines under [`BASE_DIR`] whose owner process is gone (a test that died without
/// dropping its engine): kills their processes, unmounts and deletes their directory.
/// Directories without an owner file (being created) are left alone.
fn reap_stale_engines() {
    let Ok(entries) = fs::read_dir(BASE_DIR) else {
        return;
    };
    for entry in entries.filter_map(Result::ok) {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX)
            || !entry.file_type().is_ok_and(|t| t.is_dir())
        {
            continue;
        }
        let root = entry.path();
        let Ok(owner) = fs::read_to_string(root.join("owner")) else {
            continue;
        };
        // Anything but "PID STARTTIME" is not ours to judge.
        let fields: Vec<&str> = owner.split_whitespace().collect();
        let [pid, _] = fields.as_slice() else {
            continue;
        };
        let Ok(pid) = pid.parse::<i32>() else {
            continue;
        };
        if process_identity(pid).is_some_and(|now| now.trim() == owner.trim()) {
            continue;
        }
        let killed = kill_engine(&root);
        let removed = fs::remove_dir_all(&root);
        eprintln!(
            "removed the stale private engine {} (owner {} gone; {} process(es) killed): {removed:?}",
            root.display(),
            owner.trim(),
            killed.len()
        );
    }
}
