//! Deployments: a catalog entry plus the operator's configuration, running on a runtime with
//! a live MCP session.

pub mod plan;
