//! `mcpo-test-registry [--port N] [--fixture PATH | --synthetic N] [--hostile] [--deployable IMAGE]`
//!
//! Serves the test MCP registry ([`testkit::registry`]) on 127.0.0.1 until killed, for
//! Playwright and benchmarks. Prints `listening on http://127.0.0.1:PORT` once it accepts
//! connections.
//!
//! - `--port N`: port to bind (default 0, a free one);
//! - `--fixture PATH`: entries from a JSON array of list items (default: the vendored seed fixture, testkit/fixtures/registry);
//! - `--synthetic N`: `N` generated entries instead;
//! - `--hostile`: add three entries with hostile text (HTML, 20,000 characters, control
//!   characters);
//! - `--deployable IMAGE`: add `io.mcpo.test/mcp-test-server` ("MCP test server" 1.0.0), an
//!   entry the orchestrator can deploy: one `oci` package `IMAGE` over stdio (build the image
//!   with `mcpo-test-image IMAGE`).

use std::{io::Write, net::SocketAddr, path::PathBuf, process::ExitCode};

use testkit::registry::{
    deployable_entries, entries_from_file, fixture_entries, hostile_entries, synthetic_entries,
    RegistryServer,
};

const USAGE: &str = "usage: mcpo-test-registry [--port N] [--fixture PATH | --synthetic N] [--hostile] [--deployable IMAGE]";

enum Source {
    Fixture(Option<PathBuf>),
    Synthetic(usize),
}

struct Args {
    port: u16,
    source: Source,
    hostile: bool,
    deployable: Option<String>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let mut parsed = Args {
        port: 0,
        source: Source::Fixture(None),
        hostile: false,
        deployable: None,
    };
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().ok_or_else(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--port" => {
                let v = value("--port")?;
                parsed.port = v.parse().map_err(|_| format!("bad port {v:?}"))?;
            }
            "--fixture" => parsed.source = Source::Fixture(Some(value("--fixture")?.into())),
            "--synthetic" => {
                let v = value("--synthetic")?;
                let n = v.parse().map_err(|_| format!("bad count {v:?}"))?;
                parsed.source = Source::Synthetic(n);
            }
            "--hostile" => parsed.hostile = true,
            "--deployable" => {
                let image = value("--deployable")?;
                if image.trim().is_empty() {
                    return Err("--deployable needs an image".to_owned());
                }
                parsed.deployable = Some(image);
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    Ok(parsed)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = match parse(std::env::args().skip(1)) {
        Ok(args) => args,
        Err(message) => {
            if message.is_empty() {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            eprintln!("{message}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let mut entries = match args.source {
        Source::Fixture(None) => fixture_entries(),
        Source::Fixture(Some(path)) => match entries_from_file(&path) {
            Ok(entries) => entries,
            Err(e) => {
                eprintln!("cannot load {}: {e}", path.display());
                return ExitCode::FAILURE;
            }
        },
        Source::Synthetic(n) => synthetic_entries(n),
    };
    if args.hostile {
        entries.extend(hostile_entries());
    }
    if let Some(image) = &args.deployable {
        entries.extend(deployable_entries(image));
    }
    let server =
        match RegistryServer::bind(SocketAddr::from(([127, 0, 0, 1], args.port)), entries).await {
            Ok(server) => server,
            Err(e) => {
                eprintln!("cannot bind 127.0.0.1:{}: {e}", args.port);
                return ExitCode::FAILURE;
            }
        };
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "listening on {}", server.url);
        let _ = stdout.flush();
    }
    // Serve until killed; Ctrl-C ends cleanly.
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
    drop(server);
    ExitCode::SUCCESS
}
