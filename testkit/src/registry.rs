//! A real HTTP test registry: the official MCP Registry API (`/v0.1` and `/v0`, list and
//! versions endpoints) over an in-memory list of entries, which a test can change and tell to
//! fail.
//!
//! ```no_run
//! # async fn demo() {
//! use testkit::registry::{fixture_entries, Failure, RegistryServer};
//! let registry = RegistryServer::start(fixture_entries()).await;
//! // GET {registry.url}/v0.1/servers?limit=50 ...
//! registry.fail(Failure::Status { code: 503, times: Some(2) });
//! # }
//! ```
//!
//! Entries are list items as the registry serves them:
//! `{"server": {server.json...}, "_meta": {"io.modelcontextprotocol.registry/official": {...}}}`,
//! served as given (empty names and versions included).
//!
//! # Endpoints (each under `/v0.1` and `/v0`)
//!
//! - `GET /servers?cursor=&limit=&updated_since=&search=&version=` lists
//!   `{"servers": [...], "metadata": {"nextCursor": "...", "count": N}}`, ordered by (name,
//!   version) and, for repeated pairs, by the order they were added. `nextCursor` is left out on
//!   the last page. `limit` defaults to 30 and is capped at [`RegistryServer::set_page_size_max`]
//!   (100); anything but a positive integer is a 400. `updated_since` (RFC 3339) keeps entries
//!   whose official `updatedAt` is strictly later; `search` is a case-insensitive substring of the
//!   name; `version=latest` keeps `isLatest` entries (any other value keeps that exact version).
//!   Entries of every status are listed.
//! - `GET /servers/{serverName}/versions` lists every version of one name (404 if none).
//! - `GET /servers/{serverName}/versions/{version}` is one entry; `latest` is the `isLatest` one.
//!
//! `serverName` is percent-decoded (`io.example%2Fserver`); an unencoded `/` works as well.
//! Everything else is a 404. Errors are `application/problem+json` bodies
//! `{"title", "status", "detail"}`, like the official registry's.
//!
//! # Cursors
//!
//! A cursor is opaque: standard base64 (with `=` padding) of a 3-byte marker and a small JSON
//! object naming the page it leads to and the (name, version, repeat) key of the last entry
//! served. The marker makes every cursor start with `+/+/` and the padding makes it end with
//! `==`, so a client that does not URL-encode it sends a different cursor (`+` becomes a space)
//! and gets a 400, like any cursor the server cannot decode. Paging is by key, so entries added
//! or changed between pages do not shift the pages that follow.

use std::{
    collections::VecDeque,
    io,
    net::SocketAddr,
    path::Path,
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use axum::{
    body::Body,
    extract::{Request, State},
    http::{header, HeaderValue, Method, StatusCode},
    response::Response,
    Extension, Router,
};
use base64::Engine as _;
use chrono::{DateTime, SecondsFormat, Utc};
use hyper_util::{rt::TokioIo, service::TowerToHyperService};
use serde_json::{json, Map, Value};
use tokio::{
    net::TcpListener,
    sync::Notify,
    task::{JoinHandle, JoinSet},
};

/// Key of the registry's own metadata inside an entry's `_meta`.
pub const OFFICIAL_META: &str = "io.modelcontextprotocol.registry/official";

/// `$schema` of the server.json documents this module generates.
pub const SERVER_SCHEMA: &str =
    "https://static.modelcontextprotocol.io/schemas/2025-12-11/server.schema.json";

/// Absolute path of the registry fixture (472 entries of the official registry's seed data):
/// `MCPO_REGISTRY_FIXTURE` at compile time if set, else the copy in `testkit/fixtures/registry`
/// (from the project's shared fixtures; vendored so a clone anywhere has it).
/// [`fixture_entries`] also honours `MCPO_REGISTRY_FIXTURE` at run time.
pub const FIXTURE: &str = match option_env!("MCPO_REGISTRY_FIXTURE") {
    Some(path) => path,
    None => concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/fixtures/registry/official-seed-2025-05.json"
    ),
};

/// Default `limit` of a list request.
pub const DEFAULT_LIMIT: usize = 30;

/// Default server-side cap on `limit` (the official registry's).
pub const DEFAULT_PAGE_SIZE_MAX: usize = 100;

/// How many requests [`RegistryServer::requests`] keeps (the oldest are dropped).
pub const REQUEST_LOG_CAP: usize = 10_000;

/// Loads a JSON array of list items from `path`.
pub fn entries_from_file(path: &Path) -> io::Result<Vec<Value>> {
    let bytes = std::fs::read(path)?;
    serde_json::from_slice(&bytes).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

/// The fixture's entries (the file named by `MCPO_REGISTRY_FIXTURE` at run time if set, else
/// [`FIXTURE`]). Panics if it cannot be read.
pub fn fixture_entries() -> Vec<Value> {
    let path = std::env::var("MCPO_REGISTRY_FIXTURE").unwrap_or_else(|_| FIXTURE.to_owned());
    entries_from_file(Path::new(&path))
        .unwrap_or_else(|e| panic!("cannot load the registry fixture {path}: {e}"))
}

/// The current time as the registry writes it: RFC 3339, UTC, milliseconds.
fn now_stamp() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A list item for our rmcp test server as an OCI image `image` over stdio (version 1.0.0).
pub fn oci_entry(name: &str, image: &str) -> Value {
    let mut e = item(name, "1.0.0", "our rmcp test server");
    e["server"]["packages"] = json!([{
        "registryType": "oci",
        "identifier": image,
        "transport": {"type": "stdio"},
    }]);
    e
}

/// A valid minimal list item: one npm package over stdio, status `active`, `isLatest`,
/// published and updated now.
pub fn item(name: &str, version: &str, description: &str) -> Value {
    let short = name.rsplit('/').next().unwrap_or(name);
    let now = now_stamp();
    json!({
        "server": {
            "$schema": SERVER_SCHEMA,
            "name": name,
            "description": description,
            "version": version,
            "packages": [{
                "registryType": "npm",
                "identifier": format!("@example/{short}"),
                "version": version,
                "transport": {"type": "stdio"}
            }]
        },
        "_meta": {
            OFFICIAL_META: {
                "status": "active",
                "publishedAt": now,
                "updatedAt": now,
                "isLatest": true
            }
        }
    })
}

const TOPICS: [&str; 8] = [
    "files",
    "tickets",
    "weather",
    "databases",
    "calendars",
    "search",
    "metrics",
    "git",
];

/// `n` valid, varied, deterministic entries named `io.example.synthetic/server-00042`
/// (about 1–1.5 KB each): npm, PyPI and OCI packages over stdio or streamable HTTP, some with a
/// remote, environment variables (secret and not) and arguments. Every fourth name has three
/// versions (`1.0.0`, `1.1.0`, `2.0.0`), the next one two, the others one; only the newest
/// version of a name is `isLatest`. Timestamps start at 2025-06-01T00:00:00Z, one minute apart.
pub fn synthetic_entries(n: usize) -> Vec<Value> {
    const VERSIONS: [&str; 3] = ["1.0.0", "1.1.0", "2.0.0"];
    let base = DateTime::parse_from_rfc3339("2025-06-01T00:00:00Z")
        .expect("valid base time")
        .with_timezone(&Utc);
    let mut out = Vec::with_capacity(n);
    let mut k = 0usize;
    while out.len() < n {
        let wanted = match k % 4 {
            0 => 3,
            1 => 2,
            _ => 1,
        };
        let count = wanted.min(n - out.len());
        for (v, version) in VERSIONS[..count].iter().enumerate() {
            let at = (base + chrono::Duration::minutes(out.len() as i64))
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            out.push(synthetic_entry(k, version, v + 1 == count, &at));
        }
        k += 1;
    }
    out
}

fn synthetic_entry(k: usize, version: &str, is_latest: bool, at: &str) -> Value {
    let slug = format!("server-{k:05}");
    let topic = TOPICS[k % TOPICS.len()];
    let mut title_topic = topic.to_owned();
    title_topic[..1].make_ascii_uppercase();
    let secret = |name: &str, what: &str| {
        json!({"name": name, "description": format!("{what} used by the {topic} backend"),
               "isRequired": true, "isSecret": true})
    };
    let plain = |name: &str, default: &str| {
        json!({"name": name, "description": format!("Optional {} setting", name.to_lowercase()),
               "isRequired": false, "default": default, "format": "string"})
    };
    let mut remotes = None;
    let package = match k % 6 {
        0 => json!({
            "registryType": "npm",
            "registryBaseUrl": "https://registry.npmjs.org",
            "identifier": format!("@example-synthetic/{slug}"),
            "version": version,
            "runtimeHint": "npx",
            "transport": {"type": "stdio"},
            "packageArguments": [{
                "type": "named", "name": "--root", "valueHint": "path",
                "description": "Directory the server may read", "isRequired": false,
                "default": "/data", "format": "filepath"
            }],
            "environmentVariables": [secret("API_KEY", "API key"), plain("LOG_LEVEL", "info")]
        }),
        1 => json!({
            "registryType": "pypi",
            "registryBaseUrl": "https://pypi.org",
            "identifier": format!("example-synthetic-{slug}"),
            "version": version,
            "runtimeHint": "uvx",
            "transport": {"type": "stdio"},
            "environmentVariables": [
                secret("DATABASE_URL", "Connection string"),
                plain("TIMEOUT_SECS", "30")
            ]
        }),
        2 => json!({
            "registryType": "oci",
            "identifier": format!("ghcr.io/example-synthetic/{slug}:{version}"),
            "transport": {"type": "streamable-http", "url": "http://localhost:8080/mcp"},
            "environmentVariables": [
                secret("ACCESS_TOKEN", "Access token"),
                plain("PORT", "8080")
            ]
        }),
        3 => {
            remotes = Some(json!([{
                "type": "streamable-http",
                "url": format!("https://{slug}.synthetic.example.com/mcp"),
                "headers": [{
                    "name": "Authorization", "description": "Bearer token for the hosted server",
                    "isRequired": true, "isSecret": true
                }]
            }]));
            json!({
                "registryType": "npm",
                "registryBaseUrl": "https://registry.npmjs.org",
                "identifier": format!("@example-synthetic/{slug}"),
                "version": version,
                "transport": {"type": "stdio"},
                "environmentVariables": [secret("SERVICE_TOKEN", "Service token")]
            })
        }
        4 => json!({
            "registryType": "oci",
            "identifier": format!("docker.io/examplesynthetic/{slug}:{version}"),
            "transport": {"type": "stdio"},
            "runtimeArguments": [{"type": "named", "name": "--read-only", "isRequired": false,
                                  "description": "Run with a read-only root file system"}],
            "environmentVariables": [secret("API_TOKEN", "API token"), plain("REGION", "eu-west-1")]
        }),
        _ => json!({
            "registryType": "pypi",
            "registryBaseUrl": "https://pypi.org",
            "identifier": format!("example-synthetic-{slug}"),
            "version": version,
            "transport": {"type": "streamable-http", "url": "http://localhost:9000/mcp"},
            "packageArguments": [{
                "type": "named", "name": "--port", "valueHint": "port",
                "description": "Port to listen on", "isRequired": false, "default": "9000",
                "format": "number"
            }],
            "environmentVariables": [secret("CLIENT_SECRET", "OAuth client secret")]
        }),
    };
    let mut server = json!({
        "$schema": SERVER_SCHEMA,
        "name": format!("io.example.synthetic/{slug}"),
        "title": format!("Synthetic {title_topic} {k}"),
        "description": format!(
            "Synthetic MCP server {k:05} for {topic}: lists, reads and updates {topic} through \
             the Model Context Protocol. Generated for import and load tests (version \
             {version}); its tools, resources and prompts answer deterministically so runs \
             can be compared."
        ),
        "version": version,
        "websiteUrl": format!("https://synthetic.example.com/servers/{slug}"),
        "repository": {
            "url": format!("https://github.com/example-synthetic/{slug}"),
            "source": "github",
            "id": format!("{}", 900_000_000 + k)
        },
        "packages": [package]
    });
    if let Some(remotes) = remotes {
        server["remotes"] = remotes;
    }
    json!({
        "server": server,
        "_meta": {
            OFFICIAL_META: {
                "status": "active",
                "publishedAt": at,
                "updatedAt": at,
                "isLatest": is_latest
            }
        }
    })
}

/// Three entries with hostile text, for escaping tests:
/// - `io.example.hostile/html`: HTML and script in the title and description;
/// - `io.example.hostile/long`: a 20,000-character description;
/// - `io.example.hostile/control`: every control character U+0000–U+001F and U+202E (right-to-left
///   override) in the title and description.
pub fn hostile_entries() -> Vec<Value> {
    let mut html = item(
        "io.example.hostile/html",
        "1.0.0",
        "<script>alert(1)</script><img src=x onerror=alert(2)>",
    );
    html["server"]["title"] = json!("<script>alert(3)</script><b>Hostile</b> HTML");

    let sentence = "This description is deliberately long, to test truncation and layout. ";
    let long_text: String = sentence.chars().cycle().take(20_000).collect();
    let mut long = item("io.example.hostile/long", "1.0.0", &long_text);
    long["server"]["title"] = json!("Hostile long description");

    let controls: String = (0u8..0x20).map(char::from).chain(['\u{202e}']).collect();
    let mut control = item(
        "io.example.hostile/control",
        "1.0.0",
        &format!("Control characters [{controls}] end."),
    );
    control["server"]["title"] = json!(format!("Control{controls}title"));
    vec![html, long, control]
}

/// Name of the entry [`deployable_entries`] adds.
pub const DEPLOYABLE_NAME: &str = "io.mcpo.test/mcp-test-server";

/// One entry the orchestrator can really deploy: `io.mcpo.test/mcp-test-server` 1.0.0, titled
/// "MCP test server", one `oci` package `image` over stdio with the environment variable
/// `MCP_TEST_GREETING` (default `hello`). `image` is a local image of `mcp-test-server`
/// (`mcpo-test-image TAG`, or [`crate::docker::build_mcp_test_server_image`]); nothing is
/// pulled.
pub fn deployable_entries(image: &str) -> Vec<Value> {
    let mut entry = item(
        DEPLOYABLE_NAME,
        "1.0.0",
        "The orchestrator's own MCP test server (rmcp) in a FROM scratch image built locally: \
         echo, add, sleep, fail, env and big tools, a test://config resource and a greet prompt.",
    );
    entry["server"]["title"] = json!("MCP test server");
    entry["server"]["packages"] = json!([{
        "registryType": "oci",
        "identifier": image,
        "transport": {"type": "stdio"},
        "environmentVariables": [{"name": "MCP_TEST_GREETING", "default": "hello"}]
    }]);
    vec![entry]
}

/// A failure the server is told to produce on list requests (`/servers`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Answer `code` (e.g. 500, 503) with a JSON problem body. `times: Some(n)` fails only the
    /// next `n` list requests; `None` fails all of them.
    Status {
        /// HTTP status code (an invalid one becomes 500).
        code: u16,
        /// How many list requests fail; `None` = every one.
        times: Option<u32>,
    },
    /// 429 with a `Retry-After: {retry_after_secs}` header.
    RateLimited {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
        /// How many list requests fail; `None` = every one.
        times: Option<u32>,
    },
    /// Sleep before answering normally (to trigger client timeouts).
    Delay {
        /// How long to wait.
        millis: u64,
        /// How many list requests are delayed; `None` = every one.
        times: Option<u32>,
    },
    /// Page `page` (1-based, counted along the cursor chain) of a listing is a 200 whose body is
    /// truncated, invalid JSON. Stays until [`RegistryServer::clear_failure`].
    MalformedJson {
        /// The 1-based page number.
        page: u32,
    },
    /// Every list answer is a 200 with a valid JSON body of at least `bytes` bytes (the first
    /// entry's description is that long). Stays until cleared.
    Oversized {
        /// Minimum body size.
        bytes: usize,
    },
    /// Every page has a `nextCursor`, always the same one (the cursor of the request, or the one
    /// after the first page), so a client that follows it never ends. Stays until cleared.
    RepeatCursor,
    /// Close the TCP connection without an HTTP answer (a connection error for the client).
    DropConnection {
        /// How many list requests are dropped; `None` = every one.
        times: Option<u32>,
    },
}

/// Name of the next-page field in a list's `metadata`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum CursorField {
    /// `nextCursor`, the official registry's.
    #[default]
    Camel,
    /// `next_cursor`, as some older registries wrote it.
    Snake,
}

impl CursorField {
    fn key(self) -> &'static str {
        match self {
            CursorField::Camel => "nextCursor",
            CursorField::Snake => "next_cursor",
        }
    }
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Logged {
    /// `GET`, ...
    pub method: String,
    /// The path as sent (still percent-encoded).
    pub path: String,
    /// The raw query string, without `?`.
    pub query: Option<String>,
    /// The query's pairs, percent-decoded (`+` is a space), in order.
    pub query_pairs: Vec<(String, String)>,
    /// The `Authorization` header, if any.
    pub authorization: Option<String>,
    /// Every header (lower-case name, value; non-UTF-8 values lossily converted).
    pub headers: Vec<(String, String)>,
}

impl Logged {
    /// The first decoded value of query parameter `key`.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query_pairs
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether this was a list request (`/v0.1/servers` or `/v0/servers`).
    pub fn is_list(&self) -> bool {
        matches!(list_or_rest(&self.path), Some(Route::List))
    }
}

struct Inner {
    /// Always sorted by (name, version), stable, so repeats keep the order they were added in.
    entries: Vec<Value>,
    failure: Option<Failure>,
    log: VecDeque<Logged>,
    required: Vec<(String, String)>,
    page_size_max: usize,
    cursor_field: CursorField,
    last_stamp: Option<DateTime<Utc>>,
}

type Shared = Arc<Mutex<Inner>>;

fn name_of(entry: &Value) -> &str {
    entry
        .get("server")
        .and_then(|s| s.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn version_of(entry: &Value) -> &str {
    entry
        .get("server")
        .and_then(|s| s.get("version"))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn official(entry: &Value) -> Option<&Map<String, Value>> {
    entry.get("_meta")?.get(OFFICIAL_META)?.as_object()
}

fn official_mut(entry: &mut Value) -> &mut Map<String, Value> {
    if !entry.is_object() {
        *entry = json!({});
    }
    let root = entry.as_object_mut().expect("object");
    let meta = root.entry("_meta").or_insert_with(|| json!({}));
    if !meta.is_object() {
        *meta = json!({});
    }
    let official = meta
        .as_object_mut()
        .expect("object")
        .entry(OFFICIAL_META)
        .or_insert_with(|| json!({}));
    if !official.is_object() {
        *official = json!({});
    }
    official.as_object_mut().expect("object")
}

fn is_latest(entry: &Value) -> bool {
    official(entry)
        .and_then(|m| m.get("isLatest"))
        .and_then(Value::as_bool)
        .unwrap_or(false)
}

fn updated_at(entry: &Value) -> Option<DateTime<Utc>> {
    let text = official(entry)?.get("updatedAt")?.as_str()?;
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

impl Inner {
    /// First index whose key is not below `key`.
    fn lower_bound(&self, name: &str, version: &str) -> usize {
        self.entries
            .partition_point(|e| (name_of(e), version_of(e)) < (name, version))
    }

    /// First index whose key is above `key`.
    fn upper_bound(&self, name: &str, version: &str) -> usize {
        self.entries
            .partition_point(|e| (name_of(e), version_of(e)) <= (name, version))
    }

    /// A fresh `updatedAt`: now (milliseconds), and always later than the previous one.
    fn stamp(&mut self) -> String {
        let now = Utc::now();
        let now = DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now);
        let next = match self.last_stamp {
            Some(last) if now <= last => last + chrono::Duration::milliseconds(1),
            _ => now,
        };
        self.last_stamp = Some(next);
        next.to_rfc3339_opts(SecondsFormat::Millis, true)
    }

    /// The failure that applies to this list request, counting down `times`.
    fn take_failure(&mut self) -> Option<Failure> {
        let current = self.failure.clone()?;
        let times = match &mut self.failure {
            Some(
                Failure::Status { times, .. }
                | Failure::RateLimited { times, .. }
                | Failure::Delay { times, .. }
                | Failure::DropConnection { times },
            ) => times,
            _ => return Some(current),
        };
        match times {
            None => Some(current),
            Some(0) => {
                self.failure = None;
                None
            }
            Some(1) => {
                self.failure = None;
                Some(current)
            }
            Some(n) => {
                *n -= 1;
                Some(current)
            }
        }
    }
}

fn sort_entries(entries: &mut [Value]) {
    entries.sort_by(|a, b| (name_of(a), version_of(a)).cmp(&(name_of(b), version_of(b))));
}

/// Aborts the connection it belongs to (the connection task waits on it).
#[derive(Clone)]
struct ConnKill(Arc<Notify>);

/// A running test registry on a loopback port. Stops (listener and open connections) on drop.
pub struct RegistryServer {
    /// `http://127.0.0.1:PORT`, no trailing slash.
    pub url: String,
    /// The bound address.
    pub addr: SocketAddr,
    shared: Shared,
    task: JoinHandle<()>,
}

impl RegistryServer {
    /// Serves `entries` on `127.0.0.1:0` (a free port). Panics if it cannot bind.
    pub async fn start(entries: Vec<Value>) -> Self {
        Self::bind(SocketAddr::from(([127, 0, 0, 1], 0)), entries)
            .await
            .expect("bind the test registry")
    }

    /// Serves `entries` on `addr`.
    pub async fn bind(addr: SocketAddr, entries: Vec<Value>) -> io::Result<Self> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let mut entries = entries;
        sort_entries(&mut entries);
        let shared = Arc::new(Mutex::new(Inner {
            entries,
            failure: None,
            log: VecDeque::new(),
            required: Vec::new(),
            page_size_max: DEFAULT_PAGE_SIZE_MAX,
            cursor_field: CursorField::Camel,
            last_stamp: None,
        }));
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let task = tokio::spawn(accept_loop(listener, app));
        Ok(Self {
            url: format!("http://{addr}"),
            addr,
            shared,
            task,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        lock(&self.shared)
    }

    /// Replaces every entry.
    pub fn set_entries(&self, entries: Vec<Value>) {
        let mut entries = entries;
        sort_entries(&mut entries);
        self.lock().entries = entries;
    }

    /// A copy of every entry, in listing order.
    pub fn entries(&self) -> Vec<Value> {
        self.lock().entries.clone()
    }

    /// Replaces the (first) entry with the same name and version, or adds `entry`; either way
    /// its official `updatedAt` becomes now.
    pub fn upsert(&self, entry: Value) {
        let mut inner = self.lock();
        let mut entry = entry;
        let stamp = inner.stamp();
        official_mut(&mut entry).insert("updatedAt".into(), json!(stamp));
        let (name, version) = (name_of(&entry).to_owned(), version_of(&entry).to_owned());
        let lo = inner.lower_bound(&name, &version);
        let hi = inner.upper_bound(&name, &version);
        if lo < hi {
            inner.entries[lo] = entry;
        } else {
            inner.entries.insert(hi, entry);
        }
    }

    /// Sets the official `status` (`active`, `deprecated` or `deleted`) of every entry with this
    /// name and version, and its `updatedAt` to now.
    pub fn set_status(&self, name: &str, version: &str, status: &str) {
        let mut inner = self.lock();
        let stamp = inner.stamp();
        let lo = inner.lower_bound(name, version);
        let hi = inner.upper_bound(name, version);
        for entry in &mut inner.entries[lo..hi] {
            let meta = official_mut(entry);
            meta.insert("status".into(), json!(status));
            meta.insert("updatedAt".into(), json!(stamp));
        }
    }

    /// Makes list requests (`/servers`) fail from now on (replacing any earlier failure).
    pub fn fail(&self, failure: Failure) {
        self.lock().failure = Some(failure);
    }

    /// List requests answer normally again.
    pub fn clear_failure(&self) {
        self.lock().failure = None;
    }

    /// Every request received so far (the latest [`REQUEST_LOG_CAP`]), oldest first.
    pub fn requests(&self) -> Vec<Logged> {
        self.lock().log.iter().cloned().collect()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        self.lock().log.clear();
    }

    /// From now on every request must carry header `name` with exactly `value`, or gets a 401
    /// with a JSON body. Calling it again with the same name replaces the value; several names
    /// are all required.
    pub fn require_header(&self, name: &str, value: &str) {
        let mut inner = self.lock();
        inner
            .required
            .retain(|(n, _)| !n.eq_ignore_ascii_case(name));
        inner.required.push((name.to_owned(), value.to_owned()));
    }

    /// No header is required any more.
    pub fn clear_required_headers(&self) {
        self.lock().required.clear();
    }

    /// Server-side cap on `limit` (default 100; at least 1).
    pub fn set_page_size_max(&self, n: usize) {
        self.lock().page_size_max = n.max(1);
    }

    /// Name of the next-page field in list answers (default [`CursorField::Camel`]).
    pub fn set_cursor_field(&self, field: CursorField) {
        self.lock().cursor_field = field;
    }
}

impl Drop for RegistryServer {
    fn drop(&mut self) {
        // Dropping the accept loop drops its JoinSet, which aborts every open connection.
        self.task.abort();
    }
}

fn lock(shared: &Shared) -> MutexGuard<'_, Inner> {
    shared
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

async fn accept_loop(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        while connections.try_join_next().is_some() {}
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let kill = Arc::new(Notify::new());
        let service =
            TowerToHyperService::new(app.clone().layer(Extension(ConnKill(kill.clone()))));
        connections.spawn(async move {
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            // On a kill the connection (and the socket) is dropped without an answer.
            tokio::select! {
                _ = connection => {}
                _ = kill.notified() => {}
            }
        });
    }
}

fn json_response(status: StatusCode, body: Vec<u8>, content_type: &'static str) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

fn ok_json(value: &Value) -> Response {
    json_response(
        StatusCode::OK,
        serde_json::to_vec(value).expect("serialize"),
        "application/json",
    )
}

fn problem(status: StatusCode, detail: &str) -> Response {
    let body = json!({
        "title": status.canonical_reason().unwrap_or("Error"),
        "status": status.as_u16(),
        "detail": detail,
    });
    json_response(
        status,
        serde_json::to_vec(&body).expect("serialize"),
        "application/problem+json",
    )
}

/// Decodes `%XX` escapes (and `+` as a space if `plus`); malformed escapes stay as they are.
fn percent_decode(text: &str, plus: bool) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'%' && i + 2 < bytes.len() {
            let hex = |c: u8| (c as char).to_digit(16);
            if let (Some(h), Some(l)) = (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(if plus && b == b'+' { b' ' } else { b });
        i += 1;
    }
    out
}

fn query_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let decode = |s: &str| String::from_utf8_lossy(&percent_decode(s, true)).into_owned();
            (decode(k), decode(v))
        })
        .collect()
}

enum Route {
    List,
    Versions(String),
    Version(String, String),
}

/// `/v0.1/...` or `/v0/...` → the route, `None` for anything else.
fn list_or_rest(path: &str) -> Option<Route> {
    let rest = path
        .strip_prefix("/v0.1/")
        .or_else(|| path.strip_prefix("/v0/"))?;
    if rest == "servers" || rest == "servers/" {
        return Some(Route::List);
    }
    let rest = rest.strip_prefix("servers/")?;
    let decode = |s: &str| String::from_utf8(percent_decode(s, false)).ok();
    if let Some(name) = rest.strip_suffix("/versions") {
        return Some(Route::Versions(decode(name)?));
    }
    let at = rest.rfind("/versions/")?;
    let (name, version) = (&rest[..at], &rest[at + "/versions/".len()..]);
    if version.is_empty() || version.contains('/') {
        return None;
    }
    Some(Route::Version(decode(name)?, decode(version)?))
}

async fn handle(
    State(shared): State<Shared>,
    Extension(kill): Extension<ConnKill>,
    request: Request,
) -> Response {
    let uri = request.uri().clone();
    let logged = Logged {
        method: request.method().as_str().to_owned(),
        path: uri.path().to_owned(),
        query: uri.query().map(str::to_owned),
        query_pairs: uri.query().map(query_pairs).unwrap_or_default(),
        authorization: request
            .headers()
            .get(header::AUTHORIZATION)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned()),
        headers: request
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect(),
    };
    {
        let mut inner = lock(&shared);
        if inner.log.len() >= REQUEST_LOG_CAP {
            inner.log.pop_front();
        }
        inner.log.push_back(logged.clone());
        let missing = inner
            .required
            .iter()
            .find(|(name, value)| logged.header(name) != Some(value.as_str()));
        if let Some((name, _)) = missing {
            return problem(
                StatusCode::UNAUTHORIZED,
                &format!("missing or wrong {name} header"),
            );
        }
    }
    if request.method() != Method::GET {
        return problem(StatusCode::NOT_FOUND, "no such endpoint");
    }
    match list_or_rest(&logged.path) {
        Some(Route::List) => list(&shared, &kill, &logged.query_pairs).await,
        Some(Route::Versions(name)) => {
            let inner = lock(&shared);
            let versions: Vec<Value> = inner
                .entries
                .iter()
                .filter(|e| name_of(e) == name)
                .cloned()
                .collect();
            if versions.is_empty() {
                return problem(StatusCode::NOT_FOUND, "Server not found");
            }
            let count = versions.len();
            ok_json(&json!({"servers": versions, "metadata": {"count": count}}))
        }
        Some(Route::Version(name, version)) => {
            let inner = lock(&shared);
            let found = inner.entries.iter().find(|e| {
                name_of(e) == name
                    && if version == "latest" {
                        is_latest(e)
                    } else {
                        version_of(e) == version
                    }
            });
            match found {
                Some(entry) => ok_json(entry),
                None => problem(StatusCode::NOT_FOUND, "Server version not found"),
            }
        }
        None => problem(StatusCode::NOT_FOUND, "no such endpoint"),
    }
}

/// Where a cursor leads: page number and the key of the last entry already served.
struct Cursor {
    page: u32,
    after: Option<(String, String, usize)>,
}

/// Decodes to `+/+/` in base64: every cursor starts with characters that need URL-encoding.
const CURSOR_MARKER: [u8; 3] = [0xFB, 0xFF, 0xBF];

fn encode_cursor(cursor: &Cursor) -> String {
    let payload = match &cursor.after {
        Some((name, version, repeat)) => {
            json!({"p": cursor.page, "n": name, "v": version, "r": repeat})
        }
        None => json!({"p": cursor.page}),
    };
    let mut bytes = CURSOR_MARKER.to_vec();
    bytes.extend(serde_json::to_vec(&payload).expect("serialize"));
    // A length of 3k+1 makes the encoding end in "==".
    while bytes.len() % 3 != 1 {
        bytes.push(b' ');
    }
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn decode_cursor(text: &str) -> Option<Cursor> {
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text)
        .ok()?;
    let payload = bytes.strip_prefix(&CURSOR_MARKER)?;
    let value: Value = serde_json::from_slice(payload).ok()?;
    let page = u32::try_from(value.get("p")?.as_u64()?).ok()?;
    let after = match value.get("n") {
        None => None,
        Some(name) => Some((
            name.as_str()?.to_owned(),
            value.get("v")?.as_str()?.to_owned(),
            usize::try_from(value.get("r")?.as_u64()?).ok()?,
        )),
    };
    Some(Cursor { page, after })
}

async fn list(shared: &Shared, kill: &ConnKill, params: &[(String, String)]) -> Response {
    let failure = lock(shared).take_failure();
    match &failure {
        Some(Failure::Status { code, .. }) => {
            let status = StatusCode::from_u16(*code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return problem(status, "injected failure");
        }
        Some(Failure::RateLimited {
            retry_after_secs, ..
        }) => {
            let mut response = problem(StatusCode::TOO_MANY_REQUESTS, "rate limit exceeded");
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(*retry_after_secs));
            return response;
        }
        Some(Failure::Delay { millis, .. }) => {
            tokio::time::sleep(Duration::from_millis(*millis)).await;
        }
        Some(Failure::DropConnection { .. }) => {
            kill.0.notify_one();
            // The connection task drops this future; the sleep only bounds it.
            tokio::time::sleep(Duration::from_secs(30)).await;
            return problem(StatusCode::INTERNAL_SERVER_ERROR, "connection not dropped");
        }
        _ => {}
    }

    let param = |key: &str| {
        params
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let limit = match params.iter().find(|(k, _)| k == "limit") {
        None => DEFAULT_LIMIT,
        Some((_, v)) => match v.parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => return problem(StatusCode::BAD_REQUEST, "limit must be a positive integer"),
        },
    };
    let cursor = match param("cursor") {
        None => None,
        Some(text) => match decode_cursor(text) {
            Some(cursor) => Some((text.to_owned(), cursor)),
            None => return problem(StatusCode::BAD_REQUEST, "invalid cursor"),
        },
    };
    let since = match param("updated_since") {
        None => None,
        Some(text) => match DateTime::parse_from_rfc3339(text) {
            Ok(t) => Some(t.with_timezone(&Utc)),
            Err(_) => {
                return problem(
                    StatusCode::BAD_REQUEST,
                    "updated_since must be an RFC 3339 date-time",
                )
            }
        },
    };
    let search = param("search").map(str::to_lowercase);
    let version = param("version");
    let keep = |e: &Value| {
        since.is_none_or(|since| updated_at(e).is_some_and(|t| t > since))
            && search
                .as_deref()
                .is_none_or(|q| name_of(e).to_lowercase().contains(q))
            && version.is_none_or(|v| {
                if v == "latest" {
                    is_latest(e)
                } else {
                    version_of(e) == v
                }
            })
    };

    let inner = lock(shared);
    let limit = limit.min(inner.page_size_max);
    let page_no = cursor.as_ref().map_or(1, |(_, c)| c.page);
    let start = match cursor.as_ref().and_then(|(_, c)| c.after.as_ref()) {
        None => 0,
        Some((name, version, repeat)) => {
            let lo = inner.lower_bound(name, version);
            let hi = inner.upper_bound(name, version);
            (lo + repeat + 1).min(hi)
        }
    };
    let mut servers = Vec::new();
    let mut last = None;
    let mut more = false;
    for (i, entry) in inner.entries.iter().enumerate().skip(start) {
        if !keep(entry) {
            continue;
        }
        if servers.len() == limit {
            more = true;
            break;
        }
        servers.push(entry.clone());
        last = Some(i);
    }
    let after = |i: usize| {
        let (name, version) = (name_of(&inner.entries[i]), version_of(&inner.entries[i]));
        let repeat = i - inner.lower_bound(name, version);
        Cursor {
            page: page_no.saturating_add(1),
            after: Some((name.to_owned(), version.to_owned(), repeat)),
        }
    };
    let next = match (&failure, &cursor) {
        (Some(Failure::RepeatCursor), Some((text, _))) => Some(text.clone()),
        (Some(Failure::RepeatCursor), None) => Some(encode_cursor(&last.map_or(
            Cursor {
                page: 2,
                after: None,
            },
            after,
        ))),
        _ if more => last.map(|i| encode_cursor(&after(i))),
        _ => None,
    };
    let field = inner.cursor_field.key();
    drop(inner);

    if let Some(Failure::Oversized { bytes }) = &failure {
        let huge = "x".repeat(*bytes);
        match servers
            .first_mut()
            .and_then(|first| first.get_mut("server"))
            .and_then(Value::as_object_mut)
        {
            Some(server) => {
                server.insert("description".into(), json!(huge));
            }
            None => servers.insert(0, item("io.example.oversized/server", "1.0.0", &huge)),
        }
    }
    let mut metadata = Map::new();
    if let Some(next) = next {
        metadata.insert(field.into(), json!(next));
    }
    metadata.insert("count".into(), json!(servers.len()));
    let body = json!({"servers": servers, "metadata": metadata});
    let mut bytes = serde_json::to_vec(&body).expect("serialize");
    if matches!(&failure, Some(Failure::MalformedJson { page }) if *page == page_no) {
        // A strict prefix of a JSON object is never valid JSON.
        bytes.truncate(bytes.len() / 2);
    }
    json_response(StatusCode::OK, bytes, "application/json")
}
