//! The metric families the orchestrator documents (docs/runbook.md "Metrics reference"); the
//! tests check that a live scrape exports each with its type, and that the alert rules and the
//! Grafana dashboard use no other.

/// What a metric is, which decides the series names Prometheus stores for it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    /// Only goes up (`_total`).
    Counter,
    /// Goes up and down.
    Gauge,
    /// `_bucket`, `_sum`, `_count` series.
    Histogram,
}

impl Kind {
    /// The type in the text exposition format (`# TYPE <name> <type>`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Counter => "counter",
            Self::Gauge => "gauge",
            Self::Histogram => "histogram",
        }
    }
}

/// Every `mcpo_` family `/metrics` exports (histograms under their base name).
pub const METRIC_FAMILIES: &[(&str, Kind)] = &[
    ("mcpo_build_info", Kind::Gauge),
    ("mcpo_http_requests_total", Kind::Counter),
    ("mcpo_http_request_duration_seconds", Kind::Histogram),
    ("mcpo_rate_limited_total", Kind::Counter),
    ("mcpo_deployments", Kind::Gauge),
    ("mcpo_deployments_by_health", Kind::Gauge),
    ("mcpo_health_checks_total", Kind::Counter),
    ("mcpo_health_check_duration_seconds", Kind::Histogram),
    ("mcpo_health_check_failures_total", Kind::Counter),
    ("mcpo_deployment_restarts_total", Kind::Counter),
    ("mcpo_deployment_crash_loops_total", Kind::Counter),
    ("mcpo_circuit_breaker_state", Kind::Gauge),
    ("mcpo_pipeline_runs", Kind::Gauge),
    ("mcpo_pipeline_queue_depth", Kind::Gauge),
    ("mcpo_pipeline_workers", Kind::Gauge),
    ("mcpo_pipeline_workers_busy", Kind::Gauge),
    ("mcpo_pipeline_runs_finished_total", Kind::Counter),
    ("mcpo_pipeline_step_duration_seconds", Kind::Histogram),
    ("mcpo_registry_syncs_total", Kind::Counter),
    ("mcpo_registry_sync_duration_seconds", Kind::Histogram),
    ("mcpo_tool_calls_total", Kind::Counter),
    ("mcpo_tool_call_duration_seconds", Kind::Histogram),
    ("mcpo_docker_engine_up", Kind::Gauge),
    ("mcpo_database_up", Kind::Gauge),
];
