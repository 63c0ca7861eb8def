//! MCP sessions (rmcp) against our own rmcp test server, run by the process runtime over
//! stdio and on its own over streamable HTTP.

use std::{path::PathBuf, time::Duration};

use domain::{
    mcp::{Limits, McpError, Session},
    runtime::{process, Launch, Spec},
    secrets::SecretValue,
};
use serde_json::json;
use types::env::EnvName;

/// `target/<profile>/mcp-test-server`, built by `cargo test -p mcp-test-server …` (make test).
fn test_server() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|d| d.parent()).unwrap();
    let bin = dir.join("mcp-test-server");
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p mcp-test-server` (make test does)",
        bin.display()
    );
    bin
}

fn spec(args: &[&str], env: &[(&str, &str)]) -> Spec {
    Spec {
        deployment_id: "mcp-test".into(),
        launch: Launch::Program {
            path: test_server().to_string_lossy().into_owned(),
        },
        args: args.iter().map(|a| (*a).to_owned()).collect(),
        env: env
            .iter()
            .map(|(k, v)| (EnvName::parse(k).unwrap(), SecretValue::new(*v)))
            .collect(),
    }
}

fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    v.as_object().unwrap().clone()
}

#[tokio::test]
async fn stdio_session_through_the_process_runtime() {
    let home = tempfile::tempdir().unwrap();
    let mut p = process::spawn(
        &spec(&["--tools", "250"], &[("MCP_TEST_GREETING", "hi there")]),
        home.path(),
    )
    .unwrap();
    let (out, inp) = p.stdio.take().unwrap();
    let s = Session::over_stdio(out, inp, Limits::default())
        .await
        .unwrap();
    let caps = s.discover().await.unwrap();
    assert_eq!(caps.server_name, "mcp-test-server");
    assert!(!caps.protocol_version.is_empty());
    assert_eq!(caps.tools.len(), 256, "every page of tools");
    let add = caps.tools.iter().find(|t| t.name == "add").unwrap();
    assert_eq!(add.input_schema["type"], "object");
    assert!(add.output_schema.is_some());
    assert!(caps.resources.iter().any(|r| r.uri == "test://hello"));
    assert!(caps.prompts.iter().any(|p| p.name == "greet"));

    let r = s
        .call_tool(
            "add",
            object(json!({"a": 2, "b": 3})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r["structuredContent"]["sum"], 5.0, "{r}");
    let r = s
        .call_tool(
            "env",
            object(json!({"name": "MCP_TEST_GREETING"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(r.to_string().contains("hi there"), "{r}");
    let r = s
        .call_tool(
            "fail",
            object(json!({"message": "boom"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(r["isError"], true, "{r}");

    // Concurrent calls share the one session.
    let calls = (0..20).map(|i| {
        s.call_tool(
            "echo",
            object(json!({"text": format!("n{i}")})),
            Duration::from_secs(5),
        )
    });
    let results = futures_util::future::join_all(calls).await;
    for (i, r) in results.into_iter().enumerate() {
        assert!(r.unwrap().to_string().contains(&format!("n{i}")));
    }
    // Timeouts and the size cap.
    let e = s
        .call_tool(
            "sleep",
            object(json!({"millis": 2000})),
            Duration::from_millis(200),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, McpError::Timeout { .. }), "{e}");
    let e = s
        .call_tool(
            "big",
            object(json!({"bytes": 5_000_000})),
            Duration::from_secs(10),
        )
        .await
        .unwrap_err();
    assert!(matches!(e, McpError::TooLarge { .. }), "{e}");
    assert!(s.ping(Duration::from_secs(5)).await.unwrap() < Duration::from_secs(5));

    // The process dies: the session says so.
    p.stop(Duration::from_secs(2)).await;
    let e = s.ping(Duration::from_secs(2)).await.unwrap_err();
    assert!(
        matches!(e, McpError::Request { .. } | McpError::Timeout { .. }),
        "{e}"
    );
    s.close().await;
}

#[tokio::test]
async fn streamable_http_session() {
    let home = tempfile::tempdir().unwrap();
    let mut p = process::spawn(
        &spec(&["--transport", "http", "--port", "0"], &[]),
        home.path(),
    )
    .unwrap();
    // The server prints its URL on stdout.
    let (out, _inp) = p.stdio.take().unwrap();
    let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(out));
    let line = tokio::time::timeout(Duration::from_secs(10), lines.next_line())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    let url = line.strip_prefix("listening on ").expect(&line).to_owned();
    let s = Session::over_http(&url, Limits::default()).await.unwrap();
    let caps = s.discover().await.unwrap();
    assert!(caps.tools.iter().any(|t| t.name == "echo"));
    let r = s
        .call_tool(
            "echo",
            object(json!({"text": "over http"})),
            Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(r.to_string().contains("over http"));
    s.ping(Duration::from_secs(5)).await.unwrap();
    s.close().await;
    p.stop(Duration::from_secs(2)).await;
}

#[tokio::test]
async fn a_server_that_is_not_mcp_fails_initialize_cleanly() {
    let home = tempfile::tempdir().unwrap();
    let mut p = process::spawn(
        &Spec {
            deployment_id: "not-mcp".into(),
            launch: Launch::Program {
                path: "/bin/cat".into(),
            },
            args: vec!["/etc/hostname".into()],
            env: vec![],
        },
        home.path(),
    )
    .unwrap();
    let (out, inp) = p.stdio.take().unwrap();
    let limits = Limits {
        request_timeout: Duration::from_secs(3),
        ..Limits::default()
    };
    let e = Session::over_stdio(out, inp, limits).await.unwrap_err();
    assert!(
        matches!(e, McpError::Initialize(_) | McpError::Timeout { .. }),
        "{e}"
    );
    p.stop(Duration::from_secs(2)).await;
}
