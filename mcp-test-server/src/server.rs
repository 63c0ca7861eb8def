//! The MCP server handler: tools, resources and prompts.

use std::{collections::BTreeMap, future::Future, pin::Pin, sync::Arc, time::Duration};

use rmcp::{
    handler::server::{
        common::schema_for_empty_input,
        router::prompt::PromptRouter,
        tool::{ToolCallContext, ToolRoute, ToolRouter},
        wrapper::{Json, Parameters},
    },
    model::{
        CallToolResponse, CallToolResult, ContentBlock, Implementation, ListResourcesResult,
        ListToolsResult, PaginatedRequestParams, PromptMessage, ReadResourceRequestParams,
        ReadResourceResponse, ReadResourceResult, Resource, ResourceContents, Role,
        ServerCapabilities, ServerConfig, Tool,
    },
    prompt, prompt_handler, prompt_router,
    service::RequestContext,
    tool, tool_handler, tool_router, ErrorData as McpError, RoleServer, ServerHandler,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Name reported in `serverInfo`.
pub const SERVER_NAME: &str = "mcp-test-server";
/// Tools per `tools/list` page.
pub const TOOLS_PAGE_SIZE: usize = 100;
/// Upper bound of the `sleep` tool, in milliseconds.
pub const MAX_SLEEP_MILLIS: u64 = 10_000;
/// Upper bound of the `big` tool, in bytes (64 MiB).
pub const MAX_BIG_BYTES: u64 = 64 * 1024 * 1024;
/// Upper bound of `--tools`.
pub const MAX_EXTRA_TOOLS: usize = 100_000;
/// Prefix of the environment variables exposed by `test://config`.
pub const CONFIG_ENV_PREFIX: &str = "MCP_TEST_";

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EchoArgs {
    /// The text to return.
    pub text: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct AddArgs {
    /// First addend.
    pub a: f64,
    /// Second addend.
    pub b: f64,
}

#[derive(Debug, Serialize, Deserialize, JsonSchema)]
pub struct AddOutput {
    /// `a + b`.
    pub sum: f64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SleepArgs {
    /// How long to wait, in milliseconds (at most 10000).
    #[schemars(range(max = 10000))]
    pub millis: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct FailArgs {
    /// The error message to return.
    pub message: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct EnvArgs {
    /// Name of the environment variable to read.
    pub name: String,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct BigArgs {
    /// Size of the returned text, in bytes (at most 67108864).
    #[schemars(range(max = 67108864))]
    pub bytes: u64,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct GreetArgs {
    /// Who to greet.
    pub name: String,
}

/// State shared by every handler instance (the HTTP transport builds one handler per request).
struct Shared {
    tool_router: ToolRouter<TestServer>,
    /// Every tool, sorted by name, for paging.
    tools: Vec<Tool>,
    prompt_router: PromptRouter<TestServer>,
}

/// The test server. Cheap to clone.
#[derive(Clone)]
pub struct TestServer {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for TestServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestServer")
            .field("tools", &self.shared.tools.len())
            .finish()
    }
}

impl TestServer {
    /// A server with the built-in tools plus `extra_tools` tools named `noop_<i>`.
    pub fn new(extra_tools: usize) -> Self {
        let mut tool_router = Self::tool_router();
        for i in 0..extra_tools.min(MAX_EXTRA_TOOLS) {
            tool_router.add_route(ToolRoute::new_dyn(
                Tool::new(
                    format!("noop_{i}"),
                    "Does nothing and returns \"ok\".",
                    schema_for_empty_input(),
                ),
                noop,
            ));
        }
        let tools = tool_router.list_all();
        Self {
            shared: Arc::new(Shared {
                tool_router,
                tools,
                prompt_router: Self::prompt_router(),
            }),
        }
    }

    /// Number of tools `tools/list` reports.
    pub fn tool_count(&self) -> usize {
        self.shared.tools.len()
    }
}

type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

fn noop(
    _context: ToolCallContext<'_, TestServer>,
) -> BoxFuture<'_, Result<CallToolResponse, McpError>> {
    Box::pin(std::future::ready(Ok(CallToolResult::success(vec![
        ContentBlock::text("ok"),
    ])
    .into())))
}

fn tool_error(message: impl Into<String>) -> CallToolResult {
    CallToolResult::error(vec![ContentBlock::text(message.into())])
}

#[tool_router]
impl TestServer {
    #[tool(description = "Returns the given text.")]
    fn echo(&self, Parameters(args): Parameters<EchoArgs>) -> String {
        args.text
    }

    #[tool(description = "Adds two numbers; the structured result is {\"sum\": a + b}.")]
    fn add(&self, Parameters(args): Parameters<AddArgs>) -> Json<AddOutput> {
        Json(AddOutput {
            sum: args.a + args.b,
        })
    }

    #[tool(description = "Waits `millis` milliseconds (at most 10000), then returns \"slept\".")]
    async fn sleep(&self, Parameters(args): Parameters<SleepArgs>) -> CallToolResult {
        if args.millis > MAX_SLEEP_MILLIS {
            return tool_error(format!(
                "millis must be at most {MAX_SLEEP_MILLIS}, got {}",
                args.millis
            ));
        }
        tokio::time::sleep(Duration::from_millis(args.millis)).await;
        CallToolResult::success(vec![ContentBlock::text("slept")])
    }

    #[tool(description = "Always fails: returns a tool error (isError: true) with the message.")]
    fn fail(&self, Parameters(args): Parameters<FailArgs>) -> CallToolResult {
        tool_error(args.message)
    }

    #[tool(
        description = "Returns the value of an environment variable of the server, or \"unset\"."
    )]
    fn env(&self, Parameters(args): Parameters<EnvArgs>) -> String {
        std::env::var(&args.name).unwrap_or_else(|_| "unset".to_owned())
    }

    #[tool(description = "Returns a text of exactly `bytes` bytes (at most 67108864).")]
    fn big(&self, Parameters(args): Parameters<BigArgs>) -> CallToolResult {
        if args.bytes > MAX_BIG_BYTES {
            return tool_error(format!(
                "bytes must be at most {MAX_BIG_BYTES}, got {}",
                args.bytes
            ));
        }
        // Bounded above, so the cast cannot truncate.
        let text = "x".repeat(args.bytes as usize);
        CallToolResult::success(vec![ContentBlock::text(text)])
    }
}

#[prompt_router]
impl TestServer {
    #[prompt(
        name = "greet",
        description = "A user message asking to greet someone."
    )]
    async fn greet(&self, Parameters(args): Parameters<GreetArgs>) -> Vec<PromptMessage> {
        vec![PromptMessage::new_text(
            Role::User,
            format!("Please greet {} warmly.", args.name),
        )]
    }
}

/// `test://config`: the `MCP_TEST_*` environment variables as a JSON object.
pub fn config_json() -> String {
    let vars: BTreeMap<String, String> = std::env::vars()
        .filter(|(name, _)| name.starts_with(CONFIG_ENV_PREFIX))
        .collect();
    serde_json::to_string(&vars).unwrap_or_else(|_| "{}".to_owned())
}

/// Parses a `tools/list` cursor (the decimal offset of the page's first tool).
fn parse_cursor(cursor: &str, len: usize) -> Result<usize, McpError> {
    match cursor.parse::<usize>() {
        Ok(offset) if offset > 0 && offset < len => Ok(offset),
        _ => Err(McpError::invalid_params(
            format!("invalid cursor {cursor:?}"),
            None,
        )),
    }
}

#[tool_handler(router = self.shared.tool_router)]
#[prompt_handler(router = self.shared.prompt_router)]
impl ServerHandler for TestServer {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
        .with_server_info(Implementation::new(SERVER_NAME, env!("CARGO_PKG_VERSION")))
        .with_instructions(
            "A test server: echo, add, sleep, fail, env and big tools, test://hello and \
             test://config resources, and a greet prompt.",
        )
    }

    /// Pages of [`TOOLS_PAGE_SIZE`] tools; the cursor is the offset of the next page.
    /// (The `#[tool_handler]` default returns every tool in one page.)
    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let tools = &self.shared.tools;
        let start = match request.and_then(|request| request.cursor) {
            Some(cursor) => parse_cursor(&cursor, tools.len())?,
            None => 0,
        };
        let end = start.saturating_add(TOOLS_PAGE_SIZE).min(tools.len());
        let mut result = ListToolsResult::with_all_items(tools[start..end].to_vec());
        result.next_cursor = (end < tools.len()).then(|| end.to_string());
        Ok(result)
    }

    async fn list_resources(
        &self,
        _request: Option<PaginatedRequestParams>,
        _context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![
            Resource::new("test://hello", "hello")
                .with_description("The text \"hello\".")
                .with_mime_type("text/plain"),
            Resource::new("test://config", "config")
                .with_description("The server's MCP_TEST_* environment variables as JSON.")
                .with_mime_type("application/json"),
        ]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let uri = request.uri;
        let contents = match uri.as_str() {
            "test://hello" => ResourceContents::text("hello", uri),
            "test://config" => {
                ResourceContents::text(config_json(), uri).with_mime_type("application/json")
            }
            _ => {
                return Err(McpError::resource_not_found(
                    format!("no resource {uri}"),
                    None,
                ))
            }
        };
        Ok(ReadResourceResult::new(vec![contents]).into())
    }
}
