//! sea-orm entities, one module per table.

pub mod api_key;
pub mod audit_event;
pub mod catalog_entry;
pub mod catalog_state;
pub mod deployment;
pub mod deployment_health;
pub mod health_event;
pub mod health_sample;
pub mod installation;
pub mod instance;
pub mod pipeline_event;
pub mod pipeline_run;
pub mod pipeline_step;
pub mod registry;
pub mod registry_sync;
pub mod secret;
pub mod session;
pub mod user;
