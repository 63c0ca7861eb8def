//! `mcp-orchestrator`: serve the dashboard and API (default), or manage migrations.

use std::process::ExitCode;

use clap::Parser;
use server::{cli, config, telemetry};

fn main() -> ExitCode {
    tune_malloc();
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

/// Tunes glibc's allocator for a long-running server (environment variables still win).
///
/// - Arenas: glibc gives each thread that allocates under contention an arena of its own (up
///   to 8 per core), and memory freed in one arena is not reused by another: with tokio's
///   workers and the blocking pool that is several MiB of resident memory held for nothing.
///   Two arenas took RSS under load 8 MiB below glibc's default; one takes it another 2–3 MiB
///   lower, list throughput the same within noise (bench/RESULTS.md, "Side by side").
/// - mmap threshold: blocks above it get pages of their own, returned when freed. glibc raises
///   the threshold to the size of any such block freed, and an argon2id password hash (a
///   19 MiB block, at start for the initial admin and on every password login) would lift it
///   to 19 MiB for good: from then on every large buffer (request bodies, sync pages, query
///   results) comes from the heap, which fragments and stays resident. A fixed threshold (the
///   default 128 KiB) keeps the heap small (bench/RESULTS.md, "Session 7").
fn tune_malloc() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let unset = |name: &str| std::env::var_os(name).is_none();
        // SAFETY: mallopt only changes allocator parameters; called before any thread starts.
        unsafe {
            if unset("MALLOC_ARENA_MAX") {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
            if unset("MALLOC_MMAP_THRESHOLD_") {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 128 * 1024);
            }
        }
    }
}
