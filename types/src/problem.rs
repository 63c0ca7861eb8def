//! RFC 9457 problem details: the one shape every error takes on the wire.

use serde::{Deserialize, Serialize};

/// Media type of a problem document.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An RFC 9457 problem document.
///
/// `type_` is a URI reference naming the kind of problem; `about:blank` means "the status code
/// says it all". `detail` is written for the caller and never carries internal detail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Problem {
    /// A URI reference that identifies the problem type.
    #[serde(rename = "type")]
    pub type_: String,
    /// A short, human-readable summary of the problem type.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// A human-readable explanation specific to this occurrence.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// The request path this problem occurred on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// The request id, to quote when asking an operator to look at the logs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Problem-specific members (for example the failing checks of `/health/ready`).
    #[serde(flatten, default, skip_serializing_if = "serde_json::Map::is_empty")]
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub extensions: serde_json::Map<String, serde_json::Value>,
}

impl Problem {
    /// A problem of the given status whose type is `about:blank`.
    pub fn new(status: u16, title: impl Into<String>) -> Self {
        Self {
            type_: "about:blank".to_owned(),
            title: title.into(),
            status,
            detail: None,
            instance: None,
            request_id: None,
            extensions: serde_json::Map::new(),
        }
    }

    /// Sets a problem type URI under `/problems/` of this server, e.g. `invalid-config`.
    pub fn with_type(mut self, slug: &str) -> Self {
        self.type_ = format!("/problems/{slug}");
        self
    }

    /// Sets the human-readable detail.
    pub fn with_detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }

    /// Adds a problem-specific member.
    pub fn with_extension(mut self, key: &str, value: serde_json::Value) -> Self {
        self.extensions.insert(key.to_owned(), value);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_type_member_and_flattens_extensions() {
        let p = Problem::new(422, "Unprocessable Content")
            .with_type("invalid-config")
            .with_extension("setting", serde_json::json!("listen"));
        let v = serde_json::to_value(&p).unwrap();
        assert_eq!(v["type"], "/problems/invalid-config");
        assert_eq!(v["status"], 422);
        assert_eq!(v["setting"], "listen");
        assert!(v.get("detail").is_none(), "absent members are omitted");
        let back: Problem = serde_json::from_value(v).unwrap();
        assert_eq!(back, p);
    }
}
