//! Test harness shared by every integration test.
//!
//! - [`TestDb`]: a fresh database per test, SQLite (a temp file) or PostgreSQL (a new database
//!   on the server named by `MCPO_TEST_POSTGRES_URL`, which `make test` starts on loopback).
//! - [`TestServer`]: the real `mcp-orchestrator` binary on a random port with its own database.
//! - [`docker`]: a Docker engine (reachable through `DOCKER_HOST`, which `make test` points
//!   at a private `dockerd` when no engine is running) and images built locally, no registry.
//! - [`registry`]: a real HTTP MCP registry (the official API, `/v0.1` and `/v0`) over a fixture
//!   or synthetic entries, which tests can change and tell to fail; also the
//!   `mcpo-test-registry` binary.

mod db;
pub mod docker;
pub mod engine;
pub mod metrics;
pub mod registry;
mod server;

pub use db::{Backend, TestDb};
pub use server::{TestServer, ADMIN_PASSWORD};

/// A reqwest client builder that works with the server's TLS set-up (rustls with ring; the
/// provider must be installed before any client is built).
pub fn client_builder() -> reqwest::ClientBuilder {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
}

/// Both database engines: integration tests that touch the database run on each.
pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// The fields of a `/proc/PID/stat` line after the command name (state first).
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    Some(
        stat.get(stat.rfind(')')? + 1..)?
            .split_whitespace()
            .collect(),
    )
}

/// Whether `pid` is a live (not zombie) process.
pub fn process_alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|stat| stat_fields(&stat).is_some_and(|f| f[0] != "Z"))
}

/// Live (not zombie) processes of process group `pgid`.
pub fn process_group_members(pgid: i32) -> Vec<i32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return vec![];
    };
    dir.filter_map(|d| d.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
                stat_fields(&stat)
                    .is_some_and(|f| f[0] != "Z" && f.get(2) == Some(&pgid.to_string().as_str()))
            })
        })
        .collect()
}
