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
    /// Creates the instruments and sets `mcpo_build_info` to 1.
    pub fn new() -> Self {
        let registry = Registry::new();
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

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain; version=0.0.4", body = String)))]
pub async fn scrape(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.metrics.render(),
    )
}
