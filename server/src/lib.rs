//! The `mcp-orchestrator` binary's library: configuration, telemetry, the HTTP router and the
//! commands. Kept as a library so integration tests can build the same router in-process.

pub mod cli;
pub mod config;
pub mod healthcheck;
pub mod http;
pub mod memory;
pub mod otlp;
pub mod secret_key;
pub mod serve;
pub mod state;
pub mod telemetry;
