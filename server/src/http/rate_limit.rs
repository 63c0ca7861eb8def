//! Rate limits: per client IP (before anything else runs), per principal (after
//! authentication), and a stricter one on sign-in. Over a limit: 429 problem+json with
//! `Retry-After` and rate-limit headers, counted in `mcpo_rate_limited_total`.
//!
//! Health and metrics are never limited: a load balancer or Prometheus being throttled would
//! look like an outage. The client IP honours `X-Forwarded-For` only from configured proxies.

use std::{net::IpAddr, num::NonZeroU32, sync::Arc, time::Duration};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{HeaderMap, HeaderValue},
    middleware::Next,
    response::Response,
};
use governor::{
    clock::{Clock, DefaultClock},
    DefaultKeyedRateLimiter, Quota,
};
use types::Problem;

use super::problem::problem_response;
use crate::{config::RateLimitConfig, state::AppState};

/// The caller's address, after `X-Forwarded-For` from trusted proxies (in request extensions).
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

/// The per-IP and per-principal limiters.
pub struct Limiters {
    ip: Option<(DefaultKeyedRateLimiter<IpAddr>, u32)>,
    principal: Option<(DefaultKeyedRateLimiter<String>, u32)>,
    trusted: Vec<IpAddr>,
}

fn keyed<K: std::hash::Hash + Eq + Clone>(
    per_second: u32,
    burst: u32,
) -> Option<(DefaultKeyedRateLimiter<K>, u32)> {
    let rate = NonZeroU32::new(per_second)?;
    let burst = NonZeroU32::new(burst).unwrap_or(rate);
    Some((
        governor::RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
        burst.get(),
    ))
}

impl Limiters {
    /// Limiters from configuration; a rate of 0 turns that limit off.
    pub fn new(c: &RateLimitConfig) -> Self {
        Self {
            ip: keyed(c.per_ip_per_second, c.per_ip_burst),
            principal: keyed(c.per_principal_per_second, c.per_principal_burst),
            trusted: c.trusted_proxies.clone(),
        }
    }

    /// Forgets idle keys so the maps do not grow without bound.
    pub fn clean(&self) {
        if let Some((l, _)) = &self.ip {
            l.retain_recent();
        }
        if let Some((l, _)) = &self.principal {
            l.retain_recent();
        }
    }
}

/// The client address: the peer, or — when the peer is a trusted proxy — the right-most
/// address in `X-Forwarded-For` that is not itself a trusted proxy.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|s| s.trim().parse::<IpAddr>().ok())
        .collect::<Vec<_>>();
    forwarded
        .into_iter()
        .rev()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

fn exempt(path: &str) -> bool {
    path == "/health" || path.starts_with("/health/") || path == "/metrics"
}

/// The 429 answer.
pub fn too_many(scope: &str, wait: Duration, limit: u32) -> Response {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut res = problem_response(
        Problem::new(429, "Too Many Requests")
            .with_type("rate-limited")
            .with_detail(format!(
                "Too many requests ({scope} limit); retry in {secs} s."
            ))
            .with_extension("scope", scope.into()),
    );
    let h = res.headers_mut();
    h.insert("retry-after", HeaderValue::from(secs.max(1)));
    h.insert("x-ratelimit-limit", HeaderValue::from(limit));
    h.insert("x-ratelimit-remaining", HeaderValue::from(0));
    h.insert("x-ratelimit-after", HeaderValue::from(secs.max(1)));
    res
}

/// Resolves the client IP and applies the per-IP limit.
pub async fn per_ip(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let limiters = &state.limiters;
    let peer = req
        .extensions()
        .get::<ConnectInfo<std::net::SocketAddr>>()
        .map(|c| c.0.ip());
    let ip = peer.map(|p| client_ip(p, req.headers(), &limiters.trusted));
    if let Some(ip) = ip {
        req.extensions_mut().insert(ClientIp(ip));
        if let (Some((limiter, burst)), false) = (&limiters.ip, exempt(req.uri().path())) {
            if let Err(not_until) = limiter.check_key(&ip) {
                state.metrics.rate_limited("ip");
                return too_many(
                    "client",
                    not_until.wait_time_from(DefaultClock::default().now()),
                    *burst,
                );
            }
        }
    }
    next.run(req).await
}

/// Applies the per-principal limit (after authentication).
pub async fn per_principal(State(state): State<AppState>, req: Request, next: Next) -> Response {
    if let Some((limiter, burst)) = &state.limiters.principal {
        let who = req
            .extensions()
            .get::<domain::access::Caller>()
            .and_then(|c| c.principal.as_ref())
            .map(|p| p.id.clone());
        if let Some(id) = who {
            if let Err(not_until) = limiter.check_key(&id) {
                state.metrics.rate_limited("principal");
                return too_many(
                    "principal",
                    not_until.wait_time_from(DefaultClock::default().now()),
                    *burst,
                );
            }
        }
    }
    next.run(req).await
}

/// tower_governor key: the client IP resolved by [`per_ip`].
#[derive(Clone, Copy, Debug)]
pub struct ClientIpKey;

impl tower_governor::key_extractor::KeyExtractor for ClientIpKey {
    type Key = IpAddr;

    fn extract<T>(
        &self,
        req: &axum::http::Request<T>,
    ) -> Result<IpAddr, tower_governor::GovernorError> {
        req.extensions()
            .get::<ClientIp>()
            .map(|c| c.0)
            .ok_or(tower_governor::GovernorError::UnableToExtractKey)
    }
}

/// The sign-in limit: `per_minute` attempts per client IP, with the same 429 problem.
pub fn login_layer(
    per_minute: u32,
    metrics: Arc<super::metrics::Metrics>,
) -> tower_governor::GovernorLayer<
    ClientIpKey,
    governor::middleware::NoOpMiddleware<governor::clock::QuantaInstant>,
    axum::body::Body,
> {
    let per_minute = per_minute.max(1);
    let config = tower_governor::governor::GovernorConfigBuilder::default()
        .per_millisecond((60_000 / u64::from(per_minute)).max(1))
        .burst_size(per_minute)
        .key_extractor(ClientIpKey)
        .finish()
        .expect("valid sign-in rate limit");
    tower_governor::GovernorLayer::new(config).error_handler(move |e| match e {
        tower_governor::GovernorError::TooManyRequests { wait_time, .. } => {
            metrics.rate_limited("login");
            too_many("sign-in", Duration::from_secs(wait_time), per_minute)
        }
        _ => {
            super::problem::ApiError::Internal("rate limiter could not identify the client".into())
                .into_response()
        }
    })
}

use axum::response::IntoResponse;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_is_only_believed_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            "x-forwarded-for",
            HeaderValue::from_static("203.0.113.9, 198.51.100.7, 10.0.0.1"),
        );
        let peer: IpAddr = "192.0.2.1".parse().unwrap();
        assert_eq!(
            client_ip(peer, &h, &[proxy]),
            peer,
            "untrusted peer: header ignored"
        );
        assert_eq!(
            client_ip(proxy, &h, &[proxy]),
            "198.51.100.7".parse::<IpAddr>().unwrap(),
            "right-most untrusted"
        );
        assert_eq!(client_ip(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }

    #[test]
    fn limits_and_exemptions() {
        let l = Limiters::new(&RateLimitConfig {
            per_ip_per_second: 1,
            per_ip_burst: 2,
            per_principal_per_second: 0,
            per_principal_burst: 1,
            login_per_minute: 5,
            trusted_proxies: vec![],
        });
        let (ip, _) = l.ip.as_ref().unwrap();
        let a: IpAddr = "127.0.0.1".parse().unwrap();
        assert!(ip.check_key(&a).is_ok() && ip.check_key(&a).is_ok());
        assert!(ip.check_key(&a).is_err(), "burst of 2 used up");
        assert!(l.principal.is_none(), "0 turns the limit off");
        assert!(exempt("/health/live") && exempt("/metrics") && !exempt("/api/v1/me"));
    }
}
