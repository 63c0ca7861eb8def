//! Small pieces shared by the registry, catalog and settings pages.

use leptos::{ev::SubmitEvent, prelude::*, wasm_bindgen::JsCast, web_sys};
use types::VerdictStatus;

pub const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 bg-white px-3 py-2 text-sm focus-visible:outline-2 focus-visible:outline-indigo-600";
pub const BUTTON: &str = "rounded bg-indigo-600 px-3 py-2 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-not-allowed disabled:bg-slate-400";
pub const BUTTON_QUIET: &str = "rounded px-3 py-1.5 text-sm font-medium text-slate-800 ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 disabled:cursor-not-allowed disabled:text-slate-500";
pub const BUTTON_DANGER: &str = "rounded px-3 py-1.5 text-sm font-medium text-red-800 ring-1 ring-red-300 hover:bg-red-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600";
pub const CARD: &str = "rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200";
pub const LINK: &str = "text-indigo-700 underline hover:text-indigo-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";
pub const CHIP: &str =
    "inline-block rounded bg-slate-100 px-1.5 py-0.5 text-xs font-medium text-slate-800";

/// The message of a server-function error, without the type's prefix.
pub fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// `false` in the server-rendered page, `true` once the WASM has taken over. Forms submitted
/// through a handler keep their button disabled until then: submitted by the browser itself,
/// they would post to (or put their fields in the URL of) a page that cannot take them.
pub fn hydrated() -> RwSignal<bool> {
    let ready = RwSignal::new(false);
    Effect::new(move |_| ready.set(true));
    ready
}

/// The fields of a submitted form by name, as the browser would send them (unticked boxes and
/// disabled fields are absent). Forms hand them to their server action as JSON: Leptos'
/// `ActionForm` would bring a URL-encoded form parser (`serde_qs`) into the WASM.
pub struct Fields(Option<web_sys::FormData>);

impl Fields {
    /// Stops the browser's own submission of the form and reads its fields.
    pub fn of(ev: &SubmitEvent) -> Self {
        ev.prevent_default();
        Self(
            ev.target()
                .and_then(|t| t.dyn_into::<web_sys::HtmlFormElement>().ok())
                .and_then(|form| web_sys::FormData::new_with_form(&form).ok()),
        )
    }

    /// A field's value; `None` when the form does not send it.
    pub fn get(&self, name: &str) -> Option<String> {
        self.0.as_ref().and_then(|d| d.get(name).as_string())
    }

    /// A field's value; empty when the form does not send it.
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default()
    }
}

/// An error message next to what caused it.
pub fn alert(message: String) -> impl IntoView {
    view! {
        <p role="alert" class="mt-3 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900">{message}</p>
    }
}

/// The deployability verdict as a coloured badge (the colour is never the only signal).
pub fn verdict_badge(status: VerdictStatus) -> impl IntoView {
    let class = match status {
        VerdictStatus::Ready => "bg-green-100 text-green-900 ring-green-300",
        VerdictStatus::NeedsInput => "bg-amber-100 text-amber-900 ring-amber-300",
        VerdictStatus::Unsupported => "bg-red-100 text-red-900 ring-red-300",
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-verdict=status.as_str()
        >
            {status.label()}
        </span>
    }
}
