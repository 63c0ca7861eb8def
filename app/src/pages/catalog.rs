//! The catalog: search servers synced from the registries (as you type; the search lives in
//! the URL), and one server version in full with its deployability verdict.
//!
//! Every text of an entry comes from outside and may be hostile (HTML, control characters,
//! 20,000 characters): it is only ever rendered as text nodes, never as HTML.

use std::time::Duration;

use leptos::{prelude::*, task::spawn_local};
use leptos_meta::Title;
use leptos_router::{
    hooks::{use_navigate, use_query_map},
    params::ParamsMap,
    NavigateOptions,
};
use types::{
    Argument, ArgumentKind, CatalogEntry, CatalogPage, CatalogVersion, EntryStatus, EnvVar,
    HeaderSpec, Package, Remote, VerdictStatus, VersionSummary,
};

use super::ui::{alert, error_text, verdict_badge, BUTTON, BUTTON_QUIET, CARD, CHIP, INPUT, LINK};
use crate::{
    api::{catalog_entry_version, catalog_entry_versions, registry_sources, search_catalog},
    format,
};

/// How long typing pauses before the search runs.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// The search, as kept in the URL query string (blank values are left out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Search {
    q: String,
    registry: String,
    package_type: String,
    transport: String,
    secrets: String,
    verdict: String,
    sort: String,
}

impl Search {
    /// URL query keys, in order.
    const KEYS: [&'static str; 7] = [
        "q",
        "registry",
        "type",
        "transport",
        "secrets",
        "verdict",
        "sort",
    ];

    fn from_query(q: &ParamsMap) -> Self {
        let get = |k: &str| q.get(k).unwrap_or_default();
        Self {
            q: get("q"),
            registry: get("registry"),
            package_type: get("type"),
            transport: get("transport"),
            secrets: get("secrets"),
            verdict: get("verdict"),
            sort: get("sort"),
        }
    }

    fn get(&self, key: &str) -> &str {
        match key {
            "q" => &self.q,
            "registry" => &self.registry,
            "type" => &self.package_type,
            "transport" => &self.transport,
            "secrets" => &self.secrets,
            "verdict" => &self.verdict,
            "sort" => &self.sort,
            _ => "",
        }
    }

    fn with(&self, key: &str, value: String) -> Self {
        let mut s = self.clone();
        match key {
            "q" => s.q = value,
            "registry" => s.registry = value,
            "type" => s.package_type = value,
            "transport" => s.transport = value,
            "secrets" => s.secrets = value,
            "verdict" => s.verdict = value,
            "sort" => s.sort = value,
            _ => {}
        }
        s
    }

    /// `/catalog?q=…&…`.
    fn href(&self) -> String {
        let query: Vec<String> = Self::KEYS
            .iter()
            .filter(|k| !self.get(k).trim().is_empty())
            .map(|k| format!("{k}={}", types::query_value(self.get(k))))
            .collect();
        if query.is_empty() {
            "/catalog".to_owned()
        } else {
            format!("/catalog?{}", query.join("&"))
        }
    }

    fn is_filtered(&self) -> bool {
        Self::KEYS
            .iter()
            .any(|k| *k != "sort" && !self.get(k).is_empty())
    }

    async fn run(self, cursor: Option<String>) -> Result<CatalogPage, ServerFnError> {
        let opt = |s: String| Some(s).filter(|s| !s.trim().is_empty());
        search_catalog(
            opt(self.q),
            opt(self.registry),
            opt(self.package_type),
            opt(self.transport),
            opt(self.secrets),
            opt(self.verdict),
            opt(self.sort),
            cursor,
        )
        .await
    }
}

/// Link to the entry view of `name` (latest version unless `version`) in source `registry`.
fn entry_href(name: &str, version: Option<&str>, registry: &str) -> String {
    let mut href = format!("/catalog/entry?name={}", types::query_value(name));
    if let Some(v) = version {
        href.push_str(&format!("&version={}", types::query_value(v)));
    }
    if !registry.is_empty() {
        href.push_str(&format!("&registry={}", types::query_value(registry)));
    }
    href
}

/// The catalog search page.
#[component]
pub fn Catalog() -> impl IntoView {
    let query = use_query_map();
    let navigate = use_navigate();
    let search = Memo::new(move |_| query.with(Search::from_query));
    let first = crate::resource::resource(move || search.get(), |s| s.run(None));
    let sources = crate::resource::resource(|| (), |_| registry_sources());

    // Pages after the first ("Load more"); forgotten when the search changes.
    let more = RwSignal::new(Vec::<CatalogEntry>::new());
    let more_next = RwSignal::new(None::<Option<String>>);
    let more_error = RwSignal::new(None::<String>);
    let loading_more = RwSignal::new(false);
    Effect::watch(
        move || search.get(),
        move |_, _, _| {
            more.set(Vec::new());
            more_next.set(None);
            more_error.set(None);
        },
        false,
    );

    // The search box: its own text, sent to the URL once typing pauses. `sent` is the last
    // text put in the URL, so that a URL change from elsewhere (back, a link) updates the box
    // without undoing what is being typed.
    let text = RwSignal::new(search.get_untracked().q);
    let sent = StoredValue::new(text.get_untracked());
    Effect::new(move |_| {
        let q = search.with(|s| s.q.clone());
        if sent.with_value(|s| *s != q) {
            sent.set_value(q.clone());
            text.set(q);
        }
    });
    let go = {
        let navigate = navigate.clone();
        move |s: Search, replace: bool| {
            navigate(
                &s.href(),
                NavigateOptions {
                    replace,
                    scroll: false,
                    ..Default::default()
                },
            );
        }
    };
    let mut typed = {
        let go = go.clone();
        leptos::leptos_dom::helpers::debounce(DEBOUNCE, move |q: String| {
            if sent.with_value(|s| *s == q) {
                return;
            }
            sent.set_value(q.clone());
            go(search.get_untracked().with("q", q), true);
        })
    };
    let set_filter = {
        let go = go.clone();
        move |key: &'static str, value: String| {
            sent.set_value(text.get_untracked());
            go(
                search
                    .get_untracked()
                    .with(key, value)
                    .with("q", text.get_untracked()),
                false,
            );
        }
    };
    let on_submit = {
        let go = go.clone();
        move |ev: leptos::ev::SubmitEvent| {
            ev.prevent_default();
            sent.set_value(text.get_untracked());
            go(
                search.get_untracked().with("q", text.get_untracked()),
                false,
            );
        }
    };

    let load_more = move |cursor: String| {
        let s = search.get_untracked();
        loading_more.set(true);
        more_error.set(None);
        spawn_local(async move {
            let result = s.clone().run(Some(cursor)).await;
            // A page of an older search is dropped.
            if search.try_get_untracked().as_ref() == Some(&s) {
                match result {
                    Ok(page) => {
                        more.update(|m| m.extend(page.items));
                        more_next.set(Some(page.next_cursor));
                    }
                    Err(e) => more_error.set(Some(error_text(&e))),
                }
            }
            loading_more.try_set(false);
        });
    };

    let opts = |list: &[(&str, &str)]| -> Vec<(String, String)> {
        list.iter()
            .map(|(v, t)| ((*v).to_owned(), (*t).to_owned()))
            .collect()
    };
    let pick = set_filter.clone();

    view! {
        <Title text="Catalog" />
        <h1 class="text-2xl font-semibold">"Catalog"</h1>
        <p class="mt-1 max-w-3xl text-sm text-slate-600">
            "Servers synced from the " <a href="/registries" class=LINK>"registries"</a>
            ", latest version of each, with whether this orchestrator can run them."
        </p>
        // A plain GET form: it works before (and without) the WASM bundle; once hydrated it
        // searches as you type.
        <form role="search" aria-label="Catalog" method="get" action="/catalog" class=format!("mt-4 {CARD}") on:submit=on_submit>
            <div class="flex flex-wrap items-end gap-3">
                <div class="min-w-0 flex-1">
                    <label for="catalog-q" class="block text-sm font-medium">"Search servers"</label>
                    <input
                        id="catalog-q"
                        name="q"
                        type="search"
                        maxlength="200"
                        autocomplete="off"
                        placeholder="name, title or description"
                        class=INPUT
                        prop:value=move || text.get()
                        value=search.get_untracked().q
                        on:input=move |ev| {
                            let v = event_target_value(&ev);
                            text.set(v.clone());
                            typed(v);
                        }
                    />
                </div>
                <button type="submit" class=BUTTON>"Search"</button>
            </div>
            <div class="mt-3 grid gap-3 sm:grid-cols-3 lg:grid-cols-6">
                <Transition fallback={
                    let pick = pick.clone();
                    move || filter_select("catalog-registry", "registry", "Source", vec![(String::new(), "All sources".to_owned())], search, pick.clone())
                }>
                    {move || {
                        let mut options = vec![(String::new(), "All sources".to_owned())];
                        if let Some(Ok(regs)) = sources.get() {
                            options.extend(regs.into_iter().map(|r| (r.id, format::shown(&r.name))));
                        }
                        filter_select("catalog-registry", "registry", "Source", options, search, pick.clone())
                    }}
                </Transition>
                {filter_select("catalog-type", "type", "Package type", opts(&[("", "Any"), ("npm", "npm"), ("pypi", "PyPI"), ("oci", "OCI image"), ("nuget", "NuGet"), ("mcpb", "MCP bundle")]), search, set_filter.clone())}
                {filter_select("catalog-transport", "transport", "Transport", opts(&[("", "Any"), ("stdio", "stdio"), ("streamable-http", "Streamable HTTP"), ("sse", "SSE")]), search, set_filter.clone())}
                {filter_select("catalog-secrets", "secrets", "Needs secrets", opts(&[("", "Either"), ("yes", "Yes"), ("no", "No")]), search, set_filter.clone())}
                {filter_select("catalog-verdict", "verdict", "Verdict", opts(&[("", "Any"), ("ready", VerdictStatus::Ready.label()), ("needs_input", VerdictStatus::NeedsInput.label()), ("unsupported", VerdictStatus::Unsupported.label())]), search, set_filter.clone())}
                {filter_select("catalog-sort", "sort", "Sort by", opts(&[("", "Name"), ("updated", "Recently updated")]), search, set_filter.clone())}
            </div>
        </form>
        <section aria-labelledby="results-heading" class="mt-6">
            <h2 id="results-heading" class="sr-only">"Results"</h2>
            <Transition fallback=|| view! { <p class="text-slate-600">"Loading…"</p> }>
                {move || first.get().map(|r| match r {
                    Err(e) => alert(error_text(&e)).into_any(),
                    Ok(page) => {
                        let first_next = page.next_cursor.clone();
                        let next = move || more_next.get().unwrap_or_else(|| first_next.clone());
                        let total = page.total;
                        let filtered = search.with(Search::is_filtered);
                        view! {
                            <p class="text-sm text-slate-700" role="status" data-total=total>
                                {match (total, filtered) {
                                    (0, true) => "No servers match.".to_owned(),
                                    (0, false) => "The catalog is empty: add a registry and sync it.".to_owned(),
                                    (1, _) => "1 server".to_owned(),
                                    (n, _) => format!("{n} servers"),
                                }}
                            </p>
                            <ul class="mt-3 space-y-3">
                                {page.items.into_iter().map(|e| view! { <ResultItem e /> }).collect_view()}
                                <For each=move || more.get() key=|e| (e.registry_id.clone(), e.name.clone()) let:e>
                                    <ResultItem e />
                                </For>
                            </ul>
                            {move || more_error.get().map(alert)}
                            // One button for every page (hidden after the last), so that the
                            // keyboard focus stays on it; busy is `aria-disabled` for the same
                            // reason.
                            <button
                                type="button"
                                class=format!("mt-4 {BUTTON_QUIET}")
                                hidden={
                                    let next = next.clone();
                                    move || next().is_none()
                                }
                                aria-disabled=move || loading_more.get().to_string()
                                on:click=move |_| {
                                    if let (false, Some(cursor)) = (loading_more.get_untracked(), next()) {
                                        load_more(cursor);
                                    }
                                }
                            >
                                {move || if loading_more.get() { "Loading…" } else { "Load more" }}
                            </button>
                        }.into_any()
                    }
                })}
            </Transition>
        </section>
    }
}

/// A filter of the search: a labelled select whose value lives in the URL.
fn filter_select(
    id: &'static str,
    key: &'static str,
    label: &'static str,
    options: Vec<(String, String)>,
    search: Memo<Search>,
    pick: impl Fn(&'static str, String) + Clone + 'static,
) -> impl IntoView {
    view! {
        <div>
            <label for=id class="block text-sm font-medium">{label}</label>
            <select
                id=id
                name=key
                class=INPUT
                prop:value=move || search.with(|s| s.get(key).to_owned())
                on:change=move |ev| pick(key, event_target_value(&ev))
            >
                {options.into_iter().map(|(value, text)| {
                    let selected = search.with_untracked(|s| s.get(key) == value);
                    view! { <option value=value selected=selected>{text}</option> }
                }).collect_view()}
            </select>
        </div>
    }
}

/// One search result.
#[component]
fn ResultItem(e: CatalogEntry) -> impl IntoView {
    let href = entry_href(&e.name, None, &e.registry_id);
    let heading = format::shown(&e.name);
    view! {
        <li class=CARD data-entry=e.name.clone()>
            <div class="flex flex-wrap items-start justify-between gap-2">
                <h3 class="min-w-0 break-all font-mono text-sm font-semibold">
                    <a href=href class=LINK>{heading}</a>
                </h3>
                {verdict_badge(e.verdict.status)}
            </div>
            {e.title.as_deref().filter(|t| !t.trim().is_empty()).map(|t| view! {
                <p class="mt-1 truncate font-medium text-slate-900">{format::shown(t)}</p>
            })}
            <p class="mt-1 line-clamp-2 break-words text-sm text-slate-700">{format::shown(&e.description)}</p>
            <p class="mt-2 flex flex-wrap items-center gap-1.5 text-xs text-slate-700">
                <span class="font-mono">{format!("v{}", format::shown(&e.version))}</span>
                {(e.versions > 1).then(|| view! { <span>{format!("({} versions)", e.versions)}</span> })}
                <span>"·"</span>
                <span>{format::shown(&e.registry_name)}</span>
                {(e.status == EntryStatus::Deprecated).then(|| view! {
                    <span class="rounded bg-amber-100 px-1.5 py-0.5 font-medium text-amber-900">"deprecated"</span>
                })}
                {e.registry_types.into_iter().map(|t| view! { <span class=CHIP>{t}</span> }).collect_view()}
                {e.transports.into_iter().map(|t| view! { <span class="inline-block rounded px-1.5 py-0.5 text-xs text-slate-700 ring-1 ring-slate-300">{t}</span> }).collect_view()}
                {e.has_remotes.then(|| view! { <span class="inline-block rounded px-1.5 py-0.5 text-xs text-slate-700 ring-1 ring-slate-300">"remote"</span> })}
                {e.needs_secrets.then(|| view! { <span class="inline-block rounded px-1.5 py-0.5 text-xs text-slate-700 ring-1 ring-slate-300">"needs secrets"</span> })}
            </p>
        </li>
    }
}

/// One server version in full: `/catalog/entry?name=…[&version=…][&registry=…]`.
#[component]
pub fn CatalogEntryView() -> impl IntoView {
    let query = use_query_map();
    let key = Memo::new(move |_| {
        query.with(|q| {
            (
                q.get("name").unwrap_or_default(),
                q.get("version").unwrap_or_default(),
                q.get("registry").unwrap_or_default(),
            )
        })
    });
    let opt = |s: String| Some(s).filter(|s| !s.trim().is_empty());
    let entry = crate::resource::resource(
        move || key.get(),
        move |(name, version, registry)| catalog_entry_version(name, opt(version), opt(registry)),
    );
    let versions = crate::resource::resource(
        move || key.with(|k| (k.0.clone(), k.2.clone())),
        move |(name, registry)| catalog_entry_versions(name, opt(registry)),
    );
    view! {
        <Title text=move || format::shown(&key.with(|k| k.0.clone())) />
        <nav aria-label="Breadcrumb" class="text-sm">
            <a href="/catalog" class=LINK>"Catalog"</a>
        </nav>
        <Transition fallback=|| view! { <p class="mt-4 text-slate-600">"Loading…"</p> }>
            {move || entry.get().map(|r| match r {
                Err(e) => view! {
                    <h1 class="mt-2 text-2xl font-semibold">"Catalog entry"</h1>
                    {alert(error_text(&e))}
                }.into_any(),
                Ok(v) => view! { <EntryDetail v versions /> }.into_any(),
            })}
        </Transition>
    }
}

#[component]
fn EntryDetail(
    v: CatalogVersion,
    versions: crate::resource::Data<Vec<VersionSummary>>,
) -> impl IntoView {
    let deployable = v.verdict.status != VerdictStatus::Unsupported;
    let deploy_href = format!(
        "/deployments?from={}&version={}",
        types::query_value(&v.name),
        types::query_value(&v.version)
    );
    let title = v
        .title
        .as_deref()
        .filter(|t| !t.trim().is_empty())
        .map(format::shown);
    let links = [
        ("Repository", v.repository_url.clone()),
        ("Website", v.website_url.clone()),
    ];
    let current = (v.registry_id.clone(), v.version.clone());
    let name = v.name.clone();
    let server_json = format!("{:#}", v.server_json);
    let chosen = v.verdict.package.map(|p| p as usize);
    view! {
        <article class="mt-2" data-entry=v.name.clone()>
            <header class="flex flex-wrap items-start justify-between gap-3">
                <div class="min-w-0">
                    {match title {
                        Some(title) => view! {
                            <h1 class="break-words text-2xl font-semibold">{title}</h1>
                            <p class="mt-1 break-all font-mono text-sm text-slate-700">{format::shown(&v.name)}</p>
                        }.into_any(),
                        None => view! {
                            <h1 class="break-all font-mono text-2xl font-semibold">{format::shown(&v.name)}</h1>
                        }.into_any(),
                    }}
                    <p class="mt-1 flex flex-wrap items-center gap-2 text-sm text-slate-700">
                        <span>"Version " <span class="font-mono" data-version="">{format::shown(&v.version)}</span></span>
                        {v.is_latest.then(|| view! { <span class="rounded bg-indigo-100 px-1.5 py-0.5 text-xs font-medium text-indigo-900">"latest"</span> })}
                        {(v.status == EntryStatus::Deprecated).then(|| view! {
                            <span class="rounded bg-amber-100 px-1.5 py-0.5 text-xs font-medium text-amber-900">"deprecated"</span>
                        })}
                        <span>{format!("from {}", format::shown(&v.registry_name))}</span>
                        <span>{format!("published {}", format::when(v.published_at))}</span>
                    </p>
                </div>
                <div class="flex flex-col items-end gap-1">
                    {if deployable {
                        view! { <a href=deploy_href class=format!("inline-block {BUTTON}")>"Deploy"</a> }.into_any()
                    } else {
                        view! {
                            <button type="button" class=BUTTON disabled aria-describedby="deploy-why">"Deploy"</button>
                            <p id="deploy-why" class="max-w-xs text-right text-xs text-slate-700">
                                "Not deployable: no runtime of this orchestrator can run it (see the verdict)."
                            </p>
                        }.into_any()
                    }}
                </div>
            </header>

            <section aria-labelledby="verdict-heading" class=format!("mt-6 {CARD}")>
                <h2 id="verdict-heading" class="flex flex-wrap items-center gap-2 text-lg font-medium">
                    "Verdict " {verdict_badge(v.verdict.status)}
                </h2>
                {(!v.verdict.runtimes.is_empty()).then(|| view! {
                    <p class="mt-2 text-sm">"Runtimes: " {v.verdict.runtimes.join(", ")}</p>
                })}
                {(!v.verdict.reasons.is_empty()).then(|| view! {
                    <ul class="mt-2 list-disc space-y-1 pl-5 text-sm" aria-label="Reasons">
                        {v.verdict.reasons.iter().map(|r| view! { <li class="break-words">{format::shown(r)}</li> }).collect_view()}
                    </ul>
                })}
            </section>

            <section aria-labelledby="description-heading" class="mt-6">
                <h2 id="description-heading" class="text-lg font-medium">"Description"</h2>
                <p class="mt-2 max-w-4xl whitespace-pre-wrap break-words text-slate-800" data-description="">
                    {if v.description.is_empty() { "No description.".to_owned() } else { format::shown(&v.description) }}
                </p>
                <ul class="mt-3 space-y-1 text-sm">
                    {links.into_iter().filter_map(|(label, url)| url.filter(|u| !u.trim().is_empty()).map(|url| {
                        match format::web_link(&url) {
                            Some(href) => view! {
                                <li>{label} ": " <a href=href.to_owned() rel="noopener noreferrer external" class=format!("break-all {LINK}")>{format::shown(href)}</a></li>
                            }.into_any(),
                            None => view! {
                                <li>{label} ": " <span class="break-all">{format::shown(&url)}</span> " (not an http(s) link)"</li>
                            }.into_any(),
                        }
                    })).collect_view()}
                </ul>
            </section>

            <section aria-labelledby="versions-heading" class="mt-6">
                <h2 id="versions-heading" class="text-lg font-medium">"Versions"</h2>
                <Transition fallback=|| view! { <p class="mt-2 text-slate-600">"Loading…"</p> }>
                    {move || versions.get().map(|r| match r {
                        Err(e) => alert(error_text(&e)).into_any(),
                        Ok(list) => {
                            let current = current.clone();
                            let name = name.clone();
                            view! {
                                <ul class="mt-2 flex flex-wrap gap-2 text-sm">
                                    {list.into_iter().map(|s| {
                                        let here = (s.registry_id.clone(), s.version.clone()) == current;
                                        let href = entry_href(&name, Some(&s.version), &s.registry_id);
                                        view! {
                                            <li class="flex items-center gap-1 rounded px-2 py-1 ring-1 ring-slate-300" data-version-item=s.version.clone()>
                                                {if here {
                                                    view! { <span class="font-mono font-semibold" aria-current="page">{format::shown(&s.version)}</span> }.into_any()
                                                } else {
                                                    view! { <a href=href class=format!("font-mono {LINK}")>{format::shown(&s.version)}</a> }.into_any()
                                                }}
                                                {s.is_latest.then(|| view! { <span class="rounded bg-indigo-100 px-1 text-xs font-medium text-indigo-900">"latest"</span> })}
                                                {(s.status == EntryStatus::Deprecated).then(|| view! { <span class="text-xs text-amber-900">"deprecated"</span> })}
                                                <span class="sr-only">{format!(", {}", s.verdict.label())}</span>
                                            </li>
                                        }
                                    }).collect_view()}
                                </ul>
                            }.into_any()
                        }
                    })}
                </Transition>
            </section>

            <section aria-labelledby="packages-heading" class="mt-6">
                <h2 id="packages-heading" class="text-lg font-medium">"Packages"</h2>
                {if v.packages.is_empty() {
                    view! { <p class="mt-2 text-sm text-slate-600">"No packages."</p> }.into_any()
                } else {
                    view! {
                        <ul class="mt-2 space-y-4">
                            {v.packages.into_iter().enumerate().map(|(i, p)| view! { <PackageView p chosen=chosen == Some(i) /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>

            <section aria-labelledby="remotes-heading" class="mt-6">
                <h2 id="remotes-heading" class="text-lg font-medium">"Remotes"</h2>
                {if v.remotes.is_empty() {
                    view! { <p class="mt-2 text-sm text-slate-600">"No remote endpoints."</p> }.into_any()
                } else {
                    view! {
                        <ul class="mt-2 space-y-3">
                            {v.remotes.into_iter().map(|r| view! { <RemoteView r /> }).collect_view()}
                        </ul>
                    }.into_any()
                }}
            </section>

            <details class="mt-6">
                <summary class="cursor-pointer text-sm font-medium text-indigo-700 focus-visible:outline-2 focus-visible:outline-offset-2 focus-visible:outline-indigo-600">
                    "server.json as published"
                </summary>
                <pre class="mt-2 max-h-[32rem] overflow-auto whitespace-pre-wrap break-all rounded bg-slate-900 p-3 text-xs text-slate-100">{server_json}</pre>
            </details>
        </article>
    }
}

fn flag(on: bool, text: &'static str, class: &'static str) -> Option<impl IntoView> {
    on.then(|| view! { <span class=format!("rounded px-1.5 py-0.5 text-xs font-medium {class}")>{text}</span> })
}

/// A text with its placeholders highlighted.
pub(super) fn with_placeholders(text: &str, placeholders: &[String]) -> impl IntoView {
    format::placeholder_pieces(&format::shown(text), placeholders)
        .into_iter()
        .map(|(piece, mark)| {
            if mark {
                view! { <mark class="rounded bg-amber-200 px-0.5 text-amber-950" title="placeholder: replace it">{piece}</mark> }.into_any()
            } else {
                view! { <span>{piece}</span> }.into_any()
            }
        })
        .collect_view()
}

#[component]
fn PackageView(p: Package, chosen: bool) -> impl IntoView {
    let facts = [
        ("Version", p.version.clone()),
        ("Runtime hint", p.runtime_hint.clone()),
        ("Transport", Some(p.transport.kind.clone())),
        ("Endpoint", p.transport.url.clone()),
    ];
    view! {
        <li class=CARD data-package=p.registry_type.clone()>
            <h3 class="flex flex-wrap items-center gap-2 font-semibold">
                <span class=CHIP>{format::shown(&p.registry_type)}</span>
                <code class="break-all">{format::shown(&p.identifier)}</code>
                {flag(chosen, "used to deploy", "bg-indigo-100 text-indigo-900")}
            </h3>
            <dl class="mt-2 grid grid-cols-1 gap-x-4 gap-y-1 text-sm sm:grid-cols-[max-content_1fr]">
                {facts.into_iter().filter_map(|(label, value)| value.map(|value| view! {
                    <dt class="font-medium text-slate-600">{label}</dt>
                    <dd class="break-all font-mono" data-fact=label>{format::shown(&value)}</dd>
                })).collect_view()}
            </dl>
            <Headers headers=p.transport.headers />
            <Arguments title="Runtime arguments" args=p.runtime_arguments />
            <Arguments title="Package arguments" args=p.package_arguments />
            <EnvVars vars=p.environment_variables />
        </li>
    }
}

#[component]
fn Arguments(title: &'static str, args: Vec<Argument>) -> impl IntoView {
    (!args.is_empty()).then(|| {
        view! {
            <h4 class="mt-3 text-sm font-semibold">{title}</h4>
            <ul class="mt-1 space-y-2 text-sm">
                {args.into_iter().map(|a| {
                    // As published: a named argument is its flag and value, a positional one its
                    // value; a hint stands in for a missing value.
                    let value = a
                        .value
                        .clone()
                        .or_else(|| a.value_hint.as_ref().map(|h| format!("<{h}>")));
                    let text = match (a.kind, &a.name, &value) {
                        (ArgumentKind::Named, Some(n), Some(v)) => format!("{n} {v}"),
                        (_, _, Some(v)) => v.clone(),
                        (_, Some(n), None) => n.clone(),
                        (_, None, None) => a.default.clone().unwrap_or_else(|| "<value>".to_owned()),
                    };
                    let default = a.default.clone().filter(|d| Some(d) != a.value.as_ref());
                    view! {
                        <li class="break-words">
                            <code class="rounded bg-slate-100 px-1 py-0.5">{with_placeholders(&text, &a.placeholders)}</code>
                            " "
                            {flag(a.is_required, "required", "bg-slate-200 text-slate-900")}
                            " "
                            {flag(a.is_secret, "secret", "bg-red-100 text-red-900")}
                            " "
                            {flag(a.is_repeated, "repeatable", "bg-slate-100 text-slate-800")}
                            {(!a.placeholders.is_empty()).then(|| view! {
                                <span class="ml-1 text-xs text-amber-900">{format!("replace: {}", format::shown(&a.placeholders.join(", ")))}</span>
                            })}
                            {default.map(|d| view! { <span class="ml-1 text-xs text-slate-700">"default " <code>{format::shown(&d)}</code></span> })}
                            {(!a.choices.is_empty()).then(|| view! {
                                <span class="ml-1 text-xs text-slate-700">{format!("one of: {}", format::shown(&a.choices.join(", ")))}</span>
                            })}
                            {a.description.as_deref().map(|d| view! { <p class="text-xs text-slate-700">{format::shown(d)}</p> })}
                        </li>
                    }
                }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn EnvVars(vars: Vec<EnvVar>) -> impl IntoView {
    (!vars.is_empty()).then(|| {
        view! {
            <div class="mt-3 overflow-x-auto">
                <table class="w-full text-left text-sm">
                    <caption class="text-left text-sm font-semibold">"Environment variables"</caption>
                    <thead>
                        <tr class="border-b">
                            <th scope="col" class="py-1 pr-3">"Name"</th>
                            <th scope="col" class="pr-3">"Required"</th>
                            <th scope="col" class="pr-3">"Secret"</th>
                            <th scope="col" class="pr-3">"Default"</th>
                            <th scope="col" class="pr-3">"Choices"</th>
                            <th scope="col">"Description"</th>
                        </tr>
                    </thead>
                    <tbody>
                        {vars.into_iter().map(|e| view! {
                            <tr class="border-b align-top" data-env=e.name.clone()>
                                <td class="py-1 pr-3 font-mono break-all">{format::shown(&e.name)}</td>
                                <td class="pr-3">{if e.is_required { "yes" } else { "no" }}</td>
                                <td class="pr-3">{if e.is_secret { "yes" } else { "no" }}</td>
                                <td class="pr-3 font-mono break-all">{format::shown(e.default.as_deref().unwrap_or("—"))}</td>
                                <td class="pr-3 break-words">{if e.choices.is_empty() { "—".to_owned() } else { format::shown(&e.choices.join(", ")) }}</td>
                                <td class="break-words">{format::shown(e.description.as_deref().unwrap_or(""))}</td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
        }
    })
}

#[component]
fn Headers(headers: Vec<HeaderSpec>) -> impl IntoView {
    (!headers.is_empty()).then(|| {
        view! {
            <h4 class="mt-3 text-sm font-semibold">"Headers"</h4>
            <ul class="mt-1 space-y-1 text-sm">
                {headers.into_iter().map(|h| view! {
                    <li class="break-words">
                        <code class="rounded bg-slate-100 px-1 py-0.5">{format::shown(&h.name)}</code>
                        " "
                        {flag(h.is_required, "required", "bg-slate-200 text-slate-900")}
                        " "
                        {flag(h.is_secret, "secret", "bg-red-100 text-red-900")}
                        {h.default.as_deref().map(|d| view! { <span class="ml-1 text-xs text-slate-700">"default " <code>{format::shown(d)}</code></span> })}
                        {h.description.as_deref().map(|d| view! { <p class="text-xs text-slate-700">{format::shown(d)}</p> })}
                    </li>
                }).collect_view()}
            </ul>
        }
    })
}

#[component]
fn RemoteView(r: Remote) -> impl IntoView {
    view! {
        <li class=CARD data-remote=r.kind.clone()>
            <p class="text-sm">
                <span class=CHIP>{format::shown(&r.kind)}</span> " "
                <code class="break-all">{format::shown(&r.url)}</code>
            </p>
            <Headers headers=r.headers />
        </li>
    }
}
