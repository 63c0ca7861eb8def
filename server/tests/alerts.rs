//! The operations artefacts: Prometheus alert rules (deploy/prometheus), their unit tests,
//! the Grafana dashboard (deploy/grafana) and the runbook (docs/runbook.md) agree with each
//! other and with the metric catalogue (`testkit::metrics`), which `tests/health.rs` checks
//! against a live scrape.

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::Command,
};

use serde_json::Value;

use testkit::metrics::{Kind, METRIC_FAMILIES as CATALOGUE};

const ALERTS: &str = "deploy/prometheus/alerts.yml";
const ALERT_TESTS: &str = "deploy/prometheus/alerts.test.yml";
const PROMETHEUS_CONFIG: &str = "deploy/prometheus/prometheus.yml";
const DASHBOARD: &str = "deploy/grafana/mcp-orchestrator.json";
const RUNBOOK: &str = "docs/runbook.md";
const RUNBOOK_URL: &str =
    "https://github.com/mcp-orchestrator/mcp-orchestrator/blob/main/docs/runbook.md#";

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the server crate lives in the workspace")
        .to_path_buf()
}

fn read(rel: &str) -> String {
    let path = repo().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()))
}

/// Runs `promtool ARGS` in the repository; panics with its output unless it succeeds.
fn promtool(args: &[&str]) -> String {
    let out = match Command::new("promtool")
        .args(args)
        .current_dir(repo())
        .output()
    {
        Ok(out) => out,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => panic!(
            "promtool is not on PATH: run `scripts/setup.sh test` \
             (it installs the Debian package `prometheus`, which provides promtool)"
        ),
        Err(e) => panic!("cannot run promtool: {e}"),
    };
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool {} failed ({}):\n{text}",
        args.join(" "),
        out.status
    );
    text
}

/// Every panel of the dashboard, rows' nested panels included.
fn panels(dashboard: &Value) -> Vec<&Value> {
    fn walk<'a>(list: &'a Value, out: &mut Vec<&'a Value>) {
        for p in list.as_array().into_iter().flatten() {
            out.push(p);
            if let Some(nested) = p.get("panels") {
                walk(nested, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(&dashboard["panels"], &mut out);
    out
}

/// `(panel title, expr)` of every query target of every panel that is not a row.
fn dashboard_exprs(dashboard: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for p in panels(dashboard) {
        if p["type"] == "row" {
            continue;
        }
        let title = p["title"].as_str().unwrap_or("<untitled>").to_owned();
        let targets = p["targets"].as_array();
        assert!(
            targets.is_some_and(|t| !t.is_empty()),
            "panel {title:?} has no targets"
        );
        for t in targets.into_iter().flatten() {
            let expr = t["expr"].as_str().unwrap_or_default().trim();
            assert!(
                !expr.is_empty(),
                "panel {title:?} has a target without expr: {t}"
            );
            out.push((title.clone(), expr.to_owned()));
        }
    }
    out
}

/// The `mcpo_…` identifiers in `text`.
fn metric_names(text: &str) -> BTreeSet<String> {
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    let mut names = BTreeSet::new();
    let mut rest = text;
    while let Some(i) = rest.find("mcpo_") {
        let before = rest[..i].chars().next_back();
        let tail = &rest[i..];
        let end = tail.find(|c: char| !ident(c)).unwrap_or(tail.len());
        if !before.is_some_and(ident) {
            names.insert(tail[..end].to_owned());
        }
        rest = &tail[end..];
    }
    names
}

/// Why `name` is not a series that `/metrics` exports, or `None` when it is.
fn unknown_series(name: &str) -> Option<String> {
    if let Some((_, kind)) = CATALOGUE.iter().find(|(m, _)| *m == name) {
        return (*kind == Kind::Histogram)
            .then(|| format!("{name} is a histogram: use {name}_bucket, _sum or _count"));
    }
    for suffix in ["_bucket", "_sum", "_count"] {
        if let Some(base) = name.strip_suffix(suffix) {
            if CATALOGUE.contains(&(base, Kind::Histogram)) {
                return None;
            }
        }
    }
    Some(format!("{name} is not in the metric catalogue"))
}

/// The alert names of alerts.yml, in order.
fn alert_names(rules: &str) -> Vec<String> {
    rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("- alert:"))
        .map(|n| n.trim().to_owned())
        .collect()
}

#[test]
fn promtool_accepts_rules_config_tests_and_dashboard_queries() {
    promtool(&["check", "rules", ALERTS]);
    let out = promtool(&["test", "rules", ALERT_TESTS]);
    assert!(out.contains("SUCCESS"), "{out}");
    // The example configuration, which loads alerts.yml.
    promtool(&["check", "config", PROMETHEUS_CONFIG]);

    // Every alert has a test case.
    let tests = read(ALERT_TESTS);
    for alert in alert_names(&read(ALERTS)) {
        assert!(
            tests.contains(&format!("alertname: {alert}\n")),
            "{ALERT_TESTS} does not test {alert}"
        );
    }

    // The dashboard's queries parse: promtool checks them as recording rules, with
    // Grafana's variables replaced by plausible values.
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON");
    let mut rules = String::from("groups:\n  - name: dashboard\n    rules:\n");
    for (i, (title, expr)) in dashboard_exprs(&dashboard).into_iter().enumerate() {
        let expr = expr
            .replace("$__rate_interval", "5m")
            .replace("$__interval", "1m")
            .replace("$__range", "6h")
            .replace("$deployment", ".*");
        assert!(
            !expr.contains('$'),
            "panel {title:?}: unknown Grafana variable in {expr}"
        );
        rules.push_str(&format!(
            "      - record: dashboard:panel_{i}\n        expr: {}\n",
            serde_json::to_string(&expr).unwrap()
        ));
    }
    let file = Path::new(env!("CARGO_TARGET_TMPDIR")).join("dashboard-rules.yml");
    std::fs::write(&file, rules).unwrap();
    promtool(&["check", "rules", file.to_str().unwrap()]);
}

#[test]
fn dashboard_alerts_and_runbook_use_only_catalogued_metrics() {
    let dashboard: Value = serde_json::from_str(&read(DASHBOARD)).expect("dashboard is JSON");
    assert_eq!(dashboard["schemaVersion"], 39);
    let vars = dashboard["templating"]["list"]
        .as_array()
        .expect("templating");
    let var = |name: &str| {
        vars.iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no template variable {name}"))
    };
    assert_eq!(var("DS_PROMETHEUS")["type"], "datasource");
    assert_eq!(var("DS_PROMETHEUS")["query"], "prometheus");
    let deployment = var("deployment");
    assert_eq!(
        deployment["definition"],
        "label_values(mcpo_tool_calls_total, deployment)"
    );
    for p in panels(&dashboard)
        .into_iter()
        .filter(|p| p["type"] != "row")
    {
        assert_eq!(
            p["datasource"]["uid"], "${DS_PROMETHEUS}",
            "panel {} datasource",
            p["title"]
        );
    }

    let mut used = BTreeSet::new();
    for (_, expr) in dashboard_exprs(&dashboard) {
        used.extend(metric_names(&expr));
    }
    used.extend(metric_names(&deployment["definition"].to_string()));
    used.extend(metric_names(&deployment["query"].to_string()));
    let rules = read(ALERTS);
    used.extend(metric_names(&rules));
    let problems: Vec<String> = used.iter().filter_map(|n| unknown_series(n)).collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));

    // Each alert links to its own runbook section, which exists.
    let runbook = read(RUNBOOK);
    let headings: BTreeSet<&str> = runbook
        .lines()
        .filter_map(|l| l.strip_prefix("## ").or_else(|| l.strip_prefix("### ")))
        .map(str::trim)
        .collect();
    let alerts = alert_names(&rules);
    assert!(
        alerts.len() >= 10,
        "only {} alerts in {ALERTS}",
        alerts.len()
    );
    let urls: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim_start().strip_prefix("runbook_url:"))
        .map(str::trim)
        .collect();
    assert_eq!(urls.len(), alerts.len(), "one runbook_url per alert");
    for (alert, url) in alerts.iter().zip(&urls) {
        assert_eq!(
            *url,
            format!("{RUNBOOK_URL}{}", alert.to_lowercase()),
            "runbook_url of {alert}"
        );
        assert!(
            headings.contains(alert.as_str()),
            "{RUNBOOK} has no section `## {alert}`"
        );
    }

    // The runbook's metrics reference names every metric.
    for (name, _) in CATALOGUE {
        assert!(
            runbook.contains(&format!("`{name}`")),
            "{RUNBOOK} does not describe {name}"
        );
    }
}
