//! Our own MCP test server, built with the official Rust SDK (`rmcp`).
//!
//! Integration tests and benchmarks run it as a local process over stdio, over streamable HTTP
//! on a loopback port, or as a static binary in a `FROM scratch` container. See README.md.

pub mod server;

use std::{
    future::IntoFuture as _,
    io::Write as _,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    time::Duration,
};

use rmcp::{
    service::ServerInitializeError,
    transport::{
        streamable_http_server::session::local::LocalSessionManager, StreamableHttpServerConfig,
        StreamableHttpService,
    },
    ServiceExt as _,
};
pub use server::TestServer;
use tokio_util::sync::CancellationToken;

/// Boxed error of the run functions.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// How long the HTTP server waits for open connections after a shutdown signal.
const HTTP_SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

pub const USAGE: &str = "\
Usage: mcp-test-server [--transport stdio|http] [--port N | --listen ADDR] [--tools N]

  --transport stdio|http  stdio (default): MCP over stdin/stdout.
                          http: streamable HTTP at /mcp; prints `listening on http://ADDR/mcp`.
  --port N                HTTP: bind 127.0.0.1:N (default 0 = a random free port).
  --listen ADDR           HTTP: bind ADDR instead, e.g. 0.0.0.0:8080 in a container.
  --tools N               add N tools named noop_0..noop_{N-1} (tools/list pages by 100).
  --startup-delay-ms N    wait N ms before serving (a slow start: the handshake waits).
  -h, --help              print this help.
  -V, --version           print the version.

Logs go to stderr; MCP_TEST_SERVER_LOG sets the filter (default: warn,mcp_test_server=info).";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    Stdio,
    Http(SocketAddr),
}

/// Parsed command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Args {
    pub transport: Transport,
    /// Number of extra `noop_<i>` tools.
    pub tools: usize,
    /// Wait this long before serving.
    pub startup_delay_ms: u64,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Command {
    Run(Args),
    Help,
    Version,
}

impl Args {
    /// Parses the arguments after the program name. Accepts `--flag value` and `--flag=value`.
    pub fn parse<I, S>(args: I) -> Result<Command, String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let mut transport: Option<String> = None;
        let mut port: Option<u16> = None;
        let mut listen: Option<SocketAddr> = None;
        let mut tools = 0usize;
        let mut startup_delay_ms = 0u64;
        let mut args = args.into_iter().map(Into::into);
        while let Some(arg) = args.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((flag, value)) if flag.starts_with("--") => {
                    (flag.to_owned(), Some(value.to_owned()))
                }
                _ => (arg.clone(), None),
            };
            let mut value = |name: &str| {
                inline
                    .clone()
                    .or_else(|| args.next())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match flag.as_str() {
                "-h" | "--help" => return Ok(Command::Help),
                "-V" | "--version" => return Ok(Command::Version),
                "--transport" => transport = Some(value("--transport")?),
                "--port" => {
                    let v = value("--port")?;
                    port = Some(v.parse().map_err(|_| format!("invalid --port {v:?}"))?);
                }
                "--listen" => {
                    let v = value("--listen")?;
                    listen = Some(v.parse().map_err(|_| {
                        format!("invalid --listen {v:?} (expected IP:PORT, e.g. 0.0.0.0:8080)")
                    })?);
                }
                "--tools" => {
                    let v = value("--tools")?;
                    tools = v.parse().map_err(|_| format!("invalid --tools {v:?}"))?;
                    if tools > server::MAX_EXTRA_TOOLS {
                        return Err(format!("--tools is at most {}", server::MAX_EXTRA_TOOLS));
                    }
                }
                "--startup-delay-ms" => {
                    let v = value("--startup-delay-ms")?;
                    startup_delay_ms =
                        v.parse()
                            .ok()
                            .filter(|ms| *ms <= 3_600_000)
                            .ok_or_else(|| {
                                format!("invalid --startup-delay-ms {v:?} (0 to 3600000)")
                            })?;
                }
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        let transport = match transport.as_deref() {
            None | Some("stdio") => {
                if port.is_some() || listen.is_some() {
                    return Err("--port and --listen need --transport http".to_owned());
                }
                Transport::Stdio
            }
            Some("http") => match (port, listen) {
                (Some(_), Some(_)) => return Err("give --port or --listen, not both".to_owned()),
                (_, Some(addr)) => Transport::Http(addr),
                (port, None) => Transport::Http(SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::LOCALHOST),
                    port.unwrap_or(0),
                )),
            },
            Some(other) => return Err(format!("unknown transport {other:?} (stdio or http)")),
        };
        Ok(Command::Run(Args {
            transport,
            tools,
            startup_delay_ms,
        }))
    }
}

/// Resolves on SIGTERM or SIGINT. The handlers are installed when this is called (not when the
/// future is first polled), so a signal that arrives in between is not lost. Needs a runtime.
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let term = signal(SignalKind::terminate());
        let int = signal(SignalKind::interrupt());
        async move {
            match (term, int) {
                (Ok(mut term), Ok(mut int)) => tokio::select! {
                    _ = term.recv() => tracing::info!("SIGTERM received"),
                    _ = int.recv() => tracing::info!("SIGINT received"),
                },
                (term, int) => {
                    let error = term.err().or(int.err());
                    tracing::warn!(?error, "cannot listen for SIGTERM/SIGINT");
                    std::future::pending::<()>().await;
                }
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Runs the server until the client goes away (stdio), or until SIGTERM/SIGINT.
pub async fn run(args: Args) -> Result<(), Error> {
    if args.startup_delay_ms > 0 {
        tracing::info!(ms = args.startup_delay_ms, "delaying the start");
        let shutdown = shutdown_signal();
        tokio::select! {
            () = tokio::time::sleep(std::time::Duration::from_millis(args.startup_delay_ms)) => {}
            () = shutdown => return Ok(()),
        }
    }
    let server = TestServer::new(args.tools);
    match args.transport {
        Transport::Stdio => run_stdio(server).await,
        Transport::Http(addr) => run_http(server, addr).await,
    }
}

/// MCP over stdin/stdout; returns when stdin reaches EOF or on SIGTERM/SIGINT.
pub async fn run_stdio(server: TestServer) -> Result<(), Error> {
    let shutdown = shutdown_signal();
    tracing::info!(tools = server.tool_count(), "serving MCP over stdio");
    let serve = async {
        let running = match server.serve(rmcp::transport::stdio_pipes()).await {
            Ok(running) => running,
            // stdin ended before (or during) the handshake: nothing to serve.
            Err(ServerInitializeError::ConnectionClosed(context)) => {
                tracing::info!(%context, "stdin closed before initialize");
                return Ok(());
            }
            Err(error) => return Err(format!("initialize failed: {error}").into()),
        };
        let reason = running.waiting().await?;
        tracing::info!(?reason, "stdio session ended");
        Ok::<(), Error>(())
    };
    tokio::select! {
        result = serve => result,
        () = shutdown => Ok(()),
    }
}

/// Streamable HTTP at `/mcp` on `addr`. Prints `listening on http://ADDR/mcp` to stdout once
/// bound, then serves until SIGTERM/SIGINT.
pub async fn run_http(server: TestServer, addr: SocketAddr) -> Result<(), Error> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|error| -> Error { format!("cannot bind {addr}: {error}").into() })?;
    let local = listener.local_addr()?;
    let shutdown = shutdown_signal();
    let ct = CancellationToken::new();
    let router = http_router(server.clone(), addr, ct.child_token());
    {
        let mut stdout = std::io::stdout().lock();
        writeln!(stdout, "listening on http://{local}/mcp")?;
        stdout.flush()?;
    }
    tracing::info!(%local, tools = server.tool_count(), "serving MCP over streamable HTTP at /mcp");

    let stop = ct.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        stop.cancelled().await;
    });
    let mut serve = std::pin::pin!(serve.into_future());
    tokio::select! {
        result = &mut serve => return result.map_err(Into::into),
        () = shutdown => {}
    }
    // Ends the MCP sessions (and with them their SSE streams), then the listener.
    ct.cancel();
    match tokio::time::timeout(HTTP_SHUTDOWN_GRACE, serve).await {
        Ok(result) => result.map_err(Into::into),
        Err(_) => {
            tracing::warn!("connections still open after the grace period; exiting anyway");
            Ok(())
        }
    }
}

/// The axum router serving `server` at `/mcp`. `bind` decides the `Host` check: rmcp only
/// accepts loopback hosts by default (DNS-rebinding protection), which is right on a loopback
/// bind; any other bind (a container's 0.0.0.0) accepts any `Host`.
pub fn http_router(server: TestServer, bind: SocketAddr, ct: CancellationToken) -> axum::Router {
    let mut config = StreamableHttpServerConfig::default().with_cancellation_token(ct);
    if !bind.ip().is_loopback() {
        config = config.disable_allowed_hosts();
    }
    let service = StreamableHttpService::new(
        move || Ok(server.clone()),
        LocalSessionManager::default().into(),
        config,
    );
    axum::Router::new().route_service("/mcp", service)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Command, String> {
        Args::parse(args.iter().copied())
    }

    #[test]
    fn defaults_to_stdio() {
        assert_eq!(
            parse(&[]),
            Ok(Command::Run(Args {
                transport: Transport::Stdio,
                tools: 0,
                startup_delay_ms: 0
            }))
        );
    }

    #[test]
    fn http_on_loopback_or_listen_address() {
        assert_eq!(
            parse(&["--transport", "http", "--port=8080", "--tools", "250"]),
            Ok(Command::Run(Args {
                transport: Transport::Http("127.0.0.1:8080".parse().unwrap()),
                tools: 250,
                startup_delay_ms: 0
            }))
        );
        assert_eq!(
            parse(&["--transport=http"]),
            Ok(Command::Run(Args {
                transport: Transport::Http("127.0.0.1:0".parse().unwrap()),
                tools: 0,
                startup_delay_ms: 0
            }))
        );
        assert_eq!(
            parse(&["--transport", "http", "--listen", "0.0.0.0:8080"]),
            Ok(Command::Run(Args {
                transport: Transport::Http("0.0.0.0:8080".parse().unwrap()),
                tools: 0,
                startup_delay_ms: 0
            }))
        );
    }

    #[test]
    fn rejects_bad_arguments() {
        assert!(parse(&["--port", "1"]).is_err());
        assert!(parse(&["--transport", "sse"]).is_err());
        assert!(parse(&[
            "--transport",
            "http",
            "--port",
            "1",
            "--listen",
            "0.0.0.0:1"
        ])
        .is_err());
        assert!(parse(&["--tools", "many"]).is_err());
        assert!(parse(&["--tools"]).is_err());
        assert!(parse(&["--bogus"]).is_err());
        assert!(parse(&["--startup-delay-ms", "soon"]).is_err());
        assert!(parse(&["--startup-delay-ms", "3600001"]).is_err());
        assert!(matches!(
            parse(&["--startup-delay-ms=1500"]),
            Ok(Command::Run(Args {
                startup_delay_ms: 1500,
                ..
            }))
        ));
        assert_eq!(parse(&["--help"]), Ok(Command::Help));
    }

    #[test]
    fn counts_tools() {
        assert_eq!(TestServer::new(0).tool_count(), 6);
        assert_eq!(TestServer::new(250).tool_count(), 256);
    }
}
