//! Environment variables of deployments: validated names, and values that look like secrets.
//!
//! Shared with the browser so the deploy form says the same as the server: a name must be a
//! POSIX name and not one that changes how programs load or run (`LD_PRELOAD`…); a value given
//! as a plain variable must not look like a credential (it would be stored and shown in clear):
//! the operator marks it secret instead, and it goes to the secret store.

use crate::FieldError;

/// Names that change how the dynamic loader, the shell or language runtimes behave: a
/// deployment may not set them.
pub const DENIED_NAMES: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "LD_DEBUG",
    "LD_PROFILE",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "BASH_ENV",
    "ENV",
    "IFS",
    "PS4",
    "SHELLOPTS",
    "PROMPT_COMMAND",
    "PYTHONSTARTUP",
    "PYTHONPATH",
    "PYTHONHOME",
    "PERL5OPT",
    "PERL5LIB",
    "RUBYOPT",
    "NODE_OPTIONS",
    "JAVA_TOOL_OPTIONS",
    "_JAVA_OPTIONS",
    "GCONV_PATH",
    "MALLOC_CHECK_",
];

/// Longest variable name accepted.
pub const MAX_NAME_LEN: usize = 128;
/// Longest value accepted.
pub const MAX_VALUE_LEN: usize = 32 * 1024;

/// An environment variable name: POSIX (`[A-Za-z_][A-Za-z0-9_]*`), not on [`DENIED_NAMES`].
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EnvName(String);

impl EnvName {
    /// Checks a name.
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let invalid = |m: String| FieldError {
            field: "env",
            message: m,
        };
        let b = raw.as_bytes();
        if b.is_empty() || b.len() > MAX_NAME_LEN {
            return Err(invalid(format!(
                "a variable name must be 1 to {MAX_NAME_LEN} characters"
            )));
        }
        let first_ok = b[0].is_ascii_alphabetic() || b[0] == b'_';
        if !first_ok || !b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'_') {
            return Err(invalid(format!(
                "{raw:?} is not a POSIX variable name (letters, digits and _, not starting with a digit)"
            )));
        }
        if DENIED_NAMES.iter().any(|d| d.eq_ignore_ascii_case(raw)) {
            return Err(invalid(format!(
                "{raw} may not be set: it changes how programs are loaded or run"
            )));
        }
        Ok(Self(raw.to_owned()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What kind of credential a value looks like, if any.
pub fn secret_kind(value: &str) -> Option<&'static str> {
    let v = value.trim();
    let rest_ok = |rest: &str, min: usize, alphabet: &dyn Fn(u8) -> bool| {
        rest.len() >= min && rest.bytes().take_while(|b| alphabet(*b)).count() >= min
    };
    let alnum = |b: u8| b.is_ascii_alphanumeric();
    let alnum_ = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let token = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'-';
    // Find a marker anywhere in the value (e.g. `Bearer ghp_…`, `KEY=sk-…`).
    let find = |marker: &str| v.find(marker).map(|i| &v[i + marker.len()..]);
    for (marker, min, alphabet, kind) in [
        ("ghp_", 30, &alnum as &dyn Fn(u8) -> bool, "a GitHub token"),
        ("gho_", 30, &alnum, "a GitHub token"),
        ("ghu_", 30, &alnum, "a GitHub token"),
        ("ghs_", 30, &alnum, "a GitHub token"),
        ("ghr_", 30, &alnum, "a GitHub token"),
        ("github_pat_", 40, &alnum_, "a GitHub token"),
        ("glpat-", 20, &token, "a GitLab token"),
        ("sk-proj-", 20, &token, "an OpenAI key"),
        ("sk-ant-", 20, &token, "an Anthropic key"),
        ("sk_live_", 16, &alnum, "a Stripe key"),
        ("rk_live_", 16, &alnum, "a Stripe key"),
        ("sk_test_", 16, &alnum, "a Stripe key"),
        ("xoxb-", 10, &token, "a Slack token"),
        ("xoxp-", 10, &token, "a Slack token"),
        ("xoxa-", 10, &token, "a Slack token"),
        ("xoxs-", 10, &token, "a Slack token"),
        ("AIza", 35, &token, "a Google API key"),
    ] {
        if find(marker).is_some_and(|rest| rest_ok(rest, min, alphabet)) {
            return Some(kind);
        }
    }
    // OpenAI classic keys: sk- followed by a long alphanumeric run.
    if find("sk-").is_some_and(|rest| rest_ok(rest, 32, &token)) {
        return Some("an OpenAI key");
    }
    // AWS access key ids.
    for marker in ["AKIA", "ASIA"] {
        if let Some(rest) = find(marker) {
            if rest.len() >= 16
                && rest
                    .bytes()
                    .take(16)
                    .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
            {
                return Some("an AWS access key");
            }
        }
    }
    if v.contains("-----BEGIN") && v.contains("PRIVATE KEY") {
        return Some("a private key");
    }
    if v.contains("hooks.slack.com/services/") {
        return Some("a Slack webhook URL");
    }
    // JWTs: three base64url parts, the first two JSON objects (`eyJ` = `{"`).
    let parts: Vec<&str> = v.split('.').collect();
    if parts.len() == 3
        && parts[0].starts_with("eyJ")
        && parts[1].starts_with("eyJ")
        && parts.iter().all(|p| {
            p.len() >= 8
                && p.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'=')
        })
    {
        return Some("a JWT");
    }
    // Credentials inside a URL (`scheme://user:password@host`).
    if let Some(i) = v.find("://") {
        let authority = v[i + 3..].split(['/', '?', '#']).next().unwrap_or("");
        if let Some((userinfo, _)) = authority.rsplit_once('@') {
            if userinfo.contains(':') {
                return Some("a URL with a password");
            }
        }
    }
    None
}

/// Checks a plain (not secret) value: its size, and that it does not look like a credential.
pub fn check_plain_value(name: &str, value: &str) -> Result<(), FieldError> {
    if value.len() > MAX_VALUE_LEN {
        return Err(FieldError {
            field: "env",
            message: format!("the value of {name} is longer than {MAX_VALUE_LEN} bytes"),
        });
    }
    if value.contains('\0') {
        return Err(FieldError {
            field: "env",
            message: format!("the value of {name} holds a NUL character"),
        });
    }
    if let Some(kind) = secret_kind(value) {
        return Err(FieldError {
            field: "env",
            message: format!(
                "the value of {name} looks like {kind}: mark it secret, so it is kept in the secret store and never shown"
            ),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        for ok in ["PATH_X", "_private", "a1", "API_KEY"] {
            assert!(EnvName::parse(ok).is_ok(), "{ok}");
        }
        for bad in ["", "1ABC", "A-B", "A B", "Ä", "A=B", &"A".repeat(129)] {
            assert!(EnvName::parse(bad).is_err(), "{bad}");
        }
        let e = EnvName::parse("LD_PRELOAD").unwrap_err();
        assert!(e.message.contains("may not be set"));
        assert!(EnvName::parse("ld_library_path").is_err());
        assert!(EnvName::parse("NODE_OPTIONS").is_err());
    }

    #[test]
    fn secret_looking_values() {
        let cases = [
            ("ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "a GitHub token"),
            (
                "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz0123456789",
                "a GitHub token",
            ),
            ("Bearer ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "a GitHub token"),
            ("AKIAIOSFODNN7EXAMPLE", "an AWS access key"),
            ("sk-proj-abcdefghijklmnopqrstuvwxyz012345", "an OpenAI key"),
            ("sk-abcdefghijklmnopqrstuvwxyz0123456789ABCD", "an OpenAI key"),
            ("xoxb-123456789012-abcdefghij", "a Slack token"),
            ("sk_live_abcdefghijklmnop1234", "a Stripe key"),
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nabc\n-----END OPENSSH PRIVATE KEY-----",
                "a private key",
            ),
            (
                "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
                "a JWT",
            ),
            ("postgres://app:hunter2@db.example.com/app", "a URL with a password"),
            ("https://hooks.slack.com/services/T000/B000/XXXX", "a Slack webhook URL"),
        ];
        for (value, kind) in cases {
            assert_eq!(secret_kind(value), Some(kind), "{value}");
            let e = check_plain_value("X", value).unwrap_err();
            assert!(e.message.contains("mark it secret"), "{}", e.message);
        }
        for plain in [
            "info",
            "https://api.example.com/v1",
            "/data/files",
            "sk-short",
            "AKIA",
            "postgres://db.example.com/app",
            "a.b.c",
            "3000",
        ] {
            assert_eq!(secret_kind(plain), None, "{plain}");
            assert!(check_plain_value("X", plain).is_ok());
        }
        assert!(check_plain_value("X", &"x".repeat(MAX_VALUE_LEN + 1)).is_err());
    }
}
