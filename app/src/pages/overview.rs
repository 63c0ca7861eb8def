//! Overview: what this instance is and how it is doing, from the server's own data.

use leptos::prelude::*;
use leptos_meta::Title;
use types::SystemInfo;

use crate::{api::get_system_info, format};

/// Version, database backend, uptime and counts; "Refresh" asks the server again.
#[component]
pub fn Overview() -> impl IntoView {
    let info = crate::resource::resource(|| (), |_| get_system_info());
    view! {
        <Title text="Overview" />
        <div class="flex items-center justify-between gap-4">
            <h1 class="text-2xl font-semibold">"Overview"</h1>
            <button
                type="button"
                class="rounded bg-indigo-600 px-3 py-1.5 text-sm font-medium text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                on:click=move |_| info.refetch()
            >
                "Refresh"
            </button>
        </div>
        <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
            {move || {
                info.get()
                    .map(|result| match result {
                        Ok(info) => view! { <Facts info /> }.into_any(),
                        Err(e) => {
                            view! {
                                <p role="alert" class="mt-4 rounded border border-red-300 bg-red-50 p-3 text-red-900">
                                    {e.to_string()}
                                </p>
                            }
                                .into_any()
                        }
                    })
            }}
        </Transition>
    }
}

#[component]
fn Facts(info: SystemInfo) -> impl IntoView {
    let facts = [
        ("Version", info.version.clone()),
        ("Database", info.database_backend.label().to_owned()),
        ("Uptime", format::duration(info.uptime_seconds)),
        ("Instances live", info.instances_live.to_string()),
        ("Instances started", info.instances_started.to_string()),
        ("Migrations applied", info.migrations.applied.to_string()),
        ("Migrations pending", info.migrations.pending.to_string()),
    ];
    view! {
        <dl class="mt-6 grid grid-cols-1 gap-4 sm:grid-cols-2 lg:grid-cols-4" aria-label="System facts">
            {facts
                .into_iter()
                .map(|(label, value)| {
                    view! {
                        <div class="rounded-lg bg-white p-4 shadow-sm ring-1 ring-slate-200">
                            <dt class="text-sm text-slate-600">{label}</dt>
                            <dd class="mt-1 text-xl font-semibold" data-fact=label>{value}</dd>
                        </div>
                    }
                })
                .collect_view()}
        </dl>
        <p class="mt-4 text-sm text-slate-600">
            "Instance " <code class="rounded bg-slate-100 px-1">{info.instance_id}</code>
            " · started " {format::timestamp(info.started_at)}
        </p>
    }
}
