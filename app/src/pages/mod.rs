//! One module per page.

mod catalog;
mod deployments;
mod health;
mod login;
mod not_found;
mod overview;
mod registries;
mod runs;
mod settings;
mod ui;

pub use catalog::{Catalog, CatalogEntryView};
pub use deployments::{DeploymentView, Deployments};
pub use health::HealthPage;
pub use login::Login;
pub use not_found::NotFound;
pub use overview::Overview;
pub use registries::Registries;
pub use runs::{RunView, Runs};
pub use settings::{Account, ApiKeys, Audit, SettingsIndex, Users};
