//! `mcpo-test-image TAG`
//!
//! Builds the `FROM scratch` image of the static `mcp-test-server` tagged `TAG` on the Docker
//! engine named by `DOCKER_HOST` (or the default socket), then prints the tag. Nothing is
//! pulled: the binary is built locally (`cargo build -p mcp-test-server --release` for the
//! static target, in `target/static`). For the browser tests, which deploy it through the test
//! registry's `--deployable TAG` entry.

use std::{io::Write, process::ExitCode};

const USAGE: &str = "usage: mcpo-test-image TAG   (e.g. mcpo-test/mcp-test-server:e2e)";

#[tokio::main]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let tag = match (args.next(), args.next()) {
        (Some(flag), None) if flag == "-h" || flag == "--help" => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        (Some(tag), None) if !tag.trim().is_empty() && !tag.starts_with('-') => tag,
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let docker = testkit::docker::connect().await;
    match testkit::docker::build_mcp_test_server_image(&docker, &tag).await {
        Ok(tag) => {
            let mut stdout = std::io::stdout().lock();
            let _ = writeln!(stdout, "{tag}");
            let _ = stdout.flush();
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("mcpo-test-image: cannot build {tag}: {e}");
            ExitCode::FAILURE
        }
    }
}
