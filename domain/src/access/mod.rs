//! Identity and access: who is calling (a [`Principal`]), what they may do (a [`Role`]), and
//! the records that back it (users, API keys, sessions, audit events).
//!
//! Every service function that reads or changes something takes a [`Caller`] and checks the
//! role itself, so the JSON API and the dashboard cannot disagree about who may do what.

pub mod api_keys;
pub mod audit;
pub mod external;
pub mod passwords;
pub mod session_store;
pub mod users;

use types::Role;

use crate::DomainError;

/// What kind of credential authenticated the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrincipalKind {
    /// A signed-in user (dashboard session).
    User,
    /// An API key (`Authorization: Bearer …`).
    ApiKey,
}

impl PrincipalKind {
    /// The wire and audit spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::ApiKey => "api_key",
        }
    }
}

/// An authenticated caller.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Principal {
    /// User or key.
    pub kind: PrincipalKind,
    /// User id or key id.
    pub id: String,
    /// User name or key name.
    pub name: String,
    /// Effective role.
    pub role: Role,
    /// The user behind it: the user itself, or the key's creator.
    pub user_id: Option<String>,
}

/// Who is asking, and from where: what every service function receives.
#[derive(Clone, Debug, Default)]
pub struct Caller {
    /// `None` for anonymous callers.
    pub principal: Option<Principal>,
    /// The request id (for the audit log).
    pub request_id: Option<String>,
    /// The client address (for the audit log).
    pub client_ip: Option<String>,
}

impl Caller {
    /// An authenticated caller.
    pub fn new(principal: Principal) -> Self {
        Self {
            principal: Some(principal),
            ..Self::default()
        }
    }

    /// The principal, if it holds at least `role`: 401 when anonymous, 403 when too low.
    pub fn require(&self, role: Role) -> Result<&Principal, DomainError> {
        let p = self
            .principal
            .as_ref()
            .ok_or(DomainError::Unauthenticated)?;
        if p.role < role {
            return Err(DomainError::Forbidden(format!(
                "this needs the {role} role; you have {}",
                p.role
            )));
        }
        Ok(p)
    }
}
