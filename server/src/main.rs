//! `mcp-orchestrator`: serve the dashboard and API (default), or manage migrations.

use std::process::ExitCode;

use clap::Parser;
use server::{cli, config, telemetry};

fn main() -> ExitCode {
    limit_malloc_arenas();
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

/// glibc gives each thread that allocates under contention an arena of its own (up to 8 per
/// core), and memory freed in one arena is not reused by another: with tokio's workers and
/// the blocking pool that is several MiB of resident memory held for nothing. Two arenas keep
/// allocation contention low on the request path (measured: same throughput) and RSS under
/// load about 8 MiB lower (bench/RESULTS.md, "Side-by-side"). `MALLOC_ARENA_MAX` still wins.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}
