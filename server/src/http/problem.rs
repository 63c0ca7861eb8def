//! One error type for the HTTP faces, mapped once to RFC 9457 `application/problem+json`.
//!
//! Handlers return [`ApiError`]; it puts a [`Problem`] into the response extensions, and the
//! [`finish_problems`] middleware serializes it with the request id and path. Any other error
//! response (a 405 from the router, a 413 from the body limit, a caught panic) is turned into
//! a problem there too, so no error leaves the server in another shape.

use axum::{
    extract::{rejection::JsonRejection, FromRequest, Request},
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
            D::Database(e) => Self::Unavailable(e.to_string()),
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

/// `axum::Json` with rejections mapped to problems: 415 without a JSON content type, 400 for
/// broken JSON, 422 for JSON of the wrong shape, 413 over the body limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(match rejection {
                JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
                    "Send the body as JSON with Content-Type: application/json.".into(),
                ),
                JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
                    "The body is not valid JSON: {}",
                    source_message(&e)
                )),
                JsonRejection::JsonDataError(e) => {
                    ApiError::unprocessable("invalid-body", source_message(&e), None)
                }
                JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                    ApiError::PayloadTooLarge
                }
                other => ApiError::BadRequest(format!(
                    "The body could not be read ({}).",
                    other.status()
                )),
            }),
        }
    }
}

/// serde's own message ("missing field `x` at line 1 column 2"), without axum's prefix.
fn source_message(e: &dyn std::error::Error) -> String {
    let mut current: &dyn std::error::Error = e;
    while let Some(next) = current.source() {
        current = next;
    }
    current.to_string()
}
