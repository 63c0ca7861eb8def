//! The page frame: skip link, header, navigation, main landmark.

use leptos::prelude::*;
use leptos_router::components::A;

/// Navigation entries, in order.
const NAV: &[(&str, &str)] = &[
    ("/", "Overview"),
    ("/registries", "Registries"),
    ("/catalog", "Catalog"),
    ("/deployments", "Deployments"),
    ("/pipeline-runs", "Pipeline runs"),
    ("/fleet-health", "Health"),
    ("/settings", "Settings"),
];

/// Header, navigation and main area around every page.
///
/// On narrow screens the navigation folds behind a menu button; the button only works once
/// the page is hydrated, so the links are also reachable without it (wide screens, or the
/// browser's own reader) — the page works without JavaScript and gets better with it.
#[component]
pub fn Shell(children: Children) -> impl IntoView {
    let (open, set_open) = signal(false);
    let me = crate::resource::resource(|| (), |_| crate::api::whoami());
    view! {
        <a href="#main" class="sr-only focus:not-sr-only focus:absolute focus:left-2 focus:top-2 focus:z-50 focus:rounded focus:bg-white focus:px-3 focus:py-2 focus:text-indigo-700 focus:shadow">
            "Skip to content"
        </a>
        <div class="md:flex md:min-h-screen">
            <header class="bg-slate-900 text-slate-100 md:w-60 md:shrink-0">
                <div class="flex items-center justify-between px-4 py-3">
                    <a href="/" class="text-lg font-semibold tracking-tight text-white focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-400">
                        "MCP Orchestrator"
                    </a>
                    <button
                        type="button"
                        class="rounded px-2 py-1 text-sm ring-1 ring-slate-600 hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-indigo-400 md:hidden"
                        aria-controls="main-nav"
                        aria-expanded=move || open.get().to_string()
                        on:click=move |_| set_open.update(|o| *o = !*o)
                    >
                        {move || if open.get() { "Close menu" } else { "Menu" }}
                    </button>
                </div>
                <nav
                    id="main-nav"
                    aria-label="Main"
                    class=move || {
                        if open.get() { "block px-2 pb-3 md:block" } else { "hidden px-2 pb-3 md:block" }
                    }
                >
                    <ul class="space-y-1">
                        {NAV
                            .iter()
                            .map(|(href, label)| {
                                view! {
                                    <li>
                                        <A
                                            href=*href
                                            exact=true
                                            attr:class="block rounded px-3 py-2 text-sm text-slate-300 hover:bg-slate-800 hover:text-white focus-visible:outline-2 focus-visible:outline-indigo-400 aria-[current=page]:bg-slate-800 aria-[current=page]:font-semibold aria-[current=page]:text-white"
                                            on:click=move |_| set_open.set(false)
                                        >
                                            {*label}
                                        </A>
                                    </li>
                                }
                            })
                            .collect_view()}
                    </ul>
                    <Transition fallback=|| ()>
                        {move || me.get().and_then(Result::ok).flatten().map(|me| view! {
                            <div class="mt-4 border-t border-slate-700 px-3 pt-3 text-sm">
                                <p class="text-slate-300">"Signed in as " <span class="font-medium text-white" data-testid="whoami">{me.name}</span>
                                    " (" {me.role.as_str()} ")"</p>
                                <form method="post" action="/auth/logout" class="mt-2">
                                    <button type="submit" class="rounded px-2 py-1 text-slate-200 ring-1 ring-slate-600 hover:bg-slate-800 focus-visible:outline-2 focus-visible:outline-indigo-400">
                                        "Sign out"
                                    </button>
                                </form>
                            </div>
                        })}
                    </Transition>
                </nav>
            </header>
            <main id="main" tabindex="-1" class="flex-1 p-4 md:p-8 focus:outline-none">
                {children()}
            </main>
        </div>
    }
}
