//! Identity and access DTOs and validated inputs, shared by the server and the browser.

use std::{fmt, str::FromStr};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// What a principal may do. Ordered: each role includes the ones below it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything that is not a secret.
    Viewer,
    /// Also runs pipelines, deploys and stops.
    Operator,
    /// Also manages registries, users, keys and settings.
    Admin,
}

impl Role {
    /// Every role, lowest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The wire and database spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Ok(Self::Viewer),
            "operator" => Ok(Self::Operator),
            "admin" => Ok(Self::Admin),
            _ => Err("must be viewer, operator or admin".into()),
        }
    }
}

/// A validation failure: which field, and why (for a 422 and for a form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// Field name as sent on the wire.
    pub field: &'static str,
    /// What is wrong, for a person.
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

fn invalid(field: &'static str, message: impl Into<String>) -> FieldError {
    FieldError {
        field,
        message: message.into(),
    }
}

/// A user name: 3–64 characters of `a-z 0-9 . _ -`, starting with a letter or digit; stored
/// lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Username(String);

impl Username {
    /// Parses and normalises (trim, lower-case).
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim().to_ascii_lowercase();
        if !(3..=64).contains(&s.len()) {
            return Err(invalid("username", "must be 3 to 64 characters"));
        }
        if !s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        }) {
            return Err(invalid(
                "username",
                "may hold only letters, digits, '.', '_' and '-'",
            ));
        }
        if !s.as_bytes()[0].is_ascii_alphanumeric() {
            return Err(invalid("username", "must start with a letter or digit"));
        }
        Ok(Self(s))
    }

    /// The normalised name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A new password: 12–1024 characters (long passphrases welcome; bounded so hashing stays cheap
/// to refuse).
#[derive(Clone, PartialEq, Eq)]
pub struct NewPassword(String);

impl NewPassword {
    /// Minimum length in characters (OWASP ASVS: at least 12).
    pub const MIN_CHARS: usize = 12;
    /// Maximum length in bytes.
    pub const MAX_BYTES: usize = 1024;

    /// Checks the length.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        if raw.chars().count() < Self::MIN_CHARS {
            return Err(invalid(
                "new_password",
                format!("must be at least {} characters", Self::MIN_CHARS),
            ));
        }
        if raw.len() > Self::MAX_BYTES {
            return Err(invalid(
                "new_password",
                format!("must be at most {} bytes", Self::MAX_BYTES),
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The password, for hashing only.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// A label for an API key: 1–100 printable characters, trimmed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyName(String);

impl KeyName {
    /// Parses and trims.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(invalid("name", "must not be empty"));
        }
        if s.chars().count() > 100 {
            return Err(invalid("name", "must be at most 100 characters"));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid("name", "must not contain control characters"));
        }
        Ok(Self(s.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What the sign-in page offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignInOptions {
    /// Label of the identity-provider button, when one is configured.
    pub sso: Option<String>,
}

/// Who is calling: `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Me {
    /// `user` or `api_key`.
    pub kind: String,
    /// User or key id.
    pub id: String,
    /// User name or key name.
    pub name: String,
    /// Effective role.
    pub role: Role,
}

/// An API key as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ApiKeyInfo {
    /// Key id.
    pub id: String,
    /// Label.
    pub name: String,
    /// The visible start of the key (`mcpo_…`), to recognise it.
    pub prefix: String,
    /// Role the key acts with.
    pub role: Role,
    /// Id of the user who created it, if any (keys made by the CLI have none).
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// After this the key is refused.
    pub expires_at: Option<DateTime<Utc>>,
    /// Set once revoked; a revoked key is refused.
    pub revoked_at: Option<DateTime<Utc>>,
    /// Last successful use (updated at most every few seconds).
    pub last_used_at: Option<DateTime<Utc>>,
}

/// `POST /api/v1/api-keys` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// Label, 1–100 characters.
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 100))]
    pub name: String,
    /// Role of the key; at most the creator's own.
    pub role: Role,
    /// Optional expiry (RFC 3339, in the future).
    #[serde(default)]
    pub expires_at: Option<DateTime<Utc>>,
}

/// The answer to a key creation: the only time the secret is shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CreatedApiKey {
    /// The full key, to send as `Authorization: Bearer …`. Shown once.
    pub key: String,
    /// The stored description.
    pub info: ApiKeyInfo,
}

/// A user as listed to admins.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct UserInfo {
    /// User id.
    pub id: String,
    /// Login name.
    pub username: String,
    /// Name shown in the dashboard.
    pub display_name: String,
    /// E-mail, when the identity provider gave one.
    pub email: Option<String>,
    /// Role.
    pub role: Role,
    /// `local` or `oidc`.
    pub provider: String,
    /// A disabled user cannot sign in.
    pub disabled: bool,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Last successful sign-in.
    pub last_login_at: Option<DateTime<Utc>>,
}

/// `PATCH /api/v1/users/{id}` body: what to change (absent fields stay).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct UpdateUser {
    /// New role.
    #[serde(default)]
    pub role: Option<Role>,
    /// Disable (true) or enable (false) sign-in; a disabled user's sessions and keys stop working.
    #[serde(default)]
    pub disabled: Option<bool>,
}

/// One audited change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct AuditEvent {
    /// Event id (time-ordered).
    pub id: String,
    /// When.
    pub at: DateTime<Utc>,
    /// `user`, `api_key`, `system` or `anonymous`.
    pub actor_kind: String,
    /// User or key id.
    pub actor_id: Option<String>,
    /// User or key name.
    pub actor_name: String,
    /// What was done, e.g. `api_key.create`.
    pub action: String,
    /// Kind of the thing acted on.
    pub target_kind: String,
    /// Its id.
    pub target_id: Option<String>,
    /// `success`, `denied` or `failure`.
    pub outcome: String,
    /// Structured detail (never a secret).
    #[cfg_attr(feature = "openapi", schema(value_type = Object))]
    pub detail: serde_json::Value,
    /// The request that made the change.
    pub request_id: Option<String>,
    /// The client address.
    pub client_ip: Option<String>,
}

/// A page of results with an opaque cursor for the next one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Page<T> {
    /// The items, newest first.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_order_and_parse() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        assert_eq!("Admin".parse::<Role>(), Ok(Role::Admin));
        assert!("root".parse::<Role>().is_err());
        assert_eq!(
            serde_json::to_string(&Role::Operator).unwrap(),
            "\"operator\""
        );
    }

    #[test]
    fn usernames() {
        assert_eq!(Username::parse("  Alice.B ").unwrap().as_str(), "alice.b");
        for bad in ["", "ab", "-abc", "has space", "ümlaut", &"a".repeat(65)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(NewPassword::parse("short").is_err());
        assert!(NewPassword::parse(&"x".repeat(1025)).is_err());
        let p = NewPassword::parse("correct horse battery").unwrap();
        assert_eq!(format!("{p:?}"), "NewPassword(***)");
    }

    #[test]
    fn key_names() {
        assert_eq!(
            KeyName::parse("  ci deploy ").unwrap().as_str(),
            "ci deploy"
        );
        for bad in ["", "   ", "a\nb", &"k".repeat(101)] {
            assert!(KeyName::parse(bad).is_err(), "{bad:?}");
        }
    }
}
