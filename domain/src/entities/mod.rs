//! sea-orm entities, one module per table.

pub mod api_key;
pub mod audit_event;
pub mod instance;
pub mod secret;
pub mod session;
pub mod user;
