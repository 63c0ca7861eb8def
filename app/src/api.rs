//! Server functions called by the dashboard. Each body is a thin adapter over `domain`: it
//! takes the caller resolved by the HTTP layer (session cookie) and lets the service layer
//! decide what that caller may do.
//!
//! Every one takes its arguments as JSON (`input = Json`), never URL-encoded: the browser then
//! carries no form parser (`serde_qs`), and its forms read their fields themselves
//! (`pages::ui::Fields`). Form-backed functions still take each field as the form's text and
//! check it here.

use leptos::{prelude::*, server_fn::codec::Json};
#[cfg(feature = "ssr")]
use types::Role;
use types::{ApiKeyInfo, AuditEvent, CreatedApiKey, Me, Page, SystemInfo, UserInfo};

#[cfg(feature = "ssr")]
mod ssr {
    use leptos::prelude::*;

    /// The role a form names (a role's spelling, such as `operator`).
    pub fn role(v: &str) -> Result<types::Role, ServerFnError> {
        v.parse()
            .map_err(|m| shown(domain::DomainError::invalid("role", m)))
    }

    /// The service context and the caller of this request.
    pub fn service() -> Result<(domain::Ctx, domain::access::Caller), ServerFnError> {
        let ctx = use_context::<domain::Ctx>()
            .ok_or_else(|| ServerFnError::new("the service layer is not available"))?;
        let caller = use_context::<http::request::Parts>()
            .and_then(|p| p.extensions.get::<domain::access::Caller>().cloned())
            .unwrap_or_default();
        Ok((ctx, caller))
    }

    /// A message for the person at the dashboard: what went wrong, never internal detail.
    pub fn shown(e: domain::DomainError) -> ServerFnError {
        use domain::DomainError as D;
        // The same status the JSON API answers (a conflict is not a server failure).
        let status = e.http_status();
        if let (Some(res), Ok(code)) = (
            use_context::<leptos_axum::ResponseOptions>(),
            http::StatusCode::from_u16(status),
        ) {
            res.set_status(code);
        }
        match e {
            D::Database(cause) => {
                tracing::error!(%cause, "server function: database error");
                ServerFnError::new("The database is unavailable; try again shortly.")
            }
            D::Internal(cause) => {
                tracing::error!(%cause, "server function: internal error");
                ServerFnError::new("Something went wrong on the server.")
            }
            D::Unauthenticated => ServerFnError::new("Your session has ended; sign in again."),
            D::Invalid(f) => {
                ServerFnError::new(format!("{}: {}", f.field.replace('_', " "), f.message))
            }
            other => ServerFnError::new(other.to_string()),
        }
    }
}

/// Version, database, uptime and counts for the Overview page.
#[server(prefix = "/ui/fn", endpoint = "system_info", input = Json, output = crate::resource::JsonOut)]
pub async fn get_system_info() -> Result<SystemInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    caller.require(Role::Viewer).map_err(ssr::shown)?;
    domain::system::info(&ctx).await.map_err(ssr::shown)
}

/// What the sign-in page offers (the identity-provider button).
#[server(prefix = "/ui/fn", endpoint = "sign_in_options", input = Json, output = crate::resource::JsonOut)]
pub async fn sign_in_options() -> Result<types::SignInOptions, ServerFnError> {
    Ok(use_context::<types::SignInOptions>().unwrap_or_default())
}

/// The signed-in user, if any.
#[server(prefix = "/ui/fn", endpoint = "whoami", input = Json, output = crate::resource::JsonOut)]
pub async fn whoami() -> Result<Option<Me>, ServerFnError> {
    let (_, caller) = ssr::service()?;
    Ok(caller.principal.map(|p| Me {
        kind: p.kind.as_str().to_owned(),
        id: p.id,
        name: p.name,
        role: p.role,
    }))
}

/// The caller's API keys (every key for admins).
#[server(prefix = "/ui/fn", endpoint = "api_keys", input = Json, output = crate::resource::JsonOut)]
pub async fn my_api_keys() -> Result<Vec<ApiKeyInfo>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::api_keys::list(&ctx, &caller)
        .await
        .map_err(ssr::shown)
}

/// Creates an API key; `expires_in_days` is empty for no expiry.
#[server(prefix = "/ui/fn", endpoint = "create_key", input = Json, output = crate::resource::JsonOut)]
pub async fn create_key(
    name: String,
    role: String,
    expires_in_days: String,
) -> Result<CreatedApiKey, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let role = ssr::role(&role)?;
    let expires_at = match expires_in_days.trim() {
        "" => None,
        days => {
            let days: i64 = days
                .parse()
                .ok()
                .filter(|d| (1..=3650).contains(d))
                .ok_or_else(|| {
                    ServerFnError::new("expiry: a whole number of days from 1 to 3650, or empty")
                })?;
            Some(chrono::Utc::now() + chrono::Duration::days(days))
        }
    };
    let req = types::CreateApiKey {
        name,
        role,
        expires_at,
    };
    domain::access::api_keys::create(&ctx, &caller, req)
        .await
        .map_err(ssr::shown)
}

/// Revokes an API key.
#[server(prefix = "/ui/fn", endpoint = "revoke_key", input = Json, output = crate::resource::JsonOut)]
pub async fn revoke_key(id: String) -> Result<ApiKeyInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::api_keys::revoke(&ctx, &caller, &id)
        .await
        .map_err(ssr::shown)
}

/// Changes the signed-in user's password.
#[server(prefix = "/ui/fn", endpoint = "change_password", input = Json, output = crate::resource::JsonOut)]
pub async fn change_my_password(
    current_password: String,
    new_password: String,
) -> Result<(), ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let new = types::NewPassword::parse(&new_password).map_err(|e| ssr::shown(e.into()))?;
    domain::access::users::change_password(&ctx, &caller, &current_password, new)
        .await
        .map_err(ssr::shown)
}

/// Every user (admins).
#[server(prefix = "/ui/fn", endpoint = "users", input = Json, output = crate::resource::JsonOut)]
pub async fn all_users() -> Result<Vec<UserInfo>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    domain::access::users::list(&ctx, &caller)
        .await
        .map_err(ssr::shown)
}

/// Sets a user's role and whether they may sign in (admins).
#[server(prefix = "/ui/fn", endpoint = "update_user", input = Json, output = crate::resource::JsonOut)]
pub async fn update_user(
    id: String,
    role: String,
    enabled: Option<String>,
) -> Result<UserInfo, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    // An unticked checkbox is absent from the form.
    let change = types::UpdateUser {
        role: Some(ssr::role(&role)?),
        disabled: Some(enabled.is_none()),
    };
    domain::access::users::update(&ctx, &caller, &id, change)
        .await
        .map_err(ssr::shown)
}

/// A page of the audit log (admins).
#[server(prefix = "/ui/fn", endpoint = "audit", input = Json, output = crate::resource::JsonOut)]
pub async fn audit_page(cursor: Option<String>) -> Result<Page<AuditEvent>, ServerFnError> {
    let (ctx, caller) = ssr::service()?;
    let filter = domain::access::audit::Filter::default();
    domain::access::audit::list(&ctx, &caller, filter, cursor.as_deref(), 50)
        .await
        .map_err(ssr::shown)
}

// ---- Registries and the catalog ----------------------------------------------------------
//
// In a module of their own only for the lint: form-backed server functions take one argument
// per form field, and server_fn 0.8 drops `#[allow]` attributes from the browser-side function.

pub use sources::*;

#[allow(clippy::too_many_arguments)]
mod sources {
    use leptos::{prelude::*, server_fn::codec::Json};
    use types::{CatalogPage, CatalogVersion, RegistryInfo, SyncDetail, SyncRun, VersionSummary};
    #[cfg(feature = "ssr")]
    use types::{RegistryKind, Role, VerdictStatus};

    #[cfg(feature = "ssr")]
    use super::ssr;

    #[cfg(feature = "ssr")]
    mod forms {
        use leptos::prelude::ServerFnError;

        /// A form field: trimmed, `None` when absent or blank.
        pub fn field(v: Option<String>) -> Option<String> {
            v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty())
        }

        /// The sync interval field: blank or 0 is manual syncs only.
        pub fn interval(v: Option<String>) -> Result<u32, ServerFnError> {
            match field(v) {
                None => Ok(0),
                Some(s) => s.parse().map_err(|_| {
                    ServerFnError::new(
                        "sync interval secs: a whole number of seconds, or empty for manual syncs only",
                    )
                }),
            }
        }

        pub fn api_version(v: Option<String>) -> Result<Option<types::ApiVersion>, ServerFnError> {
            field(v)
                .map(|s| {
                    types::ApiVersion::parse(&s)
                        .ok_or_else(|| ServerFnError::new("api version: must be v0.1 or v0"))
                })
                .transpose()
        }
    }

    /// Every registry source (never its credential).
    #[server(prefix = "/ui/fn", endpoint = "registries", input = Json, output = crate::resource::JsonOut)]
    pub async fn registry_sources() -> Result<Vec<RegistryInfo>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::registries::list(&ctx, &caller)
            .await
            .map_err(ssr::shown)
    }

    /// Adds a registry source (admins). Blank optional fields are absent; an unticked `enabled`
    /// box is absent from the form.
    #[server(prefix = "/ui/fn", endpoint = "create_registry", input = Json, output = crate::resource::JsonOut)]
    pub async fn add_registry(
        name: String,
        kind: String,
        url: String,
        api_version: Option<String>,
        auth_header_name: Option<String>,
        auth_value: Option<String>,
        sync_interval_secs: Option<String>,
        enabled: Option<String>,
    ) -> Result<RegistryInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let kind = RegistryKind::parse(kind.trim())
            .ok_or_else(|| ServerFnError::new("kind: must be mcp-registry or file"))?;
        let api_version = match kind {
            RegistryKind::McpRegistry => forms::api_version(api_version)?,
            RegistryKind::File => None,
        };
        let req = types::CreateRegistry {
            name,
            kind,
            url,
            api_version,
            auth_header_name: forms::field(auth_header_name),
            // A credential is taken as typed (no trimming), only left out when empty.
            auth_value: auth_value.filter(|v| !v.is_empty()),
            sync_interval_secs: Some(forms::interval(sync_interval_secs)?),
            enabled: Some(enabled.is_some()),
        };
        domain::registries::create(&ctx, &caller, req)
            .await
            .map_err(ssr::shown)
    }

    /// Changes a registry source (admins): only the fields that differ from the stored ones are
    /// sent to the service layer (a changed API version starts the next sync from scratch). A
    /// blank credential keeps the stored one; `remove_auth` removes it.
    #[server(prefix = "/ui/fn", endpoint = "update_registry", input = Json, output = crate::resource::JsonOut)]
    pub async fn edit_registry(
        id: String,
        name: String,
        url: String,
        api_version: Option<String>,
        auth_header_name: Option<String>,
        auth_value: Option<String>,
        remove_auth: Option<String>,
        sync_interval_secs: Option<String>,
        enabled: Option<String>,
    ) -> Result<RegistryInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        caller.require(Role::Admin).map_err(ssr::shown)?;
        let current = domain::registries::get(&ctx, &caller, &id)
            .await
            .map_err(ssr::shown)?;
        let mut change = types::UpdateRegistry::default();
        if name.trim() != current.name {
            change.name = Some(name);
        }
        if url.trim() != current.url {
            change.url = Some(url);
        }
        if current.kind == RegistryKind::McpRegistry {
            let v = forms::api_version(api_version)?;
            if v.is_some() && v != current.api_version {
                change.api_version = v;
            }
        }
        let interval = forms::interval(sync_interval_secs)?;
        if interval != current.sync_interval_secs.unwrap_or(0) {
            change.sync_interval_secs = Some(interval);
        }
        if enabled.is_some() != current.enabled {
            change.enabled = Some(enabled.is_some());
        }
        if remove_auth.is_some() {
            if current.has_auth {
                change.auth_value = Some(String::new());
            }
        } else {
            change.auth_value = auth_value.filter(|v| !v.is_empty());
            let header = forms::field(auth_header_name);
            if header.is_some() && header != current.auth_header_name {
                change.auth_header_name = header;
            }
        }
        if change == types::UpdateRegistry::default() {
            return Ok(current);
        }
        domain::registries::update(&ctx, &caller, &id, change)
            .await
            .map_err(ssr::shown)
    }

    /// Removes a registry source with its catalog entries and sync history (admins).
    #[server(prefix = "/ui/fn", endpoint = "delete_registry", input = Json, output = crate::resource::JsonOut)]
    pub async fn remove_registry(id: String) -> Result<(), ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::registries::delete(&ctx, &caller, &id)
            .await
            .map_err(ssr::shown)
    }

    /// Starts a sync (operators and admins) and answers at once with its record; the sync goes on
    /// in the background (follow it with [`registry_sync_detail`]). `mode`: `full`,
    /// `incremental`, or absent for the default.
    #[server(prefix = "/ui/fn", endpoint = "sync_registry", input = Json, output = crate::resource::JsonOut)]
    pub async fn sync_registry_now(
        id: String,
        mode: Option<String>,
    ) -> Result<SyncRun, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let mode = match forms::field(mode).as_deref() {
            None => None,
            Some("full") => Some(types::SyncMode::Full),
            Some("incremental") => Some(types::SyncMode::Incremental),
            Some(_) => return Err(ServerFnError::new("mode: must be full or incremental")),
        };
        let (run, _detached) = domain::registries::sync::start(
            &ctx,
            &caller,
            &id,
            mode,
            domain::registries::sync::Trigger::Manual,
        )
        .await
        .map_err(ssr::shown)?;
        Ok(run)
    }

    /// One sync with the reason for every skipped entry.
    #[server(prefix = "/ui/fn", endpoint = "sync_detail", input = Json, output = crate::resource::JsonOut)]
    pub async fn registry_sync_detail(
        registry_id: String,
        sync_id: String,
    ) -> Result<SyncDetail, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::registries::sync_detail(&ctx, &caller, &registry_id, &sync_id)
            .await
            .map_err(ssr::shown)
    }

    /// Longest description a catalog listing carries (the entry view shows all of it).
    pub const LISTED_DESCRIPTION_CHARS: usize = 600;

    /// A page of the catalog (latest version of each server). Every filter is optional; blank is
    /// absent. `secrets`: `yes` or `no`; `sort`: `name` or `updated`.
    #[server(prefix = "/ui/fn", endpoint = "catalog_search", input = Json, output = crate::resource::JsonOut)]
    pub async fn search_catalog(
        q: Option<String>,
        registry: Option<String>,
        package_type: Option<String>,
        transport: Option<String>,
        secrets: Option<String>,
        verdict: Option<String>,
        sort: Option<String>,
        cursor: Option<String>,
    ) -> Result<CatalogPage, ServerFnError> {
        use domain::catalog::{Search, Sort};
        let (ctx, caller) = ssr::service()?;
        let needs_secrets = match forms::field(secrets).as_deref() {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(_) => return Err(ServerFnError::new("needs secrets: must be yes or no")),
        };
        let verdict = forms::field(verdict)
            .map(|v| {
                VerdictStatus::parse(&v).ok_or_else(|| {
                    ServerFnError::new("verdict: must be ready, needs_input or unsupported")
                })
            })
            .transpose()?;
        let sort = match forms::field(sort) {
            None => Sort::Name,
            Some(s) => Sort::parse(&s).map_err(ssr::shown)?,
        };
        let search = Search {
            q: forms::field(q),
            registry_id: forms::field(registry),
            registry_type: forms::field(package_type),
            transport: forms::field(transport),
            needs_secrets,
            verdict,
            hide_deprecated: false,
            sort,
            cursor: forms::field(cursor),
            limit: Some(30),
        };
        let mut page = domain::catalog::search(&ctx, &caller, search)
            .await
            .map_err(ssr::shown)?;
        // Listings show a few lines; a description can be 20,000 characters.
        for item in &mut page.items {
            if let Some((cut, _)) = item
                .description
                .char_indices()
                .nth(LISTED_DESCRIPTION_CHARS)
            {
                item.description.truncate(cut);
                item.description.push('…');
            }
        }
        Ok(page)
    }

    /// Every version of a server, newest first (`registry` narrows to one source).
    #[server(prefix = "/ui/fn", endpoint = "catalog_versions", input = Json, output = crate::resource::JsonOut)]
    pub async fn catalog_entry_versions(
        name: String,
        registry: Option<String>,
    ) -> Result<Vec<VersionSummary>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let registry = forms::field(registry);
        domain::catalog::versions(&ctx, &caller, &name, registry.as_deref())
            .await
            .map_err(ssr::shown)
    }

    /// One version of a server in full; absent `version` is the latest.
    #[server(prefix = "/ui/fn", endpoint = "catalog_version", input = Json, output = crate::resource::JsonOut)]
    pub async fn catalog_entry_version(
        name: String,
        version: Option<String>,
        registry: Option<String>,
    ) -> Result<CatalogVersion, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let version = forms::field(version).unwrap_or_else(|| "latest".to_owned());
        let registry = forms::field(registry);
        domain::catalog::version(&ctx, &caller, &name, &version, registry.as_deref())
            .await
            .map_err(ssr::shown)
    }
}

// ---- Deployments --------------------------------------------------------------------------
//
// Their own module for the same reason as the registries'. `deploy` takes the whole request
// (it nests a list of variables); the others take its id and a few fields.

pub use deploys::*;

#[allow(clippy::too_many_arguments)]
mod deploys {
    use leptos::{prelude::*, server_fn::codec::Json};
    use serde::{Deserialize, Serialize};
    use types::deployment::{Capabilities, CreateDeployment, DeploymentInfo, ToolResult};

    #[cfg(feature = "ssr")]
    use super::ssr;

    /// One line a deployment wrote to its log.
    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    pub struct LogLine {
        /// When it was read.
        pub at: chrono::DateTime<chrono::Utc>,
        /// The line (hostile text: show it as text only).
        pub text: String,
    }

    /// Log lines answered when the caller names no `tail`.
    pub const DEFAULT_LOG_TAIL: u32 = 200;

    /// Every deployment, newest first; states as the watcher last saw them (every 2 s).
    #[server(prefix = "/ui/fn", endpoint = "deployments", input = Json, output = crate::resource::JsonOut)]
    pub async fn list_deployments() -> Result<Vec<DeploymentInfo>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::list(&ctx, &caller)
            .await
            .map_err(ssr::shown)
    }

    /// One deployment (secret values are never in it).
    #[server(prefix = "/ui/fn", endpoint = "deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn get_deployment(id: String) -> Result<DeploymentInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::get(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Deploys a catalog entry (operators) and answers at once with the new deployment in
    /// state `starting`; the start goes on in the background (follow it with
    /// [`get_deployment`]).
    #[server(prefix = "/ui/fn", endpoint = "create_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn deploy(request: CreateDeployment) -> Result<DeploymentInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        // The start task is detached: it goes on after this answer.
        let (info, _start) = domain::deployments::create(&ctx, &caller, request)
            .await
            .map_err(ssr::shown)?;
        Ok(info)
    }

    /// Stops a deployment (operators).
    #[server(prefix = "/ui/fn", endpoint = "stop_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn stop_deployment(id: String) -> Result<DeploymentInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::stop(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Starts a stopped, failed or exited deployment (operators); answers when the start has
    /// ended (running, or failed with its reason).
    #[server(prefix = "/ui/fn", endpoint = "start_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn start_deployment(id: String) -> Result<DeploymentInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::start(&ctx, &caller, id.trim(), false)
            .await
            .map_err(ssr::shown)
    }

    /// Stops a deployment and starts it anew (operators); answers when the start has ended.
    #[server(prefix = "/ui/fn", endpoint = "restart_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn restart_deployment(id: String) -> Result<DeploymentInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::start(&ctx, &caller, id.trim(), true)
            .await
            .map_err(ssr::shown)
    }

    /// Deletes a deployment: stops it, removes its container or process, secrets and record
    /// (operators).
    #[server(prefix = "/ui/fn", endpoint = "delete_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn delete_deployment(id: String) -> Result<(), ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::deployments::delete(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Tools, resources and prompts as discovered at the last start; `None` while the
    /// deployment has never been discovered (starting for the first time, or failed).
    #[server(prefix = "/ui/fn", endpoint = "deployment_capabilities", input = Json, output = crate::resource::JsonOut)]
    pub async fn deployment_capabilities(
        id: String,
    ) -> Result<Option<Capabilities>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        match domain::deployments::capabilities(&ctx, &caller, id.trim()).await {
            Ok(caps) => Ok(Some(caps)),
            // The only conflict here is "not discovered yet": not an error for the page.
            Err(domain::DomainError::Conflict(_)) => Ok(None),
            Err(e) => Err(ssr::shown(e)),
        }
    }

    /// Calls a tool of a running deployment (operators). `arguments` is the arguments object
    /// as JSON text (blank is `{}`); anything but a JSON object is refused (422) before the
    /// service layer checks it against the tool's input schema.
    #[server(prefix = "/ui/fn", endpoint = "call_tool", input = Json, output = crate::resource::JsonOut)]
    pub async fn call_deployment_tool(
        id: String,
        tool: String,
        arguments: String,
    ) -> Result<ToolResult, ServerFnError> {
        use domain::DomainError;
        let (ctx, caller) = ssr::service()?;
        caller.require(types::Role::Operator).map_err(ssr::shown)?;
        let text = if arguments.trim().is_empty() {
            "{}"
        } else {
            arguments.as_str()
        };
        let arguments = match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Object(map)) => map,
            Ok(_) => {
                return Err(ssr::shown(DomainError::invalid(
                    "arguments",
                    "must be a JSON object",
                )))
            }
            Err(e) => {
                return Err(ssr::shown(DomainError::invalid(
                    "arguments",
                    format!("not valid JSON ({e})"),
                )))
            }
        };
        let call = types::deployment::ToolCall {
            arguments,
            timeout_ms: None,
        };
        domain::deployments::call_tool(&ctx, &caller, id.trim(), &tool, call)
            .await
            .map_err(ssr::shown)
    }

    /// The last `tail` log lines of a deployment, oldest first (default
    /// [`DEFAULT_LOG_TAIL`]; the service layer caps it).
    #[server(prefix = "/ui/fn", endpoint = "deployment_logs", input = Json, output = crate::resource::JsonOut)]
    pub async fn deployment_logs(
        id: String,
        tail: Option<u32>,
    ) -> Result<Vec<LogLine>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let tail = tail.unwrap_or(DEFAULT_LOG_TAIL) as usize;
        let lines = domain::deployments::logs(&ctx, &caller, id.trim(), tail)
            .await
            .map_err(ssr::shown)?;
        Ok(lines
            .into_iter()
            .map(|l| LogLine {
                at: l.at,
                text: l.text,
            })
            .collect())
    }
}

// ---- Pipeline runs -------------------------------------------------------------------------
//
// `create_pipeline_run` takes the deploy form's request, like `deploy`; the others take a run's
// id or the list's filters.

pub use runs::*;

mod runs {
    use leptos::{prelude::*, server_fn::codec::Json};
    use types::{deployment::CreateDeployment, pipeline::RunInfo, Page};

    #[cfg(feature = "ssr")]
    use super::ssr;

    /// Runs shown per page of the list.
    pub const RUNS_PAGE: u32 = 50;

    /// A page of runs, newest first (steps without their logs). Every filter is optional and
    /// blank is absent: `state` is a run state; `server` and `created_by` are exact names;
    /// `since` is a day (`2026-11-21`, from midnight UTC) or an RFC 3339 time.
    #[server(prefix = "/ui/fn", endpoint = "pipeline_runs", input = Json, output = crate::resource::JsonOut)]
    pub async fn pipeline_runs(
        state: Option<String>,
        server: Option<String>,
        created_by: Option<String>,
        since: Option<String>,
        cursor: Option<String>,
    ) -> Result<Page<RunInfo>, ServerFnError> {
        use types::pipeline::{RunFilter, RunState};
        let (ctx, caller) = ssr::service()?;
        let field = |v: Option<String>| v.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty());
        let state = field(state)
            .map(|s| {
                RunState::parse(&s).ok_or_else(|| {
                    ssr::shown(domain::DomainError::invalid(
                        "state",
                        "must be queued, running, cancelling, succeeded, failed or cancelled",
                    ))
                })
            })
            .transpose()?;
        let since = field(since)
            .map(|s| {
                chrono::NaiveDate::parse_from_str(&s, "%Y-%m-%d")
                    .ok()
                    .and_then(|d| d.and_hms_opt(0, 0, 0))
                    .map(|t| t.and_utc())
                    .or_else(|| {
                        chrono::DateTime::parse_from_rfc3339(&s)
                            .ok()
                            .map(|t| t.with_timezone(&chrono::Utc))
                    })
                    .ok_or_else(|| {
                        ssr::shown(domain::DomainError::invalid(
                            "since",
                            "must be a day such as 2026-11-21",
                        ))
                    })
            })
            .transpose()?;
        let filter = RunFilter {
            state,
            server: field(server),
            created_by: field(created_by),
            since,
            until: None,
            cursor: field(cursor),
            limit: Some(RUNS_PAGE),
        };
        domain::pipeline::list(&ctx, &caller, filter)
            .await
            .map_err(ssr::shown)
    }

    /// One run with its steps and their logs.
    #[server(prefix = "/ui/fn", endpoint = "pipeline_run", input = Json, output = crate::resource::JsonOut)]
    pub async fn pipeline_run(id: String) -> Result<RunInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::pipeline::get(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Starts a pipeline run for a catalog entry (operators): the request is checked at once,
    /// then queued; follow the run on its page.
    #[server(prefix = "/ui/fn", endpoint = "create_pipeline_run", input = Json, output = crate::resource::JsonOut)]
    pub async fn create_pipeline_run(request: CreateDeployment) -> Result<RunInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let (run, _replayed) = domain::pipeline::create(&ctx, &caller, request, None)
            .await
            .map_err(ssr::shown)?;
        Ok(run)
    }

    /// Cancels a queued or running run (operators); a running one is rolled back by its
    /// worker.
    #[server(prefix = "/ui/fn", endpoint = "cancel_pipeline_run", input = Json, output = crate::resource::JsonOut)]
    pub async fn cancel_pipeline_run(id: String) -> Result<RunInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::pipeline::cancel(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Queues a failed or cancelled run again from its failed step (operators).
    #[server(prefix = "/ui/fn", endpoint = "retry_pipeline_run", input = Json, output = crate::resource::JsonOut)]
    pub async fn retry_pipeline_run(id: String) -> Result<RunInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::pipeline::retry(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// Starts a new run with the same request as an ended one (operators).
    #[server(prefix = "/ui/fn", endpoint = "rerun_pipeline_run", input = Json, output = crate::resource::JsonOut)]
    pub async fn rerun_pipeline_run(id: String) -> Result<RunInfo, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::pipeline::rerun(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }
}

// ---- Health --------------------------------------------------------------------------------

pub use health::*;

mod health {
    use leptos::{prelude::*, server_fn::codec::Json};
    use types::{HealthEvent, HealthHistory, HealthView};

    #[cfg(feature = "ssr")]
    use super::ssr;

    /// Longest window of a deployment's history the dashboard asks for (a week).
    pub const HISTORY_MAX_HOURS: u32 = 168;
    /// Health events of one deployment shown.
    pub const EVENTS_SHOWN: u64 = 50;

    /// Every deployment's health, 24-hour uptime, breakers, restarts and the latest incidents.
    #[server(prefix = "/ui/fn", endpoint = "fleet_health", input = Json, output = crate::resource::JsonOut)]
    pub async fn fleet_health() -> Result<types::FleetHealth, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::monitor::history::fleet(&ctx, &caller)
            .await
            .map_err(ssr::shown)
    }

    /// A deployment's checks of the last `hours` hours (1 to [`HISTORY_MAX_HOURS`]), oldest
    /// first, with its uptime over them.
    #[server(prefix = "/ui/fn", endpoint = "deployment_health_history", input = Json, output = crate::resource::JsonOut)]
    pub async fn deployment_health_history(
        id: String,
        hours: u32,
    ) -> Result<HealthHistory, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        let since =
            chrono::Utc::now() - chrono::Duration::hours(hours.clamp(1, HISTORY_MAX_HOURS) as i64);
        domain::monitor::history::history(&ctx, &caller, id.trim(), since)
            .await
            .map_err(ssr::shown)
    }

    /// A deployment's latest health events, newest first.
    #[server(prefix = "/ui/fn", endpoint = "deployment_health_events", input = Json, output = crate::resource::JsonOut)]
    pub async fn deployment_health_events(id: String) -> Result<Vec<HealthEvent>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::monitor::history::events(&ctx, &caller, Some(id.trim()), EVENTS_SHOWN)
            .await
            .map_err(ssr::shown)
    }

    /// Checks a deployment at once (operators) and answers with its health.
    #[server(prefix = "/ui/fn", endpoint = "recheck_deployment", input = Json, output = crate::resource::JsonOut)]
    pub async fn recheck_deployment(id: String) -> Result<HealthView, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        domain::monitor::recheck(&ctx, &caller, id.trim())
            .await
            .map_err(ssr::shown)
    }

    /// This instance in detail (database, Docker engine, workers, queue, CPU, memory, threads);
    /// `None` for callers who are not admins (the page then leaves the panel out).
    #[server(prefix = "/ui/fn", endpoint = "system_health", input = Json, output = crate::resource::JsonOut)]
    pub async fn system_health() -> Result<Option<types::SystemHealth>, ServerFnError> {
        let (ctx, caller) = ssr::service()?;
        caller.require(types::Role::Viewer).map_err(ssr::shown)?;
        match domain::health::detailed(&ctx, &caller).await {
            Ok(h) => Ok(Some(h)),
            Err(domain::DomainError::Forbidden(_)) => Ok(None),
            Err(e) => Err(ssr::shown(e)),
        }
    }
}
