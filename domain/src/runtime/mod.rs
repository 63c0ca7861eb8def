//! Runtimes: where a deployment's MCP server runs. Two implementations share one lifecycle —
//! [`process`] (a child process in its own process group) and, for hosts with an engine,
//! [`docker`] (a hardened container). Arguments are always argv arrays, never a shell line.

pub mod docker;
pub mod process;

use std::{
    collections::VecDeque,
    sync::{Arc, Mutex},
};

use chrono::{DateTime, Utc};
use types::env::EnvName;

use crate::secrets::SecretValue;

/// Why a runtime operation failed. Messages never hold environment values.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The specification cannot run here (e.g. a package type this runtime does not run).
    #[error("{0}")]
    Unsupported(String),
    /// Starting failed.
    #[error("{0}")]
    Start(String),
}

/// What to run (stored with a deployment as JSON: `{"kind": "npm", …}`).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Launch {
    /// An npm package through `npx -y name@version`.
    Npm {
        /// Package name.
        package: String,
        /// Exact version.
        version: String,
    },
    /// A PyPI package through `uvx name==version`.
    Pypi {
        /// Package name.
        package: String,
        /// Exact version.
        version: String,
    },
    /// An OCI image (Docker runtime only).
    Oci {
        /// Image reference, e.g. `ghcr.io/x/y:1.2`.
        image: String,
    },
    /// A program on this host (absolute path), e.g. a server built for tests.
    Program {
        /// Absolute path.
        path: String,
    },
}

/// How the orchestrator reaches a server (stored with a deployment as JSON).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind")]
pub enum Transport {
    /// MCP over stdin/stdout (a child's pipes, or a container attached before start).
    #[serde(rename = "stdio")]
    Stdio,
    /// Streamable HTTP on `port` (inside the container, or on loopback) at `path`.
    #[serde(rename = "streamable-http")]
    Http {
        /// Port the server listens on.
        port: u16,
        /// Endpoint path, e.g. `/mcp`.
        path: String,
    },
}

/// A deployment as a runtime sees it.
#[derive(Clone, Debug)]
pub struct Spec {
    /// Deployment id (labels, log lines).
    pub deployment_id: String,
    /// What to run.
    pub launch: Launch,
    /// Arguments after the program or package.
    pub args: Vec<String>,
    /// Variables, secrets resolved (never logged: `SecretValue` prints `***`).
    pub env: Vec<(EnvName, SecretValue)>,
}

impl Spec {
    /// Program and argv for a local process.
    pub fn command(&self) -> Result<(&str, Vec<String>), RuntimeError> {
        Ok(match &self.launch {
            Launch::Npm { package, version } => {
                let mut a = vec!["-y".to_owned(), format!("{package}@{version}")];
                a.extend(self.args.iter().cloned());
                ("npx", a)
            }
            Launch::Pypi { package, version } => {
                let mut a = vec![format!("{package}=={version}")];
                a.extend(self.args.iter().cloned());
                ("uvx", a)
            }
            Launch::Oci { image } => {
                return Err(RuntimeError::Unsupported(format!(
                    "the image {image} runs on the docker runtime only"
                )))
            }
            Launch::Program { path } => {
                if !path.starts_with('/') {
                    return Err(RuntimeError::Unsupported(
                        "a program must be given by its absolute path".into(),
                    ));
                }
                (path.as_str(), self.args.clone())
            }
        })
    }
}

/// Longest log line kept; longer ones are cut.
pub const MAX_LINE: usize = 8192;
/// Log lines kept per server.
pub const LOG_LINES: usize = 2_000;

/// One line a server wrote to its log (stderr).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// The line, without its end (long lines cut at [`MAX_LINE`] bytes).
    pub text: String,
}

impl LogLine {
    /// `text` without a trailing `\r`, cut at [`MAX_LINE`] bytes (on a character boundary)
    /// with `…` appended.
    pub fn new(at: DateTime<Utc>, text: &str) -> Self {
        let text = text.strip_suffix('\r').unwrap_or(text);
        let text = if text.len() <= MAX_LINE {
            text.to_owned()
        } else {
            let mut end = MAX_LINE;
            while !text.is_char_boundary(end) {
                end -= 1;
            }
            format!("{}…", &text[..end])
        };
        Self { at, text }
    }
}

/// The last [`LOG_LINES`] lines of a server, shared by the task reading them and the runtime.
#[derive(Clone, Debug, Default)]
pub struct LogBuffer(Arc<Mutex<VecDeque<LogLine>>>);

impl LogBuffer {
    /// Appends a line read now, dropping the oldest when full.
    pub fn push(&self, text: &str) {
        if let Ok(mut l) = self.0.lock() {
            if l.len() == LOG_LINES {
                l.pop_front();
            }
            l.push_back(LogLine::new(Utc::now(), text));
        }
    }

    /// The last `n` lines, oldest first.
    pub fn tail(&self, n: usize) -> Vec<LogLine> {
        self.0
            .lock()
            .map(|l| l.iter().skip(l.len().saturating_sub(n)).cloned().collect())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(launch: Launch) -> Spec {
        Spec {
            deployment_id: "d".into(),
            launch,
            args: vec!["--flag".into(), "a value".into()],
            env: vec![],
        }
    }

    #[test]
    fn packages_run_through_their_runners_as_argv() {
        let npm = spec(Launch::Npm {
            package: "@x/y".into(),
            version: "1.2.3".into(),
        });
        assert_eq!(
            npm.command().unwrap(),
            (
                "npx",
                vec![
                    "-y".into(),
                    "@x/y@1.2.3".into(),
                    "--flag".into(),
                    "a value".into()
                ]
            )
        );
        let pypi = spec(Launch::Pypi {
            package: "y".into(),
            version: "0.1".into(),
        });
        assert_eq!(
            pypi.command().unwrap(),
            (
                "uvx",
                vec!["y==0.1".into(), "--flag".into(), "a value".into()]
            )
        );
        let oci = spec(Launch::Oci {
            image: "i:1".into(),
        });
        assert!(oci
            .command()
            .unwrap_err()
            .to_string()
            .contains("docker runtime only"));
        let rel = spec(Launch::Program {
            path: "bin/x".into(),
        });
        assert!(rel
            .command()
            .unwrap_err()
            .to_string()
            .contains("absolute path"));
    }

    #[test]
    fn long_log_lines_are_cut_on_a_character_boundary() {
        let l = LogLine::new(Utc::now(), &format!("{}é\r", "a".repeat(MAX_LINE - 1)));
        assert!(l.text.ends_with('…') && l.text.len() <= MAX_LINE + '…'.len_utf8());
        assert_eq!(LogLine::new(Utc::now(), "x\r").text, "x");
        let b = LogBuffer::default();
        for i in 0..LOG_LINES + 5 {
            b.push(&i.to_string());
        }
        let tail = b.tail(LOG_LINES + 10);
        assert_eq!(tail.len(), LOG_LINES);
        assert_eq!(tail[0].text, "5");
    }
}
