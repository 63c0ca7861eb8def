//! One error type for the HTTP faces, mapped once to RFC 9457 `application/problem+json`.
//!
//! Handlers return [`ApiError`]; it puts a [`Problem`] into the response extensions, and the
//! [`finish_problems`] middleware serializes it with the request id and path. Any other error
//! response (a 405 from the router, a 413 from the body limit, a caught panic) is turned into
//! a problem there too, so no error leaves the server in another shape.

use axum::{
    extract::{FromRequest, Request},
    http::{header, HeaderValue, StatusCode},
    middleware::Next,
    response::{IntoResponse, Response},
};
use serde::de::DeserializeOwned;
use types::{problem::PROBLEM_JSON, Problem};

use super::request_context::RequestId;

/// An error a handler answers with. Each variant is one HTTP outcome.
#[derive(Debug)]
pub enum ApiError {
    /// The request is malformed (not JSON, wrong syntax): 400.
    BadRequest(String),
    /// The body is well-formed but its content is not acceptable: 422, naming what is wrong.
    Unprocessable {
        detail: String,
        problem_type: &'static str,
        extensions: serde_json::Map<String, serde_json::Value>,
    },
    /// The body is not JSON, or declares no JSON content type: 415.
    UnsupportedMediaType(String),
    /// The body is over the configured limit: 413.
    PayloadTooLarge,
    /// A dependency (the database) is unavailable: 503. The cause is logged, not sent.
    Unavailable(String),
    /// A bug or an unexpected failure: 500. The cause is logged, not sent.
    Internal(String),
    /// Any other outcome, fully described.
    Status(Problem),
}

impl ApiError {
    /// A 422 naming a setting or field.
    pub fn unprocessable(
        problem_type: &'static str,
        detail: impl Into<String>,
        field: Option<&str>,
    ) -> Self {
        let mut extensions = serde_json::Map::new();
        if let Some(field) = field {
            extensions.insert("field".into(), field.into());
        }
        Self::Unprocessable {
            detail: detail.into(),
            problem_type,
            extensions,
        }
    }
}

impl From<domain::DomainError> for ApiError {
    fn from(e: domain::DomainError) -> Self {
        use domain::DomainError as D;
        match e {
            D::Database(e) => {
                let fault = domain::DbFault::of(&e);
                if fault == domain::DbFault::Other {
                    return Self::Unavailable(e.to_string());
                }
                tracing::error!(cause = %e, ?fault, "database error");
                database_problem(fault)
            }
            D::Unauthenticated => Self::Status(
                Problem::new(401, "Unauthorized")
                    .with_type("unauthorized")
                    .with_detail("Sign in, or send an API key."),
            ),
            D::Forbidden(why) => Self::Status(
                Problem::new(403, "Forbidden")
                    .with_type("forbidden")
                    .with_detail(why),
            ),
            D::NotFound(what) => Self::Status(
                Problem::new(404, "Not Found")
                    .with_type("not-found")
                    .with_detail(format!("No such {what}.")),
            ),
            D::Invalid(f) => Self::unprocessable(
                "invalid-input",
                format!("{}: {}", f.field, f.message),
                Some(f.field),
            ),
            D::Conflict(why) => Self::Status(
                Problem::new(409, "Conflict")
                    .with_type("conflict")
                    .with_detail(why),
            ),
            D::TooManyAttempts { retry_after_secs } => Self::Status(
                Problem::new(429, "Too Many Requests")
                    .with_type("too-many-attempts")
                    .with_detail(format!(
                        "Too many failed attempts; try again in {retry_after_secs} s."
                    ))
                    .with_extension("retry_after", retry_after_secs.into()),
            ),
            D::TooSoon {
                message,
                retry_after_secs,
            } => Self::Status(
                Problem::new(429, "Too Many Requests")
                    .with_type("too-soon")
                    .with_detail(message)
                    .with_extension("retry_after", retry_after_secs.into()),
            ),
            D::Upstream(why) => Self::Status(
                Problem::new(502, "Bad Gateway")
                    .with_type("upstream-error")
                    .with_detail(why),
            ),
            D::UpstreamTimeout(why) => Self::Status(
                Problem::new(504, "Gateway Timeout")
                    .with_type("upstream-timeout")
                    .with_detail(why),
            ),
            D::Unavailable(why) => Self::Status(
                Problem::new(503, "Service Unavailable")
                    .with_type("unavailable")
                    .with_detail(why),
            ),
            D::CircuitOpen {
                message,
                retry_after_secs,
            } => Self::Status(
                Problem::new(503, "Service Unavailable")
                    .with_type("circuit-open")
                    .with_detail(message)
                    .with_extension("retry_after", retry_after_secs.into()),
            ),
            D::Internal(cause) => Self::Internal(cause),
        }
    }
}

/// The answer when the database fails in a way people can act on: 503 (busy, unreachable)
/// with `Retry-After`, or 507 when its disk is full. The detail says which, never the
/// driver's text.
pub fn database_problem(fault: domain::DbFault) -> ApiError {
    use domain::DbFault as F;
    let (slug, detail, retry_after) = match fault {
        F::Busy => (
            "database-busy",
            "The database is busy: another process holds its write lock, so nothing was changed. Try again shortly.",
            Some(2u64),
        ),
        F::DiskFull => (
            "database-disk-full",
            "The disk holding the database is full, so nothing was changed. Free space on it, then try again.",
            None,
        ),
        F::Unreachable | F::Other => (
            "database-unavailable",
            "The database cannot be reached right now. Try again shortly.",
            Some(5),
        ),
    };
    let mut p = if fault == F::DiskFull {
        Problem::new(507, "Insufficient Storage")
    } else {
        Problem::new(503, "Service Unavailable")
    }
    .with_type(slug)
    .with_detail(detail);
    if let Some(secs) = retry_after {
        p = p.with_extension("retry_after", secs.into());
    }
    ApiError::Status(p)
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match self {
            Self::BadRequest(detail) => Problem::new(400, "Bad Request")
                .with_type("bad-request")
                .with_detail(detail),
            Self::Unprocessable {
                detail,
                problem_type,
                extensions,
            } => {
                let mut p = Problem::new(422, "Unprocessable Content")
                    .with_type(problem_type)
                    .with_detail(detail);
                p.extensions = extensions;
                p
            }
            Self::UnsupportedMediaType(detail) => Problem::new(415, "Unsupported Media Type")
                .with_type("unsupported-media-type")
                .with_detail(detail),
            Self::PayloadTooLarge => generic(StatusCode::PAYLOAD_TOO_LARGE),
            Self::Unavailable(cause) => {
                tracing::error!(%cause, "dependency unavailable");
                Problem::new(503, "Service Unavailable")
                    .with_type("unavailable")
                    .with_detail("A dependency of this service is unavailable; try again shortly.")
            }
            Self::Internal(cause) => {
                tracing::error!(%cause, "internal error");
                generic(StatusCode::INTERNAL_SERVER_ERROR)
            }
            Self::Status(p) => p,
        };
        let retry_after = problem
            .extensions
            .get("retry_after")
            .and_then(serde_json::Value::as_u64);
        let mut res = problem_response(problem);
        if let Some(secs) = retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}

/// A response whose body [`finish_problems`] will fill from `problem`.
pub fn problem_response(problem: Problem) -> Response {
    let status = StatusCode::from_u16(problem.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = status.into_response();
    res.extensions_mut().insert(problem);
    res
}

/// The problem for a status when nothing more specific is known. Never carries internal detail.
pub fn generic(status: StatusCode) -> Problem {
    let title = status.canonical_reason().unwrap_or("Error");
    let detail = match status.as_u16() {
        404 => "No resource exists at this path.",
        405 => {
            "This method is not allowed on this resource; the Allow header lists the ones that are."
        }
        408 => "The request took too long to arrive.",
        413 => "The request body is larger than this server accepts.",
        415 => "The request body's media type is not supported here; send application/json.",
        429 => "Too many requests; wait before retrying.",
        500 => "The server failed to handle this request. Quote the request id when reporting it.",
        503 => "The service is not ready; try again shortly.",
        _ => title,
    };
    let slug = title.to_ascii_lowercase().replace([' ', '\''], "-");
    Problem::new(status.as_u16(), title)
        .with_type(&slug)
        .with_detail(detail)
}

/// Serializes every error response as problem+json, with the request id and path.
///
/// HTML error pages of the dashboard and server-function answers (which the WASM client
/// decodes itself) are left alone.
pub async fn finish_problems(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let request_id = req.extensions().get::<RequestId>().map(|r| r.0.clone());
    let mut res = next.run(req).await;
    let status = res.status();
    let problem = match res.extensions_mut().remove::<Problem>() {
        Some(p) => p,
        None if status.is_client_error() || status.is_server_error() => {
            if is_html(&res) || path.starts_with(app::SERVER_FN_PREFIX) || is_problem(&res) {
                return res;
            }
            generic(status)
        }
        None => return res,
    };
    let mut problem = problem;
    problem.instance = Some(path);
    problem.request_id = request_id;
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let (mut parts, _) = res.into_parts();
    parts
        .headers
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, axum::body::Body::from(body))
}

fn content_type(res: &Response) -> &str {
    res.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
}

fn is_html(res: &Response) -> bool {
    content_type(res).starts_with("text/html")
}

fn is_problem(res: &Response) -> bool {
    content_type(res).starts_with(PROBLEM_JSON)
}

/// The 500 answer for a handler that panicked. The panic message is logged, never sent.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(non-string panic payload)");
    tracing::error!(panic = message, "handler panicked");
    problem_response(generic(StatusCode::INTERNAL_SERVER_ERROR))
}

/// A JSON body, with every way it can be wrong mapped to a problem: 415 without a JSON
/// content type, 400 when the bytes are not JSON at all, 422 for JSON of the wrong shape
/// (naming what is wrong), 413 over the body limit.
///
/// serde_json reports some shape errors as syntax errors (an object where a string enum was
/// expected says "expected value"), so a syntax error is a 400 only when the body does not
/// parse as JSON at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(req.headers()) {
            return Err(ApiError::UnsupportedMediaType(
                "Send the body as JSON with Content-Type: application/json.".into(),
            ));
        }
        let bytes = match axum::body::Bytes::from_request(req, state).await {
            Ok(b) => b,
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                return Err(ApiError::PayloadTooLarge)
            }
            Err(e) => {
                return Err(ApiError::BadRequest(format!(
                    "The body could not be read ({}).",
                    e.status()
                )))
            }
        };
        parse_json(&bytes).map(Self)
    }
}

/// `bytes` as a `T`, or the problem saying why not (see [`ApiJson`]).
#[allow(clippy::result_large_err)] // the error is the answer, built once per refused request
fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let error = match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Ok(v) => match de.end() {
            Ok(()) => return Ok(v),
            Err(e) => return Err(not_json(&e)),
        },
        Err(e) => e,
    };
    if serde_json::from_slice::<serde::de::IgnoredAny>(bytes).is_err() {
        return Err(not_json(error.inner()));
    }
    let path = error.path().to_string();
    let inner = error.into_inner();
    Err(if path.is_empty() || path == "." {
        ApiError::unprocessable("invalid-body", inner.to_string(), None)
    } else {
        ApiError::unprocessable("invalid-body", format!("{path}: {inner}"), Some(&path))
    })
}

fn not_json(e: &serde_json::Error) -> ApiError {
    ApiError::BadRequest(format!("The body is not valid JSON: {e}"))
}

fn is_json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(ct) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Query parameters, with a parse failure (a bad number, a repeated key, an unknown value) a
/// 422 naming the parameter instead of axum's bare 400.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> axum::extract::FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let query = parts.uri.query().unwrap_or_default();
        let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
        serde_path_to_error::deserialize::<_, T>(de)
            .map(Self)
            .map_err(|e| {
                let path = e.path().to_string();
                let inner = e.into_inner();
                let field = (!path.is_empty() && path != ".").then_some(path);
                let detail = match &field {
                    Some(f) => format!("Query parameter `{f}`: {inner}"),
                    None => format!("Query string: {inner}"),
                };
                ApiError::unprocessable("invalid-query", detail, field.as_deref())
            })
    }
}
