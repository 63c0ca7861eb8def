//! One module per page.

mod catalog;
mod deployments;
mod login;
mod not_found;
mod overview;
mod registries;
mod runs;
mod settings;
mod ui;

pub use catalog::{Catalog, CatalogEntryView};
pub use deployments::{DeploymentView, Deployments};
pub use login::Login;
pub use not_found::NotFound;
pub use overview::Overview;
pub use registries::Registries;
pub use runs::{RunView, Runs};
pub use settings::{Account, ApiKeys, Audit, SettingsIndex, Users};

use leptos::prelude::*;
use leptos_meta::Title;

/// A page whose capability is not built yet: says so plainly, and what it will hold.
pub fn not_built(title: &'static str, what: &'static str) -> impl IntoView {
    view! {
        <Title text=title />
        <h1 class="text-2xl font-semibold">{title}</h1>
        <section class="mt-4 max-w-2xl rounded-lg border border-amber-300 bg-amber-50 p-4" aria-label="Status">
            <p class="font-medium text-amber-900">"Not built yet."</p>
            <p class="mt-1 text-sm text-amber-900">"This page will show: " {what}</p>
        </section>
    }
}
