//! Fetching from sources: one HTTP request with timeout, size cap and retries (exponential
//! backoff with jitter on 5xx, 429 and connection errors; `Retry-After` honoured), and
//! reading local files under the same size cap.

use std::{path::Path, time::Duration};

use rand::Rng;
use reqwest::{header::HeaderValue, StatusCode, Url};

use super::Settings;
use crate::secrets::SecretValue;

/// Why a fetch failed. Messages are for operators: they name the URL (which never holds
/// credentials) and never quote the response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// The source answered with a status that is not retried, or kept failing.
    #[error("{url} answered {status}{}", attempts_note(*.attempts))]
    Status {
        /// Requested URL.
        url: String,
        /// Status line.
        status: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The source could not be reached (or timed out) every time.
    #[error("{url}: {reason}{}", attempts_note(*.attempts))]
    Transport {
        /// Requested URL.
        url: String,
        /// Connection refused, timed out…
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
    /// The source asked to wait longer than we are willing to.
    #[error("{url} asked to retry after {secs} s, longer than the {max} s limit (registry.retry_max_ms)")]
    RetryAfterTooLong {
        /// Requested URL.
        url: String,
        /// Requested wait.
        secs: u64,
        /// Our limit.
        max: u64,
    },
    /// The body is over `registry.max_response_bytes`.
    #[error("{what} is larger than {limit} bytes (registry.max_response_bytes)")]
    TooLarge {
        /// URL or path.
        what: String,
        /// The limit.
        limit: usize,
    },
    /// A local file could not be read.
    #[error("cannot read {path}: {reason}")]
    File {
        /// The path.
        path: String,
        /// Why.
        reason: String,
    },
}

fn attempts_note(n: u32) -> String {
    if n > 1 {
        format!(" (after {n} attempts)")
    } else {
        String::new()
    }
}

/// An HTTP client for one sync.
pub struct Fetcher<'a> {
    client: reqwest::Client,
    settings: &'a Settings,
    auth: Option<(String, SecretValue)>,
}

/// How one attempt went.
enum Attempt {
    Done(Vec<u8>),
    Retry {
        reason: String,
        after: Option<Duration>,
        status: Option<String>,
    },
    Fatal(FetchError),
}

impl<'a> Fetcher<'a> {
    /// A client with the request timeout of `settings`, sending `auth` (header name, value)
    /// with every request.
    pub fn new(
        settings: &'a Settings,
        auth: Option<(String, SecretValue)>,
    ) -> Result<Self, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(settings.request_timeout)
            .connect_timeout(settings.request_timeout.min(Duration::from_secs(10)))
            // Redirects could carry the credential to another host.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("mcp-orchestrator/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build an HTTP client: {e}"))?;
        Ok(Self {
            client,
            settings,
            auth,
        })
    }

    /// GETs `url`, retrying what is worth retrying, and returns the body.
    pub async fn get(&self, url: &Url) -> Result<Vec<u8>, FetchError> {
        let max = self.settings.max_attempts.max(1);
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.attempt(url).await {
                Attempt::Done(body) => return Ok(body),
                Attempt::Fatal(e) => return Err(e),
                Attempt::Retry {
                    reason,
                    after,
                    status,
                } => {
                    if attempt >= max {
                        return Err(match status {
                            Some(status) => FetchError::Status {
                                url: url.to_string(),
                                status,
                                attempts: attempt,
                            },
                            None => FetchError::Transport {
                                url: url.to_string(),
                                reason,
                                attempts: attempt,
                            },
                        });
                    }
                    let wait = after.unwrap_or_else(|| backoff(self.settings, attempt));
                    tracing::info!(target: "mcp_orchestrator::registry", %url, attempt, wait_ms = wait.as_millis() as u64, %reason, "retrying");
                    tokio::time::sleep(wait).await;
                }
            }
        }
    }

    async fn attempt(&self, url: &Url) -> Attempt {
        let mut req = self
            .client
            .get(url.clone())
            .header("accept", "application/json");
        if let Some((name, value)) = &self.auth {
            match HeaderValue::from_str(value.expose()) {
                Ok(mut v) => {
                    v.set_sensitive(true);
                    req = req.header(name.as_str(), v);
                }
                Err(_) => {
                    return Attempt::Fatal(FetchError::Transport {
                        url: url.to_string(),
                        reason: "the stored credential is not a valid header value".into(),
                        attempts: 1,
                    })
                }
            }
        }
        let mut resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                return Attempt::Retry {
                    reason: transport_reason(&e),
                    after: None,
                    status: None,
                }
            }
        };
        let status = resp.status();
        if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
            let after = retry_after(resp.headers());
            let max = self.settings.retry_max;
            if let Some(a) = after {
                if a > max {
                    return Attempt::Fatal(FetchError::RetryAfterTooLong {
                        url: url.to_string(),
                        secs: a.as_secs(),
                        max: max.as_secs(),
                    });
                }
            }
            return Attempt::Retry {
                reason: format!("status {status}"),
                after,
                status: Some(status.to_string()),
            };
        }
        if !status.is_success() {
            return Attempt::Fatal(FetchError::Status {
                url: url.to_string(),
                status: status.to_string(),
                attempts: 1,
            });
        }
        let limit = self.settings.max_response_bytes;
        if resp.content_length().is_some_and(|n| n as usize > limit) {
            return Attempt::Fatal(FetchError::TooLarge {
                what: url.to_string(),
                limit,
            });
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) => {
                    if body.len() + chunk.len() > limit {
                        return Attempt::Fatal(FetchError::TooLarge {
                            what: url.to_string(),
                            limit,
                        });
                    }
                    body.extend_from_slice(&chunk);
                }
                Ok(None) => return Attempt::Done(body),
                Err(e) => {
                    return Attempt::Retry {
                        reason: transport_reason(&e),
                        after: None,
                        status: None,
                    }
                }
            }
        }
    }
}

fn transport_reason(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out (registry.request_timeout_ms)".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else if e.is_body() || e.is_decode() {
        "the connection broke while reading the answer".into()
    } else {
        "the request failed".into()
    }
}

/// `Retry-After` as seconds or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let v = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = chrono::DateTime::parse_from_rfc2822(v).ok()?;
    let wait = at.with_timezone(&chrono::Utc) - chrono::Utc::now();
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// Exponential backoff with jitter: a random wait in [d/2, d], d = base × 2^(attempt-1),
/// capped at `retry_max`.
pub fn backoff(settings: &Settings, attempt: u32) -> Duration {
    let exp = settings
        .retry_base
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let d = exp.min(settings.retry_max);
    let half = d / 2;
    half + d
        .saturating_sub(half)
        .mul_f64(rand::thread_rng().gen::<f64>())
}

/// Reads a local file under the size cap.
pub async fn read_file(path: &Path, limit: usize) -> Result<Vec<u8>, FetchError> {
    let err = |e: std::io::Error| FetchError::File {
        path: path.display().to_string(),
        reason: e.kind().to_string(),
    };
    let meta = tokio::fs::metadata(path).await.map_err(err)?;
    if meta.len() as usize > limit {
        return Err(FetchError::TooLarge {
            what: path.display().to_string(),
            limit,
        });
    }
    tokio::fs::read(path).await.map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter_and_a_cap() {
        let s = Settings {
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_millis(1000),
            ..Settings::default()
        };
        for _ in 0..100 {
            let b1 = backoff(&s, 1);
            assert!(b1 >= Duration::from_millis(50) && b1 <= Duration::from_millis(100));
            let b3 = backoff(&s, 3);
            assert!(b3 >= Duration::from_millis(200) && b3 <= Duration::from_millis(400));
            assert!(backoff(&s, 30) <= Duration::from_millis(1000));
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert("retry-after", HeaderValue::from_static("7"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(7)));
        h.insert(
            "retry-after",
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&h), Some(Duration::ZERO));
        h.insert("retry-after", HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
    }
}
