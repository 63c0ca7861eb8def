//! Pipeline runs: the list (filters in the URL, live through the runs event stream) and one
//! run in full (`/pipeline-runs/view?id=<id>`): its step timeline drawn to scale, each step's
//! error and log, and cancel, retry and re-run for operators, live through the run's event
//! stream.
//!
//! Names, reasons, errors and log lines come from the server and from outside: they are only
//! ever rendered as text nodes, never as HTML.

use std::time::Duration;

use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
    NavigateOptions,
};
use types::{
    pipeline::{RunInfo, RunState, StepInfo, StepName, StepStatus},
    Page, Role,
};

use super::ui::{alert, error_text, BUTTON, BUTTON_QUIET, CARD, INPUT, LINK};
use crate::{
    api::{
        cancel_pipeline_run, pipeline_run, pipeline_runs, rerun_pipeline_run, retry_pipeline_run,
        whoami,
    },
    format,
};

/// The stream of every run's changes.
const ALL_EVENTS: &str = "/api/v1/pipeline-runs/events";

const BUTTON_ACTION: &str = "rounded px-3 py-1.5 text-sm font-medium text-slate-800 ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:cursor-not-allowed aria-disabled:opacity-50";
const BUTTON_CANCEL: &str = "rounded px-3 py-1.5 text-sm font-medium text-red-800 ring-1 ring-red-300 hover:bg-red-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600 aria-disabled:cursor-not-allowed aria-disabled:opacity-50";

/// `/pipeline-runs/view?id=…`.
pub(super) fn run_href(id: &str) -> String {
    format!("/pipeline-runs/view?id={}", types::query_value(id))
}

fn deployment_href(id: &str) -> String {
    format!("/deployments/view?id={}", types::query_value(id))
}

/// Milliseconds since the epoch: the browser's clock in the browser, the server's on the
/// server.
fn now_ms() -> i64 {
    #[cfg(target_family = "wasm")]
    {
        leptos::web_sys::js_sys::Date::now() as i64
    }
    #[cfg(not(target_family = "wasm"))]
    {
        chrono::Utc::now().timestamp_millis()
    }
}

/// The current time, ticking every half second once hydrated (durations and bars grow).
fn use_clock() -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                set_now.try_set(now_ms());
            },
            Duration::from_millis(500),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    now
}

/// A span of time for people: `850 ms`, `4.20 s`, `3m 5s`.
fn span(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 60_000 {
        format::millis(ms as f64)
    } else {
        format::duration((ms / 1000) as u64)
    }
}

fn ms(t: chrono::DateTime<chrono::Utc>) -> i64 {
    t.timestamp_millis()
}

/// How long a run took (so far, while it is not final); a dash before a worker took it.
fn run_duration(r: &RunInfo, now: i64) -> String {
    let Some(start) = r.started_at else {
        return "—".to_owned();
    };
    let end = match r.finished_at {
        Some(t) => ms(t),
        None if r.state.is_final() => return "—".to_owned(),
        None => now,
    };
    span(end - ms(start))
}

fn state_label(s: RunState) -> &'static str {
    match s {
        RunState::Queued => "Queued",
        RunState::Running => "Running",
        RunState::Cancelling => "Cancelling",
        RunState::Succeeded => "Succeeded",
        RunState::Failed => "Failed",
        RunState::Cancelled => "Cancelled",
    }
}

/// The run state as a coloured badge (the colour is never the only signal).
fn state_chip(s: RunState) -> impl IntoView {
    let class = match s {
        RunState::Queued => "bg-slate-100 text-slate-800 ring-slate-300",
        RunState::Running => "bg-indigo-100 text-indigo-900 ring-indigo-300",
        RunState::Cancelling => "bg-amber-100 text-amber-900 ring-amber-300",
        RunState::Succeeded => "bg-green-100 text-green-900 ring-green-300",
        RunState::Failed => "bg-red-100 text-red-900 ring-red-300",
        RunState::Cancelled => "bg-amber-100 text-amber-900 ring-amber-300",
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-run-state=s.as_str()
        >
            {state_label(s)}
        </span>
    }
}

fn step_label(s: StepName) -> &'static str {
    match s {
        StepName::Resolve => "Resolve",
        StepName::Prepare => "Prepare",
        StepName::Deploy => "Deploy",
        StepName::Initialize => "Initialize",
        StepName::Discover => "Discover",
        StepName::Verify => "Verify",
        StepName::Ready => "Ready",
    }
}

fn step_help(s: StepName) -> &'static str {
    match s {
        StepName::Resolve => "Find the catalog version and plan the deployment",
        StepName::Prepare => "Make sure the image or package launcher is there",
        StepName::Deploy => "Register the deployment and start it",
        StepName::Initialize => "The MCP handshake",
        StepName::Discover => "List tools, resources and prompts",
        StepName::Verify => "MCP ping and the runtime's state",
        StepName::Ready => "Hand the deployment over",
    }
}

/// Icon, text and colours of a step status (icon and text: the colour is never the only
/// signal).
fn status_look(s: StepStatus) -> (&'static str, &'static str, &'static str, &'static str) {
    // (icon, label, icon/text classes, bar class)
    match s {
        StepStatus::Pending => (
            "○",
            "Pending",
            "text-slate-600",
            "fill-slate-300 stroke-slate-300",
        ),
        StepStatus::Running => (
            "◔",
            "Running",
            "text-indigo-800 motion-safe:animate-pulse",
            "fill-indigo-500 stroke-indigo-500",
        ),
        StepStatus::Succeeded => (
            "✓",
            "Succeeded",
            "text-green-800",
            "fill-green-600 stroke-green-600",
        ),
        StepStatus::Failed => ("✕", "Failed", "text-red-800", "fill-red-600 stroke-red-600"),
        StepStatus::Skipped => (
            "–",
            "Skipped",
            "text-slate-600",
            "fill-slate-300 stroke-slate-300",
        ),
        StepStatus::Cancelled => (
            "⊘",
            "Cancelled",
            "text-amber-900",
            "fill-amber-500 stroke-amber-500",
        ),
    }
}

/// Follows `url` (a server-sent event stream of `run` events) until the current owner is
/// cleaned up: `on_run` gets every run sent. With `until_final`, the stream is closed once a
/// run in a final state arrives (the server ends such a stream; the browser would otherwise
/// connect again).
fn follow(url: &str, until_final: bool, on_run: impl Fn(RunInfo) + 'static) {
    use leptos::{
        wasm_bindgen::{closure::Closure, JsCast},
        web_sys::{EventSource, MessageEvent},
    };
    let Ok(source) = EventSource::new(url) else {
        return;
    };
    let this = source.clone();
    let on_message = Closure::<dyn Fn(MessageEvent)>::new(move |ev: MessageEvent| {
        let Some(text) = ev.data().as_string() else {
            return;
        };
        if let Ok(run) = crate::resource::parse::<RunInfo>(&text) {
            if until_final && run.state.is_final() {
                this.close();
            }
            on_run(run);
        }
    });
    let _ = source.add_event_listener_with_callback("run", on_message.as_ref().unchecked_ref());
    let held = StoredValue::new_local(Some((source, on_message)));
    on_cleanup(move || {
        if let Some(Some((source, _on_message))) = held.try_update_value(Option::take) {
            source.close();
        }
    });
}

// ---- The list -------------------------------------------------------------------------------

/// The list's filters, as kept in the URL query string (blank values are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Filter {
    state: String,
    server: String,
    created_by: String,
    since: String,
}

impl Filter {
    fn from_query(q: &ParamsMap) -> Self {
        let get = |k: &str| q.get(k).unwrap_or_default().trim().to_owned();
        Self {
            state: get("state"),
            server: get("server"),
            created_by: get("created_by"),
            since: get("since"),
        }
    }

    /// `/pipeline-runs?state=…&…`.
    fn href(&self) -> String {
        let query: Vec<String> = [
            ("state", &self.state),
            ("server", &self.server),
            ("created_by", &self.created_by),
            ("since", &self.since),
        ]
        .into_iter()
        .filter(|(_, v)| !v.trim().is_empty())
        .map(|(k, v)| format!("{k}={}", types::query_value(v.trim())))
        .collect();
        if query.is_empty() {
            "/pipeline-runs".to_owned()
        } else {
            format!("/pipeline-runs?{}", query.join("&"))
        }
    }

    fn is_filtered(&self) -> bool {
        *self != Self::default()
    }

    /// Whether a run the stream announces belongs in the list.
    fn matches(&self, r: &RunInfo) -> bool {
        (self.state.is_empty() || r.state.as_str() == self.state)
            && (self.server.is_empty() || r.server == self.server)
            && (self.created_by.is_empty() || r.created_by.as_deref() == Some(&self.created_by))
            && (self.since.is_empty()
                || format::parse_day(&self.since).is_none_or(|d| r.created_at.date_naive() >= d))
    }

    async fn fetch(self, cursor: Option<String>) -> Result<Page<RunInfo>, ServerFnError> {
        let opt = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        pipeline_runs(
            opt(self.state),
            opt(self.server),
            opt(self.created_by),
            opt(self.since),
            cursor,
        )
        .await
    }
}

/// The Pipeline runs page.
#[component]
pub fn Runs() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let filter = Memo::new(move |_| query.with(Filter::from_query));
    let first = crate::resource::resource(move || filter.get(), |f| f.fetch(None));

    // The form's own fields, put in the URL on submit (the state select at once).
    let state = RwSignal::new(filter.get_untracked().state);
    let server = RwSignal::new(filter.get_untracked().server);
    let created_by = RwSignal::new(filter.get_untracked().created_by);
    let since = RwSignal::new(filter.get_untracked().since);
    // A URL change from elsewhere (back, a link) updates the fields.
    Effect::new(move |_| {
        let f = filter.get();
        state.set(f.state);
        server.set(f.server);
        created_by.set(f.created_by);
        since.set(f.since);
    });
    let apply = move || {
        let f = Filter {
            state: state.get_untracked(),
            server: server.get_untracked().trim().to_owned(),
            created_by: created_by.get_untracked().trim().to_owned(),
            since: since.get_untracked(),
        };
        navigate(
            &f.href(),
            NavigateOptions {
                scroll: false,
                ..Default::default()
            },
        );
    };
    let on_submit = {
        let apply = apply.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            apply();
        }
    };
    let states: Vec<(&str, &str)> = std::iter::once(("", "Any state"))
        .chain(
            RunState::ALL
                .into_iter()
                .map(|s| (s.as_str(), state_label(s))),
        )
        .collect();

    view! {
        <Title text="Pipeline runs" />
        <h1 class="text-2xl font-semibold">"Pipeline runs"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Each run takes a catalog entry through resolve, prepare, deploy, the MCP handshake, discovery and checks to a ready deployment; a run that fails or is cancelled removes what it created. Start one from an entry of the "
            <a href="/catalog" class=LINK>"catalog"</a> " (“Deploy”)."
        </p>
        // A plain GET form: it works before (and without) the WASM bundle.
        <form role="search" aria-label="Filter runs" method="get" action="/pipeline-runs" class=format!("mt-4 {CARD}") on:submit=on_submit>
            <div class="grid gap-3 sm:grid-cols-2 lg:grid-cols-5 lg:items-end">
                <div>
                    <label for="runs-state" class="block text-sm font-medium">"State"</label>
                    <select id="runs-state" name="state" class=INPUT
                        prop:value=move || state.get()
                        on:change={
                            let apply = apply.clone();
                            move |ev| {
                                state.set(event_target_value(&ev));
                                apply();
                            }
                        }>
                        {states.into_iter().map(|(v, t)| {
                            let selected = filter.with_untracked(|f| f.state == v);
                            view! { <option value=v selected=selected>{t}</option> }
                        }).collect_view()}
                    </select>
                </div>
                <div>
                    <label for="runs-server" class="block text-sm font-medium">"Server"</label>
                    <input id="runs-server" name="server" type="text" maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="io.example/server" class=INPUT
                        value=filter.get_untracked().server
                        prop:value=move || server.get() on:input=move |ev| server.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label for="runs-created-by" class="block text-sm font-medium">"Started by"</label>
                    <input id="runs-created-by" name="created_by" type="text" maxlength="200" autocomplete="off" spellcheck="false"
                        placeholder="user or key name" class=INPUT
                        value=filter.get_untracked().created_by
                        prop:value=move || created_by.get() on:input=move |ev| created_by.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label for="runs-since" class="block text-sm font-medium">"Since"</label>
                    <input id="runs-since" name="since" type="date" class=INPUT
                        value=filter.get_untracked().since
                        prop:value=move || since.get() on:input=move |ev| since.set(event_target_value(&ev)) />
                </div>
                <div class="flex gap-2">
                    <button type="submit" class=BUTTON>"Apply filters"</button>
                    <a href="/pipeline-runs" class=format!("self-center text-sm {LINK}")>"Clear"</a>
                </div>
            </div>
        </form>
        <section aria-labelledby="runs-heading" class="mt-6">
            <h2 id="runs-heading" class="sr-only">"Runs"</h2>
            <Transition fallback=|| view! { <p class="text-slate-600">"Loading…"</p> }>
                {move || first.get().map(|r| match r {
                    Err(e) => alert(error_text(&e)).into_any(),
                    Ok(page) => view! { <RunsTable page filter=filter.get_untracked() /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

/// The runs of one filter: the first page, the pages loaded after it, and every change the
/// stream announces (rows updated in place; new runs of the filter added on top).
#[component]
fn RunsTable(page: Page<RunInfo>, filter: Filter) -> impl IntoView {
    let items = RwSignal::new(page.items);
    let next = RwSignal::new(page.next_cursor);
    let loading = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let now = use_clock();
    let filter = StoredValue::new(filter);

    // Live: runs the stream sends replace their row, or join the list when they match.
    Effect::new(move |_| {
        follow(ALL_EVENTS, false, move |run| {
            items.try_update(|list| {
                if let Some(row) = list.iter_mut().find(|r| r.id == run.id) {
                    *row = run;
                } else if filter.with_value(|f| f.matches(&run)) {
                    // Ids sort by creation time: newer than the oldest shown, or every page
                    // is shown.
                    let fits = next.get_untracked().is_none()
                        || list.last().is_some_and(|last| run.id > last.id);
                    if fits {
                        let at = list
                            .iter()
                            .position(|r| r.id < run.id)
                            .unwrap_or(list.len());
                        list.insert(at, run);
                    }
                }
            });
        });
    });

    let load_more = move || {
        let Some(cursor) = next.get_untracked() else {
            return;
        };
        if loading.get_untracked() {
            return;
        }
        loading.set(true);
        error.set(None);
        let f = filter.get_value();
        spawn_local(async move {
            match f.fetch(Some(cursor)).await {
                Ok(page) => {
                    items.try_update(|list| {
                        for r in page.items {
                            if !list.iter().any(|x| x.id == r.id) {
                                list.push(r);
                            }
                        }
                    });
                    next.try_set(page.next_cursor);
                }
                Err(e) => {
                    error.try_set(Some(error_text(&e)));
                }
            }
            loading.try_set(false);
        });
    };
    let filtered = filter.with_value(Filter::is_filtered);

    view! {
        {move || items.with(Vec::is_empty).then(|| view! {
            <p class="text-slate-600" data-empty="">
                {if filtered { "No runs match." } else { "No runs yet." }}
            </p>
        })}
        <div class="overflow-x-auto" hidden=move || items.with(Vec::is_empty)>
            <table class="w-full text-left text-sm" aria-label="Pipeline runs">
                <thead>
                    <tr class="border-b">
                        <th scope="col" class="py-2 pr-4">"Server"</th>
                        <th scope="col" class="pr-4">"State"</th>
                        <th scope="col" class="pr-4">"Step"</th>
                        <th scope="col" class="pr-4">"Started by"</th>
                        <th scope="col" class="pr-4">"Created"</th>
                        <th scope="col" class="pr-4">"Duration"</th>
                        <th scope="col"><span class="sr-only">"Link"</span></th>
                    </tr>
                </thead>
                <tbody>
                    <For
                        each=move || items.get()
                        key=|r| (r.id.clone(), r.state, r.current_step, r.started_at, r.finished_at, r.deployment_id.clone())
                        let:r
                    >
                        <RunRow r now />
                    </For>
                </tbody>
            </table>
        </div>
        {move || error.get().map(alert)}
        <button
            type="button"
            class=format!("mt-4 {BUTTON_QUIET}")
            hidden=move || next.with(Option::is_none)
            aria-disabled=move || loading.get().to_string()
            on:click=move |_| load_more()
        >
            {move || if loading.get() { "Loading…" } else { "Load more" }}
        </button>
    }
}

#[component]
fn RunRow(r: RunInfo, now: ReadSignal<i64>) -> impl IntoView {
    let href = run_href(&r.id);
    let version = r
        .resolved_version
        .clone()
        .or_else(|| r.version.clone())
        .unwrap_or_else(|| "latest".to_owned());
    let step = r.current_step.map_or("—", step_label);
    let by = r
        .created_by
        .as_deref()
        .map_or_else(|| "—".to_owned(), format::shown);
    let created = format::when(Some(r.created_at));
    let reason = r.state_reason.clone();
    let state = r.state;
    let run = StoredValue::new(r.clone());
    view! {
        <tr class="border-b align-top" data-run=r.id.clone() data-server=r.server.clone()>
            <td class="py-2 pr-4 break-all font-mono text-xs">
                {format!("{}@{}", format::shown(&r.server), format::shown(&version))}
            </td>
            <td class="py-2 pr-4">
                {state_chip(state)}
                {reason.map(|t| view! { <p class="mt-1 max-w-xs break-words text-xs text-slate-700">{format::shown(&t)}</p> })}
            </td>
            <td class="py-2 pr-4" data-current-step="">{step}</td>
            <td class="py-2 pr-4 break-all">{by}</td>
            <td class="py-2 pr-4 whitespace-nowrap">{created}</td>
            <td class="py-2 pr-4 whitespace-nowrap" data-duration="">
                {move || run.with_value(|r| run_duration(r, now.get()))}
            </td>
            <td class="py-2">
                <a href=href class=LINK aria-label=format!("Open the run of {} created {}", format::shown(&r.server), format::when(Some(r.created_at)))>"Open"</a>
            </td>
        </tr>
    }
}

// ---- One run --------------------------------------------------------------------------------

/// One run: `/pipeline-runs/view?id=…`.
#[component]
pub fn RunView() -> impl IntoView {
    let query = use_query_map();
    let id = Memo::new(move |_| query.with(|q| q.get("id").unwrap_or_default()));
    let me = crate::resource::resource(|| (), |_| whoami());
    let first = crate::resource::resource(move || id.get(), pipeline_run);
    view! {
        <nav aria-label="Breadcrumb" class="text-sm">
            <a href="/pipeline-runs" class=LINK>"Pipeline runs"</a>
        </nav>
        <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
            {move || {
                let role = me.get()?.ok().flatten().map(|m| m.role);
                let found = first.get()?;
                Some(match found {
                    Err(e) => view! {
                        <Title text="Pipeline run" />
                        <h1 class="mt-2 text-2xl font-semibold">"Pipeline run"</h1>
                        {alert(error_text(&e))}
                    }.into_any(),
                    Ok(r) => view! { <RunDetail r role /> }.into_any(),
                })
            }}
        </Transition>
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Cancel,
    Retry,
    Rerun,
}

impl Act {
    fn applies(self, s: RunState) -> bool {
        match self {
            Self::Cancel => matches!(s, RunState::Queued | RunState::Running),
            Self::Retry => matches!(s, RunState::Failed | RunState::Cancelled),
            Self::Rerun => s.is_final(),
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Cancel => "Cancel run",
            Self::Retry => "Retry",
            Self::Rerun => "Re-run",
        }
    }
}

#[component]
fn RunDetail(r: RunInfo, role: Option<Role>) -> impl IntoView {
    let operator = role >= Some(Role::Operator);
    let run = RwSignal::new(r.clone());
    let id = r.id.clone();
    let state = Memo::new(move |_| run.with(|r| r.state));
    let is_final = Memo::new(move |_| state.get().is_final());
    let now = use_clock();

    // Live while the run goes on (again after a retry): the stream sends the whole run now
    // and after every change, and ends with the run.
    {
        let url = format!("/api/v1/pipeline-runs/{}/events", types::query_value(&id));
        Effect::new(move |_| {
            if !is_final.get() {
                follow(&url, true, move |r| {
                    run.try_update(|cur| {
                        if cur.id == r.id {
                            *cur = r;
                        }
                    });
                });
            }
        });
    }

    let busy = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let navigate = use_navigate();
    let act = move |what: Act| {
        if busy.get_untracked() || !what.applies(state.get_untracked()) {
            return;
        }
        busy.set(true);
        error.set(None);
        let id = run.with_untracked(|r| r.id.clone());
        let navigate = navigate.clone();
        spawn_local(async move {
            let answer = match what {
                Act::Cancel => cancel_pipeline_run(id).await,
                Act::Retry => retry_pipeline_run(id).await,
                Act::Rerun => rerun_pipeline_run(id).await,
            };
            match answer {
                Ok(r) if what == Act::Rerun => navigate(&run_href(&r.id), Default::default()),
                Ok(r) => {
                    run.try_set(r);
                }
                Err(e) => {
                    error.try_set(Some(error_text(&e)));
                }
            }
            busy.try_set(false);
        });
    };
    let button = move |what: Act| {
        let act = act.clone();
        let class = if what == Act::Cancel {
            BUTTON_CANCEL
        } else {
            BUTTON_ACTION
        };
        view! {
            <button type="button" class=class
                hidden=move || !what.applies(state.get())
                aria-disabled=move || busy.get().to_string()
                on:click=move |_| act(what)>
                {what.label()}
            </button>
        }
    };

    let title = {
        let version = r
            .resolved_version
            .clone()
            .or_else(|| r.version.clone())
            .unwrap_or_else(|| "latest".to_owned());
        format!("{}@{}", format::shown(&r.server), format::shown(&version))
    };
    let fact = |label: &'static str, value: Box<dyn Fn() -> String + Send + Sync>| {
        view! {
            <dt class="font-medium text-slate-600">{label}</dt>
            <dd class="break-all" data-fact=label>{move || value()}</dd>
        }
    };

    view! {
        <Title text=format!("Run of {title}") />
        <article class="mt-2" data-run-id=r.id.clone()>
            <header class="flex flex-wrap items-start justify-between gap-3">
                <div class="min-w-0">
                    <h1 class="break-all text-2xl font-semibold">{title.clone()}</h1>
                    <div role="status" aria-live="polite" class="mt-2 flex flex-wrap items-center gap-2" data-run-status="">
                        {move || state_chip(state.get())}
                        {move || run.with(|r| r.current_step).filter(|_| !is_final.get()).map(|s| view! {
                            <span class="text-sm text-slate-700">{format!("Step: {}", step_label(s))}</span>
                        })}
                    </div>
                    {move || run.with(|r| r.state_reason.clone()).map(|t| view! {
                        <p class="mt-2 whitespace-pre-wrap break-words text-sm text-slate-800" data-state-reason="">{format::shown(&t)}</p>
                    })}
                </div>
                {operator.then(|| view! {
                    <div class="flex flex-col items-end gap-2">
                        <div class="flex flex-wrap gap-2" role="group" aria-label="Actions">
                            {button(Act::Cancel)}
                            {button(Act::Retry)}
                            {button(Act::Rerun)}
                        </div>
                        <p class="text-xs text-slate-600" aria-live="polite">{move || if busy.get() { "Working…" } else { "" }}</p>
                        {move || error.get().map(alert)}
                    </div>
                })}
            </header>

            {move || run.with(|r| r.deployment_id.clone().map(|d| (d, r.deployment_name.clone(), r.state))).map(|(d, name, s)| {
                let ready = s == RunState::Succeeded;
                view! {
                    <div class=format!("mt-4 flex flex-wrap items-center gap-3 rounded-lg p-4 ring-1 {}", if ready { "bg-green-50 ring-green-300" } else { "bg-white ring-slate-200" })>
                        <a href=deployment_href(&d)
                            class="rounded bg-indigo-600 px-4 py-2 text-sm font-semibold text-white hover:bg-indigo-500 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                            data-open-deployment="">
                            "Open deployment"
                        </a>
                        <span class="break-all text-sm text-slate-800">
                            {name.map(|n| format::shown(&n)).unwrap_or_default()}
                            {if ready { " is running." } else { " (being set up by this run)" }}
                        </span>
                    </div>
                }
            })}

            <section aria-labelledby="facts-heading" class=format!("mt-6 {CARD}")>
                <h2 id="facts-heading" class="text-lg font-medium">"Run"</h2>
                <dl class="mt-3 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                    {fact("Started by", Box::new(move || run.with(|r| r.created_by.as_deref().map_or_else(|| "—".to_owned(), format::shown))))}
                    {fact("Created", Box::new(move || format::when(run.with(|r| Some(r.created_at)))))}
                    {fact("Started", Box::new(move || format::when(run.with(|r| r.started_at))))}
                    {fact("Finished", Box::new(move || format::when(run.with(|r| r.finished_at))))}
                    {fact("Duration", Box::new(move || run.with(|r| run_duration(r, now.get()))))}
                    {fact("Runtime", Box::new(move || run.with(|r| r.runtime.map_or("—", |k| k.as_str()).to_owned())))}
                    {fact("Retries", Box::new(move || run.with(|r| r.retries.to_string())))}
                </dl>
                {r.rerun_of.clone().map(|o| view! {
                    <p class="mt-2 text-sm">"Re-run of " <a href=run_href(&o) class=LINK>"an earlier run"</a> "."</p>
                })}
            </section>

            <Timeline run now />
        </article>
    }
}

/// Where the timeline starts and ends (milliseconds): the first step's start to the last
/// step's end, or now while the run goes on.
fn scale(r: &RunInfo, now: i64) -> Option<(i64, i64)> {
    let start = r.steps.iter().filter_map(|s| s.started_at).map(ms).min()?;
    let end = if r.state.is_final() {
        r.steps
            .iter()
            .filter_map(|s| s.finished_at)
            .map(ms)
            .chain(r.finished_at.map(ms))
            .max()
            .unwrap_or(start)
    } else {
        now
    };
    Some((start, end.max(start + 1)))
}

/// A step's bar: (left %, width %) on the run's scale; `None` before the step started.
fn bar(r: &RunInfo, s: &StepInfo, now: i64) -> Option<(f64, f64)> {
    let (t0, t1) = scale(r, now)?;
    let start = ms(s.started_at?);
    let end = match s.finished_at {
        Some(t) => ms(t),
        None if s.status == StepStatus::Running && !r.state.is_final() => now,
        None => t1,
    };
    let total = (t1 - t0) as f64;
    let left = ((start - t0) as f64 / total * 100.0).clamp(0.0, 100.0);
    let width = ((end - start).max(0) as f64 / total * 100.0).clamp(0.0, 100.0 - left);
    Some((left, width))
}

/// How long a step took (so far, while it runs).
fn step_duration(r: &RunInfo, s: &StepInfo, now: i64) -> String {
    match (s.started_at, s.finished_at) {
        (Some(a), Some(b)) => span(ms(b) - ms(a)),
        (Some(a), None) if s.status == StepStatus::Running && !r.state.is_final() => {
            span(now - ms(a))
        }
        _ => "—".to_owned(),
    }
}

/// One row per step: status, attempts, duration, a bar to scale, the error and the log.
#[component]
fn Timeline(run: RwSignal<RunInfo>, now: ReadSignal<i64>) -> impl IntoView {
    let axis = move || {
        run.with(|r| {
            scale(r, now.get())
                .map(|(a, b)| format!("Bars to scale: {} in all.", span(b - a)))
                .unwrap_or_else(|| "No step has started yet.".to_owned())
        })
    };
    view! {
        <section aria-labelledby="steps-heading" class=format!("mt-6 {CARD}")>
            <h2 id="steps-heading" class="text-lg font-medium">"Steps"</h2>
            <p class="mt-1 text-xs text-slate-600" data-scale="">{axis}</p>
            <ol class="mt-3 divide-y divide-slate-200" aria-label="Step timeline">
                {StepName::ALL.into_iter().map(|name| view! { <StepRow name run now /> }).collect_view()}
            </ol>
        </section>
    }
}

#[component]
fn StepRow(name: StepName, run: RwSignal<RunInfo>, now: ReadSignal<i64>) -> impl IntoView {
    let empty = StepInfo {
        name,
        status: StepStatus::Pending,
        attempts: 0,
        started_at: None,
        finished_at: None,
        error: None,
        instance: None,
        logs: Vec::new(),
    };
    let step = Memo::new(move |_| {
        run.with(|r| r.steps.iter().find(|s| s.name == name).cloned())
            .unwrap_or_else(|| empty.clone())
    });
    let status = Memo::new(move |_| step.with(|s| s.status));
    let look = move || status_look(status.get());
    let log_count = Memo::new(move |_| step.with(|s| s.logs.len()));
    view! {
        <li class="py-3" data-step=name.as_str() data-status=move || status.get().as_str()>
            <div class="grid grid-cols-[1.5rem_minmax(6rem,10rem)_1fr] items-center gap-x-3 gap-y-1 sm:grid-cols-[1.5rem_8rem_7rem_5rem_6rem_1fr]">
                <span aria-hidden="true" class=move || format!("text-center text-lg font-bold {}", look().2)>{move || look().0}</span>
                <span class="font-medium" title=step_help(name)>{step_label(name)}</span>
                <span class=move || format!("text-sm font-medium {}", look().2) data-status-text="">{move || look().1}</span>
                <span class="text-xs text-slate-700 sm:text-sm" data-attempts="">
                    {move || match step.with(|s| s.attempts) {
                        0 => String::new(),
                        1 => "1 attempt".to_owned(),
                        n => format!("{n} attempts"),
                    }}
                </span>
                <span class="whitespace-nowrap text-xs text-slate-700 sm:text-sm" data-step-duration="">
                    {move || run.with(|r| step.with(|s| step_duration(r, s, now.get())))}
                </span>
                // An SVG rect, not a `style` attribute: the dashboard's CSP (`style-src 'self'`)
                // blocks inline styles. The 1px stroke keeps a zero-length bar visible.
                <div class="relative col-span-3 h-3 w-full rounded bg-slate-100 sm:col-span-1" aria-hidden="true">
                    <svg class="absolute inset-0 h-full w-full overflow-visible" focusable="false">
                        {move || run.with(|r| step.with(|s| bar(r, s, now.get()))).map(|(left, width)| view! {
                            <rect x=format!("{}%", format::fixed(left, 3)) y="0" width=format!("{}%", format::fixed(width, 3)) height="100%"
                                rx="2" stroke-width="1" class=look().3
                                data-bar-left=format::fixed(left, 3) data-bar-width=format::fixed(width, 3) />
                        })}
                    </svg>
                </div>
            </div>
            {move || step.with(|s| s.error.clone()).map(|e| view! {
                <p class="mt-2 whitespace-pre-wrap break-words rounded border border-red-200 bg-red-50 p-2 text-sm text-red-900" data-step-error="">
                    {format::shown(&e)}
                </p>
            })}
            <details class="mt-2" hidden=move || log_count.get() == 0 data-step-log="">
                <summary class="cursor-pointer text-sm text-slate-700 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-indigo-600">
                    {move || match log_count.get() {
                        1 => format!("Log of {}: 1 line", step_label(name)),
                        n => format!("Log of {}: {n} lines", step_label(name)),
                    }}
                </summary>
                <ol class="mt-1 max-h-72 overflow-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100">
                    {move || step.with(|s| s.logs.iter().map(|l| view! {
                        <li class="whitespace-pre-wrap break-all" data-log-line="">
                            <span class="text-slate-400">{format::clock_millis(l.at)}</span>
                            " "
                            {format::shown(&l.text)}
                        </li>
                    }).collect_view())}
                </ol>
            </details>
        </li>
    }
}
