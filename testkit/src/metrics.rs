//! The metric families the orchestrator documents (docs/runbook.md "Metrics reference"); the
//! tests check a live scrape exports each, and that the alert rules and dashboard use no other.

/// Every `mcpo_` family, as named in the text exposition format (`# TYPE <name> …`).
pub const METRIC_FAMILIES: &[&str] = &[
    "mcpo_build_info",
    "mcpo_http_requests_total",
    "mcpo_http_request_duration_seconds",
    "mcpo_rate_limited_total",
    "mcpo_deployments",
    "mcpo_deployments_by_health",
    "mcpo_health_checks_total",
    "mcpo_health_check_duration_seconds",
    "mcpo_health_check_failures_total",
    "mcpo_deployment_restarts_total",
    "mcpo_deployment_crash_loops_total",
    "mcpo_circuit_breaker_state",
    "mcpo_pipeline_runs",
    "mcpo_pipeline_queue_depth",
    "mcpo_pipeline_workers",
    "mcpo_pipeline_workers_busy",
    "mcpo_pipeline_runs_finished_total",
    "mcpo_pipeline_step_duration_seconds",
    "mcpo_registry_syncs_total",
    "mcpo_registry_sync_duration_seconds",
    "mcpo_tool_calls_total",
    "mcpo_tool_call_duration_seconds",
    "mcpo_docker_engine_up",
    "mcpo_database_up",
];
