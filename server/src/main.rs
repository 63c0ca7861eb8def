//! `mcp-orchestrator`: serve the dashboard and API (default), or manage migrations.

use std::process::ExitCode;

use clap::Parser;
use server::{cli, config, telemetry};

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    let (config, layers) = match config::load(args.config.as_deref()) {
        Ok(loaded) => loaded,
        Err(e) => {
            eprintln!("mcp-orchestrator: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = telemetry::init(config.log_format, config.otlp.clone()) {
        eprintln!("mcp-orchestrator: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("mcp-orchestrator: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli::run(args.command.unwrap_or_default(), config, layers)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "mcp-orchestrator stopped");
            eprintln!("mcp-orchestrator: {e}");
            ExitCode::FAILURE
        }
    }
}
