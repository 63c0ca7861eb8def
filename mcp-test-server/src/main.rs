//! `mcp-test-server`: see `mcp-test-server --help` and README.md.

use std::{process::ExitCode, str::FromStr as _, time::Duration};

use mcp_test_server::{Args, Command, USAGE};
use tracing_subscriber::{
    filter::Targets, layer::SubscriberExt as _, util::SubscriberInitExt as _,
};

const DEFAULT_LOG: &str = "warn,mcp_test_server=info";

fn init_logging() {
    let spec = std::env::var("MCP_TEST_SERVER_LOG").unwrap_or_else(|_| DEFAULT_LOG.to_owned());
    let filter = Targets::from_str(&spec).unwrap_or_else(|error| {
        eprintln!("mcp-test-server: ignoring MCP_TEST_SERVER_LOG={spec:?}: {error}");
        Targets::from_str(DEFAULT_LOG).expect("the default log filter parses")
    });
    // stdout is the MCP channel in stdio mode: logs go to stderr only.
    tracing_subscriber::registry()
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(false),
        )
        .with(filter)
        .init();
}

fn main() -> ExitCode {
    let args = match Args::parse(std::env::args().skip(1)) {
        Ok(Command::Run(args)) => args,
        Ok(Command::Help) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("mcp-test-server {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(error) => {
            eprintln!("mcp-test-server: {error}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    init_logging();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("mcp-test-server: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(mcp_test_server::run(args));
    // A blocking stdin read (when stdin is not a pipe) must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(200));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("mcp-test-server: {error}");
            ExitCode::FAILURE
        }
    }
}
