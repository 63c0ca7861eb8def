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
