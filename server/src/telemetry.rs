//! Logging: JSON lines in production, readable lines in development; level from `RUST_LOG`.
//! Optionally, spans are exported over OTLP (see [`crate::otlp`]).

use std::io::IsTerminal;

use tracing_subscriber::{fmt, prelude::*, EnvFilter};

use crate::{config::LogFormat, otlp::OtlpSettings};

/// Installs the global subscriber. `RUST_LOG` picks levels (default `info`); an invalid value
/// is an error naming it, not a silent fallback.
pub fn init(format: LogFormat, otlp: Option<OtlpSettings>) -> Result<(), String> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) if !spec.trim().is_empty() => {
            EnvFilter::try_new(&spec).map_err(|e| format!("invalid setting RUST_LOG: {e}"))?
        }
        _ => EnvFilter::new("info"),
    };
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Pretty => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    let otlp = otlp.map(crate::otlp::layer).transpose()?;
    let registry = tracing_subscriber::registry().with(filter).with(otlp);
    let result = if json {
        registry
            .with(
                fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(true)
                    .with_span_list(false),
            )
            .try_init()
    } else {
        registry
            .with(fmt::layer().compact().with_writer(std::io::stderr))
            .try_init()
    };
    result.map_err(|e| format!("cannot install the logger: {e}"))?;
    // A panic outside a handler (handlers are caught by the HTTP layer) is logged as one line
    // in the same format, instead of raw text on stderr.
    std::panic::set_hook(Box::new(|info| {
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        let payload = info
            .payload()
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| info.payload().downcast_ref::<&str>().copied())
            .unwrap_or("(non-string panic payload)");
        tracing::error!(panic = payload, %location, "panic");
    }));
    Ok(())
}
