//! The local-process runtime, for hosts without Docker: each deployment is a child process in
//! its own process group, with an environment cleared to an allow-list plus the deployment's
//! variables; stdin/stdout carry MCP (stdio servers), stderr is kept as logs; stop sends
//! SIGTERM to the group, then SIGKILL, and always reaps.

use std::{process::Stdio, time::Duration};

use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::{Child, ChildStdin, ChildStdout, Command},
};

use super::{LogBuffer, LogLine, RuntimeError, Spec};

/// Variables of the orchestrator's own environment a child may see (everything else is
/// cleared, so the orchestrator's secrets never leak into a server).
pub const ENV_ALLOW_LIST: &[&str] = &[
    "PATH",
    "LANG",
    "LC_ALL",
    "TZ",
    "TMPDIR",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

/// A running child.
pub struct Process {
    child: Child,
    pid: i32,
    logs: LogBuffer,
    /// The MCP channel (taken once by the session).
    pub stdio: Option<(ChildStdout, ChildStdin)>,
}

impl std::fmt::Debug for Process {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Process").field("pid", &self.pid).finish()
    }
}

/// Starts `spec` as a child process. `home` becomes its `HOME` and working directory (npx and
/// uvx keep their caches there).
pub fn spawn(spec: &Spec, home: &std::path::Path) -> Result<Process, RuntimeError> {
    let (program, args) = spec.command()?;
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .current_dir(home)
        .env("HOME", home)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        // Its own process group: stop signals reach every process it started.
        .process_group(0);
    for name in ENV_ALLOW_LIST {
        if let Ok(v) = std::env::var(name) {
            cmd.env(name, v);
        }
    }
    for (name, value) in &spec.env {
        cmd.env(name.as_str(), value.expose());
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| RuntimeError::Start(format!("cannot start {program}: {}", e.kind())))?;
    let pid = child
        .id()
        .map(|p| p as i32)
        .ok_or_else(|| RuntimeError::Start("the process exited at once".into()))?;
    let logs = LogBuffer::default();
    if let Some(stderr) = child.stderr.take() {
        let logs = logs.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                logs.push(&line);
            }
        });
    }
    let stdio = match (child.stdout.take(), child.stdin.take()) {
        (Some(out), Some(inp)) => Some((out, inp)),
        _ => None,
    };
    Ok(Process {
        child,
        pid,
        logs,
        stdio,
    })
}

impl Process {
    /// The process id (also its process group id).
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// `None` while it runs; its exit code (or `-signal`) once it ended.
    pub fn exit_status(&mut self) -> Option<i32> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(status.code().unwrap_or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                -status.signal().unwrap_or(0)
            })),
            _ => None,
        }
    }

    /// The last `tail` lines of stderr.
    pub fn logs(&self, tail: usize) -> Vec<LogLine> {
        self.logs.tail(tail)
    }

    /// SIGTERM to the group, SIGKILL after `grace`, and reap. Returns the exit status.
    pub async fn stop(&mut self, grace: Duration) -> Option<i32> {
        if let Some(code) = self.exit_status() {
            signal_group(self.pid, libc::SIGKILL); // children it left behind
            return Some(code);
        }
        signal_group(self.pid, libc::SIGTERM);
        let status = match tokio::time::timeout(grace, self.child.wait()).await {
            Ok(Ok(s)) => Some(s),
            _ => {
                signal_group(self.pid, libc::SIGKILL);
                self.child.wait().await.ok()
            }
        };
        // Whatever else of the group is left goes too.
        signal_group(self.pid, libc::SIGKILL);
        status.map(|s| {
            use std::os::unix::process::ExitStatusExt;
            s.code().unwrap_or_else(|| -s.signal().unwrap_or(0))
        })
    }
}

fn signal_group(pgid: i32, signal: i32) {
    if pgid > 1 {
        // SAFETY: kill(2) with a negative pid signals the process group; no memory is shared.
        unsafe {
            libc::kill(-pgid, signal);
        }
    }
}
