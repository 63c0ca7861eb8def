//! Prometheus instruments of the HTTP server and the `/metrics` endpoint.

use std::time::Duration;

use axum::{
    extract::State,
    http::{header, Method, StatusCode},
    response::IntoResponse,
};
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

use crate::state::AppState;

/// The registry and the instruments recorded on every request.
pub struct Metrics {
    registry: Registry,
    http_requests: IntCounterVec,
    http_duration: HistogramVec,
    rate_limited: IntCounterVec,
}

impl Metrics {
    /// Creates the instruments, registers the service layer's (`domain`; `docker`: whether
    /// Docker is enabled) and sets `mcpo_build_info` to 1.
    pub fn new(domain: &domain::metrics::Metrics, docker: bool) -> Self {
        let registry = Registry::new();
        domain.register(&registry, docker).expect("unique metrics");
        let labels = &["route", "method", "status"];
        let http_requests = IntCounterVec::new(
            Opts::new(
                "mcpo_http_requests_total",
                "HTTP requests answered, by route template, method and status.",
            ),
            labels,
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "mcpo_http_request_duration_seconds",
                "Time to answer an HTTP request, in seconds.",
            )
            .buckets(vec![
                0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                10.0,
            ]),
            labels,
        )
        .expect("valid metric");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "mcpo_build_info",
                "Always 1; the labels describe this build.",
            ),
            &["version", "rustc_profile"],
        )
        .expect("valid metric");
        build_info
            .with_label_values(&[
                domain::VERSION,
                if cfg!(debug_assertions) {
                    "debug"
                } else {
                    "release"
                },
            ])
            .set(1);
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "mcpo_rate_limited_total",
                "Requests refused by a rate limit, by scope (ip, principal, login).",
            ),
            &["scope"],
        )
        .expect("valid metric");
        for scope in ["ip", "principal", "login"] {
            rate_limited.with_label_values(&[scope]);
        }
        for state in ["succeeded", "failed", "cancelled"] {
            domain.runs_finished.with_label_values(&[state]);
        }
        for runtime in ["docker", "process"] {
            domain.health_check_duration.with_label_values(&[runtime]);
            for outcome in ["ok", "failed"] {
                domain.health_checks.with_label_values(&[runtime, outcome]);
            }
        }
        registry
            .register(Box::new(rate_limited.clone()))
            .expect("unique metric");
        for c in [
            Box::new(http_requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(http_duration.clone()),
            Box::new(build_info),
        ] {
            registry.register(c).expect("unique metric");
        }
        Self {
            registry,
            http_requests,
            http_duration,
            rate_limited,
        }
    }

    /// Records one answered request. `route` is the route template, never the raw path.
    pub fn observe_http(
        &self,
        route: &str,
        method: &Method,
        status: StatusCode,
        elapsed: Duration,
    ) {
        let method = match *method {
            Method::GET
            | Method::POST
            | Method::PUT
            | Method::PATCH
            | Method::DELETE
            | Method::HEAD
            | Method::OPTIONS => method.as_str(),
            _ => "OTHER",
        };
        let labels = [route, method, status.as_str()];
        self.http_requests.with_label_values(&labels).inc();
        self.http_duration
            .with_label_values(&labels)
            .observe(elapsed.as_secs_f64());
    }

    /// Counts one request refused by the `scope` limit.
    pub fn rate_limited(&self, scope: &str) {
        self.rate_limited.with_label_values(&[scope]).inc();
    }

    /// The registry, for later capabilities to add their instruments.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("encode metrics");
        String::from_utf8(buf).unwrap_or_default()
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    refresh_gauges(&state.ctx).await;
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}

/// Sets the gauges read from the database (deployments by state and health, runs by state,
/// queue depth) and this instance's worker pool.
async fn refresh_gauges(ctx: &domain::Ctx) {
    let m = &ctx.metrics;
    m.workers.set(ctx.pipeline.settings().concurrency as i64);
    m.workers_busy.set(ctx.pipeline.busy() as i64);
    let db_up = ctx.db.ping().await.is_ok();
    m.database_up.set(i64::from(db_up));
    if !db_up {
        return;
    }
    if let Ok(counts) = domain::pipeline::counts_by_state(ctx).await {
        for s in [
            "queued",
            "running",
            "cancelling",
            "succeeded",
            "failed",
            "cancelled",
        ] {
            let n = counts.iter().find(|(k, _)| k == s).map_or(0, |(_, n)| *n);
            m.pipeline_runs.with_label_values(&[s]).set(n);
            if s == "queued" {
                m.queue_depth.set(n);
            }
        }
    }
    if let Ok((states, health)) = domain::monitor::fleet_counts(ctx).await {
        for (k, n) in states {
            m.deployments.with_label_values(&[k.as_str()]).set(n);
        }
        for (k, n) in health {
            m.deployments_by_health
                .with_label_values(&[k.as_str()])
                .set(n);
        }
    }
}
