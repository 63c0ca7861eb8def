//! The page for a path no route matches; answered with status 404.

use leptos::prelude::*;
use leptos_meta::Title;

/// Shown for unknown paths.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    {
        if let Some(res) = use_context::<leptos_axum::ResponseOptions>() {
            res.set_status(http::StatusCode::NOT_FOUND);
        }
    }
    view! {
        <Title text="Not found" />
        <h1 class="text-2xl font-semibold">"Page not found"</h1>
        <p class="mt-2 text-slate-700">
            "Nothing lives at this address. " <a class="text-indigo-700 underline" href="/">"Back to the overview"</a>
        </p>
    }
}
