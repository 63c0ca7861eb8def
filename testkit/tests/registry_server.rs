//! The test registry server speaks the official MCP Registry API over real HTTP and fails on
//! command.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;
use testkit::registry::{
    fixture_entries, hostile_entries, item, synthetic_entries, CursorField, Failure,
    RegistryServer, OFFICIAL_META,
};

fn client() -> reqwest::Client {
    client_with_timeout(Duration::from_secs(10))
}

fn client_with_timeout(timeout: Duration) -> reqwest::Client {
    testkit::client_builder().timeout(timeout).build().unwrap()
}

fn name(entry: &Value) -> &str {
    entry["server"]["name"].as_str().unwrap_or("")
}

fn version(entry: &Value) -> &str {
    entry["server"]["version"].as_str().unwrap_or("")
}

fn meta(entry: &Value) -> &Value {
    &entry["_meta"][OFFICIAL_META]
}

/// `url` with `params` appended, form-URL-encoded (`+` → `%2B`, `/` → `%2F`, `=` → `%3D`).
fn with_query(url: &str, params: &[(&str, &str)]) -> reqwest::Url {
    let mut url = reqwest::Url::parse(url).unwrap();
    if !params.is_empty() {
        url.query_pairs_mut().extend_pairs(params);
    }
    url
}

/// GET `url` with `params` (URL-encoded): status, headers and body text.
async fn get(
    client: &reqwest::Client,
    url: &str,
    params: &[(&str, &str)],
) -> (u16, reqwest::header::HeaderMap, String) {
    let response = client.get(with_query(url, params)).send().await.unwrap();
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    (status, headers, response.text().await.unwrap())
}

/// A list page that must be a 200 with valid JSON.
async fn page(client: &reqwest::Client, url: &str, params: &[(&str, &str)]) -> Value {
    let (status, _, body) = get(client, url, params).await;
    assert_eq!(status, 200, "{url} {params:?}: {body}");
    serde_json::from_str(&body).unwrap()
}

/// Follows the cursor (at most 200 pages): every entry, and every cursor seen.
async fn walk(
    client: &reqwest::Client,
    list_url: &str,
    params: &[(&str, &str)],
    field: &str,
) -> (Vec<Value>, Vec<String>) {
    let mut entries = Vec::new();
    let mut cursors: Vec<String> = Vec::new();
    for _ in 0..200 {
        let mut query = params.to_vec();
        if let Some(cursor) = cursors.last() {
            query.push(("cursor", cursor));
        }
        let body = page(client, list_url, &query).await;
        let servers = body["servers"].as_array().unwrap();
        assert_eq!(body["metadata"]["count"], servers.len());
        entries.extend(servers.iter().cloned());
        match body["metadata"].get(field) {
            Some(next) => cursors.push(next.as_str().unwrap().to_owned()),
            None => return (entries, cursors),
        }
    }
    panic!("more than 200 pages");
}

fn sorted_json(entries: &[Value]) -> Vec<String> {
    let mut out: Vec<String> = entries.iter().map(Value::to_string).collect();
    out.sort();
    out
}

#[tokio::test]
async fn pages_over_the_whole_fixture_exactly_once() {
    let fixture = fixture_entries();
    assert_eq!(fixture.len(), 472);
    let registry = RegistryServer::start(fixture.clone()).await;
    let client = client();
    for (prefix, params) in [
        ("/v0.1", vec![]),
        ("/v0", vec![("limit", "100")]),
        ("/v0.1", vec![("limit", "7")]),
    ] {
        let url = format!("{}{prefix}/servers", registry.url);
        let (entries, cursors) = walk(&client, &url, &params, "nextCursor").await;
        assert_eq!(entries.len(), 472, "{prefix} {params:?}");
        assert_eq!(sorted_json(&entries), sorted_json(&fixture));
        let keys: Vec<(&str, &str)> = entries.iter().map(|e| (name(e), version(e))).collect();
        assert!(
            keys.windows(2).all(|w| w[0] <= w[1]),
            "ordered by name, version"
        );
        let limit = params.first().map_or(30, |(_, l)| l.parse().unwrap());
        assert_eq!(cursors.len(), 472_usize.div_ceil(limit) - 1);
        for cursor in &cursors {
            assert!(
                cursor.contains('+') && cursor.contains('/') && cursor.contains('='),
                "{cursor}"
            );
        }
    }

    // A cursor sent without URL-encoding ('+' turns into a space) is refused.
    let url = format!("{}/v0.1/servers", registry.url);
    let first = page(&client, &url, &[]).await;
    let cursor = first["metadata"]["nextCursor"].as_str().unwrap();
    let raw = client
        .get(format!("{url}?cursor={cursor}"))
        .send()
        .await
        .unwrap();
    assert_eq!(raw.status(), 400);
    let encoded = page(&client, &url, &[("cursor", cursor)]).await;
    assert_eq!(encoded["servers"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn validates_limit_cursor_and_paths() {
    let registry = RegistryServer::start(fixture_entries()).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    for bad in ["0", "-3", "abc", "1.5", ""] {
        let (status, headers, body) = get(&client, &url, &[("limit", bad)]).await;
        assert_eq!(status, 400, "limit={bad:?}");
        assert_eq!(headers["content-type"], "application/problem+json");
        let problem: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(problem["status"], 400);
    }
    let body = page(&client, &url, &[("limit", "500")]).await;
    assert_eq!(body["servers"].as_array().unwrap().len(), 100);
    registry.set_page_size_max(7);
    let body = page(&client, &url, &[("limit", "50")]).await;
    assert_eq!(body["servers"].as_array().unwrap().len(), 7);
    let body = page(&client, &url, &[]).await;
    assert_eq!(body["servers"].as_array().unwrap().len(), 7);

    for cursor in ["garbage", "+/+/", "aGVsbG8=", "+/+/e30="] {
        let (status, _, _) = get(&client, &url, &[("cursor", cursor)]).await;
        assert_eq!(status, 400, "cursor={cursor:?}");
    }
    let (status, _, _) = get(&client, &url, &[("updated_since", "yesterday")]).await;
    assert_eq!(status, 400);

    for path in [
        "/v0.1",
        "/v1/servers",
        "/v0.1/server",
        "/v0.1/servers/x/y/z",
        "/",
    ] {
        let (status, _, _) = get(&client, &format!("{}{path}", registry.url), &[]).await;
        assert_eq!(status, 404, "{path}");
    }
    let post = client.post(&url).send().await.unwrap();
    assert_eq!(post.status(), 404);
}

#[tokio::test]
async fn updated_since_returns_exactly_the_changed_entries() {
    let fixture = fixture_entries();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for e in &fixture {
        *counts
            .entry((name(e).to_owned(), version(e).to_owned()))
            .or_default() += 1;
    }
    let unique: Vec<&Value> = fixture
        .iter()
        .filter(|e| {
            counts[&(name(e).to_owned(), version(e).to_owned())] == 1 && !name(e).is_empty()
        })
        .collect();
    let (changed, removed) = (unique[10].clone(), unique[200].clone());

    let registry = RegistryServer::start(fixture.clone()).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    let since = [("updated_since", "2025-06-01T00:00:00Z")];
    let (before, _) = walk(&client, &url, &since, "nextCursor").await;
    assert!(before.is_empty());

    let mut edited = changed.clone();
    edited["server"]["description"] = "edited".into();
    registry.upsert(edited);
    registry.upsert(item("io.example.new/server", "1.0.0", "brand new"));
    registry.set_status(name(&removed), version(&removed), "deleted");

    let (after, _) = walk(&client, &url, &since, "nextCursor").await;
    let got: BTreeSet<(&str, &str)> = after.iter().map(|e| (name(e), version(e))).collect();
    let want: BTreeSet<(&str, &str)> = [
        (name(&changed), version(&changed)),
        ("io.example.new/server", "1.0.0"),
        (name(&removed), version(&removed)),
    ]
    .into();
    assert_eq!(after.len(), 3);
    assert_eq!(got, want);
    for e in &after {
        let stamp = meta(e)["updatedAt"].as_str().unwrap();
        assert!(stamp.ends_with('Z') && stamp.len() == 24, "{stamp}");
        if name(e) == name(&changed) {
            assert_eq!(e["server"]["description"], "edited");
        }
        if name(e) == name(&removed) {
            assert_eq!(meta(e)["status"], "deleted");
        }
    }
    // Every status is listed, and the upsert replaced rather than added.
    let (all, _) = walk(&client, &url, &[("limit", "100")], "nextCursor").await;
    assert_eq!(all.len(), 473);

    // Later than the newest change: nothing; then exactly the next change.
    let newest = after
        .iter()
        .map(|e| meta(e)["updatedAt"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let (none, _) = walk(&client, &url, &[("updated_since", &newest)], "nextCursor").await;
    assert!(none.is_empty());
    registry.set_status("io.example.new/server", "1.0.0", "deprecated");
    let (one, _) = walk(&client, &url, &[("updated_since", &newest)], "nextCursor").await;
    assert_eq!(one.len(), 1);
    assert_eq!(meta(&one[0])["status"], "deprecated");
    assert!(meta(&one[0])["updatedAt"].as_str().unwrap() > newest.as_str());
}

#[tokio::test]
async fn search_and_latest_filters() {
    let entries = synthetic_entries(40);
    let names: BTreeSet<&str> = entries.iter().map(name).collect();
    let registry = RegistryServer::start(entries.clone()).await;
    let client = client();
    let url = format!("{}/v0/servers", registry.url);
    let (latest, _) = walk(&client, &url, &[("version", "latest")], "nextCursor").await;
    assert_eq!(latest.len(), names.len());
    assert!(latest.iter().all(|e| meta(e)["isLatest"] == true));
    let (found, _) = walk(&client, &url, &[("search", "SERVER-0000")], "nextCursor").await;
    assert!(!found.is_empty());
    assert!(found.iter().all(|e| name(e).contains("server-0000")));
    let expected = entries
        .iter()
        .filter(|e| name(e).contains("server-0000"))
        .count();
    assert_eq!(found.len(), expected);
}

#[tokio::test]
async fn versions_endpoints_take_an_encoded_name() {
    let registry = RegistryServer::start(synthetic_entries(10)).await;
    let client = client();
    // Failures apply to list requests only.
    registry.fail(Failure::Status {
        code: 500,
        times: None,
    });
    for prefix in ["/v0.1", "/v0"] {
        let base = format!(
            "{}{prefix}/servers/io.example.synthetic%2Fserver-00000",
            registry.url
        );
        let all = page(&client, &format!("{base}/versions"), &[]).await;
        let versions: Vec<&str> = all["servers"]
            .as_array()
            .unwrap()
            .iter()
            .map(version)
            .collect();
        assert_eq!(versions, ["1.0.0", "1.1.0", "2.0.0"]);
        assert_eq!(all["metadata"]["count"], 3);

        let latest = page(&client, &format!("{base}/versions/latest"), &[]).await;
        assert_eq!(version(&latest), "2.0.0");
        assert_eq!(name(&latest), "io.example.synthetic/server-00000");
        let one = page(&client, &format!("{base}/versions/1.1.0"), &[]).await;
        assert_eq!(version(&one), "1.1.0");
        assert_eq!(meta(&one)["isLatest"], false);

        let (status, _, _) = get(&client, &format!("{base}/versions/9.9.9"), &[]).await;
        assert_eq!(status, 404);
        let missing = format!(
            "{}{prefix}/servers/io.example%2Fnope/versions",
            registry.url
        );
        let (status, _, body) = get(&client, &missing, &[]).await;
        assert_eq!(status, 404);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], 404);
    }
    let (status, _, _) = get(&client, &format!("{}/v0.1/servers", registry.url), &[]).await;
    assert_eq!(status, 500);
}

#[tokio::test]
async fn status_and_rate_limit_failures_expire() {
    let registry = RegistryServer::start(synthetic_entries(5)).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);

    registry.fail(Failure::Status {
        code: 503,
        times: Some(2),
    });
    for _ in 0..2 {
        let (status, _, body) = get(&client, &url, &[]).await;
        assert_eq!(status, 503);
        assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], 503);
    }
    page(&client, &url, &[]).await;

    registry.fail(Failure::RateLimited {
        retry_after_secs: 7,
        times: Some(1),
    });
    let (status, headers, _) = get(&client, &url, &[]).await;
    assert_eq!(status, 429);
    assert_eq!(headers["retry-after"], "7");
    page(&client, &url, &[]).await;

    registry.fail(Failure::Status {
        code: 500,
        times: None,
    });
    for _ in 0..3 {
        assert_eq!(get(&client, &url, &[]).await.0, 500);
    }
    registry.clear_failure();
    page(&client, &url, &[]).await;
}

#[tokio::test]
async fn delay_is_measurable_and_times_out_clients() {
    let registry = RegistryServer::start(synthetic_entries(5)).await;
    let url = format!("{}/v0.1/servers", registry.url);
    registry.fail(Failure::Delay {
        millis: 400,
        times: Some(2),
    });
    let started = Instant::now();
    page(&client(), &url, &[]).await;
    assert!(started.elapsed() >= Duration::from_millis(400));
    let err = client_with_timeout(Duration::from_millis(100))
        .get(&url)
        .send()
        .await
        .unwrap_err();
    assert!(err.is_timeout(), "{err}");
    // Both delays used up: a short timeout is enough now.
    let fast = client_with_timeout(Duration::from_millis(350));
    let response = fast.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn malformed_json_on_the_named_page_only() {
    let registry = RegistryServer::start(fixture_entries()).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    registry.fail(Failure::MalformedJson { page: 2 });
    let first = page(&client, &url, &[]).await;
    let cursor = first["metadata"]["nextCursor"].as_str().unwrap();
    let (status, _, body) = get(&client, &url, &[("cursor", cursor)]).await;
    assert_eq!(status, 200);
    assert!(serde_json::from_str::<Value>(&body).is_err(), "{body}");
    assert!(body.starts_with('{') && body.len() > 100);
    registry.clear_failure();
    let second = page(&client, &url, &[("cursor", cursor)]).await;
    assert_eq!(second["servers"].as_array().unwrap().len(), 30);
}

#[tokio::test]
async fn oversized_body_is_valid_and_big() {
    let registry = RegistryServer::start(synthetic_entries(5)).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    registry.fail(Failure::Oversized { bytes: 3_000_000 });
    let (status, _, body) = get(&client, &url, &[]).await;
    assert_eq!(status, 200);
    assert!(body.len() >= 3_000_000);
    let parsed: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["servers"].as_array().unwrap().len(), 5);
    // Also with an empty page.
    registry.set_entries(Vec::new());
    let (_, _, body) = get(&client, &url, &[]).await;
    assert!(body.len() >= 3_000_000);
    serde_json::from_str::<Value>(&body).unwrap();
}

#[tokio::test]
async fn repeat_cursor_never_ends() {
    let registry = RegistryServer::start(fixture_entries()).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    registry.fail(Failure::RepeatCursor);
    let first = page(&client, &url, &[]).await;
    let cursor = first["metadata"]["nextCursor"].as_str().unwrap().to_owned();
    for _ in 0..5 {
        let next = page(&client, &url, &[("cursor", &cursor)]).await;
        assert_eq!(next["metadata"]["nextCursor"], cursor.as_str());
    }
    // Even a single-page listing gets a cursor.
    registry.set_entries(synthetic_entries(3));
    let only = page(&client, &url, &[]).await;
    let cursor = only["metadata"]["nextCursor"].as_str().unwrap().to_owned();
    let again = page(&client, &url, &[("cursor", &cursor)]).await;
    assert_eq!(again["metadata"]["nextCursor"], cursor.as_str());
    registry.clear_failure();
    let normal = page(&client, &url, &[]).await;
    assert!(normal["metadata"].get("nextCursor").is_none());
}

#[tokio::test]
async fn drop_connection_is_a_connection_error() {
    let registry = RegistryServer::start(synthetic_entries(5)).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    // Warm a pooled connection first, so the drop hits a reused one too.
    page(&client, &url, &[]).await;
    registry.fail(Failure::DropConnection { times: Some(2) });
    for _ in 0..2 {
        let err = client.get(&url).send().await.unwrap_err();
        assert!(err.status().is_none() && !err.is_timeout(), "{err:?}");
    }
    page(&client, &url, &[]).await;
    registry.fail(Failure::DropConnection { times: None });
    assert!(client.get(&url).send().await.is_err());
    registry.clear_failure();
    page(&client, &url, &[]).await;
}

#[tokio::test]
async fn require_header_then_log_what_was_sent() {
    let registry = RegistryServer::start(fixture_entries()).await;
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    registry.require_header("Authorization", "Bearer t0k3n");
    let (status, _, body) = get(&client, &url, &[]).await;
    assert_eq!(status, 401);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["status"], 401);
    let wrong = client.get(&url).bearer_auth("nope").send().await.unwrap();
    assert_eq!(wrong.status(), 401);
    let right = client.get(&url).bearer_auth("t0k3n").send().await.unwrap();
    assert_eq!(right.status(), 200);
    let body: Value = right.json().await.unwrap();
    let cursor = body["metadata"]["nextCursor"].as_str().unwrap();
    let next = client
        .get(with_query(&url, &[("cursor", cursor), ("limit", "5")]))
        .bearer_auth("t0k3n")
        .send()
        .await
        .unwrap();
    assert_eq!(next.status(), 200);

    let log = registry.requests();
    assert_eq!(log.len(), 4);
    assert!(log.iter().all(|r| r.method == "GET" && r.is_list()));
    assert_eq!(log[0].authorization, None);
    assert_eq!(log[1].authorization.as_deref(), Some("Bearer nope"));
    assert_eq!(log[3].authorization.as_deref(), Some("Bearer t0k3n"));
    assert_eq!(log[3].header("AUTHORIZATION"), Some("Bearer t0k3n"));
    assert_eq!(log[3].path, "/v0.1/servers");
    assert_eq!(log[3].param("cursor"), Some(cursor));
    assert_eq!(log[3].param("limit"), Some("5"));
    assert!(log[3].query.as_deref().unwrap().contains("%2B"));
    registry.clear_requests();
    assert!(registry.requests().is_empty());
}

#[tokio::test]
async fn snake_cursor_field() {
    let registry = RegistryServer::start(fixture_entries()).await;
    registry.set_cursor_field(CursorField::Snake);
    let client = client();
    let url = format!("{}/v0.1/servers", registry.url);
    let first = page(&client, &url, &[]).await;
    assert!(first["metadata"].get("nextCursor").is_none());
    let (entries, _) = walk(&client, &url, &[("limit", "100")], "next_cursor").await;
    assert_eq!(entries.len(), 472);
}

#[tokio::test]
async fn synthetic_and_hostile_entries_are_sound() {
    let entries = synthetic_entries(300);
    assert_eq!(entries.len(), 300);
    let mut latest: BTreeMap<&str, Vec<(&str, bool)>> = BTreeMap::new();
    for e in &entries {
        latest
            .entry(name(e))
            .or_default()
            .push((version(e), meta(e)["isLatest"] == true));
        assert!(name(e).starts_with("io.example.synthetic/server-"));
        let size = e.to_string().len();
        assert!((700..=2500).contains(&size), "{size}: {e}");
    }
    assert!(latest.values().any(|v| v.len() == 3));
    assert!(latest.values().any(|v| v.len() == 2));
    for versions in latest.values() {
        let flagged: Vec<&str> = versions.iter().filter(|v| v.1).map(|v| v.0).collect();
        let newest = versions.iter().map(|v| v.0).max().unwrap();
        assert_eq!(flagged, [newest]);
    }
    let text = serde_json::to_string(&entries).unwrap();
    for needle in [
        "\"registryType\":\"npm\"",
        "\"registryType\":\"pypi\"",
        "\"registryType\":\"oci\"",
        "\"type\":\"stdio\"",
        "\"type\":\"streamable-http\"",
        "\"isSecret\":true",
        "\"remotes\"",
    ] {
        assert!(text.contains(needle), "{needle}");
    }
    assert_eq!(synthetic_entries(300), entries, "deterministic");

    let hostile = hostile_entries();
    let names: Vec<&str> = hostile.iter().map(name).collect();
    assert_eq!(
        names,
        [
            "io.example.hostile/html",
            "io.example.hostile/long",
            "io.example.hostile/control"
        ]
    );
    assert!(hostile[0]["server"]["description"]
        .as_str()
        .unwrap()
        .contains("<script>alert(1)</script>"));
    assert_eq!(
        hostile[1]["server"]["description"]
            .as_str()
            .unwrap()
            .chars()
            .count(),
        20_000
    );
    let control = hostile[2]["server"]["title"].as_str().unwrap();
    assert!(
        control.contains('\u{0}') && control.contains('\u{1f}') && control.contains('\u{202e}')
    );

    // They survive the trip through the server unchanged.
    let registry = RegistryServer::start(hostile.clone()).await;
    let body = page(&client(), &format!("{}/v0.1/servers", registry.url), &[]).await;
    assert_eq!(
        sorted_json(body["servers"].as_array().unwrap()),
        sorted_json(&hostile)
    );
}

#[tokio::test]
async fn stops_on_drop() {
    let registry = RegistryServer::start(synthetic_entries(1)).await;
    let url = format!("{}/v0.1/servers", registry.url);
    let client = client();
    page(&client, &url, &[]).await;
    drop(registry);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(client.get(&url).send().await.is_err(), "pooled connection");
    assert!(
        testkit::client_builder()
            .build()
            .unwrap()
            .get(&url)
            .send()
            .await
            .is_err(),
        "new connection"
    );
}

#[tokio::test]
async fn binary_serves_and_prints_its_address() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_mcpo-test-registry"))
        .args(["--synthetic", "5", "--hostile"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let line = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::task::spawn_blocking(move || {
            let mut line = String::new();
            BufReader::new(stdout).read_line(&mut line).unwrap();
            line
        }),
    )
    .await;
    let line = match line {
        Ok(line) => line.unwrap(),
        Err(_) => {
            let _ = child.kill();
            panic!("no address line within 10 s");
        }
    };
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{line:?}"))
        .to_owned();
    let response = client()
        .get(format!("{url}/v0.1/servers"))
        .send()
        .await
        .map(|r| (r.status().as_u16(), r));
    let _ = child.kill();
    let _ = child.wait();
    let (status, response) = response.unwrap();
    assert_eq!(status, 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["servers"].as_array().unwrap().len(), 8);
    assert!(url.starts_with("http://127.0.0.1:"));
}
