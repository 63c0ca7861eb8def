//! Settings: the index, Account (password), API keys, Users and the Audit log.

use leptos::{ev::SubmitEvent, prelude::*};
use leptos_meta::Title;
use types::Role;

use super::ui::{hydrated, Fields};
use crate::api::{
    all_users, audit_page, my_api_keys, ChangeMyPassword, CreateKey, RevokeKey, UpdateUser,
};

const INPUT: &str = "mt-1 block w-full rounded border border-slate-300 px-3 py-2 focus-visible:outline-2 focus-visible:outline-indigo-600";
const BUTTON: &str = "rounded bg-indigo-600 px-3 py-2 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600";
const TABLE: &str = "mt-4 w-full text-left text-sm";

fn when(t: Option<chrono::DateTime<chrono::Utc>>) -> String {
    t.map_or_else(|| "—".to_owned(), crate::format::minute)
}

fn error_text(e: &ServerFnError) -> String {
    match e {
        ServerFnError::ServerError(m) => m.clone(),
        other => other.to_string(),
    }
}

/// Links to the settings pages.
#[component]
pub fn SettingsIndex() -> impl IntoView {
    let links = [
        ("/settings/account", "Account", "Your password."),
        (
            "/settings/api-keys",
            "API keys",
            "Keys for the JSON API: create, list, revoke.",
        ),
        (
            "/settings/users",
            "Users",
            "Who can sign in, and with which role (admins).",
        ),
        (
            "/settings/audit",
            "Audit log",
            "Every change: who, what, when, outcome (admins).",
        ),
    ];
    view! {
        <Title text="Settings" />
        <h1 class="text-2xl font-semibold">"Settings"</h1>
        <ul class="mt-4 grid gap-4 sm:grid-cols-2">
            {links
                .into_iter()
                .map(|(href, label, what)| {
                    view! {
                        <li class="rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200">
                            <a href=href class="font-medium text-indigo-700 underline">{label}</a>
                            <p class="mt-1 text-sm text-slate-600">{what}</p>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

/// Change password.
#[component]
pub fn Account() -> impl IntoView {
    let change = ServerAction::<ChangeMyPassword>::new();
    let ready = hydrated();
    let on_submit = move |ev: SubmitEvent| {
        let f = Fields::of(&ev);
        change.dispatch(ChangeMyPassword {
            current_password: f.text("current_password"),
            new_password: f.text("new_password"),
        });
    };
    view! {
        <Title text="Account" />
        <h1 class="text-2xl font-semibold">"Account"</h1>
        <section class="mt-4 max-w-md rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200" aria-labelledby="pw-heading">
            <h2 id="pw-heading" class="text-lg font-medium">"Change password"</h2>
            <form method="post" class="mt-3 space-y-3" on:submit=on_submit>
                <div>
                    <label for="current_password" class="block text-sm font-medium">"Current password"</label>
                    <input id="current_password" name="current_password" type="password" required autocomplete="current-password" class=INPUT />
                </div>
                <div>
                    <label for="new_password" class="block text-sm font-medium">"New password (at least 12 characters)"</label>
                    <input id="new_password" name="new_password" type="password" required minlength="12" autocomplete="new-password" class=INPUT />
                </div>
                <button type="submit" class=BUTTON disabled=move || !ready.get()>"Change password"</button>
            </form>
            {move || {
                change.value().get().map(|r| match r {
                    Ok(()) => view! { <p role="status" class="mt-3 text-sm text-green-800">"Password changed."</p> }.into_any(),
                    Err(e) => view! { <p role="alert" class="mt-3 text-sm text-red-800">{error_text(&e)}</p> }.into_any(),
                })
            }}
        </section>
    }
}

/// API keys: create (the key is shown once), list, revoke.
#[component]
pub fn ApiKeys() -> impl IntoView {
    let create = ServerAction::<CreateKey>::new();
    let revoke = ServerAction::<RevokeKey>::new();
    let ready = hydrated();
    let on_create = move |ev: SubmitEvent| {
        let f = Fields::of(&ev);
        create.dispatch(CreateKey {
            name: f.text("name"),
            role: f.text("role"),
            expires_in_days: f.text("expires_in_days"),
        });
    };
    let keys = crate::resource::resource(
        move || (create.version().get(), revoke.version().get()),
        |_| my_api_keys(),
    );
    view! {
        <Title text="API keys" />
        <h1 class="text-2xl font-semibold">"API keys"</h1>
        <p class="mt-1 text-sm text-slate-600">"Send a key as " <code>"Authorization: Bearer mcpo_…"</code> " to " <code>"/api/v1"</code> "."</p>
        <section class="mt-4 max-w-xl rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200" aria-labelledby="new-key">
            <h2 id="new-key" class="text-lg font-medium">"New key"</h2>
            <form method="post" class="mt-3 grid gap-3 sm:grid-cols-3" on:submit=on_create>
                <div class="sm:col-span-3">
                    <label for="key-name" class="block text-sm font-medium">"Name"</label>
                    <input id="key-name" name="name" type="text" required maxlength="100" class=INPUT />
                </div>
                <div>
                    <label for="key-role" class="block text-sm font-medium">"Role"</label>
                    <select id="key-role" name="role" class=INPUT>
                        {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str()>{r.as_str()}</option> }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="key-expiry" class="block text-sm font-medium">"Expires in (days)"</label>
                    <input id="key-expiry" name="expires_in_days" type="number" min="1" max="3650" placeholder="never" class=INPUT />
                </div>
                <div class="flex items-end">
                    <button type="submit" class=BUTTON disabled=move || !ready.get()>"Create key"</button>
                </div>
            </form>
            {move || {
                create.value().get().map(|r| match r {
                    Ok(created) => view! {
                        <div role="status" class="mt-3 rounded border border-green-300 bg-green-50 p-3 text-sm">
                            <p class="font-medium text-green-900">"Copy this key now: it is shown only once."</p>
                            <code data-testid="new-key" class="mt-1 block break-all">{created.key}</code>
                        </div>
                    }.into_any(),
                    Err(e) => view! { <p role="alert" class="mt-3 text-sm text-red-800">{error_text(&e)}</p> }.into_any(),
                })
            }}
        </section>
        <Transition fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || keys.get().map(|r| match r {
                Err(e) => view! { <p role="alert" class="mt-4 text-red-800">{error_text(&e)}</p> }.into_any(),
                Ok(list) if list.is_empty() => view! { <p class="mt-4 text-slate-600">"No keys yet."</p> }.into_any(),
                Ok(list) => view! {
                    <table class=TABLE>
                        <caption class="sr-only">"API keys"</caption>
                        <thead><tr class="border-b">
                            <th scope="col" class="py-2">"Name"</th><th scope="col">"Prefix"</th><th scope="col">"Role"</th>
                            <th scope="col">"Created"</th><th scope="col">"Expires"</th><th scope="col">"Last used"</th><th scope="col">"Status"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|k| {
                                let revoked = k.revoked_at.is_some();
                                view! {
                                    <tr class="border-b" data-key-prefix=k.prefix.clone()>
                                        <td class="py-2">{k.name.clone()}</td>
                                        <td><code>{k.prefix.clone()}</code></td>
                                        <td>{k.role.as_str()}</td>
                                        <td>{when(Some(k.created_at))}</td>
                                        <td>{when(k.expires_at)}</td>
                                        <td>{when(k.last_used_at)}</td>
                                        <td>
                                            {if revoked {
                                                view! { <span class="text-slate-500">"revoked"</span> }.into_any()
                                            } else {
                                                let id = k.id.clone();
                                                let on_revoke = move |ev: SubmitEvent| {
                                                    ev.prevent_default();
                                                    revoke.dispatch(RevokeKey { id: id.clone() });
                                                };
                                                view! {
                                                    <form method="post" on:submit=on_revoke>
                                                        <button type="submit" class="rounded px-2 py-1 text-red-700 ring-1 ring-red-300 hover:bg-red-50" disabled=move || !ready.get() aria-label=format!("Revoke {}", k.name)>"Revoke"</button>
                                                    </form>
                                                }.into_any()
                                            }}
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// Users (admins): role and whether each may sign in.
#[component]
pub fn Users() -> impl IntoView {
    let update = ServerAction::<UpdateUser>::new();
    let ready = hydrated();
    let users = crate::resource::resource(move || update.version().get(), |_| all_users());
    view! {
        <Title text="Users" />
        <h1 class="text-2xl font-semibold">"Users"</h1>
        {move || {
            update.value().get().and_then(Result::err).map(|e| view! { <p role="alert" class="mt-3 text-sm text-red-800">{error_text(&e)}</p> })
        }}
        <Transition fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || users.get().map(|r| match r {
                Err(e) => view! { <p role="alert" class="mt-4 text-red-800">{error_text(&e)}</p> }.into_any(),
                Ok(list) => view! {
                    <table class=TABLE>
                        <caption class="sr-only">"Users"</caption>
                        <thead><tr class="border-b">
                            <th scope="col" class="py-2">"User"</th><th scope="col">"Sign-in"</th>
                            <th scope="col">"Last sign-in"</th><th scope="col">"Role and access"</th>
                        </tr></thead>
                        <tbody>
                            {list.into_iter().map(|u| {
                                let current = u.role;
                                let (id, name) = (u.id.clone(), u.username.clone());
                                let (role_id, role_label, save_label) =
                                    (format!("role-{id}"), format!("Role of {name}"), format!("Save {name}"));
                                let on_save = move |ev: SubmitEvent| {
                                    let f = Fields::of(&ev);
                                    update.dispatch(UpdateUser {
                                        id: id.clone(),
                                        role: f.text("role"),
                                        enabled: f.get("enabled"),
                                    });
                                };
                                view! {
                                    <tr class="border-b" data-user=name.clone()>
                                        <td class="py-2">{name.clone()}</td><td>{u.provider}</td>
                                        <td>{when(u.last_login_at)}</td>
                                        <td>
                                            <form method="post" class="flex flex-wrap items-center gap-2" on:submit=on_save>
                                                <label class="sr-only" for=role_id.clone()>{role_label}</label>
                                                <select id=role_id name="role" class="rounded border border-slate-300 px-2 py-1">
                                                    {Role::ALL.into_iter().map(|r| view! { <option value=r.as_str() selected=r == current>{r.as_str()}</option> }).collect_view()}
                                                </select>
                                                <label class="flex items-center gap-1 text-sm">
                                                    <input type="checkbox" name="enabled" value="on" checked=!u.disabled />
                                                    "may sign in"
                                                </label>
                                                <button type="submit" class="rounded px-2 py-1 ring-1 ring-slate-300 hover:bg-slate-50" disabled=move || !ready.get() aria-label=save_label>"Save"</button>
                                            </form>
                                        </td>
                                    </tr>
                                }
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any(),
            })}
        </Transition>
    }
}

/// The audit log (admins), newest first, with "Load more".
#[component]
pub fn Audit() -> impl IntoView {
    let (cursor, set_cursor) = signal(None::<String>);
    let page = crate::resource::resource(move || cursor.get(), audit_page);
    view! {
        <Title text="Audit log" />
        <h1 class="text-2xl font-semibold">"Audit log"</h1>
        <Transition fallback=|| view! { <p class="mt-4">"Loading…"</p> }>
            {move || page.get().map(|r| match r {
                Err(e) => view! { <p role="alert" class="mt-4 text-red-800">{error_text(&e)}</p> }.into_any(),
                Ok(p) => {
                    let next = p.next_cursor.clone();
                    view! {
                        <table class=TABLE>
                            <caption class="sr-only">"Audit events"</caption>
                            <thead><tr class="border-b">
                                <th scope="col" class="py-2">"When"</th><th scope="col">"Who"</th><th scope="col">"Action"</th>
                                <th scope="col">"Target"</th><th scope="col">"Outcome"</th><th scope="col">"Client"</th>
                            </tr></thead>
                            <tbody>
                                {p.items.into_iter().map(|e| view! {
                                    <tr class="border-b align-top">
                                        <td class="py-2 whitespace-nowrap">{when(Some(e.at))}</td>
                                        <td>{format!("{} ({})", e.actor_name, e.actor_kind)}</td>
                                        <td><code>{e.action}</code></td>
                                        <td>{format!("{} {}", e.target_kind, e.target_id.unwrap_or_default())}</td>
                                        <td>{e.outcome}</td>
                                        <td>{e.client_ip.unwrap_or_default()}</td>
                                    </tr>
                                }).collect_view()}
                            </tbody>
                        </table>
                        {next.map(|c| view! {
                            <button type="button" class=format!("mt-4 {BUTTON}") on:click=move |_| set_cursor.set(Some(c.clone()))>"Older events"</button>
                        })}
                    }.into_any()
                }
            })}
        </Transition>
    }
}
