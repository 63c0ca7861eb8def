//! Registries and the catalog, end to end: the real binary syncing from a real registry
//! server on loopback (testkit::registry) over the official seed fixture, on SQLite and
//! PostgreSQL.

use std::time::{Duration, Instant};

use serde_json::{json, Value};
use testkit::{
    registry::{self, Failure, RegistryServer},
    Backend, TestDb, TestServer, BACKENDS,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

/// Settings that keep failure tests fast: short timeouts, quick retries.
const FAST: &[(&str, &str)] = &[
    ("MCPO_REGISTRY_RETRY_BASE_MS", "20"),
    ("MCPO_REGISTRY_RETRY_MAX_MS", "3000"),
    ("MCPO_REGISTRY_MAX_ATTEMPTS", "3"),
    ("MCPO_REGISTRY_REQUEST_TIMEOUT_MS", "1000"),
    ("MCPO_REGISTRY_MIN_SYNC_GAP_SECS", "0"),
    ("MCPO_REGISTRY_MAX_RESPONSE_BYTES", "2000000"),
    ("MCPO_REGISTRY_MIN_INTERVAL_SECS", "1"),
    ("MCPO_REGISTRY_SCHEDULER_TICK_MS", "200"),
];

struct Env {
    s: TestServer,
    key: String,
    reg: RegistryServer,
}

impl Env {
    async fn start(backend: Backend, entries: Vec<Value>, extra: &[(&str, &str)]) -> Self {
        let reg = RegistryServer::start(entries).await;
        let mut env: Vec<(&str, &str)> = FAST.to_vec();
        env.extend_from_slice(extra);
        let s = TestServer::spawn_with(BIN, TestDb::new(backend).await, &env).await;
        let key = s.api_key("admin");
        Self { s, key, reg }
    }

    async fn send(&self, method: &str, path: &str, body: Option<Value>) -> reqwest::Response {
        self.s.call(&self.key, method, path, body).await
    }

    async fn json(&self, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
        self.s
            .call_json(&self.key, method, path, body, status)
            .await
    }

    async fn add_registry(&self) -> String {
        let r = self
            .json(
                "POST",
                "/api/v1/registries",
                Some(json!({"name": "test registry", "kind": "mcp-registry", "url": self.reg.url})),
                201,
            )
            .await;
        r["id"].as_str().unwrap().to_owned()
    }

    async fn sync(&self, id: &str, mode: &str) -> Value {
        self.json(
            "POST",
            &format!("/api/v1/registries/{id}/sync?wait=true&mode={mode}"),
            None,
            200,
        )
        .await
    }

    async fn catalog(&self, query: &str) -> Value {
        self.json("GET", &format!("/api/v1/catalog?{query}"), None, 200)
            .await
    }

    /// Every catalog entry (name → latest version, status, description), all pages.
    async fn snapshot(&self) -> Vec<(String, String, String, String)> {
        let mut out = Vec::new();
        let mut cursor = String::new();
        for _ in 0..100 {
            let page = self
                .catalog(&format!("limit=200&cursor={}", urlencode(&cursor)))
                .await;
            for e in page["items"].as_array().unwrap() {
                out.push((
                    e["name"].as_str().unwrap().to_owned(),
                    e["version"].as_str().unwrap().to_owned(),
                    e["status"].as_str().unwrap().to_owned(),
                    e["description"].as_str().unwrap().to_owned(),
                ));
            }
            match page["next_cursor"].as_str() {
                Some(c) => cursor = c.to_owned(),
                None => return out,
            }
        }
        panic!("the catalog did not end within 100 pages");
    }
}

fn urlencode(s: &str) -> String {
    types::query_value(s).replace('/', "%2F")
}

fn n(v: &Value, key: &str) -> u64 {
    v[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} missing in {v}"))
}

/// What the fixture holds by our own reading: distinct valid (name, version) pairs.
fn fixture_valid() -> Vec<(String, String)> {
    let mut seen = Vec::new();
    for e in registry::fixture_entries() {
        let name = e["server"]["name"].as_str().unwrap_or("").to_owned();
        let version = e["server"]["version"].as_str().unwrap_or("").to_owned();
        let (ns, rest) = name.split_once('/').unwrap_or(("", ""));
        if !ns.is_empty() && !rest.is_empty() && !version.is_empty() {
            let pair = (name, version);
            if !seen.contains(&pair) {
                seen.push(pair);
            }
        }
    }
    seen
}

#[tokio::test]
async fn full_sync_accounts_for_every_fixture_entry() {
    for backend in BACKENDS {
        let e = Env::start(backend, registry::fixture_entries(), &[]).await;
        let id = e.add_registry().await;
        let t0 = Instant::now();
        let sync = e.sync(&id, "full").await;
        eprintln!(
            "{backend:?}: full sync of the fixture in {:?}",
            t0.elapsed()
        );
        assert_eq!(sync["state"], "succeeded", "{sync}");
        assert_eq!(sync["mode"], "full");
        let valid = fixture_valid();
        assert_eq!(
            valid.len(),
            465,
            "the fixture README: 472 entries, 7 without a name"
        );
        // Every entry is accounted for: imported, or skipped with a reason.
        assert_eq!(n(&sync, "fetched"), 472);
        assert_eq!(n(&sync, "added"), valid.len() as u64);
        assert_eq!(
            n(&sync, "added") + n(&sync, "skipped") + n(&sync, "updated") + n(&sync, "unchanged"),
            472
        );
        let skipped = sync["skipped_entries"].as_array().unwrap();
        assert_eq!(skipped.len() as u64, n(&sync, "skipped"));
        let mut indexes: Vec<u64> = skipped.iter().map(|s| n(s, "index")).collect();
        indexes.dedup();
        assert_eq!(indexes.len(), skipped.len(), "one reason per skipped entry");
        for s in skipped {
            let reason = s["reason"].as_str().unwrap();
            assert!(reason.contains("no name"), "{s}");
        }
        // Every page was followed with its (URL-encoded) cursor: 472 / 100 per page.
        let lists: Vec<_> = e
            .reg
            .requests()
            .into_iter()
            .filter(|r| r.is_list())
            .collect();
        assert_eq!(lists.len(), 5);
        assert!(lists.iter().all(|r| r.param("limit") == Some("100")));
        assert!(lists[1..].iter().all(|r| r.param("cursor").is_some()));

        // The catalog: one entry per name, searchable, filterable, paginated.
        let page = e.catalog("limit=1").await;
        assert_eq!(n(&page, "total"), 465);
        let snapshot = e.snapshot().await;
        assert_eq!(snapshot.len(), 465);
        let mut names: Vec<_> = snapshot.iter().map(|s| s.0.clone()).collect();
        let sorted = {
            let mut s = names.clone();
            s.sort();
            s
        };
        assert_eq!(names, sorted, "name order across pages");
        names.dedup();
        assert_eq!(names.len(), 465, "no entry twice across pages");

        let found = e.catalog("q=MAGIC%20cursor").await;
        let items = found["items"].as_array().unwrap();
        assert!(
            items
                .iter()
                .any(|i| i["name"] == "io.github.21st-dev/magic-mcp"),
            "{found}"
        );
        for i in items {
            let text = format!("{} {}", i["name"], i["description"]).to_lowercase();
            assert!(text.contains("magic") && text.contains("cursor"), "{i}");
        }
        // Filters agree with the fixture.
        let npm_expected = registry::fixture_entries()
            .iter()
            .filter(|x| {
                x["server"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains('/'))
                    && x["server"]["packages"]
                        .as_array()
                        .is_some_and(|p| p.iter().any(|p| p["registryType"] == "npm"))
            })
            .count() as u64;
        let npm = e.catalog("registry_type=npm&limit=1").await;
        assert_eq!(n(&npm, "total"), npm_expected);
        let stdio_oci = e
            .catalog("registry_type=oci&transport=stdio&limit=200")
            .await;
        for i in stdio_oci["items"].as_array().unwrap() {
            assert!(i["registry_types"]
                .as_array()
                .unwrap()
                .contains(&json!("oci")));
        }
        let ready = n(&e.catalog("verdict=ready&limit=1").await, "total");
        let needs = n(&e.catalog("verdict=needs_input&limit=1").await, "total");
        let unsupported = n(&e.catalog("verdict=unsupported&limit=1").await, "total");
        assert_eq!(ready + needs + unsupported, 465);
        assert!(ready > 0 && needs > 0 && unsupported > 0);
        eprintln!("verdicts: {ready} ready, {needs} need input, {unsupported} unsupported");

        // One entry in full, its name URL-encoded.
        let v = e
            .json(
                "GET",
                "/api/v1/catalog/io.github.21st-dev%2Fmagic-mcp/versions/latest",
                None,
                200,
            )
            .await;
        assert_eq!(v["name"], "io.github.21st-dev/magic-mcp");
        assert_eq!(v["packages"][0]["registry_type"], "npm");
        assert_eq!(v["packages"][0]["identifier"], "@21st-dev/magic");
        assert_eq!(
            v["packages"][0]["environment_variables"][0]["name"],
            "API_KEY"
        );
        assert_eq!(v["is_latest"], true);
        assert_eq!(v["verdict"]["status"], "ready", "{}", v["verdict"]);
        assert_eq!(v["server_json"]["name"], "io.github.21st-dev/magic-mcp");
        let versions = e
            .json(
                "GET",
                "/api/v1/catalog/io.github.21st-dev%2Fmagic-mcp/versions",
                None,
                200,
            )
            .await;
        assert_eq!(versions.as_array().unwrap().len(), 1);
        // A placeholder argument makes the verdict ask for input, naming it.
        let adfin = e.json("GET", "/api/v1/catalog?q=adfin", None, 200).await;
        let adfin = &adfin["items"][0];
        assert_eq!(adfin["verdict"]["status"], "needs_input", "{adfin}");
        assert!(adfin["verdict"]["reasons"]
            .to_string()
            .contains("placeholder argument `<absolute_path_to_adfin_mcp_folder>` needs a value"));
        let missing = e
            .send("GET", "/api/v1/catalog/no.such%2Fserver/versions", None)
            .await;
        assert_eq!(missing.status(), 404);

        // A second full sync changes nothing.
        let again = e.sync(&id, "full").await;
        assert_eq!(n(&again, "added"), 0);
        assert_eq!(n(&again, "unchanged"), 465);
        assert_eq!(n(&again, "removed"), 0);
        let history = e
            .json("GET", &format!("/api/v1/registries/{id}/syncs"), None, 200)
            .await;
        assert_eq!(history["items"].as_array().unwrap().len(), 2);
        let info = e
            .json("GET", &format!("/api/v1/registries/{id}"), None, 200)
            .await;
        assert_eq!(n(&info, "entries"), 465);
        assert_eq!(info["last_sync"]["id"], again["id"]);
    }
}

#[tokio::test]
async fn incremental_sync_picks_up_exactly_the_changes() {
    for backend in BACKENDS {
        let e = Env::start(backend, registry::fixture_entries(), &[]).await;
        let id = e.add_registry().await;
        let first = e.sync(&id, "full").await;
        assert_eq!(first["state"], "succeeded");
        let before = e.snapshot().await;

        // Change the source: edit one, deprecate one, delete one, add a server, and publish a
        // new version of an existing one.
        let mut edited = registry::fixture_entries()
            .into_iter()
            .find(|x| x["server"]["name"] == "io.github.21st-dev/magic-mcp")
            .unwrap();
        edited["server"]["description"] = json!("Edited description");
        e.reg.upsert(edited);
        e.reg.set_status(
            "io.github.adfin-engineering/mcp-server-adfin",
            "0.0.1-seed",
            "deprecated",
        );
        let deleted = before
            .iter()
            .find(|s| s.0 != "io.github.21st-dev/magic-mcp" && !s.0.contains("adfin"))
            .unwrap()
            .0
            .clone();
        e.reg.set_status(&deleted, "0.0.1-seed", "deleted");
        e.reg.upsert(registry::item(
            "io.example.new/server",
            "1.0.0",
            "A brand-new server",
        ));
        e.reg.upsert(registry::item(
            "io.github.21st-dev/magic-mcp",
            "9.9.9",
            "Next major",
        ));
        e.reg.clear_requests();

        let inc = e.sync(&id, "incremental").await;
        assert_eq!(inc["state"], "succeeded", "{inc}");
        assert_eq!(inc["mode"], "incremental");
        assert_eq!(n(&inc, "added"), 2, "{inc}");
        assert_eq!(n(&inc, "updated"), 2, "{inc}");
        assert_eq!(n(&inc, "removed"), 1, "{inc}");
        assert_eq!(n(&inc, "skipped"), 0, "{inc}");
        assert_eq!(n(&inc, "unchanged"), 0, "{inc}");
        assert_eq!(n(&inc, "fetched"), 5, "only the changes were listed");
        let lists: Vec<_> = e
            .reg
            .requests()
            .into_iter()
            .filter(|r| r.is_list())
            .collect();
        assert!(lists.iter().all(|r| r.param("updated_since").is_some()));

        let after = e.snapshot().await;
        assert_eq!(after.len(), before.len(), "one added, one deleted");
        assert!(!after.iter().any(|s| s.0 == deleted));
        assert!(after.iter().any(|s| s.0 == "io.example.new/server"));
        let magic = after
            .iter()
            .find(|s| s.0 == "io.github.21st-dev/magic-mcp")
            .unwrap();
        assert_eq!(magic.1, "9.9.9", "the new version is the latest");
        let adfin = after.iter().find(|s| s.0.contains("adfin")).unwrap();
        assert_eq!(adfin.2, "deprecated");
        let old = e
            .json(
                "GET",
                "/api/v1/catalog/io.github.21st-dev%2Fmagic-mcp/versions/0.0.1-seed",
                None,
                200,
            )
            .await;
        assert_eq!(old["description"], "Edited description");
        assert_eq!(old["is_latest"], false);
        let versions = e
            .json(
                "GET",
                "/api/v1/catalog/io.github.21st-dev%2Fmagic-mcp/versions",
                None,
                200,
            )
            .await;
        let versions: Vec<_> = versions
            .as_array()
            .unwrap()
            .iter()
            .map(|v| {
                (
                    v["version"].as_str().unwrap(),
                    v["is_latest"].as_bool().unwrap(),
                )
            })
            .collect();
        assert_eq!(versions, [("9.9.9", true), ("0.0.1-seed", false)]);
        let hidden = e.catalog("hide_deprecated=true&limit=1").await;
        assert_eq!(n(&hidden, "total"), after.len() as u64 - 1);
    }
}

#[tokio::test]
async fn failures_end_cleanly_with_the_catalog_unchanged() {
    for backend in BACKENDS {
        // Small pages, so failures can strike after some pages arrived.
        let e = Env::start(
            backend,
            registry::fixture_entries(),
            &[("MCPO_REGISTRY_PAGE_SIZE", "10")],
        )
        .await;
        let id = e.add_registry().await;
        assert_eq!(e.sync(&id, "full").await["state"], "succeeded");
        let before = e.snapshot().await;
        // Had any failing sync applied anything, the catalog would shrink to these 30 (three
        // pages).
        e.reg.set_entries(
            registry::fixture_entries()
                .into_iter()
                .skip(200)
                .take(30)
                .collect(),
        );

        let cases: Vec<(Failure, &str)> = vec![
            (
                Failure::Status {
                    code: 500,
                    times: None,
                },
                "500 Internal Server Error (after 3 attempts)",
            ),
            (
                Failure::RateLimited {
                    retry_after_secs: 1,
                    times: None,
                },
                "429 Too Many Requests (after 3 attempts)",
            ),
            (
                Failure::Delay {
                    millis: 3000,
                    times: None,
                },
                "timed out",
            ),
            (
                Failure::MalformedJson { page: 2 },
                "page 2 is not a valid registry list answer",
            ),
            (
                Failure::Oversized { bytes: 3_000_000 },
                "larger than 2000000 bytes",
            ),
            (Failure::RepeatCursor, "repeated a cursor"),
            (Failure::DropConnection { times: None }, "after 3 attempts"),
        ];
        for (failure, expected) in cases {
            e.reg.fail(failure.clone());
            let t0 = Instant::now();
            let sync = e.sync(&id, "full").await;
            let took = t0.elapsed();
            e.reg.clear_failure();
            assert_eq!(sync["state"], "failed", "{failure:?}: {sync}");
            let error = sync["error"].as_str().unwrap();
            assert!(error.contains(expected), "{failure:?}: {error}");
            if matches!(failure, Failure::RateLimited { .. }) {
                assert!(
                    took >= Duration::from_secs(2),
                    "Retry-After honoured: {took:?}"
                );
            }
            assert!(sync["finished_at"].is_string());
            assert_eq!(
                e.snapshot().await,
                before,
                "{failure:?} changed the catalog"
            );
            // The failure is in the history with its error.
            let history = e
                .json(
                    "GET",
                    &format!("/api/v1/registries/{id}/syncs?limit=1"),
                    None,
                    200,
                )
                .await;
            assert_eq!(history["items"][0]["error"], error);
        }
        // The registry can no longer be reached at all.
        let gone = e
            .json(
                "POST",
                "/api/v1/registries",
                Some(json!({"name": "gone", "kind": "mcp-registry", "url": "http://127.0.0.1:9"})),
                201,
            )
            .await;
        let sync = e.sync(gone["id"].as_str().unwrap(), "full").await;
        assert_eq!(sync["state"], "failed");
        assert!(
            sync["error"]
                .as_str()
                .unwrap()
                .contains("connection failed"),
            "{sync}"
        );

        // Transient failures are retried: twice 503, then fine.
        e.reg.set_entries(registry::fixture_entries());
        e.reg.clear_requests();
        e.reg.fail(Failure::Status {
            code: 503,
            times: Some(2),
        });
        let sync = e.sync(&id, "full").await;
        assert_eq!(sync["state"], "succeeded", "{sync}");
        // 48 pages of 10, and the two refused attempts.
        assert_eq!(
            e.reg.requests().iter().filter(|r| r.is_list()).count(),
            48 + 2
        );
        // A 429 with Retry-After: 1 is waited out.
        e.reg.fail(Failure::RateLimited {
            retry_after_secs: 1,
            times: Some(1),
        });
        let t0 = Instant::now();
        let sync = e.sync(&id, "full").await;
        assert_eq!(sync["state"], "succeeded", "{sync}");
        assert!(t0.elapsed() >= Duration::from_secs(1));
        assert_eq!(e.snapshot().await, before);
    }
}

#[tokio::test]
async fn credentials_are_sent_and_never_shown() {
    const TOKEN: &str = "Bearer s3cret-registry-token-7f3a";
    let e = Env::start(Backend::Sqlite, registry::fixture_entries(), &[]).await;
    e.reg.require_header("authorization", TOKEN);
    let r = e
        .json(
            "POST",
            "/api/v1/registries",
            Some(
                json!({"name": "private", "kind": "mcp-registry", "url": e.reg.url,
                        "auth_value": TOKEN, "sync_interval_secs": 0}),
            ),
            201,
        )
        .await;
    assert_eq!(r["has_auth"], true);
    assert_eq!(r["auth_header_name"], "Authorization");
    let id = r["id"].as_str().unwrap();
    let sync = e.sync(id, "full").await;
    assert_eq!(sync["state"], "succeeded", "{sync}");
    assert!(e
        .reg
        .requests()
        .iter()
        .all(|q| q.authorization.as_deref() == Some(TOKEN)));
    for path in [
        "/api/v1/registries".to_owned(),
        format!("/api/v1/registries/{id}"),
        format!("/api/v1/registries/{id}/syncs"),
        "/api/v1/audit-events".to_owned(),
    ] {
        let body = e.send("GET", &path, None).await.text().await.unwrap();
        assert!(!body.contains("s3cret"), "{path} shows the credential");
    }
    // Without it the registry refuses, and the error says so without the value.
    e.json(
        "PATCH",
        &format!("/api/v1/registries/{id}"),
        Some(json!({"auth_value": ""})),
        200,
    )
    .await;
    let sync = e.sync(id, "full").await;
    assert_eq!(sync["state"], "failed");
    assert!(sync["error"].as_str().unwrap().contains("401"), "{sync}");
    assert!(
        !e.s.logs().join("\n").contains("s3cret"),
        "a log holds the credential"
    );
}

#[tokio::test]
async fn sources_are_validated_and_roles_enforced() {
    let e = Env::start(Backend::Sqlite, vec![], &[]).await;
    let bad = [
        (
            json!({"name": "x", "kind": "mcp-registry", "url": "http://registry.example.com"}),
            "https",
        ),
        (
            json!({"name": "x", "kind": "mcp-registry", "url": "https://user:pw@registry.example.com"}),
            "credentials",
        ),
        (
            json!({"name": "x", "kind": "mcp-registry", "url": "ftp://registry.example.com"}),
            "scheme",
        ),
        (
            json!({"name": "x", "kind": "mcp-registry", "url": "not a url"}),
            "not a URL",
        ),
        (
            json!({"name": "x", "kind": "file", "url": "relative/path.json"}),
            "url",
        ),
        (
            json!({"name": "x", "kind": "file", "url": "/no/such/file.json"}),
            "no such file",
        ),
        (
            json!({"name": "x", "kind": "file", "url": "/etc/../etc/passwd"}),
            "..",
        ),
        (
            json!({"name": "", "kind": "file", "url": fixture_path()}),
            "name",
        ),
        (
            json!({"name": "x", "kind": "mcp-registry", "url": "https://r.example", "sync_interval_secs": 999_999_999}),
            "sync_interval_secs",
        ),
        (
            json!({"name": "x", "kind": "nuget", "url": "https://r.example"}),
            "",
        ),
    ];
    for (body, why) in bad {
        let res = e
            .send("POST", "/api/v1/registries", Some(body.clone()))
            .await;
        let status = res.status().as_u16();
        assert_eq!(
            res.headers()["content-type"],
            "application/problem+json",
            "{body}"
        );
        let text = res.text().await.unwrap();
        assert!(status == 422 || status == 400, "{body}: {status} {text}");
        assert!(text.contains(why), "{body}: {text}");
    }
    // A file source: the fixture as list items, and a plain array of server.json documents.
    let f = e
        .json(
            "POST",
            "/api/v1/registries",
            Some(json!({"name": "seed file", "kind": "file", "url": fixture_path()})),
            201,
        )
        .await;
    let dup = e
        .send(
            "POST",
            "/api/v1/registries",
            Some(json!({"name": "seed file", "kind": "file", "url": fixture_path()})),
        )
        .await;
    assert_eq!(dup.status(), 409);
    let sync = e.sync(f["id"].as_str().unwrap(), "full").await;
    assert_eq!(sync["state"], "succeeded", "{sync}");
    assert_eq!((n(&sync, "added"), n(&sync, "skipped")), (465, 7));

    let dir = tempfile_dir();
    let plain = dir.join("plain.json");
    let docs: Vec<Value> = registry::hostile_entries()
        .into_iter()
        .map(|x| x["server"].clone())
        .collect();
    std::fs::write(&plain, serde_json::to_vec(&docs).unwrap()).unwrap();
    let p = e
        .json(
            "POST",
            "/api/v1/registries",
            Some(json!({"name": "plain", "kind": "file", "url": plain.to_str().unwrap()})),
            201,
        )
        .await;
    let sync = e.sync(p["id"].as_str().unwrap(), "full").await;
    assert_eq!(
        (sync["state"].as_str(), n(&sync, "added")),
        (Some("succeeded"), 3)
    );
    // Hostile text is stored as data, exactly.
    for doc in &docs {
        let name = doc["name"].as_str().unwrap();
        let v = e
            .json(
                "GET",
                &format!("/api/v1/catalog/{}/versions/1.0.0", urlencode(name)),
                None,
                200,
            )
            .await;
        assert_eq!(v["description"], doc["description"], "{name}");
        assert_eq!(v["title"], doc["title"], "{name}");
    }
    let long = e.catalog("q=deliberately%20long").await;
    assert_eq!(
        long["items"][0]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20_000
    );

    // Roles: viewers read, operators sync, admins manage.
    let viewer = e.s.api_key("viewer");
    let operator = e.s.api_key("operator");
    let pid = p["id"].as_str().unwrap();
    let call = |key: &str, method: &str, path: String, body: Option<Value>| {
        let mut req =
            e.s.client
                .request(method.parse().unwrap(), e.s.url(&path))
                .bearer_auth(key);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send()
    };
    let create = json!({"name": "y", "kind": "file", "url": plain.to_str().unwrap()});
    for (key, status) in [(&viewer, 403), (&operator, 403)] {
        let res = call(
            key,
            "POST",
            "/api/v1/registries".into(),
            Some(create.clone()),
        )
        .await
        .unwrap();
        assert_eq!(res.status().as_u16(), status);
        let res = call(key, "DELETE", format!("/api/v1/registries/{pid}"), None)
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status);
    }
    let res = call(
        &viewer,
        "POST",
        format!("/api/v1/registries/{pid}/sync"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 403);
    let res = call(
        &operator,
        "POST",
        format!("/api/v1/registries/{pid}/sync"),
        None,
    )
    .await
    .unwrap();
    assert_eq!(res.status(), 202);
    let res = call(&viewer, "GET", "/api/v1/catalog?q=hostile".into(), None)
        .await
        .unwrap();
    assert_eq!(res.status(), 200);

    // Bad catalog queries are 4xx problems, never 500.
    for q in [
        "sort=size",
        "verdict=maybe",
        "registry_type=%3Cscript%3E",
        "cursor=%%%",
        "cursor=bm9wZQ",
        "limit=-1",
        "needs_secrets=perhaps",
    ] {
        let res = e.send("GET", &format!("/api/v1/catalog?{q}"), None).await;
        let status = res.status().as_u16();
        assert!(status == 422 || status == 400, "{q}: {status}");
    }
    // Delete removes the source and its entries.
    wait_idle(&e, pid).await;
    e.json("DELETE", &format!("/api/v1/registries/{pid}"), None, 204)
        .await;
    assert_eq!(
        e.send("GET", &format!("/api/v1/registries/{pid}"), None)
            .await
            .status(),
        404
    );
    assert_eq!(n(&e.catalog("q=hostile").await, "total"), 0);
}

/// The fixture's path without `..` parts (sources refuse those).
fn fixture_path() -> String {
    std::fs::canonicalize(registry::FIXTURE)
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

fn tempfile_dir() -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("mcpo-reg-{}", uuid_like()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn uuid_like() -> String {
    format!(
        "{}-{:?}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
    )
}

async fn wait_idle(e: &Env, id: &str) {
    for _ in 0..100 {
        let info = e
            .json("GET", &format!("/api/v1/registries/{id}"), None, 200)
            .await;
        if info["last_sync"]["state"] != "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the sync did not end");
}

#[tokio::test]
async fn schedules_gaps_and_running_syncs() {
    for backend in BACKENDS {
        let e = Env::start(
            backend,
            registry::fixture_entries().into_iter().take(20).collect(),
            &[],
        )
        .await;
        // Scheduled: synced by itself, then again after the interval.
        let r = e
            .json(
                "POST",
                "/api/v1/registries",
                Some(json!({"name": "scheduled", "kind": "mcp-registry", "url": e.reg.url, "sync_interval_secs": 1})),
                201,
            )
            .await;
        let id = r["id"].as_str().unwrap().to_owned();
        let mut scheduled = 0;
        for _ in 0..100 {
            let h = e
                .json("GET", &format!("/api/v1/registries/{id}/syncs"), None, 200)
                .await;
            scheduled = h["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["trigger"] == "scheduled" && s["state"] == "succeeded")
                .count();
            if scheduled >= 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert!(scheduled >= 2, "two scheduled syncs within 10 s");
        let h = e
            .json("GET", &format!("/api/v1/registries/{id}/syncs"), None, 200)
            .await;
        assert_eq!(
            h["items"][0]["mode"], "incremental",
            "later syncs are incremental"
        );
        e.json(
            "PATCH",
            &format!("/api/v1/registries/{id}"),
            Some(json!({"enabled": false})),
            200,
        )
        .await;
        wait_idle(&e, &id).await;

        // One sync per source at a time: a slow one makes a second a 409.
        let slow = e.add_registry().await;
        e.reg.fail(Failure::Delay {
            millis: 700,
            times: Some(1),
        });
        let started = e
            .json(
                "POST",
                &format!("/api/v1/registries/{slow}/sync"),
                None,
                202,
            )
            .await;
        assert_eq!(started["state"], "running");
        let again = e
            .send("POST", &format!("/api/v1/registries/{slow}/sync"), None)
            .await;
        assert_eq!(again.status(), 409);
        wait_idle(&e, &slow).await;
    }
    // The minimum gap between syncs of one source: a 429 with Retry-After.
    let e = Env::start(
        Backend::Sqlite,
        registry::fixture_entries().into_iter().take(5).collect(),
        &[("MCPO_REGISTRY_MIN_SYNC_GAP_SECS", "30")],
    )
    .await;
    let id = e.add_registry().await;
    assert_eq!(e.sync(&id, "full").await["state"], "succeeded");
    let res = e
        .send("POST", &format!("/api/v1/registries/{id}/sync"), None)
        .await;
    assert_eq!(res.status(), 429);
    let wait: u64 = res.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=30).contains(&wait), "{wait}");
}

#[tokio::test]
async fn a_sync_killed_midway_changes_nothing_and_is_marked_interrupted() {
    // SQLite: one instance per database file, so the next start recovers at once (on
    // PostgreSQL, leases of instances that miss their heartbeats are released the same way).
    let e = Env::start(
        Backend::Sqlite,
        registry::fixture_entries(),
        &[
            ("MCPO_REGISTRY_PAGE_SIZE", "10"),
            ("MCPO_REGISTRY_REQUEST_TIMEOUT_MS", "30000"),
        ],
    )
    .await;
    let id = e.add_registry().await;
    assert_eq!(e.sync(&id, "full").await["state"], "succeeded");
    let before = e.snapshot().await;
    e.reg
        .set_entries(registry::fixture_entries().into_iter().take(30).collect());
    // Page 1 arrives, page 2 hangs: the process dies in the middle of the sync.
    e.reg.fail(Failure::Delay {
        millis: 20_000,
        times: None,
    });
    let running = e
        .json(
            "POST",
            &format!("/api/v1/registries/{id}/sync?mode=full"),
            None,
            202,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let killed = std::process::Command::new("kill")
        .args(["-KILL", &e.s.pid().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    e.reg.clear_failure();

    let db = TestDb::existing(&e.s.db.url, Backend::Sqlite);
    let mut env: Vec<(&str, &str)> = FAST.to_vec();
    env.push(("MCPO_REGISTRY_PAGE_SIZE", "10"));
    let s2 = TestServer::spawn_with(BIN, db, &env).await;
    let again = Env {
        s: s2,
        key: e.key.clone(),
        reg: RegistryServer::start(registry::fixture_entries()).await,
    };
    let path = format!(
        "/api/v1/registries/{id}/syncs/{}",
        running["id"].as_str().unwrap()
    );
    let mut state = Value::Null;
    for _ in 0..50 {
        state = again.json("GET", &path, None, 200).await;
        if state["state"] != "running" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state["state"], "failed", "{state}");
    assert!(
        state["error"].as_str().unwrap().contains("interrupted"),
        "{state}"
    );
    assert_eq!(
        again.snapshot().await,
        before,
        "a killed sync applied something"
    );
    // The source syncs again (its lease was released).
    let res = again
        .send(
            "POST",
            &format!("/api/v1/registries/{id}/sync?wait=true"),
            None,
        )
        .await;
    assert_eq!(res.status(), 200);
}
