//! MCP sessions with rmcp (the official Rust SDK): one long-lived client session per
//! deployment, over the server's stdio (a child's pipes, or a container's attach streams) or
//! streamable HTTP. Initialize once; list tools, resources and prompts page by page (bounded);
//! call tools with a timeout and a response size cap; ping on the live session (never a
//! second initialize). rmcp's peer is safe to share between tasks: calls run concurrently.

use std::time::{Duration, Instant};

use rmcp::{
    model::{
        CallToolRequestParams, ClientRequest, JsonObject, PaginatedRequestParams, PingRequest,
    },
    service::RunningService,
    transport::StreamableHttpClientTransport,
    RoleClient, ServiceExt as _,
};
use tokio::io::{AsyncRead, AsyncWrite};
use types::deployment::{Capabilities, PromptArgument, PromptInfo, ResourceInfo, ToolInfo};

/// Why a session operation failed. Messages never quote arguments or results.
#[derive(Debug, thiserror::Error)]
pub enum McpError {
    /// The handshake failed or timed out.
    #[error("initialize failed: {0}")]
    Initialize(String),
    /// The request did not complete in time.
    #[error("{what} timed out after {} ms", .after.as_millis())]
    Timeout {
        /// Which request.
        what: &'static str,
        /// The limit.
        after: Duration,
    },
    /// The server answered with an error, or the transport broke.
    #[error("{what} failed: {message}")]
    Request {
        /// Which request.
        what: &'static str,
        /// The server's or transport's message.
        message: String,
    },
    /// A list did not end within the page cap.
    #[error("{what} did not end within {pages} pages")]
    TooManyPages {
        /// Which list.
        what: &'static str,
        /// The cap.
        pages: usize,
    },
    /// The result is larger than allowed.
    #[error("the result is {size} bytes, over the {limit}-byte limit")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
}

/// Limits of one session.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Initialize and list requests.
    pub request_timeout: Duration,
    /// Pages per list.
    pub max_pages: usize,
    /// Largest tool result, serialized.
    pub max_result_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            request_timeout: Duration::from_secs(30),
            max_pages: 100,
            max_result_bytes: 4 * 1024 * 1024,
        }
    }
}

/// A live session.
pub struct Session {
    client: RunningService<RoleClient, ()>,
    limits: Limits,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}

async fn bounded<T, E: std::fmt::Display>(
    what: &'static str,
    after: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, McpError> {
    match tokio::time::timeout(after, fut).await {
        Err(_) => Err(McpError::Timeout { what, after }),
        Ok(Err(e)) => Err(McpError::Request {
            what,
            message: e.to_string(),
        }),
        Ok(Ok(v)) => Ok(v),
    }
}

impl Session {
    /// Initializes over a byte stream pair (the server's stdout, its stdin).
    pub async fn over_stdio<R, W>(read: R, write: W, limits: Limits) -> Result<Self, McpError>
    where
        R: AsyncRead + Send + Unpin + 'static,
        W: AsyncWrite + Send + Unpin + 'static,
    {
        let client = tokio::time::timeout(limits.request_timeout, ().serve((read, write)))
            .await
            .map_err(|_| McpError::Timeout {
                what: "initialize",
                after: limits.request_timeout,
            })?
            .map_err(|e| McpError::Initialize(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// Initializes over streamable HTTP at `url` (e.g. `http://127.0.0.1:PORT/mcp`).
    pub async fn over_http(url: &str, limits: Limits) -> Result<Self, McpError> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let transport = StreamableHttpClientTransport::from_uri(url.to_owned());
        let client = tokio::time::timeout(limits.request_timeout, ().serve(transport))
            .await
            .map_err(|_| McpError::Timeout {
                what: "initialize",
                after: limits.request_timeout,
            })?
            .map_err(|e| McpError::Initialize(e.to_string()))?;
        Ok(Self { client, limits })
    }

    /// Lists tools, resources and prompts (each capability the server declared), every page.
    pub async fn discover(&self) -> Result<Capabilities, McpError> {
        let info = self.client.peer_info();
        let mut caps = Capabilities::default();
        let declared = info
            .as_ref()
            .map(|i| i.capabilities.clone())
            .unwrap_or_default();
        if let Some(i) = info {
            if let Some(s) = &i.server_info {
                caps.server_name = s.name.clone();
                caps.server_version = s.version.clone();
            }
            caps.protocol_version = i.protocol_version.to_string();
        }
        let params = |cursor| Some(PaginatedRequestParams::default().with_cursor(cursor));
        if declared.tools.is_some() {
            caps.tools = self
                .all_pages("tools/list", |c| async move {
                    let r = self.client.list_tools(params(c)).await?;
                    let items = r.tools.into_iter().map(|tool| ToolInfo {
                        name: tool.name.to_string(),
                        title: tool.title.clone(),
                        description: tool.description.as_ref().map(|d| d.to_string()),
                        input_schema: serde_json::Value::Object((*tool.input_schema).clone()),
                        output_schema: tool
                            .output_schema
                            .as_ref()
                            .map(|s| serde_json::Value::Object((**s).clone())),
                    });
                    Ok((items.collect(), r.next_cursor))
                })
                .await?;
        }
        if declared.resources.is_some() {
            caps.resources = self
                .all_pages("resources/list", |c| async move {
                    let r = self.client.list_resources(params(c)).await?;
                    let items = r.resources.into_iter().map(|res| ResourceInfo {
                        uri: res.uri.clone(),
                        name: res.name.clone(),
                        description: res.description.clone(),
                        mime_type: res.mime_type.clone(),
                    });
                    Ok((items.collect(), r.next_cursor))
                })
                .await?;
        }
        if declared.prompts.is_some() {
            caps.prompts = self
                .all_pages("prompts/list", |c| async move {
                    let r = self.client.list_prompts(params(c)).await?;
                    let items = r.prompts.into_iter().map(|p| PromptInfo {
                        name: p.name.clone(),
                        description: p.description.clone(),
                        arguments: p
                            .arguments
                            .unwrap_or_default()
                            .into_iter()
                            .map(|a| PromptArgument {
                                name: a.name,
                                required: a.required.unwrap_or(false),
                            })
                            .collect(),
                    });
                    Ok((items.collect(), r.next_cursor))
                })
                .await?;
        }
        Ok(caps)
    }

    /// Every page of a list (`what`), each request bounded by the request timeout, at most
    /// `max_pages` pages.
    async fn all_pages<T, F, Fut>(
        &self,
        what: &'static str,
        mut page: F,
    ) -> Result<Vec<T>, McpError>
    where
        F: FnMut(Option<String>) -> Fut,
        Fut: std::future::Future<Output = Result<(Vec<T>, Option<String>), rmcp::ServiceError>>,
    {
        let mut out = Vec::new();
        let mut cursor = None;
        for _ in 0..self.limits.max_pages {
            let (items, next) = bounded(what, self.limits.request_timeout, page(cursor)).await?;
            out.extend(items);
            match next {
                None => return Ok(out),
                next => cursor = next,
            }
        }
        Err(McpError::TooManyPages {
            what,
            pages: self.limits.max_pages,
        })
    }

    /// Calls `tool` with `arguments`; the result as MCP JSON (`content`, `structuredContent`,
    /// `isError`), refused when larger than the cap.
    pub async fn call_tool(
        &self,
        tool: &str,
        arguments: JsonObject,
        timeout: Duration,
    ) -> Result<serde_json::Value, McpError> {
        let result = bounded(
            "tools/call",
            timeout,
            self.client
                .call_tool(CallToolRequestParams::new(tool.to_owned()).with_arguments(arguments)),
        )
        .await?;
        let value = serde_json::to_value(&result).map_err(|e| McpError::Request {
            what: "tools/call",
            message: e.to_string(),
        })?;
        let size = value.to_string().len();
        if size > self.limits.max_result_bytes {
            return Err(McpError::TooLarge {
                size,
                limit: self.limits.max_result_bytes,
            });
        }
        Ok(value)
    }

    /// MCP `ping` on this session; the round-trip time.
    pub async fn ping(&self, timeout: Duration) -> Result<Duration, McpError> {
        let t0 = Instant::now();
        bounded(
            "ping",
            timeout,
            self.client
                .send_request(ClientRequest::PingRequest(PingRequest {
                    method: Default::default(),
                    extensions: Default::default(),
                })),
        )
        .await?;
        Ok(t0.elapsed())
    }

    /// Whether the transport is still open.
    pub fn is_open(&self) -> bool {
        !self.client.is_transport_closed()
    }

    /// Ends the session.
    pub async fn close(self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), self.client.cancel()).await;
    }
}
