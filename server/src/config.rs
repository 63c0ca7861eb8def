//! Typed, layered configuration: defaults → optional TOML file → `MCPO_*` environment.
//!
//! Every setting has one dotted key (as written in the TOML file), one environment variable
//! and a default. Layers are merged as raw text with their origin, then parsed once into
//! [`Config`], so an error can always name the setting and where its value came from. An
//! unknown key in a file is an error (a typo would otherwise be silently ignored).

use std::{collections::BTreeMap, fmt, net::SocketAddr, path::PathBuf, time::Duration};

use domain::{DatabaseUrl, DbOptions};
use types::{ConfigSetting, ConfigValidation};

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when standard error is not a terminal, readable text when it is.
    Auto,
    /// One JSON object per line (production).
    Json,
    /// Human-readable lines (development).
    Pretty,
}

/// The validated configuration. Holding one means every value is usable.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address the HTTP server binds.
    pub listen: SocketAddr,
    /// The database.
    pub database_url: DatabaseUrl,
    /// Pool settings.
    pub database: DbOptions,
    /// Directory holding the built site (`pkg/` with JS, WASM and CSS; public files).
    pub site_root: PathBuf,
    /// Log output format.
    pub log_format: LogFormat,
    /// OTLP trace export (`telemetry.otlp_endpoint`), off when empty.
    pub otlp: Option<crate::otlp::OtlpSettings>,
    /// Largest request body accepted, in bytes.
    pub body_limit: usize,
    /// How long a SIGTERM waits for in-flight requests before exiting anyway.
    pub shutdown_grace: Duration,
    /// Sign-in, sessions and cookies.
    pub auth: AuthConfig,
    /// Request rate limits.
    pub rate_limit: RateLimitConfig,
    /// Origins allowed to call the API from browsers (CORS); empty: same origin only.
    pub cors_origins: Vec<String>,
    /// Send `Strict-Transport-Security` (set when a TLS-terminating proxy fronts the server).
    pub hsts: bool,
    /// Where the secret-store key lives when `MCPO_SECRET_KEY` is not set (created if missing).
    pub secret_key_file: PathBuf,
    /// Registry syncs: limits, retries, schedule.
    pub registry: domain::registries::Settings,
    /// Deployments: runtimes, limits, timeouts.
    pub deploy: domain::deployments::Settings,
    /// Pipeline runs: worker pool, retries, leases.
    pub pipeline: domain::pipeline::Settings,
    /// Health checks and self-healing (`health.*`).
    pub health: domain::monitor::Settings,
}

/// Whether the session cookie carries the `Secure` attribute.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CookieSecure {
    /// Secure, unless the server listens on a loopback address (plain HTTP for local use).
    Auto,
    /// Always Secure (behind a TLS-terminating proxy).
    Always,
    /// Never Secure (only for plain HTTP on a trusted network; say so explicitly).
    Never,
}

/// Sign-in, sessions and cookies.
#[derive(Clone, Debug)]
pub struct AuthConfig {
    /// Password for the initial `admin` (first start with no users); random when unset.
    pub admin_password: Option<String>,
    /// A session ends after this long without a request.
    pub session_idle: Duration,
    /// A session ends this long after sign-in, however active.
    pub session_absolute: Duration,
    /// The `Secure` cookie attribute.
    pub cookie_secure: CookieSecure,
    /// Sign-in through an identity provider, when configured.
    pub oidc: Option<OidcConfig>,
}

/// How to find the provider's endpoints.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderEndpoints {
    /// OpenID Connect: endpoints and keys from `{issuer}/.well-known/openid-configuration`;
    /// the ID token (signature, issuer, audience, expiry, nonce) identifies the user.
    Discovery { issuer: String },
    /// Plain OAuth2 (GitHub style): the user comes from the user-info endpoint.
    Manual {
        authorize_url: String,
        token_url: String,
        userinfo_url: String,
    },
}

/// Sign-in through an OpenID Connect or plain OAuth2 provider (authorization code + PKCE).
#[derive(Clone, Debug)]
pub struct OidcConfig {
    /// Where the endpoints come from.
    pub endpoints: ProviderEndpoints,
    /// Client id registered at the provider.
    pub client_id: String,
    /// Client secret (never shown).
    pub client_secret: Option<String>,
    /// Scopes to ask for, e.g. `openid email profile`.
    pub scopes: Vec<String>,
    /// The callback URL registered at the provider (`…/auth/oidc/callback`).
    pub redirect_url: String,
    /// Label of the sign-in button.
    pub display_name: String,
    /// E-mail domains allowed in (empty: no domain rule).
    pub allowed_domains: Vec<String>,
    /// E-mail addresses or user names allowed in (empty: no user rule).
    pub allowed_users: Vec<String>,
    /// A claim (or user-info field) holding `viewer`, `operator` or `admin`.
    pub role_claim: Option<String>,
    /// Role for allowed identities without a role claim; `None` admits nobody without one.
    pub default_role: Option<types::Role>,
}

/// Request rate limits (per client IP and per principal).
#[derive(Clone, Debug)]
pub struct RateLimitConfig {
    /// Sustained requests per second per client IP (0 turns limiting off).
    pub per_ip_per_second: u32,
    /// Burst allowance per client IP.
    pub per_ip_burst: u32,
    /// Sustained requests per second per signed-in user or API key.
    pub per_principal_per_second: u32,
    /// Burst allowance per principal.
    pub per_principal_burst: u32,
    /// Sign-in attempts per minute per client IP.
    pub login_per_minute: u32,
    /// Proxies whose `X-Forwarded-For` is believed (exact addresses).
    pub trusted_proxies: Vec<std::net::IpAddr>,
}

impl Config {
    /// Whether the session cookie is `Secure`.
    pub fn secure_cookies(&self) -> bool {
        match self.auth.cookie_secure {
            CookieSecure::Always => true,
            CookieSecure::Never => false,
            CookieSecure::Auto => !self.listen.ip().is_loopback(),
        }
    }
}

/// One known setting.
struct Setting {
    key: &'static str,
    env: &'static str,
    /// A second variable name honoured for compatibility (e.g. `DATABASE_URL`).
    alias: Option<&'static str>,
    default: &'static str,
    /// Its value is never shown (logs, errors, API answers).
    secret: bool,
}

const fn setting(key: &'static str, env: &'static str, default: &'static str) -> Setting {
    Setting {
        key,
        env,
        alias: None,
        default,
        secret: false,
    }
}

/// Every setting, in the order they are listed to people.
const SETTINGS: &[Setting] = &[
    setting("listen", "MCPO_LISTEN", "127.0.0.1:3000"),
    Setting {
        key: "database.url",
        env: "MCPO_DATABASE_URL",
        alias: Some("DATABASE_URL"),
        default: "sqlite://data/mcp-orchestrator.db",
        secret: true,
    },
    setting(
        "database.max_connections",
        "MCPO_DATABASE_MAX_CONNECTIONS",
        "10",
    ),
    setting(
        "database.busy_timeout_ms",
        "MCPO_DATABASE_BUSY_TIMEOUT_MS",
        "5000",
    ),
    setting(
        "database.acquire_timeout_ms",
        "MCPO_DATABASE_ACQUIRE_TIMEOUT_MS",
        "5000",
    ),
    setting("site_root", "MCPO_SITE_ROOT", "target/site"),
    setting("log.format", "MCPO_LOG_FORMAT", "auto"),
    setting(
        "telemetry.otlp_endpoint",
        "MCPO_TELEMETRY_OTLP_ENDPOINT",
        "",
    ),
    setting(
        "telemetry.service_name",
        "MCPO_TELEMETRY_SERVICE_NAME",
        "mcp-orchestrator",
    ),
    setting(
        "http.body_limit_bytes",
        "MCPO_HTTP_BODY_LIMIT_BYTES",
        "1048576",
    ),
    setting(
        "http.shutdown_grace_seconds",
        "MCPO_HTTP_SHUTDOWN_GRACE_SECONDS",
        "30",
    ),
    Setting {
        key: "auth.admin_password",
        env: "MCPO_ADMIN_PASSWORD",
        alias: None,
        default: "",
        secret: true,
    },
    setting(
        "auth.session_idle_minutes",
        "MCPO_AUTH_SESSION_IDLE_MINUTES",
        "480",
    ),
    setting(
        "auth.session_absolute_hours",
        "MCPO_AUTH_SESSION_ABSOLUTE_HOURS",
        "24",
    ),
    setting("auth.cookie_secure", "MCPO_AUTH_COOKIE_SECURE", "auto"),
    setting("auth.oidc.issuer_url", "MCPO_AUTH_OIDC_ISSUER_URL", ""),
    setting(
        "auth.oidc.authorize_url",
        "MCPO_AUTH_OIDC_AUTHORIZE_URL",
        "",
    ),
    setting("auth.oidc.token_url", "MCPO_AUTH_OIDC_TOKEN_URL", ""),
    setting("auth.oidc.userinfo_url", "MCPO_AUTH_OIDC_USERINFO_URL", ""),
    setting("auth.oidc.client_id", "MCPO_AUTH_OIDC_CLIENT_ID", ""),
    Setting {
        key: "auth.oidc.client_secret",
        env: "MCPO_AUTH_OIDC_CLIENT_SECRET",
        alias: None,
        default: "",
        secret: true,
    },
    setting(
        "auth.oidc.scopes",
        "MCPO_AUTH_OIDC_SCOPES",
        "openid email profile",
    ),
    setting("auth.oidc.redirect_url", "MCPO_AUTH_OIDC_REDIRECT_URL", ""),
    setting(
        "auth.oidc.display_name",
        "MCPO_AUTH_OIDC_DISPLAY_NAME",
        "single sign-on",
    ),
    setting(
        "auth.oidc.allowed_domains",
        "MCPO_AUTH_OIDC_ALLOWED_DOMAINS",
        "",
    ),
    setting(
        "auth.oidc.allowed_users",
        "MCPO_AUTH_OIDC_ALLOWED_USERS",
        "",
    ),
    setting("auth.oidc.role_claim", "MCPO_AUTH_OIDC_ROLE_CLAIM", ""),
    setting(
        "auth.oidc.default_role",
        "MCPO_AUTH_OIDC_DEFAULT_ROLE",
        "none",
    ),
    setting(
        "rate_limit.per_ip_per_second",
        "MCPO_RATE_LIMIT_PER_IP_PER_SECOND",
        "50",
    ),
    setting(
        "rate_limit.per_ip_burst",
        "MCPO_RATE_LIMIT_PER_IP_BURST",
        "200",
    ),
    setting(
        "rate_limit.per_principal_per_second",
        "MCPO_RATE_LIMIT_PER_PRINCIPAL_PER_SECOND",
        "100",
    ),
    setting(
        "rate_limit.per_principal_burst",
        "MCPO_RATE_LIMIT_PER_PRINCIPAL_BURST",
        "400",
    ),
    setting(
        "rate_limit.login_per_minute",
        "MCPO_RATE_LIMIT_LOGIN_PER_MINUTE",
        "10",
    ),
    setting(
        "rate_limit.trusted_proxies",
        "MCPO_RATE_LIMIT_TRUSTED_PROXIES",
        "",
    ),
    setting("http.cors_origins", "MCPO_HTTP_CORS_ORIGINS", ""),
    setting("http.hsts", "MCPO_HTTP_HSTS", "false"),
    setting(
        "secrets.key_file",
        "MCPO_SECRETS_KEY_FILE",
        "data/secret.key",
    ),
    setting(
        "registry.allowed_http_hosts",
        "MCPO_REGISTRY_ALLOWED_HTTP_HOSTS",
        "",
    ),
    setting("registry.file_roots", "MCPO_REGISTRY_FILE_ROOTS", ""),
    setting(
        "registry.request_timeout_ms",
        "MCPO_REGISTRY_REQUEST_TIMEOUT_MS",
        "30000",
    ),
    setting(
        "registry.sync_timeout_secs",
        "MCPO_REGISTRY_SYNC_TIMEOUT_SECS",
        "600",
    ),
    setting("registry.max_attempts", "MCPO_REGISTRY_MAX_ATTEMPTS", "4"),
    setting(
        "registry.retry_base_ms",
        "MCPO_REGISTRY_RETRY_BASE_MS",
        "500",
    ),
    setting(
        "registry.retry_max_ms",
        "MCPO_REGISTRY_RETRY_MAX_MS",
        "30000",
    ),
    setting("registry.page_size", "MCPO_REGISTRY_PAGE_SIZE", "100"),
    setting("registry.max_pages", "MCPO_REGISTRY_MAX_PAGES", "2000"),
    setting(
        "registry.max_entries",
        "MCPO_REGISTRY_MAX_ENTRIES",
        "100000",
    ),
    setting(
        "registry.max_response_bytes",
        "MCPO_REGISTRY_MAX_RESPONSE_BYTES",
        "16777216",
    ),
    setting(
        "registry.min_sync_gap_secs",
        "MCPO_REGISTRY_MIN_SYNC_GAP_SECS",
        "10",
    ),
    setting(
        "registry.min_interval_secs",
        "MCPO_REGISTRY_MIN_INTERVAL_SECS",
        "60",
    ),
    setting(
        "registry.scheduler_tick_ms",
        "MCPO_REGISTRY_SCHEDULER_TICK_MS",
        "5000",
    ),
    setting("deploy.docker", "MCPO_DEPLOY_DOCKER", "true"),
    setting(
        "deploy.data_dir",
        "MCPO_DEPLOY_DATA_DIR",
        "data/deployments",
    ),
    setting(
        "deploy.start_timeout_secs",
        "MCPO_DEPLOY_START_TIMEOUT_SECS",
        "120",
    ),
    setting(
        "deploy.stop_grace_secs",
        "MCPO_DEPLOY_STOP_GRACE_SECS",
        "10",
    ),
    setting("deploy.memory_mb", "MCPO_DEPLOY_MEMORY_MB", "512"),
    setting("deploy.cpus_milli", "MCPO_DEPLOY_CPUS_MILLI", "1000"),
    setting("deploy.pids_limit", "MCPO_DEPLOY_PIDS_LIMIT", "256"),
    setting(
        "deploy.npm_runner_image",
        "MCPO_DEPLOY_NPM_RUNNER_IMAGE",
        "node:22-alpine",
    ),
    setting(
        "deploy.pypi_runner_image",
        "MCPO_DEPLOY_PYPI_RUNNER_IMAGE",
        "ghcr.io/astral-sh/uv:python3.12-alpine",
    ),
    setting("deploy.pull", "MCPO_DEPLOY_PULL", "false"),
    setting("pipeline.concurrency", "MCPO_PIPELINE_CONCURRENCY", "4"),
    setting("pipeline.step_attempts", "MCPO_PIPELINE_STEP_ATTEMPTS", "3"),
    setting(
        "pipeline.retry_base_ms",
        "MCPO_PIPELINE_RETRY_BASE_MS",
        "500",
    ),
    setting(
        "pipeline.retry_max_ms",
        "MCPO_PIPELINE_RETRY_MAX_MS",
        "10000",
    ),
    setting(
        "pipeline.step_timeout_secs",
        "MCPO_PIPELINE_STEP_TIMEOUT_SECS",
        "300",
    ),
    setting("pipeline.lease_secs", "MCPO_PIPELINE_LEASE_SECS", "30"),
    setting("pipeline.poll_ms", "MCPO_PIPELINE_POLL_MS", "1000"),
    setting("health.interval_ms", "MCPO_HEALTH_INTERVAL_MS", "10000"),
    setting("health.timeout_ms", "MCPO_HEALTH_TIMEOUT_MS", "5000"),
    setting("health.unhealthy_after", "MCPO_HEALTH_UNHEALTHY_AFTER", "3"),
    setting("health.concurrency", "MCPO_HEALTH_CONCURRENCY", "32"),
    setting(
        "health.restart_base_ms",
        "MCPO_HEALTH_RESTART_BASE_MS",
        "1000",
    ),
    setting(
        "health.restart_max_ms",
        "MCPO_HEALTH_RESTART_MAX_MS",
        "300000",
    ),
    setting(
        "health.crash_loop_restarts",
        "MCPO_HEALTH_CRASH_LOOP_RESTARTS",
        "5",
    ),
    setting(
        "health.crash_loop_window_secs",
        "MCPO_HEALTH_CRASH_LOOP_WINDOW_SECS",
        "600",
    ),
    setting(
        "health.breaker_failures",
        "MCPO_HEALTH_BREAKER_FAILURES",
        "5",
    ),
    setting(
        "health.breaker_open_ms",
        "MCPO_HEALTH_BREAKER_OPEN_MS",
        "30000",
    ),
    setting(
        "health.minutes_kept_hours",
        "MCPO_HEALTH_MINUTES_KEPT_HOURS",
        "6",
    ),
    setting("health.retention_days", "MCPO_HEALTH_RETENTION_DAYS", "30"),
    setting(
        "deploy.max_result_bytes",
        "MCPO_DEPLOY_MAX_RESULT_BYTES",
        "4194304",
    ),
];

/// Where a value came from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Origin {
    /// The built-in default.
    Default,
    /// A configuration file (its path).
    File(String),
    /// An environment variable (its name).
    Env(String),
    /// A document sent to `POST /api/v1/config/validate`.
    Document,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Default => f.write_str("default"),
            Self::File(path) => write!(f, "config file {path}"),
            Self::Env(name) => write!(f, "environment variable {name}"),
            Self::Document => f.write_str("the submitted document"),
        }
    }
}

/// Why the configuration cannot be used. The message names the setting and never a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// A value does not parse or is out of range.
    #[error("invalid setting `{key}` (from {origin}): {message}")]
    Invalid {
        key: String,
        origin: Origin,
        message: String,
    },
    /// A key that no setting has.
    #[error("unknown setting `{key}` in {origin}")]
    Unknown { key: String, origin: Origin },
    /// The file could not be read or is not TOML.
    #[error("cannot use config file {path}: {message}")]
    File { path: String, message: String },
}

impl ConfigError {
    /// The dotted key of the setting at fault, if the error is about one.
    pub fn key(&self) -> Option<&str> {
        match self {
            Self::Invalid { key, .. } | Self::Unknown { key, .. } => Some(key),
            Self::File { .. } => None,
        }
    }
}

/// Raw values with their origin, layered over the defaults.
#[derive(Clone, Debug)]
pub struct Layers {
    values: BTreeMap<&'static str, (String, Origin)>,
}

impl Default for Layers {
    fn default() -> Self {
        Self {
            values: SETTINGS
                .iter()
                .map(|s| (s.key, (s.default.to_owned(), Origin::Default)))
                .collect(),
        }
    }
}

impl Layers {
    /// Applies `key = value` pairs (dotted keys) from one source.
    pub fn apply(
        &mut self,
        pairs: impl IntoIterator<Item = (String, String)>,
        origin: &Origin,
    ) -> Result<(), ConfigError> {
        for (key, value) in pairs {
            let setting =
                SETTINGS
                    .iter()
                    .find(|s| s.key == key)
                    .ok_or_else(|| ConfigError::Unknown {
                        key: key.clone(),
                        origin: origin.clone(),
                    })?;
            self.values.insert(setting.key, (value, origin.clone()));
        }
        Ok(())
    }

    /// Applies a TOML document (tables become dotted keys).
    pub fn apply_toml(&mut self, text: &str, path: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError::File {
                path: path.to_owned(),
                message: e.message().to_owned(),
            })?;
        let mut pairs = Vec::new();
        flatten_toml("", &toml::Value::Table(table), &mut pairs, path)?;
        self.apply(pairs, &Origin::File(path.to_owned()))
    }

    /// Applies a JSON object (nested objects become dotted keys).
    pub fn apply_json(&mut self, doc: &serde_json::Value) -> Result<(), ConfigError> {
        let mut pairs = Vec::new();
        flatten_json("", doc, &mut pairs)?;
        self.apply(pairs, &Origin::Document)
    }

    /// Applies `MCPO_*` variables (and aliases) found in `env`.
    pub fn apply_env<'a>(&mut self, env: impl Fn(&str) -> Option<String> + 'a) {
        for s in SETTINGS {
            let found = [Some(s.env), s.alias]
                .into_iter()
                .flatten()
                .find_map(|name| env(name).map(|v| (name, v)));
            if let Some((name, value)) = found {
                self.values
                    .insert(s.key, (value, Origin::Env(name.to_owned())));
            }
        }
    }

    /// Parses every value into a [`Config`].
    pub fn resolve(&self) -> Result<Config, ConfigError> {
        let p = Parser { layers: self };
        Ok(Config {
            listen: p.parse("listen", |v| {
                v.parse::<SocketAddr>()
                    .map_err(|_| "expected an address like 127.0.0.1:3000 or [::1]:3000".to_owned())
            })?,
            database_url: p.parse("database.url", DatabaseUrl::parse)?,
            database: DbOptions {
                max_connections: p.parse("database.max_connections", |v| int_in(v, 1, 1000))?,
                busy_timeout: Duration::from_millis(
                    p.parse("database.busy_timeout_ms", |v| int_in(v, 0, 600_000))?,
                ),
                acquire_timeout: Duration::from_millis(
                    p.parse("database.acquire_timeout_ms", |v| int_in(v, 1, 600_000))?,
                ),
            },
            site_root: p.parse("site_root", |v| {
                if v.trim().is_empty() {
                    Err("must not be empty".to_owned())
                } else {
                    Ok(PathBuf::from(v))
                }
            })?,
            log_format: p.parse("log.format", |v| match v.to_ascii_lowercase().as_str() {
                "auto" => Ok(LogFormat::Auto),
                "json" => Ok(LogFormat::Json),
                "pretty" | "text" => Ok(LogFormat::Pretty),
                _ => Err("expected auto, json or pretty".to_owned()),
            })?,
            otlp: {
                let endpoint: String = p.parse("telemetry.otlp_endpoint", |v| {
                    let v = v.trim();
                    if v.is_empty() || v.starts_with("http://") || v.starts_with("https://") {
                        Ok(v.to_owned())
                    } else {
                        Err(
                            "expected an http(s) URL of an OTLP/HTTP receiver, or nothing"
                                .to_owned(),
                        )
                    }
                })?;
                let service_name: String = p.parse("telemetry.service_name", |v| {
                    if v.trim().is_empty() {
                        Err("must not be empty".to_owned())
                    } else {
                        Ok(v.trim().to_owned())
                    }
                })?;
                (!endpoint.is_empty()).then_some(crate::otlp::OtlpSettings {
                    endpoint,
                    service_name,
                })
            },
            body_limit: p.parse("http.body_limit_bytes", |v| int_in(v, 1024, 1 << 30))?,
            shutdown_grace: Duration::from_secs(
                p.parse("http.shutdown_grace_seconds", |v| int_in(v, 0, 3600))?,
            ),
            auth: AuthConfig {
                admin_password: p.parse("auth.admin_password", |v| {
                    if v.is_empty() {
                        Ok(None)
                    } else {
                        types::NewPassword::parse(v)
                            .map(|_| Some(v.to_owned()))
                            .map_err(|e| e.message)
                    }
                })?,
                session_idle: Duration::from_secs(
                    60 * p
                        .parse::<u64>("auth.session_idle_minutes", |v| int_in(v, 1, 7 * 24 * 60))?,
                ),
                session_absolute: Duration::from_secs(
                    3600 * p
                        .parse::<u64>("auth.session_absolute_hours", |v| int_in(v, 1, 30 * 24))?,
                ),
                cookie_secure: p.parse("auth.cookie_secure", |v| {
                    match v.to_ascii_lowercase().as_str() {
                        "auto" => Ok(CookieSecure::Auto),
                        "true" | "always" => Ok(CookieSecure::Always),
                        "false" | "never" => Ok(CookieSecure::Never),
                        _ => Err("expected auto, true or false".to_owned()),
                    }
                })?,
                oidc: self.oidc(&p)?,
            },
            rate_limit: RateLimitConfig {
                per_ip_per_second: p
                    .parse("rate_limit.per_ip_per_second", |v| int_in(v, 0, 1_000_000))?,
                per_ip_burst: p.parse("rate_limit.per_ip_burst", |v| int_in(v, 1, 1_000_000))?,
                per_principal_per_second: p.parse("rate_limit.per_principal_per_second", |v| {
                    int_in(v, 0, 1_000_000)
                })?,
                per_principal_burst: p.parse("rate_limit.per_principal_burst", |v| {
                    int_in(v, 1, 1_000_000)
                })?,
                login_per_minute: p
                    .parse("rate_limit.login_per_minute", |v| int_in(v, 1, 10_000))?,
                trusted_proxies: p.parse("rate_limit.trusted_proxies", |v| {
                    list(v)
                        .iter()
                        .map(|a| a.parse().map_err(|_| format!("{a:?} is not an IP address")))
                        .collect()
                })?,
            },
            cors_origins: p.parse("http.cors_origins", |v| {
                list(v)
                    .into_iter()
                    .map(|o| {
                        let ok = (o.starts_with("https://") || o.starts_with("http://"))
                            && !o.ends_with('/')
                            && o != "*";
                        if ok {
                            Ok(o)
                        } else {
                            Err(format!(
                                "{o:?} is not an origin like https://ops.example.com"
                            ))
                        }
                    })
                    .collect()
            })?,
            hsts: p.parse("http.hsts", boolean)?,
            secret_key_file: p.parse("secrets.key_file", |v| {
                if v.is_empty() {
                    Err("must not be empty".to_owned())
                } else {
                    Ok(PathBuf::from(v))
                }
            })?,
            registry: self.registry(&p)?,
            deploy: self.deploy(&p)?,
            pipeline: self.pipeline(&p)?,
            health: self.health(&p)?,
        })
    }

    fn health(&self, p: &Parser<'_>) -> Result<domain::monitor::Settings, ConfigError> {
        let ms = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(
                p.parse(key, |v| int_in(v, min, max))?,
            ))
        };
        let hours = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(
                3600 * p.parse::<u64>(key, |v| int_in(v, min, max))?,
            ))
        };
        Ok(domain::monitor::Settings {
            interval: ms("health.interval_ms", 500, 3_600_000)?,
            timeout: ms("health.timeout_ms", 100, 300_000)?,
            unhealthy_after: p.parse("health.unhealthy_after", |v| int_in(v, 1, 100))?,
            concurrency: p.parse("health.concurrency", |v| int_in(v, 1, 4096))?,
            restart_base: ms("health.restart_base_ms", 1, 3_600_000)?,
            restart_max: ms("health.restart_max_ms", 1, 86_400_000)?,
            crash_loop_restarts: p.parse("health.crash_loop_restarts", |v| int_in(v, 1, 1000))?,
            crash_loop_window: Duration::from_secs(
                p.parse("health.crash_loop_window_secs", |v| int_in(v, 1, 86_400))?,
            ),
            breaker: domain::monitor::breaker::BreakerSettings {
                failures: p.parse("health.breaker_failures", |v| int_in(v, 1, 1000))?,
                open_for: ms("health.breaker_open_ms", 100, 3_600_000)?,
            },
            minutes_kept: hours("health.minutes_kept_hours", 1, 24 * 30)?,
            retention: hours("health.retention_days", 1, 3650).map(|d| d * 24)?,
        })
    }

    fn pipeline(&self, p: &Parser<'_>) -> Result<domain::pipeline::Settings, ConfigError> {
        let ms = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(
                p.parse(key, |v| int_in(v, min, max))?,
            ))
        };
        let secs = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(p.parse(key, |v| int_in(v, min, max))?))
        };
        Ok(domain::pipeline::Settings {
            concurrency: p.parse("pipeline.concurrency", |v| int_in(v, 1, 256))?,
            step_attempts: p.parse("pipeline.step_attempts", |v| int_in(v, 1, 20))?,
            retry_base: ms("pipeline.retry_base_ms", 1, 600_000)?,
            retry_max: ms("pipeline.retry_max_ms", 1, 3_600_000)?,
            step_timeout: secs("pipeline.step_timeout_secs", 1, 86_400)?,
            lease: secs("pipeline.lease_secs", 3, 3600)?,
            poll: ms("pipeline.poll_ms", 50, 60_000)?,
        })
    }

    fn deploy(&self, p: &Parser<'_>) -> Result<domain::deployments::Settings, ConfigError> {
        let text = |key: &'static str| {
            p.parse(key, |v| {
                if v.trim().is_empty() {
                    Err("must not be empty".to_owned())
                } else {
                    Ok(v.trim().to_owned())
                }
            })
        };
        let memory_mb: i64 = p.parse("deploy.memory_mb", |v| int_in(v, 16, 1 << 20))?;
        let cpus_milli: i64 = p.parse("deploy.cpus_milli", |v| int_in(v, 10, 1_000_000))?;
        Ok(domain::deployments::Settings {
            docker: p.parse("deploy.docker", boolean)?,
            docker_settings: domain::runtime::docker::DockerSettings {
                memory_bytes: memory_mb * 1024 * 1024,
                nano_cpus: cpus_milli * 1_000_000,
                pids_limit: p.parse("deploy.pids_limit", |v| int_in(v, 8, 1 << 20))?,
                npm_runner_image: text("deploy.npm_runner_image")?,
                pypi_runner_image: text("deploy.pypi_runner_image")?,
                pull: p.parse("deploy.pull", boolean)?,
            },
            data_dir: PathBuf::from(text("deploy.data_dir")?),
            start_timeout: Duration::from_secs(
                p.parse("deploy.start_timeout_secs", |v| int_in(v, 1, 3600))?,
            ),
            stop_grace: Duration::from_secs(
                p.parse("deploy.stop_grace_secs", |v| int_in(v, 0, 600))?,
            ),
            mcp: domain::mcp::Limits {
                max_result_bytes: p
                    .parse("deploy.max_result_bytes", |v| int_in(v, 1024, 1 << 30))?,
                ..domain::mcp::Limits::default()
            },
            max_call_timeout: Duration::from_secs(600),
        })
    }

    fn registry(&self, p: &Parser<'_>) -> Result<domain::registries::Settings, ConfigError> {
        let ms = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_millis(
                p.parse(key, |v| int_in(v, min, max))?,
            ))
        };
        let secs = |key: &'static str, min: u64, max: u64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(p.parse(key, |v| int_in(v, min, max))?))
        };
        Ok(domain::registries::Settings {
            allowed_http_hosts: p.parse("registry.allowed_http_hosts", |v| Ok(list(v)))?,
            file_roots: p.parse("registry.file_roots", |v| {
                list(v)
                    .into_iter()
                    .map(|r| {
                        let path = PathBuf::from(&r);
                        if path.is_absolute() {
                            Ok(path)
                        } else {
                            Err(format!("{r:?} is not an absolute path"))
                        }
                    })
                    .collect()
            })?,
            request_timeout: ms("registry.request_timeout_ms", 100, 600_000)?,
            sync_timeout: secs("registry.sync_timeout_secs", 1, 86_400)?,
            max_attempts: p.parse("registry.max_attempts", |v| int_in(v, 1, 20))?,
            retry_base: ms("registry.retry_base_ms", 1, 600_000)?,
            retry_max: ms("registry.retry_max_ms", 1, 3_600_000)?,
            page_size: p.parse("registry.page_size", |v| int_in(v, 1, 1000))?,
            max_pages: p.parse("registry.max_pages", |v| int_in(v, 1, 1_000_000))?,
            max_entries: p.parse("registry.max_entries", |v| int_in(v, 1, 10_000_000))?,
            max_response_bytes: p
                .parse("registry.max_response_bytes", |v| int_in(v, 1024, 1 << 30))?,
            min_sync_gap: secs("registry.min_sync_gap_secs", 0, 86_400)?,
            min_interval: secs("registry.min_interval_secs", 1, 86_400)?,
            scheduler_tick: ms("registry.scheduler_tick_ms", 100, 3_600_000)?,
        })
    }

    fn oidc(&self, p: &Parser<'_>) -> Result<Option<OidcConfig>, ConfigError> {
        let text = |key: &'static str| p.parse(key, |v| Ok::<_, String>(v.to_owned()));
        let url = |key: &'static str| {
            p.parse(key, |v| {
                if v.is_empty() || v.starts_with("https://") || is_loopback_http(v) {
                    Ok(v.to_owned())
                } else {
                    Err("must be an https:// URL (plain http only on loopback)".to_owned())
                }
            })
        };
        let client_id = text("auth.oidc.client_id")?;
        let issuer = url("auth.oidc.issuer_url")?;
        let (authorize, token, userinfo) = (
            url("auth.oidc.authorize_url")?,
            url("auth.oidc.token_url")?,
            url("auth.oidc.userinfo_url")?,
        );
        if client_id.is_empty() {
            if !issuer.is_empty() || !authorize.is_empty() {
                return Err(self.invalid(
                    "auth.oidc.client_id",
                    "is needed when an identity provider is configured",
                ));
            }
            return Ok(None);
        }
        let endpoints = if !issuer.is_empty() {
            ProviderEndpoints::Discovery {
                issuer: issuer.trim_end_matches('/').to_owned(),
            }
        } else if !authorize.is_empty() && !token.is_empty() && !userinfo.is_empty() {
            ProviderEndpoints::Manual {
                authorize_url: authorize,
                token_url: token,
                userinfo_url: userinfo,
            }
        } else {
            return Err(self.invalid(
                "auth.oidc.issuer_url",
                "set an issuer URL (OpenID Connect) or all of authorize_url, token_url and userinfo_url (plain OAuth2)",
            ));
        };
        let redirect_url = url("auth.oidc.redirect_url")?;
        if redirect_url.is_empty() {
            return Err(self.invalid("auth.oidc.redirect_url", "is needed: the callback URL registered at the provider, ending in /auth/oidc/callback"));
        }
        let secret = text("auth.oidc.client_secret")?;
        Ok(Some(OidcConfig {
            endpoints,
            client_id,
            client_secret: (!secret.is_empty()).then_some(secret),
            scopes: text("auth.oidc.scopes")?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            redirect_url,
            display_name: text("auth.oidc.display_name")?,
            allowed_domains: list(&text("auth.oidc.allowed_domains")?)
                .into_iter()
                .map(|d| d.to_ascii_lowercase())
                .collect(),
            allowed_users: list(&text("auth.oidc.allowed_users")?)
                .into_iter()
                .map(|u| u.to_ascii_lowercase())
                .collect(),
            role_claim: Some(text("auth.oidc.role_claim")?).filter(|c| !c.is_empty()),
            default_role: p.parse("auth.oidc.default_role", |v| match v {
                "none" | "" => Ok(None),
                r => r
                    .parse::<types::Role>()
                    .map(Some)
                    .map_err(|e| format!("{e}, or none")),
            })?,
        }))
    }

    fn invalid(&self, key: &str, message: &str) -> ConfigError {
        let origin = self
            .values
            .get(key)
            .map_or(Origin::Default, |(_, o)| o.clone());
        ConfigError::Invalid {
            key: key.to_owned(),
            origin,
            message: message.to_owned(),
        }
    }

    /// Every setting with its effective value (secrets redacted) — for `config check` and the API.
    pub fn describe(&self, config: &Config) -> ConfigValidation {
        let settings = SETTINGS
            .iter()
            .map(|s| {
                let value = if s.key == "database.url" {
                    config.database_url.redacted()
                } else if s.secret {
                    if self.values[s.key].0.is_empty() {
                        String::new()
                    } else {
                        "***".to_owned()
                    }
                } else {
                    self.values[s.key].0.clone()
                };
                ConfigSetting {
                    key: s.key.to_owned(),
                    env: s.env.to_owned(),
                    value,
                }
            })
            .collect();
        ConfigValidation { settings }
    }

    /// Where the value of `key` came from.
    pub fn origin(&self, key: &str) -> Option<&Origin> {
        self.values.get(key).map(|(_, o)| o)
    }
}

struct Parser<'a> {
    layers: &'a Layers,
}

impl Parser<'_> {
    fn parse<T>(
        &self,
        key: &'static str,
        f: impl Fn(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (raw, origin) = &self.layers.values[key];
        let secret = SETTINGS.iter().any(|s| s.key == key && s.secret);
        f(raw.trim()).map_err(|message| ConfigError::Invalid {
            key: key.to_owned(),
            origin: origin.clone(),
            // Echo the offending value to help, unless it may hold a secret.
            message: if secret {
                message
            } else {
                format!("{message}; got {raw:?}")
            },
        })
    }
}

fn int_in<T: TryFrom<u64>>(v: &str, min: u64, max: u64) -> Result<T, String> {
    let n: u64 = v
        .parse()
        .map_err(|_| format!("expected a whole number from {min} to {max}"))?;
    if !(min..=max).contains(&n) {
        return Err(format!("expected a whole number from {min} to {max}"));
    }
    T::try_from(n).map_err(|_| format!("expected a whole number from {min} to {max}"))
}

/// A comma-separated list; blanks dropped.
fn list(v: &str) -> Vec<String> {
    v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn boolean(v: &str) -> Result<bool, String> {
    match v.to_ascii_lowercase().as_str() {
        "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err("expected true or false".to_owned()),
    }
}

/// `http://127.0.0.1…`, `http://localhost…`, `http://[::1]…`: plain HTTP that never leaves
/// the machine (test identity providers).
fn is_loopback_http(v: &str) -> bool {
    let Some(rest) = v.strip_prefix("http://") else {
        return false;
    };
    let host = rest.split(['/', '?']).next().unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    host == "localhost"
        || host
            .trim_matches(['[', ']'])
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

fn join(prefix: &str, key: &str) -> String {
    if prefix.is_empty() {
        key.to_owned()
    } else {
        format!("{prefix}.{key}")
    }
}

fn flatten_toml(
    prefix: &str,
    v: &toml::Value,
    out: &mut Vec<(String, String)>,
    path: &str,
) -> Result<(), ConfigError> {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                flatten_toml(&join(prefix, k), v, out, path)?;
            }
        }
        toml::Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        toml::Value::Integer(i) => out.push((prefix.to_owned(), i.to_string())),
        toml::Value::Boolean(b) => out.push((prefix.to_owned(), b.to_string())),
        _ => {
            return Err(ConfigError::Invalid {
                key: prefix.to_owned(),
                origin: Origin::File(path.to_owned()),
                message: "expected a string, a whole number or a boolean".into(),
            })
        }
    }
    Ok(())
}

fn flatten_json(
    prefix: &str,
    v: &serde_json::Value,
    out: &mut Vec<(String, String)>,
) -> Result<(), ConfigError> {
    use serde_json::Value;
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                flatten_json(&join(prefix, k), v, out)?;
            }
        }
        Value::String(s) => out.push((prefix.to_owned(), s.clone())),
        Value::Number(n) => out.push((prefix.to_owned(), n.to_string())),
        Value::Bool(b) => out.push((prefix.to_owned(), b.to_string())),
        _ if prefix.is_empty() => {
            return Err(ConfigError::Invalid {
                key: "(document)".into(),
                origin: Origin::Document,
                message: "expected a JSON object of settings".into(),
            })
        }
        _ => {
            return Err(ConfigError::Invalid {
                key: prefix.to_owned(),
                origin: Origin::Document,
                message: "expected a string, a number or a boolean".into(),
            })
        }
    }
    Ok(())
}

/// Loads defaults, then `file` if given, then the process environment.
pub fn load(file: Option<&std::path::Path>) -> Result<(Config, Layers), ConfigError> {
    let mut layers = Layers::default();
    if let Some(path) = file {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::File {
            path: shown.clone(),
            message: e.to_string(),
        })?;
        layers.apply_toml(&text, &shown)?;
    }
    layers.apply_env(|name| std::env::var(name).ok());
    let config = layers.resolve()?;
    Ok((config, layers))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn defaults_are_valid() {
        let c = Layers::default().resolve().unwrap();
        assert_eq!(c.listen.to_string(), "127.0.0.1:3000");
        assert_eq!(c.database_url.backend(), types::DatabaseBackend::Sqlite);
        assert_eq!(c.body_limit, 1024 * 1024);
    }

    #[test]
    fn env_beats_file_beats_default() {
        let mut l = Layers::default();
        l.apply_toml(
            "listen = \"127.0.0.1:4000\"\n[database]\nmax_connections = 3\n",
            "a.toml",
        )
        .unwrap();
        l.apply_env(env(&[("MCPO_LISTEN", "127.0.0.1:5000")]));
        let c = l.resolve().unwrap();
        assert_eq!(c.listen.port(), 5000);
        assert_eq!(c.database.max_connections, 3);
        assert_eq!(l.origin("listen"), Some(&Origin::Env("MCPO_LISTEN".into())));
        assert_eq!(
            l.origin("database.max_connections"),
            Some(&Origin::File("a.toml".into()))
        );
    }

    #[test]
    fn database_url_alias_and_prefixed_name() {
        let mut l = Layers::default();
        l.apply_env(env(&[("DATABASE_URL", "postgres://u:p@h/db")]));
        assert_eq!(
            l.resolve().unwrap().database_url.backend(),
            types::DatabaseBackend::Postgresql
        );
        // The prefixed name wins over the alias.
        let mut l = Layers::default();
        l.apply_env(env(&[
            ("DATABASE_URL", "postgres://u:p@h/db"),
            ("MCPO_DATABASE_URL", "sqlite://x.db"),
        ]));
        assert_eq!(
            l.resolve().unwrap().database_url.backend(),
            types::DatabaseBackend::Sqlite
        );
    }

    #[test]
    fn errors_name_the_setting_and_origin() {
        let mut l = Layers::default();
        l.apply_env(env(&[("MCPO_LISTEN", "not-an-address")]));
        let e = l.resolve().unwrap_err();
        assert_eq!(e.key(), Some("listen"));
        let msg = e.to_string();
        assert!(
            msg.contains("`listen`")
                && msg.contains("MCPO_LISTEN")
                && msg.contains("not-an-address"),
            "{msg}"
        );
    }

    #[test]
    fn out_of_range_numbers_are_refused() {
        for (var, value) in [
            ("MCPO_DATABASE_MAX_CONNECTIONS", "0"),
            ("MCPO_DATABASE_MAX_CONNECTIONS", "-1"),
            ("MCPO_DATABASE_MAX_CONNECTIONS", "abc"),
            ("MCPO_HTTP_BODY_LIMIT_BYTES", "10"),
            ("MCPO_LOG_FORMAT", "xml"),
        ] {
            let mut l = Layers::default();
            l.apply_env(env(&[(var, value)]));
            assert!(l.resolve().is_err(), "{var}={value} should be refused");
        }
    }

    #[test]
    fn secret_values_never_appear_in_errors_or_descriptions() {
        let mut l = Layers::default();
        l.apply_env(env(&[("DATABASE_URL", "mysql://root:hunter2@db/x")]));
        let e = l.resolve().unwrap_err().to_string();
        assert!(e.contains("database.url") && !e.contains("hunter2"), "{e}");

        let mut l = Layers::default();
        l.apply_env(env(&[("DATABASE_URL", "postgres://root:hunter2@db/x")]));
        let c = l.resolve().unwrap();
        let shown = serde_json::to_string(&l.describe(&c)).unwrap();
        assert!(
            !shown.contains("hunter2") && shown.contains("postgres://root:***@db/x"),
            "{shown}"
        );
    }

    #[test]
    fn unknown_keys_and_bad_files_are_errors() {
        let mut l = Layers::default();
        let e = l.apply_toml("lisen = \"x\"", "c.toml").unwrap_err();
        assert_eq!(
            e,
            ConfigError::Unknown {
                key: "lisen".into(),
                origin: Origin::File("c.toml".into())
            }
        );
        assert!(matches!(
            l.apply_toml("listen = ", "c.toml"),
            Err(ConfigError::File { .. })
        ));
        assert!(l.apply_toml("listen = [1]", "c.toml").is_err());
    }

    #[test]
    fn oidc_needs_a_complete_provider() {
        let mut l = Layers::default();
        assert!(l.resolve().unwrap().auth.oidc.is_none(), "off by default");
        l.apply_env(env(&[(
            "MCPO_AUTH_OIDC_ISSUER_URL",
            "https://id.example.com/",
        )]));
        assert_eq!(l.resolve().unwrap_err().key(), Some("auth.oidc.client_id"));
        l.apply_env(env(&[("MCPO_AUTH_OIDC_CLIENT_ID", "mcpo")]));
        assert_eq!(
            l.resolve().unwrap_err().key(),
            Some("auth.oidc.redirect_url")
        );
        l.apply_env(env(&[
            (
                "MCPO_AUTH_OIDC_REDIRECT_URL",
                "http://127.0.0.1:3000/auth/oidc/callback",
            ),
            ("MCPO_AUTH_OIDC_DEFAULT_ROLE", "viewer"),
        ]));
        let c = l.resolve().unwrap().auth.oidc.unwrap();
        assert_eq!(
            c.endpoints,
            ProviderEndpoints::Discovery {
                issuer: "https://id.example.com".into()
            }
        );
        assert_eq!(c.default_role, Some(types::Role::Viewer));
        assert_eq!(c.scopes, ["openid", "email", "profile"]);
        let mut l = Layers::default();
        l.apply_env(env(&[
            ("MCPO_AUTH_OIDC_ISSUER_URL", "http://id.example.com"),
            ("MCPO_AUTH_OIDC_CLIENT_ID", "x"),
        ]));
        assert_eq!(
            l.resolve().unwrap_err().key(),
            Some("auth.oidc.issuer_url"),
            "plain http only on loopback"
        );
    }

    #[test]
    fn loopback_http_detection() {
        for ok in [
            "http://127.0.0.1:8080/x",
            "http://localhost/",
            "http://[::1]:9/a",
        ] {
            assert!(is_loopback_http(ok), "{ok}");
        }
        for bad in [
            "http://example.com",
            "http://127.0.0.1.evil.com/",
            "https://127.0.0.1",
        ] {
            assert!(!is_loopback_http(bad), "{bad}");
        }
    }

    #[test]
    fn lists_and_origins() {
        let mut l = Layers::default();
        l.apply_env(env(&[
            (
                "MCPO_HTTP_CORS_ORIGINS",
                "https://a.example, http://localhost:5173",
            ),
            ("MCPO_RATE_LIMIT_TRUSTED_PROXIES", "10.0.0.1"),
        ]));
        let c = l.resolve().unwrap();
        assert_eq!(
            c.cors_origins,
            ["https://a.example", "http://localhost:5173"]
        );
        assert_eq!(c.rate_limit.trusted_proxies.len(), 1);
        for (var, bad) in [
            ("MCPO_HTTP_CORS_ORIGINS", "*"),
            ("MCPO_HTTP_CORS_ORIGINS", "https://a/"),
            ("MCPO_RATE_LIMIT_TRUSTED_PROXIES", "proxy"),
        ] {
            let mut l = Layers::default();
            l.apply_env(env(&[(var, bad)]));
            assert!(l.resolve().is_err(), "{var}={bad}");
        }
    }

    #[test]
    fn json_documents_flatten_like_toml() {
        let mut l = Layers::default();
        l.apply_json(
            &serde_json::json!({"database": {"max_connections": 7}, "log": {"format": "json"}}),
        )
        .unwrap();
        let c = l.resolve().unwrap();
        assert_eq!(c.database.max_connections, 7);
        assert_eq!(c.log_format, LogFormat::Json);
        assert!(Layers::default()
            .apply_json(&serde_json::json!([1]))
            .is_err());
        assert!(Layers::default()
            .apply_json(&serde_json::json!({"listen": null}))
            .is_err());
    }
}
