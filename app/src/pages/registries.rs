//! Registries: the sources of catalog entries. List, add, edit and delete them (admins), "Sync
//! now" with live progress (operators), and each source's last sync with every skipped entry
//! and why.

use std::{
    collections::{HashMap, HashSet},
    time::Duration,
};

use leptos::{ev::SubmitEvent, prelude::*, task::spawn_local};
use leptos_meta::Title;
use types::{ApiVersion, RegistryInfo, RegistryKind, Role, SyncDetail, SyncRun, SyncState};

use super::ui::{alert, error_text, Fields, BUTTON, BUTTON_DANGER, BUTTON_QUIET, CARD, INPUT};
use crate::{
    api::{
        registry_sources, registry_sync_detail, sync_registry_now, whoami, AddRegistry,
        EditRegistry, RemoveRegistry,
    },
    format,
};

/// How often a running sync is asked about.
const POLL_EVERY: Duration = Duration::from_millis(500);
/// Failed polls in a row before the page stops following a sync.
const POLL_GIVE_UP: u32 = 5;

/// A button of a registry card that gets the focus back once the list is reloaded (which
/// renders the cards anew).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refocus {
    Sync,
    Edit,
}

/// What the page knows about syncs beyond the registry list: the newest sync detail per
/// registry (from following a sync, or from opening its skipped entries), why following one
/// stopped, and which registries are being followed. `refresh` reloads the list; `refocus`
/// names the button to focus again after that (when the focus was lost with the old card).
#[derive(Clone, Copy)]
struct Live {
    details: RwSignal<HashMap<String, SyncDetail>>,
    errors: RwSignal<HashMap<String, String>>,
    following: StoredValue<HashSet<String>>,
    refresh: RwSignal<u32>,
    refocus: StoredValue<Option<(String, Refocus)>>,
}

impl Live {
    fn new() -> Self {
        Self {
            details: RwSignal::new(HashMap::new()),
            errors: RwSignal::new(HashMap::new()),
            following: StoredValue::new(HashSet::new()),
            refresh: RwSignal::new(0),
            refocus: StoredValue::new(None),
        }
    }

    fn reload(self) {
        self.refresh.try_update(|n| *n += 1);
    }

    /// Keeps `detail` as the registry's newest known sync unless a newer one is known (sync
    /// ids are UUID v7: they sort by start time). `false` once the page is gone.
    fn keep(self, registry_id: &str, detail: SyncDetail) -> bool {
        self.details
            .try_update(|d| match d.get(registry_id) {
                Some(known) if known.run.id > detail.run.id => {}
                _ => {
                    d.insert(registry_id.to_owned(), detail);
                }
            })
            .is_some()
    }

    /// Follows sync `sync_id` of `registry_id` (in the browser) until it ends, then reloads
    /// the list. Does nothing when that registry is followed already.
    fn follow(self, registry_id: String, sync_id: String) {
        let fresh = self
            .following
            .try_update_value(|f| f.insert(registry_id.clone()))
            .unwrap_or(false);
        if fresh {
            self.errors.try_update(|e| e.remove(&registry_id));
            self.poll(registry_id, sync_id, 0);
        }
    }

    fn poll(self, registry_id: String, sync_id: String, failures: u32) {
        spawn_local(async move {
            let failures = match registry_sync_detail(registry_id.clone(), sync_id.clone()).await {
                Ok(detail) => {
                    let running = detail.run.state == SyncState::Running;
                    if !self.keep(&registry_id, detail) {
                        return; // the page is gone
                    }
                    if !running {
                        self.following.try_update_value(|f| f.remove(&registry_id));
                        self.reload();
                        return;
                    }
                    0
                }
                Err(e) if failures + 1 >= POLL_GIVE_UP => {
                    let message = format!(
                        "Lost track of this sync ({}). Reload the page to see how it ended.",
                        error_text(&e)
                    );
                    self.errors
                        .try_update(|m| m.insert(registry_id.clone(), message));
                    self.following.try_update_value(|f| f.remove(&registry_id));
                    return;
                }
                Err(_) => failures + 1,
            };
            set_timeout(
                move || self.poll(registry_id, sync_id, failures),
                POLL_EVERY,
            );
        });
    }
}

/// The Registries page.
#[component]
pub fn Registries() -> impl IntoView {
    let live = Live::new();
    let add = ServerAction::<AddRegistry>::new();
    let remove = ServerAction::<RemoveRegistry>::new();
    let me = crate::resource::resource(|| (), |_| whoami());
    let list = crate::resource::resource(move || live.refresh.get(), |_| registry_sources());
    // Successful changes reload the list; failed ones leave the forms as they are.
    Effect::new(move |_| {
        if matches!(add.value().get(), Some(Ok(_))) {
            live.reload();
        }
    });
    Effect::new(move |_| {
        if matches!(remove.value().get(), Some(Ok(()))) {
            live.reload();
        }
    });
    // A sync that is running when the page loads (scheduled, or started elsewhere) is followed
    // as well.
    Effect::new(move |_| {
        if let Some(Ok(regs)) = list.get() {
            for reg in regs {
                if let Some(run) = reg.last_sync.filter(|r| r.state == SyncState::Running) {
                    live.follow(reg.id, run.id);
                }
            }
        }
    });
    view! {
        <Title text="Registries" />
        <h1 class="text-2xl font-semibold">"Registries"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Sources of catalog entries: the MCP Registry API of a registry, or a JSON file of server.json documents. "
            "Syncing one imports its servers into the " <a href="/catalog" class="text-indigo-700 underline">"catalog"</a> "."
        </p>
        {move || remove.value().get().and_then(Result::err).map(|e| alert(error_text(&e)))}
        <section aria-labelledby="sources-heading" class="mt-6">
            <h2 id="sources-heading" class="text-lg font-medium">"Sources"</h2>
            <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
                {move || {
                    let role = me.get().and_then(Result::ok).flatten().map(|m| m.role);
                    list.get().map(|r| match r {
                        Err(e) => alert(error_text(&e)).into_any(),
                        Ok(regs) if regs.is_empty() => view! {
                            <p class="mt-4 text-slate-600">"No registries yet."</p>
                        }.into_any(),
                        Ok(regs) => view! {
                            <ul class="mt-4 space-y-4">
                                {regs.into_iter().map(|reg| view! { <RegistryCard reg role live remove /> }).collect_view()}
                            </ul>
                        }.into_any(),
                    })
                }}
            </Transition>
        </section>
        <Transition fallback=|| ()>
            {move || me.get().map(|r| {
                let role = r.ok().flatten().map(|m| m.role);
                if role >= Some(Role::Admin) {
                    view! { <AddForm add /> }.into_any()
                } else {
                    view! {
                        <p class="mt-8 text-sm text-slate-600">"Only admins add, change or remove registries."</p>
                    }.into_any()
                }
            })}
        </Transition>
    }
}

fn url_label(kind: RegistryKind) -> &'static str {
    match kind {
        RegistryKind::McpRegistry => "Base URL",
        RegistryKind::File => "File path or URL",
    }
}

fn url_help(kind: RegistryKind) -> &'static str {
    match kind {
        RegistryKind::McpRegistry => {
            "For example https://registry.modelcontextprotocol.io (https; plain http only to loopback or an allowed host)."
        }
        RegistryKind::File => {
            "An absolute path on the server, a file:// URL, or an http(s) URL of a JSON array of server.json documents."
        }
    }
}

const INTERVAL_HELP: &str = "Empty or 0: manual syncs only; otherwise at least 60 seconds.";

/// The "Add a registry" form (admins).
#[component]
fn AddForm(add: ServerAction<AddRegistry>) -> impl IntoView {
    let ready = super::ui::hydrated();
    let kind = RwSignal::new(RegistryKind::McpRegistry);
    let form = NodeRef::<leptos::html::Form>::new();
    Effect::new(move |_| {
        if matches!(add.value().get(), Some(Ok(_))) {
            if let Some(f) = form.get_untracked() {
                f.reset();
            }
            kind.set(RegistryKind::McpRegistry);
        }
    });
    let on_submit = move |ev: SubmitEvent| {
        let f = Fields::of(&ev);
        add.dispatch(AddRegistry {
            name: f.text("name"),
            kind: f.text("kind"),
            url: f.text("url"),
            api_version: f.get("api_version"),
            auth_header_name: f.get("auth_header_name"),
            auth_value: f.get("auth_value"),
            sync_interval_secs: f.get("sync_interval_secs"),
            enabled: f.get("enabled"),
        });
    };
    view! {
        <section aria-labelledby="add-heading" class=format!("mt-8 max-w-3xl {CARD}")>
            <h2 id="add-heading" class="text-lg font-medium">"Add a registry"</h2>
            <form method="post" node_ref=form class="mt-3 grid gap-4 sm:grid-cols-2" on:submit=on_submit>
                <div>
                    <label for="add-name" class="block text-sm font-medium">"Name"</label>
                    <input id="add-name" name="name" type="text" required maxlength="64" class=INPUT />
                </div>
                <div>
                    <label for="add-kind" class="block text-sm font-medium">"Kind"</label>
                    <select
                        id="add-kind"
                        name="kind"
                        class=INPUT
                        on:change=move |ev| {
                            kind.set(RegistryKind::parse(&event_target_value(&ev)).unwrap_or(RegistryKind::McpRegistry))
                        }
                    >
                        <option value="mcp-registry">"MCP Registry API (mcp-registry)"</option>
                        <option value="file">"JSON file (file)"</option>
                    </select>
                </div>
                <div class="sm:col-span-2">
                    <label for="add-url" class="block text-sm font-medium">{move || url_label(kind.get())}</label>
                    <input id="add-url" name="url" type="text" required maxlength="2048" autocomplete="off" spellcheck="false"
                        aria-describedby="add-url-help" class=INPUT />
                    <p id="add-url-help" class="mt-1 text-xs text-slate-600">{move || url_help(kind.get())}</p>
                </div>
                <div hidden=move || kind.get() == RegistryKind::File>
                    <label for="add-api" class="block text-sm font-medium">"API version"</label>
                    <select id="add-api" name="api_version" class=INPUT>
                        <option value="v0.1">"v0.1 (current)"</option>
                        <option value="v0">"v0 (preview)"</option>
                    </select>
                </div>
                <div>
                    <label for="add-interval" class="block text-sm font-medium">"Sync interval (seconds)"</label>
                    <input id="add-interval" name="sync_interval_secs" type="number" min="0" max="2592000" step="1"
                        placeholder="manual only" aria-describedby="add-interval-help" class=INPUT />
                    <p id="add-interval-help" class="mt-1 text-xs text-slate-600">{INTERVAL_HELP}</p>
                </div>
                <fieldset class="grid gap-4 sm:col-span-2 sm:grid-cols-2">
                    <legend class="text-sm font-medium">"Credentials (optional; kept in the secret store, never shown again)"</legend>
                    <div>
                        <label for="add-header" class="block text-sm font-medium">"Auth header"</label>
                        <input id="add-header" name="auth_header_name" type="text" maxlength="64" placeholder="Authorization"
                            autocomplete="off" spellcheck="false" class=INPUT />
                    </div>
                    <div>
                        <label for="add-auth" class="block text-sm font-medium">"Auth value"</label>
                        <input id="add-auth" name="auth_value" type="password" maxlength="4096" placeholder="Bearer …"
                            autocomplete="new-password" class=INPUT />
                    </div>
                </fieldset>
                <div class="flex items-center gap-2 sm:col-span-2">
                    <input id="add-enabled" name="enabled" type="checkbox" value="on" checked class="h-4 w-4 rounded border-slate-300 focus-visible:outline-2 focus-visible:outline-indigo-600" />
                    <label for="add-enabled" class="text-sm">"Enabled (scheduled syncs run)"</label>
                </div>
                <div class="sm:col-span-2">
                    <button type="submit" class=BUTTON disabled=move || !ready.get() || add.pending().get()>"Add registry"</button>
                </div>
            </form>
            {move || add.value().get().map(|r| match r {
                Ok(reg) => view! {
                    <p role="status" class="mt-3 text-sm text-green-800">
                        {format!("Added {}. Use “Sync now” to fetch its entries.", reg.name)}
                    </p>
                }.into_any(),
                Err(e) => alert(error_text(&e)).into_any(),
            })}
        </section>
    }
}

fn schedule(reg: &RegistryInfo) -> String {
    match reg.sync_interval_secs {
        None | Some(0) => "manual only".to_owned(),
        Some(s) => {
            let every = format!("every {}", format::duration(u64::from(s)));
            match (reg.enabled, reg.next_sync_at) {
                (true, Some(next)) => format!("{every}; next {}", format::when(Some(next))),
                (false, _) => format!("{every} (paused: disabled)"),
                _ => every,
            }
        }
    }
}

/// The newer of two syncs (ids are UUID v7).
fn newer(a: Option<SyncRun>, b: Option<SyncRun>) -> Option<SyncRun> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if a.id >= b.id { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One registry: its settings, actions and last sync.
#[component]
fn RegistryCard(
    reg: RegistryInfo,
    role: Option<Role>,
    live: Live,
    remove: ServerAction<RemoveRegistry>,
) -> impl IntoView {
    let id = reg.id.clone();
    let name = reg.name.clone();
    let heading = format!("registry-{id}");
    let (can_admin, can_sync) = (role >= Some(Role::Admin), role >= Some(Role::Operator));
    let editing = RwSignal::new(false);
    let confirming = RwSignal::new(false);
    let starting = RwSignal::new(false);
    let sync_error = RwSignal::new(None::<String>);

    let listed = reg.last_sync.clone();
    let run = {
        let id = id.clone();
        Memo::new(move |_| {
            let followed = live.details.with(|d| d.get(&id).map(|d| d.run.clone()));
            newer(followed, listed.clone())
        })
    };
    let running = move || run.with(|r| r.as_ref().is_some_and(|r| r.state == SyncState::Running));

    // Back to the button that was used, when the reloaded list replaced it (and the focus is
    // not somewhere else by now).
    let sync_ref = NodeRef::<leptos::html::Button>::new();
    let edit_ref = NodeRef::<leptos::html::Button>::new();
    {
        let id = id.clone();
        Effect::new(move |_| {
            let (sync_el, edit_el) = (sync_ref.get(), edit_ref.get());
            let Some(Some((reg, which))) = live.refocus.try_get_value() else {
                return;
            };
            if reg != id {
                return;
            }
            live.refocus.set_value(None);
            let lost = document()
                .active_element()
                .is_none_or(|e| e.tag_name().eq_ignore_ascii_case("body"));
            let el = match which {
                Refocus::Sync => sync_el,
                Refocus::Edit => edit_el,
            };
            if let (true, Some(el)) = (lost, el) {
                let _ = el.focus();
            }
        });
    }

    let on_sync = {
        let id = id.clone();
        move |_| {
            if starting.get_untracked() || running() {
                return;
            }
            let id = id.clone();
            live.refocus.set_value(Some((id.clone(), Refocus::Sync)));
            starting.set(true);
            sync_error.set(None);
            spawn_local(async move {
                match sync_registry_now(id.clone(), None).await {
                    Ok(run) => {
                        let sync_id = run.id.clone();
                        let started = SyncDetail {
                            run,
                            skipped_entries: Vec::new(),
                        };
                        if live.keep(&id, started) {
                            live.follow(id, sync_id);
                        }
                    }
                    Err(e) => {
                        sync_error.try_set(Some(error_text(&e)));
                    }
                }
                starting.try_set(false);
            });
        }
    };
    let sync_help = format!("sync-help-{id}");
    let follow_error = {
        let id = id.clone();
        move || live.errors.with(|e| e.get(&id).cloned())
    };

    let facts = {
        let mut f: Vec<(&'static str, String)> = vec![
            ("Kind", reg.kind.as_str().to_owned()),
            (
                match reg.kind {
                    RegistryKind::McpRegistry => "URL",
                    RegistryKind::File => "Path or URL",
                },
                reg.url.clone(),
            ),
        ];
        if let Some(v) = reg.api_version {
            f.push(("API version", v.as_str().to_owned()));
        }
        f.push((
            "Credentials",
            if reg.has_auth {
                format!(
                    "yes, in header {}",
                    reg.auth_header_name.as_deref().unwrap_or("Authorization")
                )
            } else {
                "no".to_owned()
            },
        ));
        f.push(("Schedule", schedule(&reg)));
        f.push(("Enabled", if reg.enabled { "yes" } else { "no" }.to_owned()));
        f.push(("Entries", reg.entries.to_string()));
        f
    };

    let edit_reg = reg.clone();
    let delete_id = id.clone();
    let delete_question = format!(
        "Delete {name} with its {} catalog entries and its sync history?",
        reg.entries
    );
    view! {
        <li data-registry=name.clone()>
            <section aria-labelledby=heading.clone() class=CARD>
                <div class="flex flex-wrap items-center justify-between gap-2">
                    <h3 id=heading.clone() class="text-base font-semibold">{format::shown(&name)}</h3>
                    <div class="flex flex-wrap gap-2">
                        // Busy is `aria-disabled`, not `disabled`: a disabled button would drop
                        // the keyboard focus.
                        <button
                            type="button"
                            node_ref=sync_ref
                            class=move || {
                                let busy = starting.get() || running();
                                format!("{BUTTON}{}", if busy { " cursor-progress opacity-75" } else { "" })
                            }
                            aria-label={
                                let name = name.clone();
                                move || format!("{}: {name}", if running() { "Syncing…" } else { "Sync now" })
                            }
                            aria-describedby=(!can_sync).then(|| sync_help.clone())
                            disabled=!can_sync
                            aria-disabled=move || (starting.get() || running()).to_string()
                            on:click=on_sync
                        >
                            {move || if running() { "Syncing…" } else { "Sync now" }}
                        </button>
                        {can_admin.then(|| view! {
                            <button type="button" node_ref=edit_ref class=BUTTON_QUIET aria-label=format!("Edit {name}") aria-expanded=move || editing.get().to_string()
                                on:click=move |_| editing.update(|e| *e = !*e)>
                                "Edit"
                            </button>
                            <button type="button" class=BUTTON_DANGER aria-label=format!("Delete {name}")
                                disabled=running
                                on:click=move |_| confirming.set(true)>
                                "Delete"
                            </button>
                        })}
                    </div>
                </div>
                {(!can_sync).then(|| view! {
                    <p id=sync_help class="mt-1 text-xs text-slate-600">"Syncing needs the operator role."</p>
                })}
                <dl class="mt-3 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                    {facts.into_iter().map(|(label, value)| view! {
                        <dt class="font-medium text-slate-600">{label}</dt>
                        <dd class="break-all" data-fact=label>{format::shown(&value)}</dd>
                    }).collect_view()}
                </dl>
                {move || confirming.get().then(|| {
                    let id = delete_id.clone();
                    view! {
                        <div class="mt-3 rounded border border-red-300 bg-red-50 p-3" role="group" aria-label="Confirm deletion">
                            <p class="text-sm text-red-900">{delete_question.clone()}</p>
                            <div class="mt-2 flex gap-2">
                                <button type="button" class="rounded bg-red-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-red-600 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-700"
                                    on:click=move |_| { remove.dispatch(RemoveRegistry { id: id.clone() }); confirming.set(false); }>
                                    "Yes, delete"
                                </button>
                                <button type="button" class=BUTTON_QUIET on:click=move |_| confirming.set(false)>"Cancel"</button>
                            </div>
                        </div>
                    }
                })}
                <div class="mt-3 text-sm" role="status" aria-live="polite" data-sync-status="">
                    {move || run.get().map(|r| sync_summary(&r))}
                </div>
                {move || sync_error.get().map(alert)}
                {move || follow_error().map(alert)}
                <Skipped registry_id=id.clone() run live />
                {move || editing.get().then(|| view! { <EditForm reg=edit_reg.clone() editing live /> })}
            </section>
        </li>
    }
}

/// One line on a sync: live counters while it runs, then its outcome.
fn sync_summary(r: &SyncRun) -> impl IntoView {
    let count = |label: &'static str, n: u32| {
        view! { <span class="whitespace-nowrap"><span class="font-semibold" data-count=label>{n}</span> " " {label}</span> }
    };
    let how = format!("{} sync, {}", r.mode.as_str(), r.trigger);
    match r.state {
        SyncState::Running => view! {
            <p data-sync-state="running" class="text-indigo-900">
                <span class="font-semibold">"Sync running"</span> " (" {how} "): "
                {count("pages", r.pages)} ", " {count("fetched", r.fetched)} "…"
            </p>
        }
        .into_any(),
        SyncState::Succeeded => view! {
            <p data-sync-state="succeeded" class="text-slate-800">
                <span class="font-semibold text-green-800">"Last sync succeeded"</span>
                " " {format::when(r.finished_at)} " (" {how} "): "
                {count("added", r.added)} ", " {count("updated", r.updated)} ", "
                {count("unchanged", r.unchanged)} ", " {count("removed", r.removed)} ", "
                {count("skipped", r.skipped)} " of " {count("fetched", r.fetched)}
            </p>
        }
        .into_any(),
        SyncState::Failed => view! {
            <p data-sync-state="failed" class="text-slate-800">
                <span class="font-semibold text-red-800">"Last sync failed"</span>
                " " {format::when(r.finished_at)} " (" {how} "): "
                <span class="break-words">{format::shown(r.error.as_deref().unwrap_or("no reason given"))}</span>
            </p>
        }
        .into_any(),
    }
}

/// The entries a finished sync skipped, and why: collapsed; loaded when first opened unless
/// the page followed that sync already.
#[component]
fn Skipped(registry_id: String, run: Memo<Option<SyncRun>>, live: Live) -> impl IntoView {
    // Only a finished sync with skipped entries has a list; its id and count are all the
    // `<details>` element depends on, so it stays open while other things update.
    let shown = Memo::new(move |_| {
        run.with(|r| {
            r.as_ref()
                .filter(|r| r.state != SyncState::Running && r.skipped > 0)
                .map(|r| (r.id.clone(), r.skipped))
        })
    });
    move || {
        let registry_id = registry_id.clone();
        shown.get().map(move |(sync_id, n)| {
            let load_error = RwSignal::new(None::<String>);
            let loading = RwSignal::new(false);
            let entries = {
                let (registry_id, sync_id) = (registry_id.clone(), sync_id.clone());
                move || {
                    live.details.with(|d| {
                        d.get(&registry_id)
                            .filter(|d| d.run.id == sync_id)
                            .map(|d| d.skipped_entries.clone())
                    })
                }
            };
            let loaded = entries.clone();
            let on_toggle = move |_| {
                if loaded().is_some() || loading.get_untracked() {
                    return;
                }
                loading.set(true);
                let (registry_id, sync_id) = (registry_id.clone(), sync_id.clone());
                spawn_local(async move {
                    match registry_sync_detail(registry_id.clone(), sync_id).await {
                        Ok(detail) => {
                            live.keep(&registry_id, detail);
                        }
                        Err(e) => {
                            load_error.try_set(Some(error_text(&e)));
                        }
                    }
                    loading.try_set(false);
                });
            };
            view! {
                <details class="mt-2 text-sm" on:toggle=on_toggle data-skipped="">
                    <summary class="cursor-pointer font-medium text-indigo-700 hover:text-indigo-900 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
                        {format!("Skipped entries ({n})")}
                    </summary>
                    {move || match (entries(), load_error.get()) {
                        (_, Some(e)) => alert(e).into_any(),
                        (None, None) => view! { <p class="mt-2 text-slate-600">"Loading…"</p> }.into_any(),
                        (Some(list), None) => view! {
                            <ol class="mt-2 max-h-96 space-y-1 overflow-y-auto rounded border border-slate-200 p-2">
                                {list.into_iter().map(|s| {
                                    let who = match (s.name.trim().is_empty(), s.version.trim().is_empty()) {
                                        (true, _) => format!("#{} (no name)", s.index),
                                        (false, true) => s.name.clone(),
                                        (false, false) => format!("{} {}", s.name, s.version),
                                    };
                                    view! {
                                        <li class="break-words" data-skipped-entry="">
                                            <code class="text-slate-900">{format::shown(&who)}</code>
                                            ": " <span class="text-slate-700">{format::shown(&s.reason)}</span>
                                        </li>
                                    }
                                }).collect_view()}
                            </ol>
                        }.into_any(),
                    }}
                </details>
            }
        })
    }
}

/// Changes one registry (admins).
#[component]
fn EditForm(reg: RegistryInfo, editing: RwSignal<bool>, live: Live) -> impl IntoView {
    let edit = ServerAction::<EditRegistry>::new();
    let ready = super::ui::hydrated();
    {
        let id = reg.id.clone();
        Effect::new(move |_| {
            if matches!(edit.value().get(), Some(Ok(_))) {
                live.refocus.set_value(Some((id.clone(), Refocus::Edit)));
                live.reload();
            }
        });
    }
    let on_submit = {
        let id = reg.id.clone();
        move |ev: SubmitEvent| {
            let f = Fields::of(&ev);
            edit.dispatch(EditRegistry {
                id: id.clone(),
                name: f.text("name"),
                url: f.text("url"),
                api_version: f.get("api_version"),
                auth_header_name: f.get("auth_header_name"),
                auth_value: f.get("auth_value"),
                remove_auth: f.get("remove_auth"),
                sync_interval_secs: f.get("sync_interval_secs"),
                enabled: f.get("enabled"),
            });
        }
    };
    let rid = reg.id.clone();
    let f = move |field: &str| format!("edit-{rid}-{field}");
    let api = reg.api_version.unwrap_or_default();
    let is_http = reg.kind == RegistryKind::McpRegistry || !reg.url.starts_with('/');
    view! {
        <div class="mt-4 border-t border-slate-200 pt-4">
            <h4 class="text-sm font-semibold">{format!("Edit {}", reg.name)}</h4>
            <form method="post" class="mt-2 grid gap-4 sm:grid-cols-2" on:submit=on_submit>
                <div>
                    <label for=f("name") class="block text-sm font-medium">"Name"</label>
                    <input id=f("name") name="name" type="text" required maxlength="64" value=reg.name.clone() class=INPUT />
                </div>
                <div>
                    <label for=f("url") class="block text-sm font-medium">{url_label(reg.kind)}</label>
                    <input id=f("url") name="url" type="text" required maxlength="2048" value=reg.url.clone()
                        autocomplete="off" spellcheck="false" class=INPUT />
                </div>
                {(reg.kind == RegistryKind::McpRegistry).then(|| view! {
                    <div>
                        <label for=f("api") class="block text-sm font-medium">"API version"</label>
                        <select id=f("api") name="api_version" class=INPUT>
                            <option value="v0.1" selected=api == ApiVersion::V0_1>"v0.1 (current)"</option>
                            <option value="v0" selected=api == ApiVersion::V0>"v0 (preview)"</option>
                        </select>
                    </div>
                })}
                <div>
                    <label for=f("interval") class="block text-sm font-medium">"Sync interval (seconds)"</label>
                    <input id=f("interval") name="sync_interval_secs" type="number" min="0" max="2592000" step="1"
                        placeholder="manual only" value=reg.sync_interval_secs.map(|s| s.to_string()).unwrap_or_default()
                        aria-describedby=f("interval-help") class=INPUT />
                    <p id=f("interval-help") class="mt-1 text-xs text-slate-600">{INTERVAL_HELP}</p>
                </div>
                {is_http.then(|| view! {
                    <fieldset class="grid gap-4 sm:col-span-2 sm:grid-cols-2">
                        <legend class="text-sm font-medium">
                            {if reg.has_auth { "Credentials (one is stored; it is never shown)" } else { "Credentials (optional)" }}
                        </legend>
                        <div>
                            <label for=f("header") class="block text-sm font-medium">"Auth header"</label>
                            <input id=f("header") name="auth_header_name" type="text" maxlength="64" placeholder="Authorization"
                                value=reg.auth_header_name.clone().unwrap_or_default() autocomplete="off" spellcheck="false" class=INPUT />
                        </div>
                        <div>
                            <label for=f("auth") class="block text-sm font-medium">"New auth value"</label>
                            <input id=f("auth") name="auth_value" type="password" maxlength="4096"
                                placeholder=if reg.has_auth { "leave blank to keep" } else { "Bearer …" }
                                autocomplete="new-password" class=INPUT />
                        </div>
                        {reg.has_auth.then(|| view! {
                            <div class="flex items-center gap-2 sm:col-span-2">
                                <input id=f("remove-auth") name="remove_auth" type="checkbox" value="on" class="h-4 w-4 rounded border-slate-300" />
                                <label for=f("remove-auth") class="text-sm">"Remove the stored credential"</label>
                            </div>
                        })}
                    </fieldset>
                })}
                <div class="flex items-center gap-2 sm:col-span-2">
                    <input id=f("enabled") name="enabled" type="checkbox" value="on" checked=reg.enabled class="h-4 w-4 rounded border-slate-300" />
                    <label for=f("enabled") class="text-sm">"Enabled (scheduled syncs run)"</label>
                </div>
                <div class="flex gap-2 sm:col-span-2">
                    <button type="submit" class=BUTTON disabled=move || !ready.get() || edit.pending().get()>"Save changes"</button>
                    <button type="button" class=BUTTON_QUIET on:click=move |_| editing.set(false)>"Cancel"</button>
                </div>
            </form>
            {move || edit.value().get().and_then(Result::err).map(|e| alert(error_text(&e)))}
        </div>
    }
}
