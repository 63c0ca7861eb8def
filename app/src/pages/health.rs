//! Health (`/fleet-health`): the fleet at a glance (deployments by health, open breakers,
//! restarts and uptime), every deployment's health, the latency chart and uptime of the one
//! chosen (`?id=<deployment>&hours=<window>`), the latest incidents, and this instance's own
//! health for admins. While open, the page asks again every 3 s and updates in place: the
//! figures shown stay until new ones arrive, and nothing that has the focus is rebuilt.
//!
//! Names and reasons come from the server and from outside: rendered as text nodes only.

use std::time::Duration;

use chrono::{DateTime, Utc};
use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;
use types::{
    BreakerState, ComponentHealth, FleetHealth, FleetMember, Health, HealthEvent, HealthHistory,
    HealthSample, HealthStatus, SystemHealth,
};

use super::{
    deployments::{state_badge, view_href},
    ui::{alert, error_text, BUTTON, CARD, LINK},
};
use crate::{
    api::{deployment_health_history, fleet_health, system_health},
    format,
};

/// How often the page asks again while it is open.
const REFRESH: Duration = Duration::from_secs(3);

/// The chart windows offered: hours, and how they read.
const WINDOWS: [(u32, &str, &str); 4] = [
    (1, "1 h", "the last hour"),
    (6, "6 h", "the last 6 hours"),
    (24, "24 h", "the last 24 hours"),
    (168, "7 d", "the last 7 days"),
];

/// The chart's drawing area, in SVG units.
const W: f64 = 640.0;
const H: f64 = 220.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 34.0;

/// `/fleet-health?id=…&hours=…#latency`: the page with a deployment's chart in view.
pub(super) fn chart_href(id: &str, hours: u32) -> String {
    format!(
        "/fleet-health?id={}&hours={hours}#latency",
        types::query_value(id)
    )
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
        Utc::now().timestamp_millis()
    }
}

// ---- Badges and figures (shared with the deployment page) ------------------------------------

pub(super) fn health_label(h: Health) -> &'static str {
    match h {
        Health::Healthy => "Healthy",
        Health::Degraded => "Degraded",
        Health::Unhealthy => "Unhealthy",
        Health::Unknown => "Unknown",
    }
}

/// Health as a coloured badge (the colour is never the only signal).
pub(super) fn health_badge(h: Health) -> impl IntoView {
    let class = match h {
        Health::Healthy => "bg-green-100 text-green-900 ring-green-300",
        Health::Degraded => "bg-amber-100 text-amber-900 ring-amber-300",
        Health::Unhealthy => "bg-red-100 text-red-900 ring-red-300",
        Health::Unknown => "bg-slate-100 text-slate-800 ring-slate-300",
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-health-badge=h.as_str()
        >
            {health_label(h)}
        </span>
    }
}

pub(super) fn breaker_label(b: BreakerState) -> &'static str {
    match b {
        BreakerState::Closed => "Closed",
        BreakerState::HalfOpen => "Half-open",
        BreakerState::Open => "Open",
    }
}

/// A circuit breaker's state as a coloured badge.
pub(super) fn breaker_badge(b: BreakerState) -> impl IntoView {
    let class = match b {
        BreakerState::Closed => "bg-slate-100 text-slate-800 ring-slate-300",
        BreakerState::HalfOpen => "bg-amber-100 text-amber-900 ring-amber-300",
        BreakerState::Open => "bg-red-100 text-red-900 ring-red-300",
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-breaker-badge=b.as_str()
        >
            {breaker_label(b)}
        </span>
    }
}

/// A pass/warn/fail outcome as a coloured badge.
fn status_badge(s: HealthStatus) -> impl IntoView {
    let (label, class, key) = match s {
        HealthStatus::Pass => ("OK", "bg-green-100 text-green-900 ring-green-300", "pass"),
        HealthStatus::Warn => (
            "Degraded",
            "bg-amber-100 text-amber-900 ring-amber-300",
            "warn",
        ),
        HealthStatus::Fail => ("Failing", "bg-red-100 text-red-900 ring-red-300", "fail"),
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-status=key
        >
            {label}
        </span>
    }
}

/// `99.95%`, never rounded up to `100%`; a dash without checks.
pub(super) fn percent(p: Option<f64>) -> String {
    match p {
        None => "—".to_owned(),
        Some(p) if !p.is_finite() => "—".to_owned(),
        Some(p) if p >= 100.0 => "100%".to_owned(),
        Some(p) => {
            let hundredths = (p.max(0.0) * 100.0).floor() as u64;
            format!("{}.{:02}%", hundredths / 100, hundredths % 100)
        }
    }
}

/// A round trip in milliseconds, or a dash.
pub(super) fn latency(ms: Option<f64>) -> String {
    ms.map_or_else(|| "—".to_owned(), format::millis)
}

/// `14:03:27 UTC` of a time in milliseconds since the epoch.
fn clock_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .map(format::clock)
        .unwrap_or_default()
}

/// A health event's words: `half_open` → `half open`.
fn words(s: &str) -> String {
    format::shown(&s.replace('_', " "))
}

fn event_kind_label(kind: &str) -> String {
    match kind {
        "health" => "Health".to_owned(),
        "restart" => "Restart".to_owned(),
        "crash_loop" => "Crash loop".to_owned(),
        "breaker" => "Breaker".to_owned(),
        other => words(other),
    }
}

/// Colours of what an event led to: bad, on the way, or good again.
fn outcome_class(to: &str) -> &'static str {
    match to {
        "unhealthy" | "open" | "restart_failed" | "left_down" => {
            "bg-red-100 text-red-900 ring-red-300"
        }
        "degraded" | "half_open" | "restarting" | "unknown" => {
            "bg-amber-100 text-amber-900 ring-amber-300"
        }
        "healthy" | "closed" | "restarted" => "bg-green-100 text-green-900 ring-green-300",
        _ => "bg-slate-100 text-slate-800 ring-slate-300",
    }
}

/// `healthy → degraded`, the last part as a coloured chip.
pub(super) fn event_change(e: &HealthEvent) -> impl IntoView {
    let class = outcome_class(&e.to);
    view! {
        {e.from.as_deref().map(|f| view! {
            <span class="whitespace-nowrap">{words(f)}</span>
            <span aria-hidden="true">" → "</span>
            <span class="sr-only">" to "</span>
        })}
        <span class=format!("inline-block whitespace-nowrap rounded px-1.5 py-0.5 text-xs font-semibold ring-1 {class}")>
            {words(&e.to)}
        </span>
    }
}

pub(super) fn event_kind(e: &HealthEvent) -> String {
    event_kind_label(&e.kind)
}

// ---- The page ---------------------------------------------------------------------------------

/// Whether the page is asking the server, when it last got an answer, and what went wrong.
#[derive(Clone, Copy)]
struct Status {
    busy: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    updated: RwSignal<Option<i64>>,
}

/// The Health page.
#[component]
pub fn HealthPage() -> impl IntoView {
    // Asked once (rendered on the server); the page then keeps its own copies fresh.
    let fleet = crate::resource::resource(|| (), |_| fleet_health());
    let system = crate::resource::resource(|| (), |_| system_health());
    let presses = RwSignal::new(0u32);
    let status = Status {
        busy: RwSignal::new(false),
        error: RwSignal::new(None),
        updated: RwSignal::new(None),
    };
    view! {
        <Title text="Health" />
        <div class="flex flex-wrap items-start justify-between gap-4">
            <div class="min-w-0">
                <h1 class="text-2xl font-semibold">"Health"</h1>
                <p class="mt-1 max-w-3xl text-sm text-slate-600">
                    "Every running deployment is checked with an MCP ping; after a few failed checks in a row it is unhealthy and restarted, with a growing delay, until it restarts too often and is left down. A circuit breaker per deployment stops tool calls to a server that keeps failing. This page refreshes itself every 3 seconds."
                </p>
            </div>
            <div class="flex items-center gap-3">
                <p class="text-xs text-slate-600" data-updated="">
                    {move || status.updated.get().map(|t| format!("Updated {}", clock_time(t)))}
                </p>
                <button type="button" class=BUTTON
                    aria-disabled=move || status.busy.get().to_string()
                    on:click=move |_| {
                        // A first answer that failed is asked for again; after it, the page
                        // refreshes its own copies.
                        if fleet.with_untracked(|r| matches!(r, Some(Err(_)))) {
                            fleet.refetch();
                            system.refetch();
                        }
                        presses.update(|n| *n += 1);
                    }>
                    "Refresh"
                </button>
            </div>
        </div>
        {move || status.error.get().map(|e| alert(format!("Could not refresh: {e} The figures shown are from the last answer.")))}
        <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
            {move || {
                let fleet = fleet.get()?;
                let system = system.get()?;
                Some(match fleet {
                    Err(e) => alert(error_text(&e)).into_any(),
                    Ok(fleet) => view! {
                        <Fleet initial=fleet system=system.ok().flatten() presses status />
                    }
                    .into_any(),
                })
            }}
        </Transition>
    }
}

/// A deployment's history as asked for: which deployment and window, and the answer.
#[derive(Clone, Debug, PartialEq)]
struct Chart {
    key: (String, u32),
    result: Result<HealthHistory, String>,
}

#[component]
fn Fleet(
    initial: FleetHealth,
    system: Option<SystemHealth>,
    presses: RwSignal<u32>,
    status: Status,
) -> impl IntoView {
    let fleet = RwSignal::new(initial);
    let system = RwSignal::new(system);
    let query = leptos_router::hooks::use_query_map();
    let selected =
        Memo::new(move |_| query.with(|q| q.get("id").unwrap_or_default().trim().to_owned()));
    let hours = Memo::new(move |_| {
        query
            .with(|q| q.get("hours"))
            .and_then(|h| h.trim().parse::<u32>().ok())
            .filter(|h| WINDOWS.iter().any(|(w, ..)| w == h))
            .unwrap_or(1)
    });
    let history = RwSignal::new(None::<Chart>);

    // The chart of the chosen deployment: asked for in the browser, at once when the choice
    // changes, and with every refresh. An answer for an earlier choice is dropped.
    let load_history = move |key: (String, u32)| async move {
        let result = deployment_health_history(key.0.clone(), key.1)
            .await
            .map_err(|e| error_text(&e));
        let current = (selected.try_get_untracked(), hours.try_get_untracked());
        if current != (Some(key.0.clone()), Some(key.1)) {
            return None;
        }
        let problem = result.as_ref().err().cloned();
        // A failed refresh keeps the chart shown (the page says it could not refresh).
        let keep = problem.is_some()
            && history
                .try_with_untracked(|h| h.as_ref().is_some_and(|c| c.key == key))
                .unwrap_or(false);
        if !keep {
            history.try_set(Some(Chart { key, result }));
        }
        problem
    };
    Effect::new(move |_| {
        let key = (selected.get(), hours.get());
        if history.with_untracked(|h| h.as_ref().is_some_and(|c| c.key != key)) {
            history.set(None);
        }
        if !key.0.is_empty() {
            spawn_local(async move {
                load_history(key).await;
            });
        }
    });

    let refresh = move || {
        if status.busy.get_untracked() {
            return;
        }
        status.busy.set(true);
        let key = (selected.get_untracked(), hours.get_untracked());
        let admin = system.with_untracked(Option::is_some);
        spawn_local(async move {
            let mut problem = None;
            match fleet_health().await {
                Ok(f) => {
                    if fleet.try_with_untracked(|c| *c != f) == Some(true) {
                        fleet.try_set(f);
                    }
                }
                Err(e) => problem = Some(error_text(&e)),
            }
            if admin {
                match system_health().await {
                    Ok(s) => {
                        system.try_set(s);
                    }
                    Err(e) => {
                        problem.get_or_insert(error_text(&e));
                    }
                }
            }
            if !key.0.is_empty() {
                if let Some(e) = load_history(key).await {
                    problem.get_or_insert(e);
                }
            }
            if status.error.try_with_untracked(|e| *e != problem) == Some(true) {
                status.error.try_set(problem);
            }
            status.updated.try_set(Some(now_ms()));
            status.busy.try_set(false);
        });
    };
    // Every 3 s while the page is open (in the browser only: effects do not run on the server).
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(refresh, REFRESH) {
            on_cleanup(move || handle.clear());
        }
    });
    // And at once on "Refresh".
    Effect::new(move |seen: Option<u32>| {
        let n = presses.get();
        if seen.is_some() {
            refresh();
        }
        n
    });

    let has_system = Memo::new(move |_| system.with(Option::is_some));
    view! {
        <Summary fleet />
        <FleetTable fleet selected hours />
        <ChartSection fleet selected hours history />
        <Incidents fleet />
        {move || has_system.get().then(|| view! { <SystemPanel system /> })}
    }
}

// ---- Summary ----------------------------------------------------------------------------------

#[component]
fn Summary(fleet: RwSignal<FleetHealth>) -> impl IntoView {
    let count = move |h: Health| {
        move || {
            fleet
                .with(|f| f.by_health.get(h.as_str()).copied().unwrap_or(0))
                .to_string()
        }
    };
    let card = |label: &'static str,
                accent: &'static str,
                value: Box<dyn Fn() -> String + Send + Sync>| {
        view! {
            <div class=format!("rounded-lg border-l-4 bg-white p-4 shadow-sm ring-1 ring-slate-200 {accent}")>
                <dt class="text-sm text-slate-600">{label}</dt>
                <dd class="mt-1 text-2xl font-semibold" data-fact=label>{move || value()}</dd>
            </div>
        }
    };
    view! {
        <section aria-labelledby="summary-heading" class="mt-6" data-testid="fleet-summary">
            <h2 id="summary-heading" class="sr-only">"Fleet summary"</h2>
            <dl class="grid grid-cols-2 gap-4 sm:grid-cols-4 xl:grid-cols-7">
                {card("Healthy", "border-green-600", Box::new(count(Health::Healthy)))}
                {card("Degraded", "border-amber-500", Box::new(count(Health::Degraded)))}
                {card("Unhealthy", "border-red-600", Box::new(count(Health::Unhealthy)))}
                {card("Unknown", "border-slate-400", Box::new(count(Health::Unknown)))}
                {card("Open breakers", "border-slate-400", Box::new(move || fleet.with(|f| f.breakers_open.to_string())))}
                {card("Restarts (24 h)", "border-slate-400", Box::new(move || fleet.with(|f| f.restarts_24h.to_string())))}
                {card("Uptime (24 h)", "border-indigo-500", Box::new(move || fleet.with(|f| percent(f.uptime_24h))))}
            </dl>
            <p class="mt-2 text-xs text-slate-600">
                {move || fleet.with(|f| match f.total {
                    1 => "1 deployment; health counts only those meant to run.".to_owned(),
                    n => format!("{n} deployments; health counts only those meant to run."),
                })}
            </p>
        </section>
    }
}

// ---- The deployments table --------------------------------------------------------------------

#[component]
fn FleetTable(
    fleet: RwSignal<FleetHealth>,
    selected: Memo<String>,
    hours: Memo<u32>,
) -> impl IntoView {
    let empty = Memo::new(move |_| fleet.with(|f| f.deployments.is_empty()));
    view! {
        <section aria-labelledby="fleet-heading" class=format!("mt-6 {CARD}")>
            <h2 id="fleet-heading" class="text-lg font-medium">"Deployments"</h2>
            <p class="mt-1 text-xs text-slate-600">"The unhealthy first. Latency is the last ping's round trip; uptime is the share of passed checks."</p>
            {move || empty.get().then(|| view! {
                <p class="mt-3 text-slate-600" data-empty="">
                    "No deployments yet. Deploy one from the " <a href="/catalog" class=LINK>"catalog"</a> "."
                </p>
            })}
            <div class="mt-3 overflow-x-auto" hidden=move || empty.get()>
                <table class="w-full text-left text-sm" aria-labelledby="fleet-heading">
                    <thead>
                        <tr class="border-b">
                            <th scope="col" class="py-2 pr-4">"Name"</th>
                            <th scope="col" class="pr-4">"State"</th>
                            <th scope="col" class="pr-4">"Health"</th>
                            <th scope="col" class="pr-4">"Latency"</th>
                            <th scope="col" class="pr-4">"Uptime (24 h)"</th>
                            <th scope="col" class="pr-4">"Breaker"</th>
                            <th scope="col" class="pr-4">"Restarts"</th>
                            <th scope="col"><span class="sr-only">"Chart"</span></th>
                        </tr>
                    </thead>
                    <tbody>
                        <For
                            each=move || fleet.with(|f| f.deployments.iter().map(|m| m.id.clone()).collect::<Vec<_>>())
                            key=|id| id.clone()
                            let:id
                        >
                            <FleetRow id fleet selected hours />
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

/// One deployment's row: its cells follow the fleet in place (the row is not rebuilt).
#[component]
fn FleetRow(
    id: String,
    fleet: RwSignal<FleetHealth>,
    selected: Memo<String>,
    hours: Memo<u32>,
) -> impl IntoView {
    let member = {
        let id = id.clone();
        Memo::new(move |_| fleet.with(|f| f.deployments.iter().find(|m| m.id == id).cloned()))
    };
    fn field<T: PartialEq + Send + Sync + Clone + 'static>(
        member: Memo<Option<FleetMember>>,
        default: T,
        f: fn(&FleetMember) -> T,
    ) -> Memo<T> {
        Memo::new(move |_| member.with(|m| m.as_ref().map(f).unwrap_or_else(|| default.clone())))
    }
    let name = field(member, String::new(), |m| m.name.clone());
    let state = field(member, None, |m| Some(m.state));
    let health = field(member, Health::Unknown, |m| m.health);
    let breaker = field(member, BreakerState::Closed, |m| m.breaker);
    let reason = field(member, None, |m| {
        m.reason.clone().filter(|_| m.health != Health::Healthy)
    });
    let is_selected = {
        let id = id.clone();
        Memo::new(move |_| selected.with(|s| *s == id))
    };
    let href = view_href(&id);
    let chart = {
        let id = id.clone();
        move || chart_href(&id, hours.get())
    };
    view! {
        <tr
            class=move || if is_selected.get() { "border-b align-top bg-indigo-50" } else { "border-b align-top" }
            data-deployment=move || name.get()
            data-health=move || health.get().as_str()
            data-breaker=move || breaker.get().as_str()
        >
            <td class="py-2 pr-4">
                <a href=href class=format!("break-all font-medium {LINK}")>{move || format::shown(&name.get())}</a>
                {move || reason.get().map(|r| view! {
                    <p class="mt-1 max-w-sm break-words text-xs text-slate-700" data-reason="">{format::shown(&r)}</p>
                })}
            </td>
            <td class="py-2 pr-4">{move || state.get().map(state_badge)}</td>
            <td class="py-2 pr-4">{move || health_badge(health.get())}</td>
            <td class="py-2 pr-4 whitespace-nowrap" data-latency="">
                {move || member.with(|m| latency(m.as_ref().and_then(|m| m.latency_ms)))}
            </td>
            <td class="py-2 pr-4 whitespace-nowrap" data-uptime="">
                {move || member.with(|m| percent(m.as_ref().and_then(|m| m.uptime_24h)))}
            </td>
            <td class="py-2 pr-4">{move || breaker_badge(breaker.get())}</td>
            <td class="py-2 pr-4" data-restarts="">
                {move || member.with(|m| m.as_ref().map_or(0, |m| m.restarts)).to_string()}
            </td>
            <td class="py-2 whitespace-nowrap">
                <a href=chart class=LINK
                    aria-label=move || format!("Latency chart of {}", format::shown(&name.get()))
                    aria-current=move || is_selected.get().then_some("true")>
                    "Chart"
                </a>
            </td>
        </tr>
    }
}

// ---- The latency chart ------------------------------------------------------------------------

#[component]
fn ChartSection(
    fleet: RwSignal<FleetHealth>,
    selected: Memo<String>,
    hours: Memo<u32>,
    history: RwSignal<Option<Chart>>,
) -> impl IntoView {
    let name = Memo::new(move |_| {
        let id = selected.get();
        fleet.with(|f| {
            f.deployments
                .iter()
                .find(|m| m.id == id)
                .map(|m| m.name.clone())
        })
    });
    let found = Memo::new(move |_| name.with(Option::is_some));
    let uptime_24h = Memo::new(move |_| {
        let id = selected.get();
        fleet.with(|f| {
            f.deployments
                .iter()
                .find(|m| m.id == id)
                .and_then(|m| m.uptime_24h)
        })
    });
    view! {
        <section id="latency" aria-labelledby="latency-heading" class=format!("mt-6 scroll-mt-4 {CARD}")>
            <h2 id="latency-heading" class="text-lg font-medium">
                {move || match name.get() {
                    Some(n) => format!("Latency and uptime of {}", format::shown(&n)),
                    None => "Latency and uptime".to_owned(),
                }}
            </h2>
            {move || match (selected.with(String::is_empty), found.get()) {
                (true, _) => view! {
                    <p class="mt-2 text-sm text-slate-700" data-no-chart="">
                        "Choose “Chart” on a deployment above to see its latency over time and its uptime."
                    </p>
                }.into_any(),
                (false, false) => view! {
                    <p class="mt-2 text-sm text-slate-700" data-no-chart="">
                        "That deployment is not in the fleet (any more). Choose another one above."
                    </p>
                }.into_any(),
                (false, true) => view! {
                    <ChartBody selected hours history name uptime_24h />
                }.into_any(),
            }}
        </section>
    }
}

#[component]
fn ChartBody(
    selected: Memo<String>,
    hours: Memo<u32>,
    history: RwSignal<Option<Chart>>,
    name: Memo<Option<String>>,
    uptime_24h: Memo<Option<f64>>,
) -> impl IntoView {
    // Loading, failed, or loaded: only a change of these rebuilds the chart.
    let stage = Memo::new(move |_| {
        history.with(|h| {
            h.as_ref()
                .map(|c| c.result.as_ref().map(|_| ()).map_err(Clone::clone))
        })
    });
    let data = Memo::new(move |_| {
        history.with(|h| h.as_ref().and_then(|c| c.result.as_ref().ok().cloned()))
    });
    let window_uptime = move || data.with(|d| percent(d.as_ref().and_then(|d| d.uptime_percent)));
    let totals = move || {
        data.with(|d| {
            d.as_ref().map_or((0, 0), |d| {
                d.samples.iter().fold((0u64, 0u64), |(c, f), s| {
                    (c + s.checks as u64, f + s.failures as u64)
                })
            })
        })
    };
    view! {
        <nav aria-label="Chart window" class="mt-3 flex flex-wrap gap-1 text-sm">
            {WINDOWS.into_iter().map(|(h, short, _)| {
                let href = move || chart_href(&selected.get(), h);
                view! {
                    <a href=href data-noscroll=""
                        class=move || if hours.get() == h {
                            "rounded bg-indigo-600 px-2.5 py-1 font-medium text-white focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                        } else {
                            "rounded px-2.5 py-1 font-medium text-indigo-800 ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                        }
                        aria-current=move || (hours.get() == h).then_some("true")>
                        {short}
                    </a>
                }
            }).collect_view()}
        </nav>
        <dl class="mt-3 grid grid-cols-2 gap-4 sm:grid-cols-4">
            <div>
                <dt class="text-sm text-slate-600">{move || format!("Uptime ({})", window_short(hours.get()))}</dt>
                <dd class="text-xl font-semibold" data-fact="Uptime (window)" data-testid="chart-uptime">{window_uptime}</dd>
            </div>
            <div>
                <dt class="text-sm text-slate-600">"Uptime (24 h)"</dt>
                <dd class="text-xl font-semibold" data-fact="Uptime of the deployment (24 h)">{move || percent(uptime_24h.get())}</dd>
            </div>
            <div>
                <dt class="text-sm text-slate-600">"Checks"</dt>
                <dd class="text-xl font-semibold" data-fact="Checks">{move || totals().0.to_string()}</dd>
            </div>
            <div>
                <dt class="text-sm text-slate-600">"Failed checks"</dt>
                <dd class="text-xl font-semibold" data-fact="Failed checks">{move || totals().1.to_string()}</dd>
            </div>
        </dl>
        {move || match stage.get() {
            None => view! { <p class="mt-3 text-slate-600">"Loading the chart…"</p> }.into_any(),
            Some(Err(e)) => alert(e).into_any(),
            Some(Ok(())) => view! { <LatencyChart data hours name /> }.into_any(),
        }}
    }
}

fn window_short(hours: u32) -> &'static str {
    WINDOWS
        .iter()
        .find(|(h, ..)| *h == hours)
        .map_or("1 h", |(_, short, _)| short)
}

fn window_long(hours: u32) -> &'static str {
    WINDOWS
        .iter()
        .find(|(h, ..)| *h == hours)
        .map_or("the last hour", |(.., long)| long)
}

/// Where everything of the chart goes, in SVG units.
#[derive(Clone, Debug, PartialEq)]
struct Plot {
    /// Mean latency: a path broken where checks are missing or all failed.
    avg_path: String,
    /// Slowest latency, likewise.
    max_path: String,
    /// Mean-latency points.
    dots: Vec<(f64, f64)>,
    /// Buckets with failed checks: x, width.
    failed: Vec<(f64, f64)>,
    /// Horizontal grid lines: y and label.
    y_ticks: Vec<(f64, String)>,
    /// Time labels: x and label.
    x_ticks: Vec<(f64, String)>,
    /// Every bucket: its start (ms), centre x, width (pointer targets, the cursor).
    slots: Vec<(i64, f64, f64)>,
}

/// 1, 2 or 5 times a power of ten, at least `v` (a round top for the latency axis).
fn nice_ceiling(v: f64) -> f64 {
    if !v.is_finite() || v <= 0.0 {
        return 1.0;
    }
    let mut step = 10f64.powf(v.log10().floor());
    loop {
        for m in [1.0, 2.0, 5.0, 10.0] {
            if step * m >= v * 0.999_999 {
                return step * m;
            }
        }
        step *= 10.0;
    }
}

/// Round values from 0 to `ymax` (a [`nice_ceiling`]) with their labels, all in one unit and
/// with as many decimals as the step needs: `0 ms, 1 ms, … 5 ms`, `0.0 s, 0.5 s, … 2.0 s`.
fn latency_ticks(ymax: f64) -> Vec<(f64, String)> {
    let mantissa = ymax / 10f64.powf(ymax.log10().floor());
    let steps = if (1.5..3.0).contains(&mantissa) { 4 } else { 5 };
    let (unit, scale) = if ymax >= 1000.0 {
        ("s", 1000.0)
    } else {
        ("ms", 1.0)
    };
    let step = ymax / f64::from(steps) / scale;
    let decimals = (-step.log10().floor()).max(0.0) as u32;
    (0..=steps)
        .map(|i| {
            let v = ymax * f64::from(i) / f64::from(steps);
            (v, format!("{} {unit}", format::fixed(v / scale, decimals)))
        })
        .collect()
}

fn plot(h: &HealthHistory, hours: u32) -> Plot {
    let t0 = h.since.timestamp_millis();
    let t1 = t0 + i64::from(hours.max(1)) * 3_600_000;
    let (pw, ph) = (W - LEFT - RIGHT, H - TOP - BOTTOM);
    let x_of = |t: i64| LEFT + ((t - t0) as f64 / (t1 - t0) as f64).clamp(0.0, 1.0) * pw;
    let top = h
        .samples
        .iter()
        .filter_map(|s| s.latency_max_ms.or(s.latency_avg_ms))
        .fold(0.0f64, f64::max);
    let ymax = nice_ceiling(top);
    let y_of = |v: f64| TOP + ph - (v / ymax).clamp(0.0, 1.0) * ph;

    let mut p = Plot {
        avg_path: String::new(),
        max_path: String::new(),
        dots: Vec::new(),
        failed: Vec::new(),
        y_ticks: latency_ticks(ymax)
            .into_iter()
            .map(|(v, label)| (y_of(v), label))
            .collect(),
        x_ticks: Vec::new(),
        slots: Vec::new(),
    };
    // Time labels at round times: every 15 minutes of an hour, every hour of 6, every 6 hours
    // of a day, every day of a week (UTC).
    let (every_min, label): (i64, fn(DateTime<Utc>) -> String) = match hours {
        0..=1 => (15, format::hour_minute),
        2..=6 => (60, format::hour_minute),
        7..=24 => (360, format::hour_minute),
        _ => (1440, format::month_day),
    };
    let every = every_min * 60_000;
    let mut t = t0.div_euclid(every) * every;
    while t <= t1 {
        if t >= t0 {
            if let Some(at) = DateTime::<Utc>::from_timestamp_millis(t) {
                p.x_ticks.push((x_of(t), label(at)));
            }
        }
        t += every;
    }
    let mut last_avg: Option<i64> = None;
    let mut last_max: Option<i64> = None;
    for s in &h.samples {
        let start = s.at.timestamp_millis();
        let len = i64::from(s.seconds.max(1)) * 1000;
        let mid = start + len / 2;
        let x = x_of(mid);
        let width = ((x_of(start + len) - x_of(start)).max(2.0)).min(pw);
        p.slots.push((start, x, width));
        if s.failures > 0 {
            p.failed.push((x - width / 2.0, width));
        }
        let extend = |path: &mut String, last: &mut Option<i64>, v: Option<f64>| match v {
            Some(v) => {
                // A gap of more than half a bucket starts a new line.
                let joined = last.is_some_and(|end| start - end <= len / 2);
                let cmd = if joined { 'L' } else { 'M' };
                path.push_str(&format!("{cmd}{} {} ", f1(x), f1(y_of(v))));
                *last = Some(start + len);
            }
            None => *last = None,
        };
        extend(&mut p.avg_path, &mut last_avg, s.latency_avg_ms);
        extend(&mut p.max_path, &mut last_max, s.latency_max_ms);
        if let Some(v) = s.latency_avg_ms {
            p.dots.push((x, y_of(v)));
        }
    }
    p
}

/// When a bucket starts, for people.
fn bucket_time(s: &HealthSample) -> String {
    if s.seconds >= 3600 {
        format::hour(s.at)
    } else {
        format::minute(s.at)
    }
}

/// One bucket in words (the cursor's readout).
fn describe(s: &HealthSample) -> String {
    let checks = match s.checks {
        1 => "1 check".to_owned(),
        n => format!("{n} checks"),
    };
    let failed = match s.failures {
        0 => "none failed".to_owned(),
        n => format!("{n} failed"),
    };
    format!(
        "{}: {checks}, {failed}; average {}, slowest {}.",
        bucket_time(s),
        latency(s.latency_avg_ms),
        latency(s.latency_max_ms)
    )
}

/// The whole chart in words (its text alternative).
fn summary(h: &HealthHistory) -> String {
    let with_checks: Vec<&HealthSample> = h.samples.iter().filter(|s| s.checks > 0).collect();
    if with_checks.is_empty() {
        return "No checks in this window yet.".to_owned();
    }
    let (checks, failures) = with_checks.iter().fold((0u64, 0u64), |(c, f), s| {
        (c + u64::from(s.checks), f + u64::from(s.failures))
    });
    let avgs: Vec<f64> = with_checks
        .iter()
        .filter_map(|s| s.latency_avg_ms)
        .collect();
    let latency_part = if avgs.is_empty() {
        "No check passed, so there is no latency.".to_owned()
    } else {
        let lo = avgs.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = avgs.iter().copied().fold(0.0f64, f64::max);
        format!(
            "Average latency per bucket from {} to {}.",
            format::millis(lo),
            format::millis(hi)
        )
    };
    format!(
        "{} buckets with checks, {} to {}. {latency_part} {failures} of {checks} checks failed; uptime {}.",
        with_checks.len(),
        bucket_time(with_checks[0]),
        bucket_time(with_checks[with_checks.len() - 1]),
        percent(h.uptime_percent)
    )
}

/// The latency chart: an inline SVG, read with the arrow keys (or the pointer) bucket by
/// bucket, with its text alternative and every value in a table beside it.
#[component]
fn LatencyChart(
    data: Memo<Option<HealthHistory>>,
    hours: Memo<u32>,
    name: Memo<Option<String>>,
) -> impl IntoView {
    let geometry = Memo::new(move |_| {
        let h = hours.get();
        data.with(|d| d.as_ref().map(|d| plot(d, h)))
    });
    // The bucket under the cursor, by its start.
    let cursor = RwSignal::new(None::<i64>);
    let starts = move || {
        data.with_untracked(|d| {
            d.as_ref()
                .map(|d| {
                    d.samples
                        .iter()
                        .map(|s| s.at.timestamp_millis())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    };
    let on_key = move |ev: leptos::ev::KeyboardEvent| {
        let all = starts();
        if all.is_empty() {
            return;
        }
        let last = all.len() - 1;
        let at = cursor
            .get_untracked()
            .and_then(|c| all.iter().position(|a| *a == c));
        let next = match ev.key().as_str() {
            "ArrowLeft" | "ArrowDown" => Some(at.map_or(last, |i| i.saturating_sub(1))),
            "ArrowRight" | "ArrowUp" => Some(at.map_or(0, |i| (i + 1).min(last))),
            "Home" => Some(0),
            "End" => Some(last),
            "Escape" => {
                cursor.set(None);
                None
            }
            _ => return,
        };
        ev.prevent_default();
        if let Some(i) = next {
            cursor.set(Some(all[i]));
        }
    };
    let readout = move || {
        let c = cursor.get()?;
        data.with(|d| {
            d.as_ref()?
                .samples
                .iter()
                .find(|s| s.at.timestamp_millis() == c)
                .map(describe)
        })
    };
    let title = move || {
        format!(
            "Ping latency of {} over {}",
            name.get().as_deref().map(format::shown).unwrap_or_default(),
            window_long(hours.get())
        )
    };
    let description = move || data.with(|d| d.as_ref().map(summary).unwrap_or_default());
    let samples = move || data.with(|d| d.as_ref().map_or(0, |d| d.samples.len()));
    let failures = move || {
        data.with(|d| {
            d.as_ref().map_or(0, |d| {
                d.samples.iter().map(|s| u64::from(s.failures)).sum::<u64>()
            })
        })
    };
    view! {
        <figure class="mt-4">
            <svg
                viewBox=format!("0 0 {} {}", f1(W), f1(H))
                class="h-auto w-full max-w-3xl rounded bg-white focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                role="img"
                tabindex="0"
                aria-labelledby="chart-title chart-desc"
                aria-describedby="chart-help"
                data-testid="latency-chart"
                data-samples=move || samples().to_string()
                data-failures=move || failures().to_string()
                on:keydown=on_key
                on:mouseleave=move |_| cursor.set(None)
            >
                <title id="chart-title">{title}</title>
                <desc id="chart-desc">{description}</desc>
                {move || geometry.get().map(|p| chart_body(p, cursor))}
            </svg>
            <figcaption class="mt-2 text-xs text-slate-700">
                <span class="inline-flex items-center gap-1"><span aria-hidden="true" class="inline-block h-0.5 w-4 bg-indigo-600"></span>"average"</span>
                <span class="ml-3 inline-flex items-center gap-1"><span aria-hidden="true" class="inline-block h-0.5 w-4 border-t-2 border-dashed border-indigo-400"></span>"slowest"</span>
                <span class="ml-3 inline-flex items-center gap-1"><span aria-hidden="true" class="inline-block h-3 w-3 rounded-sm bg-red-200 ring-1 ring-red-600"></span>"failed checks"</span>
                <span id="chart-help" class="mt-1 block">"Times in UTC. Focus the chart and use ← and → (Home, End) to read it bucket by bucket, or point at it; every value is also in the table below."</span>
                <span class="mt-1 block min-h-5 text-sm text-slate-900" aria-live="polite" data-testid="chart-readout">{readout}</span>
            </figcaption>
        </figure>
        <details class="mt-2">
            <summary class="cursor-pointer text-sm text-slate-700 hover:text-slate-900 focus-visible:outline-2 focus-visible:outline-indigo-600">
                {move || match samples() {
                    1 => "The chart's values as a table (1 bucket)".to_owned(),
                    n => format!("The chart's values as a table ({n} buckets)"),
                }}
            </summary>
            <div class="mt-2 max-h-80 overflow-auto">
                <table class="w-full text-left text-sm">
                    <caption class="sr-only">{title}</caption>
                    <thead>
                        <tr class="border-b">
                            <th scope="col" class="py-1 pr-4">"From"</th>
                            <th scope="col" class="pr-4">"Checks"</th>
                            <th scope="col" class="pr-4">"Failed"</th>
                            <th scope="col" class="pr-4">"Average"</th>
                            <th scope="col">"Slowest"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {move || data.with(|d| d.as_ref().map(|d| d.samples.iter().rev().map(|s| view! {
                            <tr class="border-b" data-sample="">
                                <td class="py-1 pr-4 whitespace-nowrap">{bucket_time(s)}</td>
                                <td class="pr-4">{s.checks}</td>
                                <td class={if s.failures > 0 { "pr-4 font-semibold text-red-800" } else { "pr-4" }}>{s.failures}</td>
                                <td class="pr-4 whitespace-nowrap">{latency(s.latency_avg_ms)}</td>
                                <td class="whitespace-nowrap">{latency(s.latency_max_ms)}</td>
                            </tr>
                        }).collect_view()))}
                    </tbody>
                </table>
            </div>
        </details>
    }
}

/// A chart coordinate with one decimal.
fn f1(v: f64) -> String {
    format::fixed(v, 1)
}

/// Everything inside the chart's `<svg>`: grid, axes, failed buckets, lines, points, cursor.
fn chart_body(p: Plot, cursor: RwSignal<Option<i64>>) -> impl IntoView {
    let (x_end, y_end) = (W - RIGHT, H - BOTTOM);
    let slots = p.slots.clone();
    let cursor_line = move || {
        let c = cursor.get()?;
        let (_, x, w) = slots.iter().find(|(at, ..)| *at == c).copied()?;
        Some(view! {
            <rect x=f1(x - w / 2.0) y=f1(TOP) width=f1(w) height=f1(y_end - TOP) fill="#e0e7ff" opacity="0.7"></rect>
            <line x1=f1(x) x2=f1(x) y1=f1(TOP) y2=f1(y_end) stroke="#0f172a" stroke-width="1"></line>
        })
    };
    view! {
        <g aria-hidden="true">
            {cursor_line}
            {p.failed.iter().map(|(x, w)| view! {
                <rect x=f1(*x) y=f1(TOP) width=f1(*w) height=f1(y_end - TOP) fill="#fecaca" data-failed=""></rect>
                <rect x=f1(*x) y=f1(TOP) width=f1(*w) height="4" fill="#dc2626"></rect>
            }).collect_view()}
            {p.y_ticks.iter().map(|(y, label)| view! {
                <line x1=f1(LEFT) x2=f1(x_end) y1=f1(*y) y2=f1(*y) stroke="#e2e8f0" stroke-width="1"></line>
                <text x=f1(LEFT - 6.0) y=f1(y + 4.0) text-anchor="end" font-size="11" fill="#475569">{label.clone()}</text>
            }).collect_view()}
            {p.x_ticks.iter().map(|(x, label)| {
                view! {
                    <line x1=f1(*x) x2=f1(*x) y1=f1(y_end) y2=f1(y_end + 4.0) stroke="#94a3b8" stroke-width="1"></line>
                    <text x=f1(*x) y=f1(y_end + 17.0) text-anchor="middle" font-size="11" fill="#475569">{label.clone()}</text>
                }
            }).collect_view()}
            <line x1=f1(LEFT) x2=f1(LEFT) y1=f1(TOP) y2=f1(y_end) stroke="#94a3b8" stroke-width="1"></line>
            <line x1=f1(LEFT) x2=f1(x_end) y1=f1(y_end) y2=f1(y_end) stroke="#94a3b8" stroke-width="1"></line>
            <text x=f1(LEFT) y=f1(H - 2.0) font-size="11" fill="#475569">"Time (UTC)"</text>
            <path d=p.max_path.clone() fill="none" stroke="#818cf8" stroke-width="1.5" stroke-dasharray="4 3"></path>
            <path d=p.avg_path.clone() fill="none" stroke="#4f46e5" stroke-width="2" stroke-linejoin="round" data-line="average"></path>
            {p.dots.iter().map(|(x, y)| view! {
                <circle cx=f1(*x) cy=f1(*y) r="2.5" fill="#4f46e5"></circle>
            }).collect_view()}
            {p.slots.iter().map(|(at, x, w)| {
                let at = *at;
                view! {
                    <rect x=f1(x - w / 2.0) y=f1(TOP) width=f1(*w) height=f1(y_end - TOP) fill="transparent"
                        on:mouseenter=move |_| cursor.set(Some(at))></rect>
                }
            }).collect_view()}
        </g>
    }
}

// ---- Incidents --------------------------------------------------------------------------------

#[component]
fn Incidents(fleet: RwSignal<FleetHealth>) -> impl IntoView {
    let empty = Memo::new(move |_| fleet.with(|f| f.incidents.is_empty()));
    view! {
        <section aria-labelledby="incidents-heading" class=format!("mt-6 {CARD}") data-testid="incidents">
            <h2 id="incidents-heading" class="text-lg font-medium">"Incidents"</h2>
            <p class="mt-1 text-xs text-slate-600">"Health changes, self-healing restarts, crash loops and breaker changes, the newest first."</p>
            {move || empty.get().then(|| view! { <p class="mt-3 text-slate-600" data-empty="">"No incidents."</p> })}
            <div class="mt-3 overflow-x-auto" hidden=move || empty.get()>
                <table class="w-full text-left text-sm" aria-labelledby="incidents-heading">
                    <thead>
                        <tr class="border-b">
                            <th scope="col" class="py-2 pr-4">"Time"</th>
                            <th scope="col" class="pr-4">"Deployment"</th>
                            <th scope="col" class="pr-4">"Event"</th>
                            <th scope="col" class="pr-4">"Change"</th>
                            <th scope="col">"Reason"</th>
                        </tr>
                    </thead>
                    <tbody>
                        <For each=move || fleet.with(|f| f.incidents.clone()) key=|e| e.id let:e>
                            <tr class="border-b align-top" data-incident=e.kind.clone() data-to=e.to.clone()
                                data-incident-deployment=e.deployment_name.clone()>
                                <td class="py-2 pr-4 whitespace-nowrap">{format::when(Some(e.at))}</td>
                                <td class="py-2 pr-4">
                                    <a href=view_href(&e.deployment_id) class=format!("break-all {LINK}")>{format::shown(&e.deployment_name)}</a>
                                </td>
                                <td class="py-2 pr-4 whitespace-nowrap">{event_kind(&e)}</td>
                                <td class="py-2 pr-4">{event_change(&e)}</td>
                                <td class="py-2 max-w-md break-words text-slate-800" data-reason="">
                                    {e.reason.as_deref().map_or_else(|| "—".to_owned(), format::shown)}
                                </td>
                            </tr>
                        </For>
                    </tbody>
                </table>
            </div>
        </section>
    }
}

// ---- System health (admins) -------------------------------------------------------------------

fn component_text(c: &ComponentHealth) -> String {
    let detail = c
        .detail
        .as_deref()
        .map(|d| format!(" · {}", format::shown(d)))
        .unwrap_or_default();
    format!("{detail} · {}", format::millis(c.latency_ms))
}

#[component]
fn SystemPanel(system: RwSignal<Option<SystemHealth>>) -> impl IntoView {
    let get = move |f: fn(&SystemHealth) -> String| {
        move || system.with(|s| s.as_ref().map(f).unwrap_or_default())
    };
    let fact = |label: &'static str, value: Box<dyn Fn() -> String + Send + Sync>| {
        view! {
            <div>
                <dt class="text-sm text-slate-600">{label}</dt>
                <dd class="mt-0.5 font-semibold" data-fact=label>{move || value()}</dd>
            </div>
        }
    };
    let status = Memo::new(move |_| system.with(|s| s.as_ref().map(|s| s.status)));
    let db_status = Memo::new(move |_| system.with(|s| s.as_ref().map(|s| s.database.status)));
    let docker_status = Memo::new(move |_| {
        system.with(|s| s.as_ref().and_then(|s| s.docker.as_ref().map(|d| d.status)))
    });
    view! {
        <section aria-labelledby="system-heading" class=format!("mt-6 {CARD}") data-testid="system-health">
            <div class="flex flex-wrap items-center gap-3">
                <h2 id="system-heading" class="text-lg font-medium">"System"</h2>
                {move || status.get().map(status_badge)}
            </div>
            <p class="mt-1 text-xs text-slate-600">
                {move || system.with(|s| s.as_ref().map(|s| format!(
                    "This instance ({}), version {}, up {}. Admins only; also at /health/detailed.",
                    format::shown(&s.instance_id),
                    format::shown(&s.version),
                    format::duration(s.uptime_seconds)
                )).unwrap_or_default())}
            </p>
            <dl class="mt-3 grid grid-cols-2 gap-4 sm:grid-cols-3 lg:grid-cols-5">
                <div>
                    <dt class="text-sm text-slate-600">"Database"</dt>
                    <dd class="mt-0.5 font-semibold" data-fact="Database">
                        {move || db_status.get().map(status_badge)}
                        {get(|s| component_text(&s.database))}
                    </dd>
                </div>
                <div>
                    <dt class="text-sm text-slate-600">"Docker engine"</dt>
                    <dd class="mt-0.5 font-semibold" data-fact="Docker engine">
                        {move || docker_status.get().map(status_badge)}
                        {get(|s| s.docker.as_ref().map_or_else(|| "Not used".to_owned(), component_text))}
                    </dd>
                </div>
                {fact("Workers", Box::new(get(|s| format!("{} busy of {}", s.workers_busy, s.workers))))}
                {fact("Queue depth", Box::new(get(|s| s.queue_depth.to_string())))}
                {fact("Live deployments", Box::new(get(|s| s.live_deployments.to_string())))}
                {fact("Checks in flight", Box::new(get(|s| s.checks_in_flight.to_string())))}
                {fact("CPU", Box::new(get(|s| format!("{}% of a core", f1(s.cpu_percent)))))}
                {fact("Memory (RSS)", Box::new(get(|s| format!("{} MiB", f1(s.memory_rss_bytes as f64 / 1_048_576.0)))))}
                {fact("Threads", Box::new(get(|s| s.threads.to_string())))}
            </dl>
        </section>
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(min: i64, checks: u32, failures: u32, avg: Option<f64>) -> HealthSample {
        HealthSample {
            at: DateTime::<Utc>::from_timestamp(1_700_000_000 + min * 60, 0).unwrap(),
            seconds: 60,
            checks,
            failures,
            latency_avg_ms: avg,
            latency_max_ms: avg.map(|a| a * 2.0),
        }
    }

    #[test]
    fn figures_read_well() {
        assert_eq!(percent(None), "—");
        assert_eq!(percent(Some(100.0)), "100%");
        assert_eq!(percent(Some(99.999)), "99.99%");
        assert_eq!(percent(Some(50.0)), "50.00%");
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(0.3), 0.5);
        assert_eq!(nice_ceiling(1.0), 1.0);
        assert_eq!(nice_ceiling(3.2), 5.0);
        assert_eq!(nice_ceiling(120.0), 200.0);
        let labels = |ymax: f64| -> Vec<String> {
            latency_ticks(ymax).into_iter().map(|(_, l)| l).collect()
        };
        assert_eq!(
            labels(5.0),
            ["0 ms", "1 ms", "2 ms", "3 ms", "4 ms", "5 ms"]
        );
        assert_eq!(
            labels(2.0),
            ["0.0 ms", "0.5 ms", "1.0 ms", "1.5 ms", "2.0 ms"]
        );
        assert_eq!(
            labels(1.0),
            ["0.0 ms", "0.2 ms", "0.4 ms", "0.6 ms", "0.8 ms", "1.0 ms"]
        );
        assert_eq!(labels(500.0).last().unwrap(), "500 ms");
        assert_eq!(
            labels(2000.0),
            ["0.0 s", "0.5 s", "1.0 s", "1.5 s", "2.0 s"]
        );
    }

    #[test]
    fn the_chart_breaks_its_line_at_gaps_and_marks_failures() {
        let h = HealthHistory {
            deployment_id: "d".into(),
            since: DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap(),
            samples: vec![
                sample(0, 10, 0, Some(1.0)),
                sample(1, 10, 0, Some(2.0)),
                sample(2, 10, 10, None),
                sample(3, 10, 2, Some(3.0)),
                sample(10, 10, 0, Some(1.5)),
            ],
            uptime_percent: Some(76.0),
        };
        let p = plot(&h, 1);
        // Three pieces of line: minutes 0–1, minute 3, minute 10.
        assert_eq!(p.avg_path.matches('M').count(), 3);
        assert_eq!(p.avg_path.matches('L').count(), 1);
        assert_eq!(p.dots.len(), 4);
        assert_eq!(p.failed.len(), 2);
        assert_eq!(p.slots.len(), 5);
        // 22:13:20 to 23:13:20 UTC: labelled at 22:15, 22:30, 22:45 and 23:00.
        let times: Vec<&str> = p.x_ticks.iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(times, ["22:15", "22:30", "22:45", "23:00"]);
        assert_eq!(p.y_ticks.last().unwrap().1, "10 ms");
        for (x, _) in &p.dots {
            assert!((LEFT..=W - RIGHT).contains(x));
        }
        let s = summary(&h);
        assert!(s.contains("12 of 50 checks failed"), "{s}");
        assert!(s.contains("uptime 76.00%"), "{s}");
        assert!(describe(&h.samples[2]).contains("10 failed"));
    }
}
