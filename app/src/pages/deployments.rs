//! Deployments: the list (refreshed while one is starting), the deploy form prefilled from a
//! catalog entry (`/deployments?from=<server>&version=<v>`; submitting it starts a pipeline
//! run and opens the run's page), and one deployment in full
//! (`/deployments/view?id=<id>`): its configuration, state and actions, capabilities, a form
//! generated from a tool's input schema to call it, and its live log.
//!
//! Everything a server or registry wrote (names, descriptions, schemas, results, log lines)
//! is hostile data: it is only ever rendered as text nodes, never as HTML.

use std::time::Duration;

use leptos::{html, prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::hooks::{use_navigate, use_query_map};
use serde_json::Value;
use types::{
    deployment::{
        Capabilities, CreateDeployment, DeploymentInfo, DeploymentState, EnvInput, RuntimeKind,
        ToolInfo, ToolResult,
    },
    env::{check_plain_value, secret_kind, EnvName},
    ArgumentKind, CatalogVersion, EnvVar, HealthEvent, Me, Package, Role, VerdictStatus,
};

use super::{
    catalog::with_placeholders,
    health::{breaker_badge, chart_href, event_change, event_kind, health_badge, latency},
    runs::run_href,
    ui::{alert, error_text, BUTTON, BUTTON_QUIET, CARD, CHIP, INPUT, LINK},
};
use crate::{
    api::{
        call_deployment_tool, catalog_entry_version, create_pipeline_run, delete_deployment,
        deployment_capabilities, deployment_health_events, deployment_logs, get_deployment,
        list_deployments, recheck_deployment, restart_deployment, start_deployment,
        stop_deployment, whoami, LogLine,
    },
    format,
    tool_form::{self, Kind, Shape},
};

/// How often the list is asked again while a deployment in it is starting.
const LIST_POLL: Duration = Duration::from_secs(2);
/// How often a deployment's page asks for its state while it starts or an action runs.
const STATE_POLL: Duration = Duration::from_secs(1);
/// How often a deployment's page asks for its health while open.
const HEALTH_POLL: Duration = Duration::from_secs(3);
/// Health events shown on a deployment's page.
const HEALTH_EVENTS: usize = 10;
/// How often the log is asked for while the page is open.
const LOG_POLL: Duration = Duration::from_secs(1);
/// Log lines shown.
const LOG_TAIL: u32 = 500;
/// Failed polls in a row before the page stops following.
const POLL_GIVE_UP: u32 = 5;
/// Longest text of one result block shown (the rest is counted, not shown).
const RESULT_TEXT_CHARS: usize = 100_000;

const BUTTON_ACTION: &str = "rounded px-3 py-1.5 text-sm font-medium text-slate-800 ring-1 ring-slate-300 hover:bg-slate-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600 aria-disabled:cursor-not-allowed aria-disabled:opacity-50";
const BUTTON_DELETE: &str = "rounded px-3 py-1.5 text-sm font-medium text-red-800 ring-1 ring-red-300 hover:bg-red-50 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-600 aria-disabled:cursor-not-allowed aria-disabled:opacity-50";
const PRE: &str = "mt-1 max-h-96 overflow-auto whitespace-pre-wrap break-all rounded bg-slate-900 p-3 font-mono text-xs text-slate-100";

/// `/deployments/view?id=…`.
pub(super) fn view_href(id: &str) -> String {
    format!("/deployments/view?id={}", types::query_value(id))
}

/// The catalog entry a deployment came from.
fn catalog_href(d: &DeploymentInfo) -> String {
    format!(
        "/catalog/entry?name={}&version={}&registry={}",
        types::query_value(&d.server),
        types::query_value(&d.version),
        types::query_value(&d.registry_id)
    )
}

/// Milliseconds since the epoch: the browser's clock in the browser, the server's on the
/// server (chrono's clock is not wired to the browser's in this build).
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

/// The current time, ticking every second once hydrated (uptimes count up).
fn use_clock() -> ReadSignal<i64> {
    let (now, set_now) = signal(now_ms());
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(
            move || {
                set_now.try_set(now_ms());
            },
            Duration::from_secs(1),
        ) {
            on_cleanup(move || handle.clear());
        }
    });
    now
}

/// Uptime of a running deployment; a dash otherwise.
fn uptime(
    state: DeploymentState,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    now: i64,
) -> String {
    match (state, started_at) {
        (DeploymentState::Running, Some(t)) => {
            format::duration(((now - t.timestamp_millis()).max(0) / 1000) as u64)
        }
        _ => "—".to_owned(),
    }
}

fn state_label(s: DeploymentState) -> &'static str {
    match s {
        DeploymentState::Starting => "Starting",
        DeploymentState::Running => "Running",
        DeploymentState::Stopped => "Stopped",
        DeploymentState::Failed => "Failed",
        DeploymentState::Exited => "Exited",
        DeploymentState::Missing => "Missing",
    }
}

/// The state as a coloured badge (the colour is never the only signal).
pub(super) fn state_badge(s: DeploymentState) -> impl IntoView {
    let class = match s {
        DeploymentState::Starting => "bg-indigo-100 text-indigo-900 ring-indigo-300",
        DeploymentState::Running => "bg-green-100 text-green-900 ring-green-300",
        DeploymentState::Stopped => "bg-slate-100 text-slate-800 ring-slate-300",
        DeploymentState::Exited => "bg-amber-100 text-amber-900 ring-amber-300",
        DeploymentState::Failed | DeploymentState::Missing => {
            "bg-red-100 text-red-900 ring-red-300"
        }
    };
    view! {
        <span
            class=format!("inline-block whitespace-nowrap rounded px-2 py-0.5 text-xs font-semibold ring-1 {class}")
            data-state=s.as_str()
        >
            {state_label(s)}
        </span>
    }
}

fn runtime_label(r: RuntimeKind) -> &'static str {
    match r {
        RuntimeKind::Docker => "Docker (hardened container)",
        RuntimeKind::Process => "Local process",
    }
}

/// JSON for people, made safe to show as text.
fn pretty(v: &Value) -> String {
    format::shown(&serde_json::to_string_pretty(v).unwrap_or_default())
}

// ---- The list and the deploy form ---------------------------------------------------------

/// The Deployments page: every deployment, and the deploy form when `?from=` names a catalog
/// entry.
#[component]
pub fn Deployments() -> impl IntoView {
    let query = use_query_map();
    let from = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("from").unwrap_or_default(),
                q.get("version").unwrap_or_default(),
                q.get("registry").unwrap_or_default(),
            )
        })
    });
    let me = crate::resource::resource(|| (), |_| whoami());
    let tick = RwSignal::new(0u32);
    let list = crate::resource::resource(move || tick.get(), |_| list_deployments());
    let now = use_clock();
    // While one is starting, ask again (each answer schedules the next ask).
    Effect::new(move |_| {
        if let Some(Ok(items)) = list.get() {
            if items.iter().any(|d| d.state == DeploymentState::Starting) {
                set_timeout(
                    move || {
                        tick.try_update(|n| *n += 1);
                    },
                    LIST_POLL,
                );
            }
        }
    });
    view! {
        <Title text="Deployments" />
        <h1 class="text-2xl font-semibold">"Deployments"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "MCP servers from the " <a href="/catalog" class=LINK>"catalog"</a>
            ", running in hardened containers on Docker or as local processes. To deploy one, open it in the catalog and choose “Deploy”."
        </p>
        {move || {
            let (server, version, registry) = from.get();
            (!server.trim().is_empty()).then(|| view! { <DeploySection server version registry me /> })
        }}
        <section aria-labelledby="list-heading" class="mt-8">
            <h2 id="list-heading" class="text-lg font-medium">"All deployments"</h2>
            <Transition fallback=|| view! { <p class="mt-3 text-slate-600">"Loading…"</p> }>
                {move || list.get().map(|r| match r {
                    Err(e) => alert(error_text(&e)).into_any(),
                    Ok(items) if items.is_empty() => view! {
                        <p class="mt-3 text-slate-600" data-empty="">"No deployments yet."</p>
                    }.into_any(),
                    Ok(items) => view! { <DeploymentTable items now /> }.into_any(),
                })}
            </Transition>
        </section>
    }
}

#[component]
fn DeploymentTable(items: Vec<DeploymentInfo>, now: ReadSignal<i64>) -> impl IntoView {
    view! {
        <div class="mt-3 overflow-x-auto">
            <table class="w-full text-left text-sm" aria-label="Deployments">
                <thead>
                    <tr class="border-b">
                        <th scope="col" class="py-2 pr-4">"Name"</th>
                        <th scope="col" class="pr-4">"Server"</th>
                        <th scope="col" class="pr-4">"Runtime"</th>
                        <th scope="col" class="pr-4">"State"</th>
                        <th scope="col" class="pr-4">"Uptime"</th>
                        <th scope="col">"Tools"</th>
                    </tr>
                </thead>
                <tbody>
                    {items.into_iter().map(|d| {
                        let (state, started_at) = (d.state, d.started_at);
                        view! {
                            <tr class="border-b align-top" data-deployment=d.name.clone()>
                                <td class="py-2 pr-4">
                                    <a href=view_href(&d.id) class=format!("break-all font-medium {LINK}")>{format::shown(&d.name)}</a>
                                </td>
                                <td class="py-2 pr-4 break-all font-mono text-xs">
                                    {format!("{}@{}", format::shown(&d.server), format::shown(&d.version))}
                                </td>
                                <td class="py-2 pr-4">{d.runtime.as_str()}</td>
                                <td class="py-2 pr-4">
                                    {state_badge(state)}
                                    {d.state_reason.as_deref().map(|r| view! {
                                        <p class="mt-1 max-w-sm break-words text-xs text-slate-700">{format::shown(r)}</p>
                                    })}
                                </td>
                                <td class="py-2 pr-4 whitespace-nowrap" data-uptime="">{move || uptime(state, started_at, now.get())}</td>
                                <td class="py-2" data-tools="">{d.tools}</td>
                            </tr>
                        }
                    }).collect_view()}
                </tbody>
            </table>
        </div>
    }
}

/// The deploy form's section: loads the catalog entry, then offers the form to operators.
#[component]
fn DeploySection(
    server: String,
    version: String,
    registry: String,
    me: crate::resource::Data<Option<Me>>,
) -> impl IntoView {
    let opt = |s: &str| Some(s.to_owned()).filter(|s| !s.trim().is_empty());
    let (version, registry) = (opt(&version), opt(&registry));
    let name = server.clone();
    let entry = crate::resource::resource(
        || (),
        move |_| catalog_entry_version(name.clone(), version.clone(), registry.clone()),
    );
    view! {
        <section aria-labelledby="deploy-heading" class=format!("mt-6 max-w-4xl {CARD}")>
            <h2 id="deploy-heading" class="text-lg font-medium">
                "Deploy " <code class="break-all">{format::shown(&server)}</code>
            </h2>
            <Transition fallback=|| view! { <p class="mt-2 text-slate-600">"Loading the catalog entry…"</p> }>
                {move || {
                    let role = me.get()?.ok().flatten().map(|m| m.role);
                    let entry = entry.get()?;
                    Some(match entry {
                        Err(e) => alert(error_text(&e)).into_any(),
                        Ok(_) if role < Some(Role::Operator) => view! {
                            <p class="mt-2 text-sm text-slate-700">"Deploying needs the operator role."</p>
                        }.into_any(),
                        Ok(v) if v.verdict.status == VerdictStatus::Unsupported => view! {
                            <div role="alert" class="mt-3 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900">
                                <p class="font-medium">"This version cannot be deployed here."</p>
                                <ul class="mt-1 list-disc pl-5">
                                    {v.verdict.reasons.iter().map(|r| view! { <li class="break-words">{format::shown(r)}</li> }).collect_view()}
                                </ul>
                            </div>
                        }.into_any(),
                        Ok(v) => view! { <DeployForm v /> }.into_any(),
                    })
                }}
            </Transition>
        </section>
    }
}

/// One environment variable row of the deploy form.
#[derive(Clone, Copy)]
struct EnvRow {
    key: usize,
    name: RwSignal<String>,
    value: RwSignal<String>,
    secret: RwSignal<bool>,
    /// What the package publishes about it (absent for rows the operator added).
    spec: StoredValue<Option<EnvVar>>,
}

/// The published package arguments as argv lines, the way the service layer builds them
/// (value, else default); a value that must be given and is not is shown as `<hint>`, a
/// placeholder to replace.
fn published_lines(p: &Package) -> Vec<String> {
    let mut lines = Vec::new();
    for a in &p.package_arguments {
        let value = a.value.clone().or_else(|| a.default.clone());
        let wanted = || format!("<{}>", a.value_hint.as_deref().unwrap_or("value"));
        match a.kind {
            ArgumentKind::Positional => match value {
                Some(v) => lines.push(v),
                None if a.is_required => lines.push(wanted()),
                None => {}
            },
            ArgumentKind::Named => {
                let Some(name) = a.name.clone() else { continue };
                lines.push(name.clone());
                match value.filter(|v| *v != name) {
                    Some(v) => lines.push(v),
                    None if a.is_required && a.value_hint.is_some() => lines.push(wanted()),
                    None => {}
                }
            }
        }
    }
    lines
}

/// The argument lines of the text area: one argument per line, blank lines left out.
fn arg_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The deploy form, prefilled from the catalog entry `v`.
#[component]
fn DeployForm(v: CatalogVersion) -> impl IntoView {
    let navigate = use_navigate();
    // Submitting needs the WASM side (the request is built here); until then the button waits.
    let ready = super::ui::hydrated();

    let packages = StoredValue::new(v.packages.clone());
    let first = v
        .verdict
        .package
        .map(|p| p as usize)
        .filter(|p| *p < v.packages.len())
        .unwrap_or(0);
    let package = RwSignal::new(first);
    let mut runtimes: Vec<RuntimeKind> = v
        .verdict
        .runtimes
        .iter()
        .filter_map(|r| RuntimeKind::parse(r))
        .collect();
    if runtimes.is_empty() {
        runtimes = vec![RuntimeKind::Docker, RuntimeKind::Process];
    }
    let runtime = RwSignal::new(runtimes[0]);
    let name = RwSignal::new(String::new());
    let package_version = RwSignal::new(String::new());
    let args = RwSignal::new(String::new());
    let rows = RwSignal::new(Vec::<EnvRow>::new());
    let next_key = StoredValue::new(0usize);
    let submitting = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);

    let new_row = move |name: String, value: String, secret: bool, spec: Option<EnvVar>| {
        let key = next_key.get_value();
        next_key.set_value(key + 1);
        EnvRow {
            key,
            name: RwSignal::new(name),
            value: RwSignal::new(value),
            secret: RwSignal::new(secret),
            spec: StoredValue::new(spec),
        }
    };
    // Arguments and variables as the package publishes them.
    let prefill = move |index: usize| {
        let p = packages.with_value(|ps| ps.get(index).cloned());
        args.set(
            p.as_ref()
                .map(|p| published_lines(p).join("\n"))
                .unwrap_or_default(),
        );
        rows.set(
            p.map(|p| {
                p.environment_variables
                    .into_iter()
                    .map(|e| {
                        let value = if e.is_secret {
                            String::new()
                        } else {
                            e.default.clone().unwrap_or_default()
                        };
                        new_row(e.name.clone(), value, e.is_secret, Some(e))
                    })
                    .collect()
            })
            .unwrap_or_default(),
        );
        package_version.set(String::new());
    };
    prefill(first);

    let current = Memo::new(move |_| {
        let i = package.get();
        packages.with_value(|ps| ps.get(i).cloned())
    });
    let published_marks = Memo::new(move |_| {
        current.with(|p| {
            p.as_ref()
                .map(|p| {
                    p.package_arguments
                        .iter()
                        .flat_map(|a| a.placeholders.clone())
                        .collect::<Vec<_>>()
                })
                .unwrap_or_default()
        })
    });
    let needs_version = Memo::new(move |_| {
        current.with(|p| {
            p.as_ref().is_some_and(|p| {
                matches!(p.registry_type.as_str(), "npm" | "pypi")
                    && p.version.as_deref().is_none_or(|v| v.trim().is_empty())
            })
        })
    });
    let lines = Memo::new(move |_| args.with(|a| arg_lines(a)));
    let any_placeholder = move || {
        lines.with(|ls| {
            published_marks.with(|marks| {
                ls.iter().any(|l| {
                    !format::placeholders(l).is_empty() || marks.iter().any(|m| l.contains(m))
                })
            })
        })
    };

    let (server, version, registry_id) = (v.name.clone(), v.version.clone(), v.registry_id.clone());
    let build = move || -> Result<CreateDeployment, Vec<String>> {
        let mut problems = Vec::new();
        let arguments = lines.get_untracked();
        for a in &arguments {
            for p in format::placeholders(a) {
                problems.push(format!("Arguments: replace the placeholder {p}."));
            }
        }
        let mut env: Vec<EnvInput> = Vec::new();
        for row in rows.get_untracked() {
            let name = row.name.get_untracked().trim().to_owned();
            let value = row.value.get_untracked();
            let secret = row.secret.get_untracked();
            let spec = row.spec.get_value();
            if name.is_empty() {
                if !value.is_empty() {
                    problems.push("A variable with a value has no name.".to_owned());
                }
                continue;
            }
            if let Err(e) = EnvName::parse(&name) {
                problems.push(format!("Variable {}: {}.", format::shown(&name), e.message));
                continue;
            }
            if env.iter().any(|e| e.name == name) {
                problems.push(format!("Variable {name} is given twice."));
                continue;
            }
            if value.is_empty() {
                // Left empty: the published default applies, if there is one.
                if spec
                    .as_ref()
                    .is_some_and(|s| s.is_required && s.default.is_none())
                {
                    problems.push(format!("Variable {name} is required."));
                }
                continue;
            }
            if !secret {
                if let Err(e) = check_plain_value(&name, &value) {
                    problems.push(format!("{}.", e.message));
                    continue;
                }
            }
            env.push(EnvInput {
                name,
                value,
                secret,
            });
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let text = |s: RwSignal<String>| {
            Some(s.get_untracked().trim().to_owned()).filter(|s| !s.is_empty())
        };
        Ok(CreateDeployment {
            server: server.clone(),
            version: Some(version.clone()),
            registry_id: Some(registry_id.clone()),
            package: Some(package.get_untracked() as u32),
            package_version: text(package_version).filter(|_| needs_version.get_untracked()),
            runtime: Some(runtime.get_untracked()),
            arguments: Some(arguments),
            env,
            name: text(name),
            health: None,
        })
    };
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if submitting.get_untracked() {
            return;
        }
        match build() {
            Err(problems) => error.set(Some(problems.join(" "))),
            Ok(request) => {
                submitting.set(true);
                error.set(None);
                let navigate = navigate.clone();
                spawn_local(async move {
                    // Deploying is a pipeline run: its page follows it step by step.
                    match create_pipeline_run(request).await {
                        Ok(run) => navigate(&run_href(&run.id), Default::default()),
                        Err(e) => {
                            error.try_set(Some(error_text(&e)));
                        }
                    }
                    submitting.try_set(false);
                });
            }
        }
    };
    let add_row = move |_| {
        let row = new_row(String::new(), String::new(), false, None);
        let key = row.key;
        rows.update(|r| r.push(row));
        request_animation_frame(move || {
            if let Some(input) = document().get_element_by_id(&format!("env-{key}-name")) {
                use leptos::wasm_bindgen::JsCast;
                if let Ok(input) = input.dyn_into::<leptos::web_sys::HtmlElement>() {
                    let _ = input.focus();
                }
            }
        });
    };

    let default_name = v.name.rsplit('/').next().unwrap_or(&v.name).to_owned();
    let package_count = v.packages.len();
    let package_options: Vec<(usize, String)> = v
        .packages
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                i,
                format!(
                    "{} {} ({})",
                    p.registry_type,
                    format::shown(&p.identifier),
                    p.transport.kind
                ),
            )
        })
        .collect();
    let needs_input = v.verdict.status == VerdictStatus::NeedsInput;
    let reasons = v.verdict.reasons.clone();

    view! {
        <p class="mt-1 text-sm text-slate-700">
            "Version " <span class="font-mono">{format::shown(&v.version)}</span>
            {format!(" from {}", format::shown(&v.registry_name))}
        </p>
        {needs_input.then(|| view! {
            <div class="mt-3 rounded border border-amber-300 bg-amber-50 p-3 text-sm text-amber-900">
                <p class="font-medium">"This server needs input before it can run:"</p>
                <ul class="mt-1 list-disc pl-5">
                    {reasons.iter().map(|r| view! { <li class="break-words">{format::shown(r)}</li> }).collect_view()}
                </ul>
            </div>
        })}
        <form class="mt-4 space-y-6" on:submit=on_submit novalidate>
            <div class="grid gap-4 sm:grid-cols-2">
                {if package_count > 1 {
                    view! {
                        <div class="sm:col-span-2">
                            <label for="deploy-package" class="block text-sm font-medium">"Package"</label>
                            <select id="deploy-package" class=INPUT on:change=move |ev| {
                                let i = event_target_value(&ev).parse().unwrap_or(0);
                                package.set(i);
                                prefill(i);
                            }>
                                {package_options.into_iter().map(|(i, label)| view! {
                                    <option value=i.to_string() selected=i == first>{label}</option>
                                }).collect_view()}
                            </select>
                        </div>
                    }.into_any()
                } else {
                    view! {
                        <p class="text-sm sm:col-span-2">
                            "Package: "
                            {move || current.get().map(|p| view! {
                                <span class=CHIP>{format::shown(&p.registry_type)}</span> " "
                                <code class="break-all" data-package-identifier="">{format::shown(&p.identifier)}</code>
                                {format!(" over {}", format::shown(&p.transport.kind))}
                            })}
                        </p>
                    }.into_any()
                }}
                <div>
                    <label for="deploy-name" class="block text-sm font-medium">"Name"</label>
                    <input id="deploy-name" type="text" maxlength="64" autocomplete="off" spellcheck="false"
                        placeholder=default_name.clone() aria-describedby="deploy-name-help" class=INPUT
                        prop:value=move || name.get() on:input=move |ev| name.set(event_target_value(&ev)) />
                    <p id="deploy-name-help" class="mt-1 text-xs text-slate-600">
                        {format!("Optional: “{}” (with a number when taken) if left empty.", format::shown(&default_name))}
                    </p>
                </div>
                <div>
                    <label for="deploy-runtime" class="block text-sm font-medium">"Runtime"</label>
                    <select id="deploy-runtime" class=INPUT
                        prop:value=move || runtime.get().as_str()
                        on:change=move |ev| {
                            if let Some(r) = RuntimeKind::parse(&event_target_value(&ev)) {
                                runtime.set(r);
                            }
                        }>
                        {runtimes.iter().enumerate().map(|(i, r)| view! {
                            <option value=r.as_str() selected=i == 0>{runtime_label(*r)}</option>
                        }).collect_view()}
                    </select>
                </div>
                <div hidden=move || !needs_version.get()>
                    <label for="deploy-package-version" class="block text-sm font-medium">"Package version"</label>
                    <input id="deploy-package-version" type="text" maxlength="128" autocomplete="off" spellcheck="false"
                        aria-describedby="deploy-package-version-help" class=INPUT
                        prop:value=move || package_version.get() on:input=move |ev| package_version.set(event_target_value(&ev)) />
                    <p id="deploy-package-version-help" class="mt-1 text-xs text-slate-600">"The publisher gave none: an exact version to run."</p>
                </div>
            </div>

            <div>
                <label for="deploy-args" class="block text-sm font-medium">"Arguments (one per line)"</label>
                <textarea id="deploy-args" rows="4" spellcheck="false" autocomplete="off" aria-describedby="deploy-args-help"
                    class=format!("{INPUT} font-mono")
                    prop:value=move || args.get() on:input=move |ev| args.set(event_target_value(&ev))>
                    {args.get_untracked()}
                </textarea>
                <p id="deploy-args-help" class="mt-1 text-xs text-slate-600">
                    "Passed to the server after the package, each line one argument (no shell: quotes and spaces are kept as typed). Prefilled from the published package arguments."
                </p>
                {move || {
                    let ls = lines.get();
                    (!ls.is_empty()).then(|| {
                        let marks = published_marks.get();
                        view! {
                            <ol class="mt-2 flex flex-wrap gap-1.5 text-sm" aria-label="Arguments as passed">
                                {ls.into_iter().map(|l| {
                                    let mut m = marks.clone();
                                    m.extend(format::placeholders(&l));
                                    view! { <li><code class="rounded bg-slate-100 px-1 py-0.5">{with_placeholders(&l, &m)}</code></li> }
                                }).collect_view()}
                            </ol>
                        }
                    })
                }}
                <p class="mt-1 text-sm text-amber-900" aria-live="polite" data-placeholder-warning="">
                    {move || any_placeholder().then_some("Replace the highlighted placeholders before deploying.")}
                </p>
            </div>

            <fieldset>
                <legend class="text-sm font-medium">"Environment variables"</legend>
                <p class="mt-1 text-xs text-slate-600">
                    "Secret values go to the secret store and are never shown again. A plain value that looks like a credential is refused: tick “Secret”. A variable left empty gets its published default."
                </p>
                <ul class="mt-2 space-y-3">
                    <For each=move || rows.get() key=|r| r.key let:row>
                        <EnvRowView row rows />
                    </For>
                </ul>
                <button type="button" class=format!("mt-3 {BUTTON_QUIET}") on:click=add_row>"Add a variable"</button>
            </fieldset>

            <div class="flex items-center gap-3">
                <button type="submit" class=BUTTON disabled=move || !ready.get() || submitting.get()>
                    {move || if submitting.get() { "Deploying…" } else { "Deploy" }}
                </button>
                <a href="/deployments" class=format!("text-sm {LINK}")>"Cancel"</a>
            </div>
            {move || error.get().map(alert)}
        </form>
    }
}

#[component]
fn EnvRowView(row: EnvRow, rows: RwSignal<Vec<EnvRow>>) -> impl IntoView {
    let k = row.key;
    let id = move |field: &str| format!("env-{k}-{field}");
    let spec = row.spec.get_value();
    let published_secret = spec.as_ref().is_some_and(|s| s.is_secret);
    let label = move || {
        let n = row.name.get();
        if n.trim().is_empty() {
            "new variable".to_owned()
        } else {
            format::shown(n.trim())
        }
    };
    let name_problem = move || {
        row.name.with(|n| {
            let n = n.trim();
            (!n.is_empty())
                .then(|| EnvName::parse(n).err().map(|e| e.message))
                .flatten()
        })
    };
    let credential = move || {
        (!row.secret.get())
            .then(|| row.value.with(|v| secret_kind(v)))
            .flatten()
    };
    let hint = match &spec {
        None => view! { <span>"Added here."</span> }.into_any(),
        Some(s) => {
            let flags = [
                (s.is_required, "required", "bg-slate-200 text-slate-900"),
                (s.is_secret, "secret", "bg-red-100 text-red-900"),
            ];
            view! {
                {flags.into_iter().filter(|f| f.0).map(|(_, text, class)| view! {
                    <span class=format!("mr-1 rounded px-1.5 py-0.5 font-medium {class}")>{text}</span>
                }).collect_view()}
                {s.description.as_deref().map(|d| view! { <span class="break-words">{format::shown(d)}</span> })}
                {s.default.as_deref().filter(|_| !s.is_secret).map(|d| view! {
                    <span class="ml-1">"Default " <code>{format::shown(d)}</code> "."</span>
                })}
                {(!s.choices.is_empty()).then(|| view! {
                    <span class="ml-1">{format!("One of: {}.", format::shown(&s.choices.join(", ")))}</span>
                })}
            }
            .into_any()
        }
    };
    view! {
        <li class="rounded border border-slate-200 p-3" role="group" aria-label=move || format!("Variable {}", label())
            data-env-row=spec.as_ref().map(|s| s.name.clone()).unwrap_or_default()>
            <div class="grid gap-3 sm:grid-cols-[1fr_1fr_auto] sm:items-end">
                <div>
                    <label for=id("name") class="block text-sm font-medium">"Name"</label>
                    <input id=id("name") type="text" maxlength="128" autocomplete="off" spellcheck="false"
                        aria-describedby=id("hint") class=format!("{INPUT} font-mono")
                        prop:value=move || row.name.get() value=row.name.get_untracked()
                        on:input=move |ev| row.name.set(event_target_value(&ev)) />
                </div>
                <div>
                    <label for=id("value") class="block text-sm font-medium">"Value"</label>
                    <input id=id("value") maxlength="32768" spellcheck="false"
                        type=move || if row.secret.get() { "password" } else { "text" }
                        autocomplete=move || if row.secret.get() { "new-password" } else { "off" }
                        aria-describedby=id("hint") class=format!("{INPUT} font-mono")
                        prop:value=move || row.value.get()
                        on:input=move |ev| row.value.set(event_target_value(&ev)) />
                </div>
                <div class="flex items-center gap-3 pb-2">
                    <span class="flex items-center gap-1.5">
                        <input id=id("secret") type="checkbox" class="h-4 w-4 rounded border-slate-300 focus-visible:outline-2 focus-visible:outline-indigo-600"
                            prop:checked=move || row.secret.get() checked=row.secret.get_untracked()
                            disabled=published_secret
                            aria-describedby=published_secret.then(|| id("hint"))
                            on:change=move |ev| row.secret.set(event_target_checked(&ev)) />
                        <label for=id("secret") class="text-sm">"Secret"</label>
                    </span>
                    <button type="button" class=BUTTON_QUIET aria-label=move || format!("Remove {}", label())
                        on:click=move |_| rows.update(|r| r.retain(|x| x.key != k))>
                        "Remove"
                    </button>
                </div>
            </div>
            <p id=id("hint") class="mt-1 text-xs text-slate-700">{hint}</p>
            <div aria-live="polite">
                {move || name_problem().map(|m| view! { <p class="mt-1 text-sm text-red-800" data-env-problem="">{format::shown(&m)}</p> })}
                {move || credential().map(|kind| view! {
                    <p class="mt-1 text-sm font-medium text-amber-900" data-env-warning="">
                        {format!("This value looks like {kind}: tick “Secret” so it is kept in the secret store and never shown.")}
                    </p>
                })}
            </div>
        </li>
    }
}

// ---- One deployment -------------------------------------------------------------------------

/// One deployment: `/deployments/view?id=…`.
#[component]
pub fn DeploymentView() -> impl IntoView {
    let query = use_query_map();
    let id = Memo::new(move |_| query.with(|q| q.get("id").unwrap_or_default()));
    let me = crate::resource::resource(|| (), |_| whoami());
    let first = crate::resource::resource(move || id.get(), get_deployment);
    view! {
        <nav aria-label="Breadcrumb" class="text-sm">
            <a href="/deployments" class=LINK>"Deployments"</a>
        </nav>
        <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
            {move || {
                let role = me.get()?.ok().flatten().map(|m| m.role);
                let found = first.get()?;
                Some(match found {
                    Err(e) => view! {
                        <Title text="Deployment" />
                        <h1 class="mt-2 text-2xl font-semibold">"Deployment"</h1>
                        {alert(error_text(&e))}
                    }.into_any(),
                    Ok(d) => view! { <Detail d role /> }.into_any(),
                })
            }}
        </Transition>
    }
}

/// What the page knows of the deployment, kept fresh while it starts or an action runs.
/// `generation` changes with every answer of an action: a poll sent before it is dropped.
#[derive(Clone, Copy)]
struct Live {
    id: StoredValue<String>,
    info: RwSignal<DeploymentInfo>,
    busy: RwSignal<u32>,
    polling: StoredValue<bool>,
    generation: StoredValue<u64>,
}

impl Live {
    fn wants_poll(self) -> bool {
        self.info
            .try_with_untracked(|d| d.state == DeploymentState::Starting)
            .unwrap_or(false)
            || self.busy.try_get_untracked().unwrap_or(0) > 0
    }

    /// Starts polling unless it runs already.
    fn ensure_polling(self) {
        let fresh = self
            .polling
            .try_update_value(|p| !std::mem::replace(p, true))
            .unwrap_or(false);
        if fresh {
            set_timeout(move || self.poll(0), STATE_POLL);
        }
    }

    fn poll(self, failures: u32) {
        let (Some(id), Some(generation)) =
            (self.id.try_get_value(), self.generation.try_get_value())
        else {
            return; // the page is gone
        };
        spawn_local(async move {
            let failures = match get_deployment(id).await {
                Ok(d) => {
                    if self.generation.try_get_value() == Some(generation) {
                        self.show(d);
                    }
                    0
                }
                Err(_) => failures + 1,
            };
            if failures < POLL_GIVE_UP && self.wants_poll() {
                set_timeout(move || self.poll(failures), STATE_POLL);
            } else {
                self.polling.try_update_value(|p| *p = false);
            }
        });
    }

    fn show(self, d: DeploymentInfo) {
        if self.info.try_with_untracked(|i| *i != d) == Some(true) {
            self.info.try_set(d);
        }
    }

    /// Asks for the deployment again (its health changes while it runs), unless a poll, an
    /// action or an earlier refresh is under way.
    fn refresh(self, in_flight: StoredValue<bool>) {
        if self.polling.try_get_value() != Some(false)
            || self.busy.try_get_untracked().unwrap_or(1) > 0
            || in_flight.try_update_value(|f| std::mem::replace(f, true)) != Some(false)
        {
            return;
        }
        let (Some(id), Some(generation)) =
            (self.id.try_get_value(), self.generation.try_get_value())
        else {
            return; // the page is gone
        };
        spawn_local(async move {
            if let Ok(d) = get_deployment(id).await {
                if self.generation.try_get_value() == Some(generation) {
                    self.show(d);
                }
            }
            in_flight.try_update_value(|f| *f = false);
        });
    }

    /// An action's answer: newer than any poll in flight.
    fn answer(self, d: DeploymentInfo) {
        self.generation.try_update_value(|g| *g += 1);
        self.show(d);
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Act {
    Stop,
    Start,
    Restart,
}

impl Act {
    fn applies(self, s: DeploymentState) -> bool {
        use DeploymentState as S;
        match self {
            Self::Stop => matches!(s, S::Starting | S::Running),
            Self::Start => matches!(s, S::Stopped | S::Failed | S::Exited | S::Missing),
            Self::Restart => s == S::Running,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Stop => "Stop",
            Self::Start => "Start",
            Self::Restart => "Restart",
        }
    }
}

#[component]
fn Detail(d: DeploymentInfo, role: Option<Role>) -> impl IntoView {
    let operator = role >= Some(Role::Operator);
    let live = Live {
        id: StoredValue::new(d.id.clone()),
        info: RwSignal::new(d.clone()),
        busy: RwSignal::new(0),
        polling: StoredValue::new(false),
        generation: StoredValue::new(0),
    };
    let info = live.info;
    let state = Memo::new(move |_| info.with(|d| d.state));
    Effect::new(move |_| {
        if state.get() == DeploymentState::Starting || live.busy.get() > 0 {
            live.ensure_polling();
        }
    });
    let now = use_clock();

    // Capabilities as discovered at the last start: asked for (in the browser) once the
    // deployment is not starting, and again after every start.
    let caps = RwSignal::new(None::<Result<Option<Capabilities>, String>>);
    let caps_key = Memo::new(move |_| info.with(|d| (d.state, d.started_at)));
    {
        let id = d.id.clone();
        Effect::new(move |_| {
            if caps_key.get().0 != DeploymentState::Starting {
                let id = id.clone();
                spawn_local(async move {
                    let r = deployment_capabilities(id)
                        .await
                        .map_err(|e| error_text(&e));
                    caps.try_set(Some(r));
                });
            }
        });
    }
    let running = Memo::new(move |_| state.get() == DeploymentState::Running);
    let selected = RwSignal::new(String::new());

    let fact = |label: &'static str, value: String| {
        view! {
            <dt class="font-medium text-slate-600">{label}</dt>
            <dd class="break-all" data-fact=label>{value}</dd>
        }
    };
    let live_fact = move |label: &'static str, value: Box<dyn Fn() -> String + Send + Sync>| {
        view! {
            <dt class="font-medium text-slate-600">{label}</dt>
            <dd class="break-all" data-fact=label>{move || value()}</dd>
        }
    };
    let created = match &d.created_by {
        Some(by) => format!(
            "{} by {}",
            format::when(Some(d.created_at)),
            format::shown(by)
        ),
        None => format::when(Some(d.created_at)),
    };
    let id = d.id.clone();

    view! {
        <Title text=format::shown(&d.name) />
        <article class="mt-2" data-deployment-id=d.id.clone()>
            <header class="flex flex-wrap items-start justify-between gap-3">
                <div class="min-w-0">
                    <h1 class="break-all text-2xl font-semibold">{format::shown(&d.name)}</h1>
                    <p class="mt-1 text-sm text-slate-700">
                        <a href=catalog_href(&d) class=format!("break-all font-mono {LINK}")>
                            {format!("{}@{}", format::shown(&d.server), format::shown(&d.version))}
                        </a>
                        {format!(" · {}", runtime_label(d.runtime))}
                    </p>
                </div>
                {operator.then(|| view! { <Actions live name=d.name.clone() /> })}
            </header>

            <section aria-labelledby="state-heading" class=format!("mt-6 {CARD}")>
                <h2 id="state-heading" class="text-lg font-medium">"State"</h2>
                <div role="status" aria-live="polite" class="mt-2" data-deployment-state="">
                    {move || state_badge(state.get())}
                    {move || info.with(|d| d.state_reason.clone()).map(|r| view! {
                        <p class="mt-2 whitespace-pre-wrap break-words text-sm text-slate-800" data-state-reason="">{format::shown(&r)}</p>
                    })}
                    {move || (state.get() == DeploymentState::Starting).then(|| view! {
                        <p class="mt-2 text-sm text-slate-700">"Starting the runtime, then the MCP handshake and discovery…"</p>
                    })}
                </div>
                <dl class="mt-3 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                    {live_fact("Uptime", Box::new(move || info.with(|d| uptime(d.state, d.started_at, now.get()))))}
                    {live_fact("Started", Box::new(move || format::when(info.with(|d| d.started_at))))}
                    {live_fact("Stopped", Box::new(move || format::when(info.with(|d| d.stopped_at))))}
                    {fact("Created", created)}
                    {live_fact("Wanted", Box::new(move || info.with(|d| format::shown(&d.desired))))}
                    {live_fact("Tools", Box::new(move || info.with(|d| d.tools.to_string())))}
                </dl>
            </section>

            <HealthPanel live operator />

            <Configuration d=d.clone() info />

            <section aria-labelledby="caps-heading" class="mt-6">
                <h2 id="caps-heading" class="text-lg font-medium">"Capabilities"</h2>
                {
                    let id = id.clone();
                    move || match caps.get() {
                        None => view! { <p class="mt-2 text-slate-600">"Loading capabilities…"</p> }.into_any(),
                        Some(Err(e)) => alert(e).into_any(),
                        Some(Ok(None)) => view! {
                            <p class="mt-2 text-sm text-slate-700" data-no-capabilities="">
                                "Not discovered yet: tools, resources and prompts appear once the server has started."
                            </p>
                        }.into_any(),
                        Some(Ok(Some(c))) => view! {
                            <CapabilitiesView c=c.clone() selected operator />
                            {operator.then(|| view! { <TryTool tools=c.tools id=id.clone() selected running /> })}
                        }.into_any(),
                    }
                }
            </section>

            <Logs id=id.clone() />
        </article>
    }
}

/// Stop, start, restart and delete (operators).
#[component]
fn Actions(live: Live, name: String) -> impl IntoView {
    let navigate = use_navigate();
    let state = Memo::new(move |_| live.info.with(|d| d.state));
    let confirming = RwSignal::new(false);
    let deleting = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let busy = move || live.busy.get() > 0 || deleting.get();
    let run = move |what: Act| {
        if live.busy.get_untracked() > 0
            || deleting.get_untracked()
            || !what.applies(state.get_untracked())
        {
            return;
        }
        live.busy.update(|n| *n += 1);
        live.generation.update_value(|g| *g += 1);
        error.set(None);
        let id = live.id.get_value();
        spawn_local(async move {
            let r = match what {
                Act::Stop => stop_deployment(id).await,
                Act::Start => start_deployment(id).await,
                Act::Restart => restart_deployment(id).await,
            };
            match r {
                Ok(d) => live.answer(d),
                Err(e) => {
                    error.try_set(Some(error_text(&e)));
                }
            }
            live.busy.try_update(|n| *n = n.saturating_sub(1));
        });
    };
    let remove = move || {
        confirming.set(false);
        deleting.set(true);
        error.set(None);
        let id = live.id.get_value();
        let navigate = navigate.clone();
        spawn_local(async move {
            match delete_deployment(id).await {
                Ok(()) => navigate("/deployments", Default::default()),
                Err(e) => {
                    error.try_set(Some(error_text(&e)));
                    deleting.try_set(false);
                }
            }
        });
    };
    let button = move |what: Act| {
        // Busy or not applicable is `aria-disabled` (not `disabled`): the focus stays put.
        view! {
            <button type="button" class=BUTTON_ACTION
                aria-disabled=move || (busy() || !what.applies(state.get())).to_string()
                on:click=move |_| run(what)>
                {what.label()}
            </button>
        }
    };
    let question = format!(
        "Delete {}? Its container or process, its secrets and its record are removed.",
        format::shown(&name)
    );
    view! {
        <div class="flex flex-col items-end gap-2">
            <div class="flex flex-wrap gap-2" role="group" aria-label="Actions">
                {button(Act::Stop)}
                {button(Act::Start)}
                {button(Act::Restart)}
                <button type="button" class=BUTTON_DELETE aria-disabled=move || busy().to_string()
                    on:click=move |_| if !busy() { confirming.set(true) }>
                    "Delete"
                </button>
            </div>
            <p class="text-xs text-slate-600" aria-live="polite">
                {move || if deleting.get() { "Deleting…" } else if live.busy.get() > 0 { "Working…" } else { "" }}
            </p>
            {move || confirming.get().then(|| {
                let remove = remove.clone();
                view! {
                    <div class="max-w-md rounded border border-red-300 bg-red-50 p-3" role="group" aria-label="Confirm deletion">
                        <p class="text-sm text-red-900">{question.clone()}</p>
                        <div class="mt-2 flex gap-2">
                            <button type="button" class="rounded bg-red-700 px-3 py-1.5 text-sm font-medium text-white hover:bg-red-600 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-red-700"
                                on:click=move |_| remove()>
                                "Yes, delete"
                            </button>
                            <button type="button" class=BUTTON_QUIET on:click=move |_| confirming.set(false)>"Cancel"</button>
                        </div>
                    </div>
                }
            })}
            {move || error.get().map(alert)}
        </div>
    }
}

/// `500 ms`, `10 s`, `1.5 s`.
fn millis_setting(ms: u32) -> String {
    if ms >= 1000 && ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format::millis(f64::from(ms))
    }
}

/// Health checks, self-healing and the breaker of one deployment, refreshed every 3 s while
/// the page is open; "Check now" for operators.
#[component]
fn HealthPanel(live: Live, operator: bool) -> impl IntoView {
    let info = live.info;
    let health = Memo::new(move |_| info.with(|d| d.health.clone()));
    let status = Memo::new(move |_| health.with(|h| h.status));
    let breaker = Memo::new(move |_| health.with(|h| h.breaker.state));
    let enabled = Memo::new(move |_| health.with(|h| h.enabled));
    let in_flight = StoredValue::new(false);
    Effect::new(move |_| {
        if let Ok(handle) = set_interval_with_handle(move || live.refresh(in_flight), HEALTH_POLL) {
            on_cleanup(move || handle.clear());
        }
    });

    // The deployment's health events: asked for again whenever one may have been added.
    let events = RwSignal::new(None::<Result<Vec<HealthEvent>, String>>);
    let marks = Memo::new(move |_| {
        health.with(|h| {
            (
                h.status,
                h.restarts,
                h.breaker.state,
                h.crash_looped,
                h.last_restart_at,
            )
        })
    });
    Effect::new(move |_| {
        marks.track();
        let Some(id) = live.id.try_get_value() else {
            return;
        };
        spawn_local(async move {
            match deployment_health_events(id).await {
                Ok(mut list) => {
                    list.truncate(HEALTH_EVENTS);
                    events.try_set(Some(Ok(list)));
                }
                // A failed refresh keeps the list shown.
                Err(e) if events.try_with_untracked(Option::is_none) == Some(true) => {
                    events.try_set(Some(Err(error_text(&e))));
                }
                Err(_) => {}
            }
        });
    });

    let checking = RwSignal::new(false);
    let outcome = RwSignal::new(None::<Result<String, String>>);
    let check = move || {
        if checking.get_untracked() || !enabled.get_untracked() {
            return;
        }
        checking.set(true);
        outcome.set(None);
        let id = live.id.get_value();
        spawn_local(async move {
            match recheck_deployment(id).await {
                Ok(v) => {
                    let mut text = format!(
                        "Checked at {}: {}",
                        v.checked_at.map(format::clock).unwrap_or_default(),
                        v.status.as_str()
                    );
                    match (&v.reason, v.latency_ms) {
                        (Some(r), _) if v.status != types::Health::Healthy => {
                            text.push_str(&format!(" ({})", format::shown(r)))
                        }
                        (_, Some(ms)) => text.push_str(&format!(", ping {}", format::millis(ms))),
                        _ => {}
                    }
                    text.push('.');
                    live.info.try_update(|d| d.health = v);
                    outcome.try_set(Some(Ok(text)));
                }
                Err(e) => {
                    outcome.try_set(Some(Err(error_text(&e))));
                }
            }
            checking.try_set(false);
        });
    };

    let fact = move |label: &'static str, value: fn(&types::HealthView) -> String| {
        view! {
            <dt class="font-medium text-slate-600">{label}</dt>
            <dd class="break-words" data-fact=label>{move || health.with(value)}</dd>
        }
    };
    let chart = chart_href(&live.id.get_value(), 1);

    view! {
        <section aria-labelledby="health-heading" class=format!("mt-6 {CARD}") data-testid="deployment-health"
            data-health=move || status.get().as_str() data-breaker=move || breaker.get().as_str()>
            <div class="flex flex-wrap items-start justify-between gap-3">
                <div class="min-w-0">
                    <h2 id="health-heading" class="text-lg font-medium">"Health"</h2>
                    <div role="status" aria-live="polite" class="mt-2" data-health-status="">
                        {move || health_badge(status.get())}
                        {move || health.with(|h| h.reason.clone().filter(|_| h.status != types::Health::Healthy)).map(|r| view! {
                            <p class="mt-2 whitespace-pre-wrap break-words text-sm text-slate-800" data-health-reason="">{format::shown(&r)}</p>
                        })}
                    </div>
                </div>
                {operator.then(|| view! {
                    <div class="flex max-w-md flex-col items-end gap-2">
                        <button type="button" class=BUTTON_ACTION
                            aria-disabled=move || (checking.get() || !enabled.get()).to_string()
                            aria-describedby="check-now-help"
                            on:click=move |_| check()>
                            {move || if checking.get() { "Checking…" } else { "Check now" }}
                        </button>
                        <p id="check-now-help" class="text-right text-xs text-slate-600">
                            {move || if enabled.get() {
                                "Pings it at once instead of waiting for the next check."
                            } else {
                                "Checks run only while it is meant to run."
                            }}
                        </p>
                        <div aria-live="polite">
                            {move || outcome.get().map(|r| match r {
                                Ok(t) => view! { <p class="text-right text-sm text-slate-800" data-check-result="">{t}</p> }.into_any(),
                                Err(e) => alert(e).into_any(),
                            })}
                        </div>
                    </div>
                })}
            </div>
            {move || health.with(|h| h.crash_looped.then(|| h.reason.clone())).map(|reason| view! {
                <div class="mt-3 rounded border border-red-300 bg-red-50 p-3 text-sm text-red-900" data-crash-looped="">
                    <p class="font-medium">"Left down: it restarted too often in a short time."</p>
                    {reason.map(|r| view! { <p class="mt-1 whitespace-pre-wrap break-words">{format::shown(&r)}</p> })}
                    <p class="mt-1">"Once the cause is fixed, start it again: the restart count starts afresh."</p>
                </div>
            })}
            <dl class="mt-3 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                {fact("Checked", |h| if h.enabled {
                    "Yes".to_owned()
                } else if h.crash_looped {
                    "No: left down after a crash loop".to_owned()
                } else {
                    "No: it is not meant to run".to_owned()
                })}
                {fact("Reachable", |h| match h.reachable {
                    Some(true) => "Yes: it answers MCP pings".to_owned(),
                    Some(false) => "No".to_owned(),
                    None => "—".to_owned(),
                })}
                {fact("Failures in a row", |h| format!("{} (unhealthy at {})", h.consecutive_failures, h.config.unhealthy_after))}
                {fact("Last check", |h| format::when(h.checked_at))}
                {fact("Last passed check", |h| format::when(h.last_ok_at))}
                {fact("Latency", |h| latency(h.latency_ms))}
                {fact("Restarts", |h| h.restarts.to_string())}
                {fact("Last restart", |h| format::when(h.last_restart_at))}
                {fact("Next restart", |h| format::when(h.next_restart_at))}
                <dt class="font-medium text-slate-600">"Breaker"</dt>
                <dd data-fact="Breaker">
                    {move || breaker_badge(breaker.get())}
                    {move || health.with(|h| {
                        let b = &h.breaker;
                        let mut text = match b.consecutive_failures {
                            0 => String::new(),
                            1 => " · 1 failed tool call in a row".to_owned(),
                            n => format!(" · {n} failed tool calls in a row"),
                        };
                        if let Some(t) = b.retry_at.filter(|_| b.state == types::BreakerState::Open) {
                            text.push_str(&format!(" · trial call from {}", format::when(Some(t))));
                        }
                        text
                    })}
                </dd>
                {fact("Check settings", |h| format!(
                    "every {}, timeout {}, unhealthy after {} failed {} in a row",
                    millis_setting(h.config.interval_ms),
                    millis_setting(h.config.timeout_ms),
                    h.config.unhealthy_after,
                    if h.config.unhealthy_after == 1 { "check" } else { "checks" }
                ))}
            </dl>
            <h3 id="health-events-heading" class="mt-4 text-sm font-semibold">"Recent health events"</h3>
            {move || match events.get() {
                None => view! { <p class="mt-1 text-sm text-slate-600">"Loading…"</p> }.into_any(),
                Some(Err(e)) => alert(e).into_any(),
                Some(Ok(list)) if list.is_empty() => view! {
                    <p class="mt-1 text-sm text-slate-600" data-no-health-events="">"None yet."</p>
                }.into_any(),
                Some(Ok(list)) => view! {
                    <ol class="mt-1 space-y-1 text-sm" aria-labelledby="health-events-heading">
                        {list.into_iter().map(|e| view! {
                            <li class="break-words" data-health-event=e.kind.clone() data-to=e.to.clone()>
                                <span class="whitespace-nowrap text-slate-600">{format::when(Some(e.at))}</span>
                                " · " <span class="font-medium">{event_kind(&e)}</span> ": "
                                {event_change(&e)}
                                {e.reason.as_deref().map(|r| format!(" · {}", format::shown(r)))}
                            </li>
                        }).collect_view()}
                    </ol>
                }.into_any(),
            }}
            <p class="mt-3 text-sm">
                <a href=chart class=LINK>"Latency chart and uptime"</a>
            </p>
        </section>
    }
}

/// What runs and with which arguments and environment (secret values are never shown).
#[component]
fn Configuration(d: DeploymentInfo, info: RwSignal<DeploymentInfo>) -> impl IntoView {
    view! {
        <section aria-labelledby="config-heading" class=format!("mt-6 {CARD}")>
            <h2 id="config-heading" class="text-lg font-medium">"Configuration"</h2>
            <dl class="mt-3 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                <dt class="font-medium text-slate-600">"Launch"</dt>
                <dd class="break-all font-mono" data-fact="Launch">{format::shown(&d.launch)}</dd>
                <dt class="font-medium text-slate-600">"Runtime"</dt>
                <dd data-fact="Runtime">{runtime_label(d.runtime)}</dd>
                <dt class="font-medium text-slate-600">"Transport"</dt>
                <dd data-fact="Transport">{format::shown(&d.transport)}</dd>
                <dt class="font-medium text-slate-600">{match d.runtime { RuntimeKind::Docker => "Container", RuntimeKind::Process => "Process id" }}</dt>
                <dd class="break-all font-mono" data-fact="Runtime reference">
                    {move || info.with(|d| d.runtime_ref.as_deref().map(format::shown)).unwrap_or_else(|| "—".to_owned())}
                </dd>
                <dt class="font-medium text-slate-600">"Endpoint"</dt>
                <dd class="break-all font-mono" data-fact="Endpoint">
                    {move || info.with(|d| d.endpoint.as_deref().map(format::shown)).unwrap_or_else(|| "—".to_owned())}
                </dd>
            </dl>
            <h3 class="mt-4 text-sm font-semibold">"Arguments"</h3>
            {if d.args.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-600">"None."</p> }.into_any()
            } else {
                view! {
                    <ol class="mt-1 flex flex-wrap gap-1.5 text-sm" aria-label="Arguments">
                        {d.args.iter().map(|a| view! { <li><code class="rounded bg-slate-100 px-1 py-0.5 break-all">{format::shown(a)}</code></li> }).collect_view()}
                    </ol>
                }.into_any()
            }}
            <h3 class="mt-4 text-sm font-semibold" id="env-heading">"Environment"</h3>
            {if d.env.is_empty() {
                view! { <p class="mt-1 text-sm text-slate-600">"None."</p> }.into_any()
            } else {
                view! {
                    <table class="mt-1 w-full text-left text-sm" aria-labelledby="env-heading">
                        <thead>
                            <tr class="border-b">
                                <th scope="col" class="py-1 pr-4">"Name"</th>
                                <th scope="col">"Value"</th>
                            </tr>
                        </thead>
                        <tbody>
                            {d.env.iter().map(|e| view! {
                                <tr class="border-b align-top" data-env=e.name.clone()>
                                    <td class="py-1 pr-4 break-all font-mono">{format::shown(&e.name)}</td>
                                    <td class="break-all font-mono">
                                        {if e.secret {
                                            view! {
                                                <span aria-hidden="true">"••••"</span>
                                                <span class="sr-only">"hidden"</span>
                                                " " <span class=CHIP>"secret"</span>
                                            }.into_any()
                                        } else {
                                            view! { <span>{format::shown(e.value.as_deref().unwrap_or(""))}</span> }.into_any()
                                        }}
                                    </td>
                                </tr>
                            }).collect_view()}
                        </tbody>
                    </table>
                }.into_any()
            }}
        </section>
    }
}

/// Tools (with their schemas), resources and prompts.
#[component]
fn CapabilitiesView(c: Capabilities, selected: RwSignal<String>, operator: bool) -> impl IntoView {
    let server = format!(
        "{} {} · MCP {} · discovered {}",
        format::shown(&c.server_name),
        format::shown(&c.server_version),
        format::shown(&c.protocol_version),
        format::when(c.discovered_at)
    );
    view! {
        <p class="mt-1 text-sm text-slate-700" data-server-info="">{server}</p>
        <h3 id="tools-heading" class="mt-4 font-semibold">{format!("Tools ({})", c.tools.len())}</h3>
        {if c.tools.is_empty() {
            view! { <p class="mt-1 text-sm text-slate-600">"No tools."</p> }.into_any()
        } else {
            view! {
                <ul class="mt-2 space-y-3" aria-labelledby="tools-heading">
                    {c.tools.into_iter().map(|t| view! { <ToolItem t selected operator /> }).collect_view()}
                </ul>
            }.into_any()
        }}
        <h3 id="resources-heading" class="mt-6 font-semibold">{format!("Resources ({})", c.resources.len())}</h3>
        {if c.resources.is_empty() {
            view! { <p class="mt-1 text-sm text-slate-600">"No resources."</p> }.into_any()
        } else {
            view! {
                <ul class="mt-2 space-y-2 text-sm" aria-labelledby="resources-heading">
                    {c.resources.into_iter().map(|r| view! {
                        <li class=CARD data-resource=r.uri.clone()>
                            <p><code class="break-all font-semibold">{format::shown(&r.uri)}</code> " " {format::shown(&r.name)}
                                {r.mime_type.as_deref().map(|m| view! { " " <span class=CHIP>{format::shown(m)}</span> })}
                            </p>
                            {r.description.as_deref().map(|d| view! { <p class="mt-1 whitespace-pre-wrap break-words text-slate-700">{format::shown(d)}</p> })}
                        </li>
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
        <h3 id="prompts-heading" class="mt-6 font-semibold">{format!("Prompts ({})", c.prompts.len())}</h3>
        {if c.prompts.is_empty() {
            view! { <p class="mt-1 text-sm text-slate-600">"No prompts."</p> }.into_any()
        } else {
            view! {
                <ul class="mt-2 space-y-2 text-sm" aria-labelledby="prompts-heading">
                    {c.prompts.into_iter().map(|p| view! {
                        <li class=CARD data-prompt=p.name.clone()>
                            <p><code class="break-all font-semibold">{format::shown(&p.name)}</code></p>
                            {p.description.as_deref().map(|d| view! { <p class="mt-1 whitespace-pre-wrap break-words text-slate-700">{format::shown(d)}</p> })}
                            {(!p.arguments.is_empty()).then(|| view! {
                                <p class="mt-1 text-xs text-slate-700">
                                    "Arguments: "
                                    {p.arguments.iter().map(|a| format!("{}{}", format::shown(&a.name), if a.required { " (required)" } else { "" })).collect::<Vec<_>>().join(", ")}
                                </p>
                            })}
                        </li>
                    }).collect_view()}
                </ul>
            }.into_any()
        }}
    }
}

#[component]
fn ToolItem(t: ToolInfo, selected: RwSignal<String>, operator: bool) -> impl IntoView {
    let name = t.name.clone();
    let shown_name = format::shown(&t.name);
    view! {
        <li class=CARD data-tool=t.name.clone()>
            <div class="flex flex-wrap items-start justify-between gap-2">
                <h4 class="min-w-0 break-all">
                    <code class="font-semibold">{shown_name.clone()}</code>
                    {t.title.as_deref().filter(|x| !x.trim().is_empty()).map(|x| view! { " " <span class="text-slate-700">{format::shown(x)}</span> })}
                </h4>
                {operator.then(|| view! {
                    <button type="button" class=BUTTON_QUIET aria-label=format!("Try it: {shown_name}")
                        on:click=move |_| {
                            selected.set(name.clone());
                            if let Some(el) = document().get_element_by_id("try-heading") {
                                el.scroll_into_view();
                            }
                        }>
                        "Try it"
                    </button>
                })}
            </div>
            {t.description.as_deref().map(|d| view! { <p class="mt-1 whitespace-pre-wrap break-words text-sm text-slate-800">{format::shown(d)}</p> })}
            <details class="mt-2 text-sm">
                <summary class="cursor-pointer font-medium text-indigo-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">"Input schema"</summary>
                <pre class=PRE data-input-schema="">{pretty(&t.input_schema)}</pre>
            </details>
            {t.output_schema.as_ref().map(|o| view! {
                <details class="mt-1 text-sm">
                    <summary class="cursor-pointer font-medium text-indigo-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">"Output schema"</summary>
                    <pre class=PRE data-output-schema="">{pretty(o)}</pre>
                </details>
            })}
        </li>
    }
}

/// "Try a tool": pick a tool, fill the form generated from its input schema, call it.
#[component]
fn TryTool(
    tools: Vec<ToolInfo>,
    id: String,
    selected: RwSignal<String>,
    running: Memo<bool>,
) -> impl IntoView {
    if tools.is_empty() {
        return ().into_any();
    }
    if !tools.iter().any(|t| t.name == selected.get_untracked()) {
        selected.set(tools[0].name.clone());
    }
    let options: Vec<String> = tools.iter().map(|t| t.name.clone()).collect();
    let tools = StoredValue::new(tools);
    let current = Memo::new(move |_| {
        let name = selected.get();
        tools.with_value(|ts| ts.iter().find(|t| t.name == name).cloned())
    });
    let first = selected.get_untracked();
    view! {
        <section aria-labelledby="try-heading" class=format!("mt-6 {CARD}")>
            <h2 id="try-heading" class="text-lg font-medium">"Try a tool"</h2>
            {move || (!running.get()).then(|| view! {
                <p class="mt-1 text-sm text-amber-900">"The deployment is not running: start it to call its tools."</p>
            })}
            <div class="mt-3 max-w-md">
                <label for="try-tool" class="block text-sm font-medium">"Tool"</label>
                <select id="try-tool" class=format!("{INPUT} font-mono")
                    prop:value=move || selected.get()
                    on:change=move |ev| selected.set(event_target_value(&ev))>
                    {options.into_iter().map(|n| {
                        let is_first = n == first;
                        view! { <option value=n.clone() selected=is_first>{format::shown(&n)}</option> }
                    }).collect_view()}
                </select>
            </div>
            {move || current.get().map(|t| view! { <ToolRunner tool=t id=id.clone() /> })}
        </section>
    }
    .into_any()
}

#[component]
fn ToolRunner(tool: ToolInfo, id: String) -> impl IntoView {
    let shape = tool_form::shape(&tool.input_schema);
    let values: Vec<RwSignal<String>> = match &shape {
        Shape::Fields(fields) => fields
            .iter()
            .map(|f| RwSignal::new(f.initial.clone()))
            .collect(),
        Shape::Whole => vec![RwSignal::new("{}".to_owned())],
    };
    let shape = StoredValue::new(shape);
    let values = StoredValue::new(values);
    let built = Memo::new(move |_| {
        let texts: Vec<String> = values.with_value(|vs| vs.iter().map(|v| v.get()).collect());
        shape.with_value(|s| tool_form::arguments(s, &texts))
    });
    let tried = RwSignal::new(false);
    let calling = RwSignal::new(false);
    let result = RwSignal::new(None::<Result<ToolResult, String>>);
    let ready = super::ui::hydrated();

    // A field's problem, once the operator typed in it or tried to call.
    let problem = move |i: Option<usize>| {
        move || {
            let typed = match i {
                Some(i) => {
                    values.with_value(|vs| vs.get(i).is_some_and(|v| v.with(|t| !t.is_empty())))
                }
                None => true,
            };
            if !(typed || tried.get()) {
                return None;
            }
            built.with(|b| {
                b.as_ref()
                    .err()
                    .and_then(|ps| ps.iter().find(|p| p.0 == i).map(|p| p.1.clone()))
            })
        }
    };

    let name = tool.name.clone();
    let on_submit = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        if calling.get_untracked() {
            return;
        }
        tried.set(true);
        let Ok(args) = built.get_untracked() else {
            return;
        };
        let text = serde_json::to_string(&Value::Object(args)).unwrap_or_else(|_| "{}".into());
        calling.set(true);
        result.set(None);
        let (id, name) = (id.clone(), name.clone());
        spawn_local(async move {
            let r = call_deployment_tool(id, name, text)
                .await
                .map_err(|e| error_text(&e));
            result.try_set(Some(r));
            calling.try_set(false);
        });
    };

    let fields = shape.with_value(|s| match s {
        Shape::Whole => view! {
            <div>
                <label for="try-whole" class="block text-sm font-medium">"Arguments (a JSON object)"</label>
                <textarea id="try-whole" rows="5" spellcheck="false" class=format!("{INPUT} font-mono")
                    aria-describedby="try-whole-error"
                    prop:value=move || values.with_value(|vs| vs[0].get())
                    on:input=move |ev| values.with_value(|vs| vs[0].set(event_target_value(&ev)))>
                    "{}"
                </textarea>
                <p id="try-whole-error" class="mt-1 text-sm text-red-800">{problem(None)}</p>
            </div>
        }
        .into_any(),
        Shape::Fields(fields) if fields.is_empty() => view! {
            <p class="text-sm text-slate-700">"This tool takes no arguments."</p>
        }
        .into_any(),
        Shape::Fields(fields) => fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let v = values.with_value(|vs| vs[i]);
                field_view(i, f, v, problem(Some(i)))
            })
            .collect_view()
            .into_any(),
    });
    let description = tool.description.clone();

    view! {
        <form class="mt-4 space-y-4" on:submit=on_submit novalidate aria-label=format!("Call {}", format::shown(&tool.name))>
            {description.map(|d| view! { <p class="text-sm text-slate-700 whitespace-pre-wrap break-words">{format::shown(&d)}</p> })}
            {fields}
            <div>
                <h3 id="try-args-heading" class="text-sm font-semibold">"Arguments to send"</h3>
                <pre class=PRE aria-labelledby="try-args-heading" data-arguments="">
                    {move || match built.get() {
                        Ok(map) => pretty(&Value::Object(map)),
                        Err(ps) => format!("Not ready: {} field(s) need attention.", ps.len()),
                    }}
                </pre>
            </div>
            <button type="submit" class=BUTTON disabled=move || !ready.get() || calling.get()>
                {
                    let label = format!("Call {}", format::shown(&tool.name));
                    move || if calling.get() { "Calling…".to_owned() } else { label.clone() }
                }
            </button>
        </form>
        <div aria-live="polite" class="mt-2">
            {move || result.get().map(|r| match r {
                Err(e) => alert(e).into_any(),
                Ok(r) => result_view(r).into_any(),
            })}
        </div>
    }
}

/// One generated input of the tool form.
fn field_view(
    i: usize,
    f: &tool_form::Field,
    v: RwSignal<String>,
    problem: impl Fn() -> Option<String> + Send + Sync + 'static,
) -> AnyView {
    let id = format!("try-field-{i}");
    let help = format!("try-field-{i}-help");
    let label = view! {
        <label for=id.clone() class="block text-sm font-medium">
            <span class="font-mono">{format::shown(&f.name)}</span>
            {f.required.then(|| view! {
                <span class="text-red-700" aria-hidden="true">" *"</span>
                <span class="sr-only">" (required)"</span>
            })}
        </label>
    };
    let mut hints: Vec<String> = Vec::new();
    if let Some(d) = &f.description {
        hints.push(format::shown(d));
    }
    if let Some(t) = &f.type_hint {
        hints.push(format!("JSON ({})", format::shown(t)));
    } else if f.kind == Kind::Json {
        hints.push("JSON".to_owned());
    }
    let hint = (!hints.is_empty()).then(|| {
        view! { <p id=help.clone() class="mt-1 text-xs text-slate-600 whitespace-pre-wrap break-words">{hints.join(" · ")}</p> }
    });
    let described = hint.is_some().then(|| help.clone());
    let required = f.required.to_string();
    let on_input = move |ev: leptos::ev::Event| v.set(event_target_value(&ev));
    let input = match &f.kind {
        Kind::Text => view! {
            <input id=id.clone() type="text" spellcheck="false" autocomplete="off" class=INPUT aria-required=required.clone()
                aria-describedby=described.clone() prop:value=move || v.get() value=v.get_untracked() on:input=on_input />
        }
        .into_any(),
        Kind::Number { integer } => view! {
            <input id=id.clone() type="number" step=if *integer { "1" } else { "any" } class=INPUT aria-required=required.clone()
                aria-describedby=described.clone() prop:value=move || v.get() value=v.get_untracked() on:input=on_input />
        }
        .into_any(),
        Kind::Boolean => {
            return view! {
                <div>
                    <div class="flex items-center gap-2">
                        <input id=id.clone() type="checkbox" class="h-4 w-4 rounded border-slate-300 focus-visible:outline-2 focus-visible:outline-indigo-600"
                            aria-describedby=described.clone()
                            prop:checked=move || v.get() == "true" checked=v.get_untracked() == "true"
                            on:change=move |ev| v.set(if event_target_checked(&ev) { "true".into() } else { String::new() }) />
                        {label}
                    </div>
                    {hint}
                </div>
            }
            .into_any();
        }
        Kind::Choice(choices) => {
            let initial = v.get_untracked();
            view! {
                <select id=id.clone() class=INPUT aria-required=required.clone() aria-describedby=described.clone()
                    prop:value=move || v.get() on:change=move |ev| v.set(event_target_value(&ev))>
                    {(!f.required).then(|| view! { <option value="" selected=initial.is_empty()>"(not set)"</option> })}
                    {f.required.then(|| view! { <option value="" disabled selected=initial.is_empty()>"Choose…"</option> })}
                    {choices.iter().enumerate().map(|(k, c)| {
                        let value = k.to_string();
                        let selected = value == initial;
                        view! { <option value=value selected=selected>{format::shown(&tool_form::choice_label(c))}</option> }
                    }).collect_view()}
                </select>
            }
            .into_any()
        }
        Kind::Json => view! {
            <textarea id=id.clone() rows="3" spellcheck="false" class=format!("{INPUT} font-mono") aria-required=required.clone()
                aria-describedby=described.clone() prop:value=move || v.get() on:input=on_input>
                {v.get_untracked()}
            </textarea>
        }
        .into_any(),
    };
    view! {
        <div>
            {label}
            {input}
            {hint}
            <p class="mt-1 text-sm text-red-800" aria-live="polite">{problem}</p>
        </div>
    }
    .into_any()
}

/// A tool's answer: its content blocks as text, structured content pretty-printed, an error
/// marked as one.
fn result_view(r: ToolResult) -> impl IntoView {
    let blocks = r
        .result
        .get("content")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let structured = r.result.get("structuredContent").cloned();
    let frame = if r.is_error {
        "border-red-300 bg-red-50"
    } else {
        "border-slate-200 bg-white"
    };
    let clip = |text: String| -> String {
        match text.char_indices().nth(RESULT_TEXT_CHARS) {
            Some((cut, _)) => {
                let rest = text[cut..].chars().count();
                format!("{}… ({rest} more characters not shown)", &text[..cut])
            }
            None => text,
        }
    };
    view! {
        <div class=format!("mt-4 rounded border p-3 {frame}") data-tool-result="" data-is-error=r.is_error.to_string()>
            <h3 class="text-sm font-semibold">
                {if r.is_error { "The tool reported an error" } else { "Result" }}
            </h3>
            <p class="text-xs text-slate-700" data-duration="">{format!("Took {}.", format::millis(r.duration_ms))}</p>
            {if blocks.is_empty() {
                view! { <p class="mt-2 text-sm text-slate-700">"No content."</p> }.into_any()
            } else {
                blocks.into_iter().map(|b| {
                    match (b.get("type").and_then(Value::as_str), b.get("text").and_then(Value::as_str)) {
                        (Some("text"), Some(text)) => view! {
                            <pre class="mt-2 max-h-96 overflow-auto whitespace-pre-wrap break-words rounded bg-slate-100 p-2 font-mono text-sm text-slate-900" data-content="text">
                                {clip(format::shown(text))}
                            </pre>
                        }.into_any(),
                        (kind, _) => view! {
                            <p class="mt-2 text-xs font-medium text-slate-700">{format!("{} block", format::shown(kind.unwrap_or("unknown")))}</p>
                            <pre class=PRE data-content=kind.unwrap_or("unknown").to_owned()>{clip(pretty(&b))}</pre>
                        }.into_any(),
                    }
                }).collect_view().into_any()
            }}
            {structured.map(|s| view! {
                <h4 class="mt-3 text-sm font-semibold">"Structured content"</h4>
                <pre class=PRE data-structured="">{clip(pretty(&s))}</pre>
            })}
        </div>
    }
}

/// The deployment's log, asked for every second while the page is open (text only).
#[component]
fn Logs(id: String) -> impl IntoView {
    let lines = RwSignal::new(Vec::<LogLine>::new());
    let loaded = RwSignal::new(false);
    let error = RwSignal::new(None::<String>);
    let area = NodeRef::<html::Div>::new();
    let id = StoredValue::new(id);
    // Runs once, in the browser: the polling ends with the page.
    Effect::new(move |_| poll_logs(id, lines, loaded, error, area, 0));
    view! {
        <section aria-labelledby="logs-heading" class="mt-6">
            <h2 id="logs-heading" class="text-lg font-medium">"Log"</h2>
            <p class="mt-1 text-xs text-slate-600">
                {format!("The last {LOG_TAIL} lines the server wrote (standard error of stdio servers), refreshed every second.")}
            </p>
            <div node_ref=area role="log" aria-labelledby="logs-heading" aria-live="off" tabindex="0"
                class="mt-2 h-72 overflow-auto rounded bg-slate-900 p-3 font-mono text-xs text-slate-100 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600"
                data-logs="">
                {move || {
                    if !loaded.get() {
                        view! { <p class="text-slate-400">"Loading…"</p> }.into_any()
                    } else if lines.with(Vec::is_empty) {
                        view! { <p class="text-slate-400" data-no-logs="">"No log lines yet."</p> }.into_any()
                    } else {
                        lines.get().into_iter().map(|l| view! {
                            <div class="whitespace-pre-wrap break-all" data-log-line="">
                                <span class="text-slate-400">{format::clock_millis(l.at)}</span>
                                " "
                                {format::shown(&l.text)}
                            </div>
                        }).collect_view().into_any()
                    }
                }}
            </div>
            {move || error.get().map(alert)}
        </section>
    }
}

fn poll_logs(
    id: StoredValue<String>,
    lines: RwSignal<Vec<LogLine>>,
    loaded: RwSignal<bool>,
    error: RwSignal<Option<String>>,
    area: NodeRef<html::Div>,
    failures: u32,
) {
    let Some(deployment) = id.try_get_value() else {
        return; // the page is gone
    };
    spawn_local(async move {
        let failures = match deployment_logs(deployment, Some(LOG_TAIL)).await {
            Ok(new) => {
                // The page may have gone while the request was out (its signals and node
                // reference with it): then there is nothing left to update.
                let Some(el) = area.try_get_untracked() else {
                    return;
                };
                let at_bottom = el.is_none_or(|el| {
                    el.scroll_top() + el.client_height() >= el.scroll_height() - 16
                });
                let Some(changed) = lines.try_with_untracked(|l| *l != new) else {
                    return;
                };
                if changed {
                    lines.try_set(new);
                    if at_bottom {
                        request_animation_frame(move || {
                            if let Some(Some(el)) = area.try_get_untracked() {
                                el.set_scroll_top(el.scroll_height());
                            }
                        });
                    }
                }
                loaded.try_set(true);
                error.try_set(None);
                0
            }
            Err(e) => {
                let failures = failures + 1;
                if failures >= POLL_GIVE_UP {
                    error.try_set(Some(format!(
                        "Stopped following the log ({}). Reload the page to try again.",
                        error_text(&e)
                    )));
                    return;
                }
                failures
            }
        };
        set_timeout(
            move || poll_logs(id, lines, loaded, error, area, failures),
            LOG_POLL,
        );
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use types::Argument;

    fn arg(kind: ArgumentKind, name: Option<&str>, value: Option<&str>) -> Argument {
        Argument {
            kind,
            name: name.map(str::to_owned),
            value: value.map(str::to_owned),
            value_hint: None,
            description: None,
            is_required: false,
            is_secret: false,
            default: None,
            choices: vec![],
            is_repeated: false,
            placeholders: vec![],
        }
    }

    #[test]
    fn published_arguments_become_lines() {
        let mut required = arg(ArgumentKind::Positional, None, None);
        required.is_required = true;
        required.value_hint = Some("path".into());
        let mut defaulted = arg(ArgumentKind::Named, Some("--port"), None);
        defaulted.default = Some("8080".into());
        let p = Package {
            registry_type: "npm".into(),
            identifier: "x".into(),
            version: Some("1".into()),
            runtime_hint: None,
            transport: types::Transport {
                kind: "stdio".into(),
                url: None,
                headers: vec![],
            },
            runtime_arguments: vec![],
            package_arguments: vec![
                arg(ArgumentKind::Named, Some("--flag"), None),
                defaulted,
                arg(ArgumentKind::Positional, None, Some("serve")),
                required,
            ],
            environment_variables: vec![],
        };
        assert_eq!(
            published_lines(&p),
            vec!["--flag", "--port", "8080", "serve", "<path>"]
        );
        assert_eq!(arg_lines(" a \n\n b\r\n"), vec!["a", "b"]);
    }
}
