//! The admin dashboard: routes, layout, pages and the server functions they call.
//!
//! Rendered on the server (feature `ssr`) and hydrated in the browser (feature `hydrate`).
//! Server-function bodies only call the service layer (`domain`), like the JSON API does.

// Built without `--cfg erase_components` (cargo-leptos always sets it, see Cargo.toml), every
// page is one nested view type, deeper than rustc's default limit of 128 allows.
#![recursion_limit = "256"]

use leptos::prelude::*;
use leptos_meta::{provide_meta_context, MetaTags, Stylesheet, Title};
use leptos_router::{
    components::{Route, Router, Routes},
    path,
};

pub mod api;
mod format;
mod layout;
mod pages;
mod resource;
mod tool_form;

/// URL prefix of every server function; kept apart from the JSON API under `/api/v1`.
pub const SERVER_FN_PREFIX: &str = "/ui/fn";

/// The HTML document around the app; rendered on the server only.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <meta name="description" content="MCP Orchestrator: registries, catalog, deployments and pipeline runs of MCP servers." />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body class="min-h-screen bg-slate-50 text-slate-900 antialiased">
                <App />
            </body>
        </html>
    }
}

/// The application: routes inside the dashboard layout.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    // Effects run only in the browser, after hydration: mark the document so that tests (and
    // curious people) can tell the WASM side is live.
    Effect::new(|_| {
        if let Some(root) = document().document_element() {
            let _ = root.set_attribute("data-hydrated", "");
        }
    });
    view! {
        <Stylesheet id="leptos" href="/pkg/mcp-orchestrator.css" />
        <Title formatter=|page: String| format!("{page} · MCP Orchestrator") />
        <Router>
            <layout::Shell>
                <Routes fallback=pages::NotFound>
                    <Route path=path!("/") view=pages::Overview />
                    <Route path=path!("/registries") view=pages::Registries />
                    <Route path=path!("/catalog") view=pages::Catalog />
                    <Route path=path!("/catalog/entry") view=pages::CatalogEntryView />
                    <Route path=path!("/deployments") view=pages::Deployments />
                    <Route path=path!("/deployments/view") view=pages::DeploymentView />
                    <Route path=path!("/pipeline-runs") view=pages::Runs />
                    <Route path=path!("/pipeline-runs/view") view=pages::RunView />
                    <Route path=path!("/fleet-health") view=pages::HealthPage />
                    <Route path=path!("/login") view=pages::Login />
                    <Route path=path!("/settings") view=pages::SettingsIndex />
                    <Route path=path!("/settings/account") view=pages::Account />
                    <Route path=path!("/settings/api-keys") view=pages::ApiKeys />
                    <Route path=path!("/settings/users") view=pages::Users />
                    <Route path=path!("/settings/audit") view=pages::Audit />
                </Routes>
            </layout::Shell>
        </Router>
    }
}
