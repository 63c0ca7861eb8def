//! Per-request context: the request id, the tracing span, the access log line and the HTTP
//! metrics. One middleware, so every request pays for one layer instead of four.

use std::time::Instant;

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue},
    middleware::Next,
    response::Response,
};
use tracing::Instrument;

use crate::state::AppState;

/// The request id header, accepted from the caller or made here.
pub static X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The id of the request being served (in request extensions).
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Accepts the caller's `X-Request-ID` when it is 1–128 visible characters of
/// `[A-Za-z0-9._:-]`; anything else is replaced, so logs cannot be forged or flooded.
fn accept_or_make(header: Option<&HeaderValue>) -> String {
    header
        .and_then(|v| v.to_str().ok())
        .filter(|s| {
            (1..=128).contains(&s.len())
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// Sets up the request's context, runs it inside a span carrying the request id, and records
/// the outcome in `/metrics` under the route template (never the raw path).
pub async fn request_context(
    State(state): State<AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    crate::memory::touch();
    let id = accept_or_make(req.headers().get(&X_REQUEST_ID));
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "<unmatched>".to_owned(), |m| m.as_str().to_owned());
    let method = req.method().clone();
    req.extensions_mut().insert(RequestId(id.clone()));
    let span = tracing::info_span!("request", request_id = %id, method = %method, route = %route);
    let mut res = next.run(req).instrument(span.clone()).await;
    crate::memory::touch();
    let elapsed = start.elapsed();
    let status = res.status();
    state.metrics.observe_http(&route, &method, status, elapsed);
    span.in_scope(|| {
        if status.is_server_error() {
            tracing::error!(target: "mcp_orchestrator::access", status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1e3, "request failed");
        } else {
            tracing::debug!(target: "mcp_orchestrator::access", status = status.as_u16(), latency_ms = elapsed.as_secs_f64() * 1e3, "request completed");
        }
    });
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(X_REQUEST_ID.clone(), v);
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_sane_ids_and_replaces_others() {
        let ok = HeaderValue::from_static("abc-123_x.y:z");
        assert_eq!(accept_or_make(Some(&ok)), "abc-123_x.y:z");
        for bad in ["", "has space", "new\tline", &"x".repeat(129)] {
            let v = HeaderValue::from_str(bad).unwrap();
            let made = accept_or_make(Some(&v));
            assert_ne!(made, bad);
            assert!(uuid::Uuid::parse_str(&made).is_ok());
        }
        assert!(uuid::Uuid::parse_str(&accept_or_make(None)).is_ok());
    }
}
