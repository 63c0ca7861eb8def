//! Prometheus instruments the service layer records (health checks, restarts, breakers,
//! pipeline steps, registry syncs, tool calls). The server registers them beside its HTTP
//! instruments and sets the gauges that are read from the database at scrape time.

use std::time::Duration;

use prometheus::{
    core::Collector, HistogramOpts, HistogramVec, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Buckets for operations between a millisecond and a few minutes, in seconds.
const SECONDS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
    60.0, 120.0, 300.0,
];

/// The service layer's instruments.
pub struct Metrics {
    /// `mcpo_deployments{state}`.
    pub deployments: IntGaugeVec,
    /// `mcpo_deployments_by_health{health}`.
    pub deployments_by_health: IntGaugeVec,
    /// `mcpo_health_checks_total{runtime,outcome}`.
    pub health_checks: IntCounterVec,
    /// `mcpo_health_check_duration_seconds{runtime}`.
    pub health_check_duration: HistogramVec,
    /// `mcpo_health_check_failures_total{deployment}`.
    pub health_check_failures: IntCounterVec,
    /// `mcpo_deployment_restarts_total{deployment}`.
    pub restarts: IntCounterVec,
    /// `mcpo_deployment_crash_loops_total{deployment}`.
    pub crash_loops: IntCounterVec,
    /// `mcpo_circuit_breaker_state{deployment}`.
    pub breaker_state: IntGaugeVec,
    /// `mcpo_pipeline_runs{state}`.
    pub pipeline_runs: IntGaugeVec,
    /// `mcpo_pipeline_queue_depth`.
    pub queue_depth: IntGauge,
    /// `mcpo_pipeline_workers`.
    pub workers: IntGauge,
    /// `mcpo_pipeline_workers_busy`.
    pub workers_busy: IntGauge,
    /// `mcpo_pipeline_runs_finished_total{state}`.
    pub runs_finished: IntCounterVec,
    /// `mcpo_pipeline_step_duration_seconds{step,outcome}`.
    pub step_duration: HistogramVec,
    /// `mcpo_registry_syncs_total{registry,outcome}`.
    pub syncs: IntCounterVec,
    /// `mcpo_registry_sync_duration_seconds{registry}`.
    pub sync_duration: HistogramVec,
    /// `mcpo_tool_calls_total{deployment,tool,outcome}`.
    pub tool_calls: IntCounterVec,
    /// `mcpo_tool_call_duration_seconds{deployment,tool}`.
    pub tool_call_duration: HistogramVec,
    /// `mcpo_docker_engine_up`.
    pub docker_up: IntGauge,
    /// `mcpo_database_up`.
    pub database_up: IntGauge,
}

fn gauge_vec(name: &str, help: &str, labels: &[&str]) -> IntGaugeVec {
    IntGaugeVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn counter_vec(name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric")
}

fn histogram_vec(name: &str, help: &str, labels: &[&str]) -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(SECONDS.to_vec()),
        labels,
    )
    .expect("valid metric")
}

fn gauge(name: &str, help: &str) -> IntGauge {
    IntGauge::new(name, help).expect("valid metric")
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            deployments: gauge_vec(
                "mcpo_deployments",
                "Deployments by lifecycle state.",
                &["state"],
            ),
            deployments_by_health: gauge_vec(
                "mcpo_deployments_by_health",
                "Deployments that should run, by health (healthy, degraded, unhealthy, unknown).",
                &["health"],
            ),
            health_checks: counter_vec(
                "mcpo_health_checks_total",
                "Health checks done by this instance, by runtime and outcome (ok, failed).",
                &["runtime", "outcome"],
            ),
            health_check_duration: histogram_vec(
                "mcpo_health_check_duration_seconds",
                "Time a health check took (runtime state and MCP ping), in seconds.",
                &["runtime"],
            ),
            health_check_failures: counter_vec(
                "mcpo_health_check_failures_total",
                "Failed health checks, by deployment name.",
                &["deployment"],
            ),
            restarts: counter_vec(
                "mcpo_deployment_restarts_total",
                "Self-healing restarts, by deployment name.",
                &["deployment"],
            ),
            crash_loops: counter_vec(
                "mcpo_deployment_crash_loops_total",
                "Times a deployment hit the crash-loop limit and was left down, by deployment name.",
                &["deployment"],
            ),
            breaker_state: gauge_vec(
                "mcpo_circuit_breaker_state",
                "Tool-call circuit breaker per deployment: 0 closed, 1 half-open, 2 open.",
                &["deployment"],
            ),
            pipeline_runs: gauge_vec(
                "mcpo_pipeline_runs",
                "Pipeline runs by state (all instances).",
                &["state"],
            ),
            queue_depth: gauge(
                "mcpo_pipeline_queue_depth",
                "Pipeline runs waiting for a worker (all instances).",
            ),
            workers: gauge(
                "mcpo_pipeline_workers",
                "Pipeline workers of this instance.",
            ),
            workers_busy: gauge(
                "mcpo_pipeline_workers_busy",
                "Pipeline workers of this instance executing a run.",
            ),
            runs_finished: counter_vec(
                "mcpo_pipeline_runs_finished_total",
                "Pipeline runs this instance took to an end, by final state.",
                &["state"],
            ),
            step_duration: histogram_vec(
                "mcpo_pipeline_step_duration_seconds",
                "Time a pipeline step took (all its attempts), in seconds, by step and outcome.",
                &["step", "outcome"],
            ),
            syncs: counter_vec(
                "mcpo_registry_syncs_total",
                "Registry syncs, by registry name and outcome (success, failed).",
                &["registry", "outcome"],
            ),
            sync_duration: histogram_vec(
                "mcpo_registry_sync_duration_seconds",
                "Time a registry sync took, in seconds, by registry name.",
                &["registry"],
            ),
            tool_calls: counter_vec(
                "mcpo_tool_calls_total",
                "Tool calls through the orchestrator, by deployment, tool and outcome (ok, error, timeout, rejected).",
                &["deployment", "tool", "outcome"],
            ),
            tool_call_duration: histogram_vec(
                "mcpo_tool_call_duration_seconds",
                "Time a tool call took, in seconds, by deployment and tool.",
                &["deployment", "tool"],
            ),
            docker_up: gauge(
                "mcpo_docker_engine_up",
                "1 when the Docker engine answers, 0 when it does not (Docker enabled only).",
            ),
            database_up: gauge(
                "mcpo_database_up",
                "1 when the database answers, 0 when it does not.",
            ),
        }
    }
}

impl Metrics {
    /// Registers every instrument in `registry`; `docker`: whether Docker is enabled (else
    /// `mcpo_docker_engine_up` is left out).
    pub fn register(&self, registry: &Registry, docker: bool) -> prometheus::Result<()> {
        let mut all: Vec<Box<dyn Collector>> = vec![
            Box::new(self.deployments.clone()),
            Box::new(self.deployments_by_health.clone()),
            Box::new(self.health_checks.clone()),
            Box::new(self.health_check_duration.clone()),
            Box::new(self.health_check_failures.clone()),
            Box::new(self.restarts.clone()),
            Box::new(self.crash_loops.clone()),
            Box::new(self.breaker_state.clone()),
            Box::new(self.pipeline_runs.clone()),
            Box::new(self.queue_depth.clone()),
            Box::new(self.workers.clone()),
            Box::new(self.workers_busy.clone()),
            Box::new(self.runs_finished.clone()),
            Box::new(self.step_duration.clone()),
            Box::new(self.syncs.clone()),
            Box::new(self.sync_duration.clone()),
            Box::new(self.tool_calls.clone()),
            Box::new(self.tool_call_duration.clone()),
            Box::new(self.database_up.clone()),
        ];
        if docker {
            all.push(Box::new(self.docker_up.clone()));
        }
        for c in all {
            registry.register(c)?;
        }
        Ok(())
    }

    /// Drops the series of a deleted deployment (`name`), so labels do not pile up.
    pub fn forget_deployment(&self, name: &str) {
        for v in [
            &self.health_check_failures,
            &self.restarts,
            &self.crash_loops,
        ] {
            let _ = v.remove_label_values(&[name]);
        }
        let _ = self.breaker_state.remove_label_values(&[name]);
        for labels in series_of(&self.tool_calls, &["deployment", "tool", "outcome"], name) {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = self.tool_calls.remove_label_values(&refs);
        }
        for labels in series_of(&self.tool_call_duration, &["deployment", "tool"], name) {
            let refs: Vec<&str> = labels.iter().map(String::as_str).collect();
            let _ = self.tool_call_duration.remove_label_values(&refs);
        }
    }

    /// Records one tool call.
    pub fn tool_call(&self, deployment: &str, tool: &str, outcome: &str, took: Duration) {
        self.tool_calls
            .with_label_values(&[deployment, tool, outcome])
            .inc();
        if outcome != "rejected" {
            self.tool_call_duration
                .with_label_values(&[deployment, tool])
                .observe(took.as_secs_f64());
        }
    }
}

/// The label values (in `order`) of every series of `c` whose `deployment` label is `name`.
fn series_of(c: &dyn Collector, order: &[&str], name: &str) -> Vec<Vec<String>> {
    c.collect()
        .iter()
        .flat_map(|f| f.get_metric().iter())
        .filter(|m| {
            m.get_label()
                .iter()
                .any(|l| l.name() == "deployment" && l.value() == name)
        })
        .map(|m| {
            order
                .iter()
                .map(|n| {
                    m.get_label()
                        .iter()
                        .find(|l| l.name() == *n)
                        .map(|l| l.value().to_owned())
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}
