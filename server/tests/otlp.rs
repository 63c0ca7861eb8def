//! OTLP trace export: the orchestrator (real binary) sends its request spans to an OTLP/HTTP
//! receiver. The receiver here is a loopback HTTP server that decodes what arrives; no
//! OpenTelemetry collector package installs on this machine, so this stands in for one (it
//! checks the OTLP/JSON shape a collector accepts: resourceSpans → scopeSpans → spans).

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{extract::State, http::HeaderMap, routing::post, Json, Router};
use serde_json::Value;
use testkit::{Backend, TestDb, TestServer};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-orchestrator");

type Received = Arc<Mutex<Vec<(String, Value)>>>;

async fn collect(
    State(got): State<Received>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    got.lock().unwrap().push((ct, body));
    Json(serde_json::json!({}))
}

fn attr<'a>(attrs: &'a Value, key: &str) -> Option<&'a str> {
    attrs
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)?
        .get("value")?
        .get("stringValue")?
        .as_str()
}

#[tokio::test]
async fn request_spans_are_exported_over_otlp_http() {
    let got: Received = Arc::default();
    let app = Router::new()
        .route("/v1/traces", post(collect))
        .with_state(got.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let endpoint = format!("http://{addr}");
    let s = TestServer::spawn_with(
        BIN,
        TestDb::new(Backend::Sqlite).await,
        &[
            ("MCPO_TELEMETRY_OTLP_ENDPOINT", &endpoint),
            ("MCPO_TELEMETRY_SERVICE_NAME", "mcpo-under-test"),
        ],
    )
    .await;
    let key = s.api_key("viewer");
    let res = s.get_with(&key, "/api/v1/system").await;
    assert_eq!(res.status(), 200);
    let request_id = res.headers()["x-request-id"].to_str().unwrap().to_owned();

    // Batches leave at least every second: wait (bounded) for the request's span.
    let mut found = None;
    for _ in 0..100 {
        for (ct, body) in got.lock().unwrap().iter() {
            assert!(ct.starts_with("application/json"), "{ct}");
            for rs in body["resourceSpans"].as_array().unwrap() {
                assert_eq!(
                    attr(&rs["resource"]["attributes"], "service.name"),
                    Some("mcpo-under-test")
                );
                for ss in rs["scopeSpans"].as_array().unwrap() {
                    for span in ss["spans"].as_array().unwrap() {
                        if span["name"] == "request"
                            && attr(&span["attributes"], "request_id") == Some(&request_id)
                        {
                            found = Some(span.clone());
                        }
                    }
                }
            }
        }
        if found.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let span = found.unwrap_or_else(|| {
        panic!(
            "no span for request {request_id}; received: {:#?}",
            got.lock().unwrap()
        )
    });
    assert_eq!(attr(&span["attributes"], "route"), Some("/api/v1/system"));
    assert_eq!(attr(&span["attributes"], "method"), Some("GET"));
    assert_eq!(span["kind"], 2, "a server span");
    assert_eq!(span["traceId"].as_str().unwrap().len(), 32);
    assert_eq!(span["spanId"].as_str().unwrap().len(), 16);
    let start: u128 = span["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
    let end: u128 = span["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
    assert!(end >= start && end - start < 60_000_000_000, "{span}");
}

#[tokio::test]
async fn a_bad_otlp_endpoint_is_refused_at_start() {
    let out = std::process::Command::new(BIN)
        .args(["config", "check"])
        .env_clear()
        .env("MCPO_TELEMETRY_OTLP_ENDPOINT", "collector:4318")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("telemetry.otlp_endpoint"), "{err}");
}
