//! Drives the built `mcp-test-server` binary with rmcp's client: over stdio (child process) and
//! over streamable HTTP. Every wait has a timeout and every loop a bound.

use std::{future::Future, process::Stdio, time::Duration};

use rmcp::{
    model::{
        CallToolRequestParams, CallToolResult, ClientRequest, GetPromptRequestParams, JsonObject,
        PaginatedRequestParams, PingRequest, ReadResourceRequestParams, ResourceContents,
        ServerResult, Tool,
    },
    service::{Peer, RunningService},
    transport::{ConfigureCommandExt as _, StreamableHttpClientTransport, TokioChildProcess},
    RoleClient, ServiceExt as _,
};
use serde_json::{json, Value};
use tokio::{
    io::{AsyncBufReadExt as _, BufReader},
    process::{Child, Command},
    time::timeout,
};

const BIN: &str = env!("CARGO_BIN_EXE_mcp-test-server");
/// Upper bound for one whole test.
const TEST_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound for one step (spawn, handshake, exit).
const STEP_TIMEOUT: Duration = Duration::from_secs(10);
/// The server pages tools by 100: no listing needs more pages than this.
const MAX_PAGES: usize = 20;
const SECRET: &str = "s3cret value";

type Client = RunningService<RoleClient, ()>;

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    timeout(STEP_TIMEOUT, future)
        .await
        .unwrap_or_else(|_| panic!("{what}: no answer within {STEP_TIMEOUT:?}"))
}

fn args(value: Value) -> JsonObject {
    match value {
        Value::Object(object) => object,
        other => panic!("arguments must be an object, got {other}"),
    }
}

async fn call(peer: &Peer<RoleClient>, tool: &'static str, arguments: Value) -> CallToolResult {
    bounded(
        tool,
        peer.call_tool(CallToolRequestParams::new(tool).with_arguments(args(arguments))),
    )
    .await
    .unwrap_or_else(|error| panic!("tools/call {tool}: {error}"))
}

fn text(result: &CallToolResult) -> &str {
    result
        .content
        .first()
        .and_then(|content| content.as_text())
        .map(|text| text.text.as_str())
        .expect("a text content block")
}

/// Lists every tool page by page (not `list_all_tools`, whose loop has no bound).
async fn list_tools_paged(peer: &Peer<RoleClient>) -> (Vec<Tool>, usize) {
    let mut tools = Vec::new();
    let mut cursor = None;
    for page in 1..=MAX_PAGES {
        let result = bounded(
            "tools/list",
            peer.list_tools(Some(PaginatedRequestParams::default().with_cursor(cursor))),
        )
        .await
        .expect("tools/list");
        assert!(result.tools.len() <= 100, "a page holds at most 100 tools");
        tools.extend(result.tools);
        cursor = result.next_cursor;
        if cursor.is_none() {
            return (tools, page);
        }
    }
    panic!("tools/list did not end within {MAX_PAGES} pages");
}

/// The checks both transports share.
async fn exercise(client: &Client, expected_tools: usize) {
    let info = client.peer_info().expect("initialized");
    let server = info.server_info.as_ref().expect("serverInfo");
    assert_eq!(server.name, "mcp-test-server");
    assert_eq!(server.version, env!("CARGO_PKG_VERSION"));
    assert!(info.capabilities.tools.is_some());
    assert!(info.capabilities.resources.is_some());
    assert!(info.capabilities.prompts.is_some());

    // tools/list, all pages.
    let (tools, pages) = list_tools_paged(client).await;
    assert_eq!(tools.len(), expected_tools);
    assert_eq!(pages, expected_tools.div_ceil(100));
    let mut names: Vec<&str> = tools.iter().map(|tool| tool.name.as_ref()).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), expected_tools, "no tool is listed twice");
    for name in ["echo", "add", "sleep", "fail", "env", "big"] {
        assert!(names.contains(&name), "{name} is listed");
    }
    let add = tools.iter().find(|tool| tool.name == "add").unwrap();
    assert_eq!(add.input_schema["type"], "object");
    assert!(add.input_schema["properties"]["a"].is_object());
    let output = add
        .output_schema
        .as_ref()
        .expect("add has an output schema");
    assert!(output["properties"]["sum"].is_object());
    let sleep = tools.iter().find(|tool| tool.name == "sleep").unwrap();
    assert_eq!(sleep.input_schema["properties"]["millis"]["maximum"], 10000);

    // A cursor the server never handed out.
    let bad = bounded(
        "tools/list with a bad cursor",
        client.list_tools(Some(
            PaginatedRequestParams::default().with_cursor(Some("nope".into())),
        )),
    )
    .await;
    assert!(bad.is_err(), "a bad cursor is an error: {bad:?}");

    // Tools.
    let echo = call(client, "echo", json!({"text": "héllo wörld"})).await;
    assert_eq!(text(&echo), "héllo wörld");
    assert_ne!(echo.is_error, Some(true));

    let add = call(client, "add", json!({"a": 1.5, "b": 2})).await;
    assert_eq!(add.structured_content, Some(json!({"sum": 3.5})));

    let fail = call(client, "fail", json!({"message": "boom"})).await;
    assert_eq!(fail.is_error, Some(true));
    assert_eq!(text(&fail), "boom");

    let env = call(client, "env", json!({"name": "MCP_TEST_SECRET"})).await;
    assert_eq!(text(&env), SECRET);
    let unset = call(client, "env", json!({"name": "MCP_TEST_NOT_SET_ANYWHERE"})).await;
    assert_eq!(text(&unset), "unset");

    let big = call(client, "big", json!({"bytes": 100_000})).await;
    assert_eq!(text(&big).len(), 100_000);

    let slept = call(client, "sleep", json!({"millis": 50})).await;
    assert_eq!(text(&slept), "slept");
    let too_long = call(client, "sleep", json!({"millis": 10_001})).await;
    assert_eq!(too_long.is_error, Some(true));

    let bad_args = call(client, "echo", json!({"txt": "typo"})).await;
    assert_eq!(
        bad_args.is_error,
        Some(true),
        "bad arguments are a tool error"
    );

    let unknown = bounded(
        "unknown tool",
        client.call_tool(CallToolRequestParams::new("no_such_tool")),
    )
    .await;
    match unknown {
        Err(rmcp::ServiceError::McpError(error)) => assert_eq!(error.code.0, -32602),
        other => panic!("an unknown tool is a JSON-RPC error: {other:?}"),
    }

    if expected_tools > 6 {
        let noop = call(client, "noop_0", json!({})).await;
        assert_eq!(text(&noop), "ok");
    }

    // Resources.
    let resources = bounded("resources/list", client.list_resources(None))
        .await
        .expect("resources/list");
    let uris: Vec<&str> = resources.resources.iter().map(|r| r.uri.as_str()).collect();
    assert_eq!(uris, ["test://hello", "test://config"]);
    let hello = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("test://hello")),
    )
    .await
    .expect("read test://hello");
    match &hello.contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => assert_eq!(text, "hello"),
        other => panic!("unexpected contents {other:?}"),
    }
    let config = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("test://config")),
    )
    .await
    .expect("read test://config");
    match &config.contents[..] {
        [ResourceContents::TextResourceContents { text, .. }] => {
            let vars: Value = serde_json::from_str(text).expect("JSON");
            assert_eq!(vars["MCP_TEST_SECRET"], SECRET);
            assert!(vars.get("PATH").is_none(), "only MCP_TEST_* variables");
        }
        other => panic!("unexpected contents {other:?}"),
    }
    let missing = bounded(
        "resources/read",
        client.read_resource(ReadResourceRequestParams::new("test://missing")),
    )
    .await;
    assert!(missing.is_err(), "unknown resource is an error");

    // Prompts.
    let prompts = bounded("prompts/list", client.list_prompts(None))
        .await
        .expect("prompts/list");
    assert_eq!(prompts.prompts.len(), 1);
    assert_eq!(prompts.prompts[0].name, "greet");
    let greet = bounded(
        "prompts/get",
        client.get_prompt(
            GetPromptRequestParams::new("greet").with_arguments(args(json!({"name": "Ada"}))),
        ),
    )
    .await
    .expect("prompts/get greet");
    let message = serde_json::to_value(&greet.messages).unwrap();
    assert_eq!(message[0]["role"], "user");
    assert!(message[0]["content"]["text"]
        .as_str()
        .unwrap()
        .contains("Ada"));

    // Ping.
    let pong = bounded(
        "ping",
        client.send_request(ClientRequest::PingRequest(PingRequest {
            method: Default::default(),
            extensions: Default::default(),
        })),
    )
    .await
    .expect("ping");
    assert!(matches!(pong, ServerResult::EmptyResult(_)), "{pong:?}");
}

fn server_command(extra: &[&str]) -> Command {
    Command::new(BIN).configure(|command| {
        command
            .args(extra)
            .env("MCP_TEST_SECRET", SECRET)
            .env("MCP_TEST_SERVER_LOG", "error")
            .kill_on_drop(true);
    })
}

async fn stdio_client(extra: &[&str]) -> Client {
    let (transport, _stderr) = TokioChildProcess::builder(server_command(extra))
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn mcp-test-server");
    bounded("initialize over stdio", ().serve(transport))
        .await
        .expect("initialize over stdio")
}

#[tokio::test]
async fn stdio_with_many_tools() {
    timeout(TEST_TIMEOUT, async {
        let client = stdio_client(&["--tools", "250"]).await;
        exercise(&client, 256).await;
        bounded("close", client.cancel()).await.expect("close");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn stdio_default_tools_fit_one_page() {
    timeout(TEST_TIMEOUT, async {
        let client = stdio_client(&[]).await;
        let (tools, pages) = list_tools_paged(&client).await;
        assert_eq!((tools.len(), pages), (6, 1));
        bounded("close", client.cancel()).await.expect("close");
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn stdio_exits_cleanly_on_stdin_eof() {
    let mut child = server_command(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    drop(child.stdin.take());
    let status = bounded("exit after stdin EOF", child.wait())
        .await
        .expect("wait");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn stdio_exits_cleanly_on_sigterm() {
    let mut child = server_command(&[])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    // Once it answers initialize, its signal handler is installed. stdin stays open.
    let mut stdin = child.stdin.take().unwrap();
    let initialize = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
    bounded("write initialize", async {
        use tokio::io::AsyncWriteExt as _;
        stdin.write_all(format!("{initialize}\n").as_bytes()).await
    })
    .await
    .expect("write initialize");
    let mut line = String::new();
    bounded(
        "initialize response",
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line),
    )
    .await
    .expect("read initialize response");
    assert!(line.contains(r#""serverInfo""#), "{line}");
    sigterm(&mut child).await;
    drop(stdin);
}

/// Starts the server over HTTP on a random loopback port; returns it and its `/mcp` URL.
async fn http_server(extra: &[&str]) -> (Child, String) {
    // reqwest may be built with `rustls-no-provider` when this test is compiled together with
    // the workspace (feature unification): give rustls its provider before any client exists.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut child = server_command(&["--transport", "http", "--port", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn");
    let stdout = child.stdout.take().unwrap();
    let mut line = String::new();
    bounded(
        "the listening line",
        BufReader::new(stdout).read_line(&mut line),
    )
    .await
    .expect("read stdout");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_owned();
    assert!(
        url.starts_with("http://127.0.0.1:") && url.ends_with("/mcp"),
        "{url}"
    );
    (child, url)
}

async fn sigterm(child: &mut Child) {
    let pid = child.id().expect("running");
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let status = bounded("exit after SIGTERM", child.wait())
        .await
        .expect("wait");
    assert!(status.success(), "{status}");
}

#[tokio::test]
async fn http_with_many_tools_and_sigterm() {
    timeout(TEST_TIMEOUT, async {
        let (mut child, url) = http_server(&["--tools", "250"]).await;
        let client = bounded(
            "initialize over HTTP",
            ().serve(StreamableHttpClientTransport::from_uri(url.as_str())),
        )
        .await
        .expect("initialize over HTTP");
        exercise(&client, 256).await;

        // A second, concurrent session.
        let second = bounded(
            "second session",
            ().serve(StreamableHttpClientTransport::from_uri(url.as_str())),
        )
        .await
        .expect("second session");
        let echo = call(&second, "echo", json!({"text": "two"})).await;
        assert_eq!(text(&echo), "two");
        bounded("close", second.cancel()).await.expect("close");

        // SIGTERM with a session still open.
        sigterm(&mut child).await;
        drop(client);
    })
    .await
    .expect("test finished in time");
}

#[tokio::test]
async fn http_rejects_a_foreign_host_on_loopback() {
    timeout(TEST_TIMEOUT, async {
        let (mut child, url) = http_server(&[]).await;
        let port = url
            .trim_start_matches("http://127.0.0.1:")
            .trim_end_matches("/mcp");
        // Plain HTTP by hand: an initialize POST with a Host that is not loopback.
        let body = r#"{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"0"}}}"#;
        let request = format!(
            "POST /mcp HTTP/1.1\r\nHost: evil.example:{port}\r\nContent-Type: application/json\r\n\
             Accept: application/json, text/event-stream\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n{body}",
            body.len()
        );
        let response = bounded("raw request", async {
            use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
            let mut stream = tokio::net::TcpStream::connect(format!("127.0.0.1:{port}"))
                .await
                .expect("connect");
            stream.write_all(request.as_bytes()).await.expect("write");
            let mut response = Vec::new();
            stream.read_to_end(&mut response).await.expect("read");
            String::from_utf8_lossy(&response).into_owned()
        })
        .await;
        let status_line = response.lines().next().unwrap_or_default();
        assert!(
            status_line.starts_with("HTTP/1.1 4"),
            "a foreign Host is refused: {status_line}"
        );
        sigterm(&mut child).await;
    })
    .await
    .expect("test finished in time");
}
