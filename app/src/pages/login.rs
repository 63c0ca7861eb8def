//! Sign-in: a plain HTML form posted to `/auth/login`, so it works before (and without) the
//! WASM bundle.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::hooks::use_query_map;

/// The sign-in page. `?error=` explains a failed attempt; `?next=` is where to go after.
#[component]
pub fn Login() -> impl IntoView {
    let query = use_query_map();
    let error = move || {
        query.with(|q| match q.get("error").as_deref() {
            Some("denied") => {
                Some("Your identity provider account is not allowed in. Ask an administrator.")
            }
            Some("sso") => Some("Sign-in through the identity provider failed. Try again."),
            Some("locked") => Some(
                "Too many failed attempts: this account is locked for a while. Try again later.",
            ),
            Some(_) => Some("Unknown user name or wrong password."),
            None => None,
        })
    };
    let next = move || query.with(|q| q.get("next").unwrap_or_else(|| "/".to_owned()));
    let options = crate::resource::resource(|| (), |_| crate::api::sign_in_options());
    view! {
        <Title text="Sign in" />
        <div class="mx-auto mt-8 max-w-sm rounded-lg bg-white p-6 shadow-sm ring-1 ring-slate-200">
            <h1 class="text-2xl font-semibold">"Sign in"</h1>
            {move || error().map(|e| view! { <p role="alert" class="mt-4 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900">{e}</p> })}
            <Suspense fallback=|| ()>
                {move || options.get().and_then(Result::ok).and_then(|o| o.sso).map(|label| view! {
                    <a rel="external" href=move || format!("/auth/oidc/start?next={}", types::query_value(&next()))
                        class="mt-4 block w-full rounded bg-slate-800 px-3 py-2 text-center font-medium text-white hover:bg-slate-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
                        {format!("Sign in with {label}")}
                    </a>
                    <p class="mt-4 text-center text-sm text-slate-500">"or with a password"</p>
                })}
            </Suspense>
            <form method="post" action="/auth/login" class="mt-4 space-y-4">
                <input type="hidden" name="next" value=next />
                <div>
                    <label for="username" class="block text-sm font-medium text-slate-700">"User name"</label>
                    <input id="username" name="username" type="text" required autocomplete="username" maxlength="64"
                        class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus-visible:outline-2 focus-visible:outline-indigo-600" />
                </div>
                <div>
                    <label for="password" class="block text-sm font-medium text-slate-700">"Password"</label>
                    <input id="password" name="password" type="password" required autocomplete="current-password" maxlength="1024"
                        class="mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus-visible:outline-2 focus-visible:outline-indigo-600" />
                </div>
                <button type="submit" class="w-full rounded bg-indigo-600 px-3 py-2 font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
                    "Sign in"
                </button>
            </form>
        </div>
    }
}
