//! Optional OTLP trace export (`telemetry.otlp_endpoint`): every finished `tracing` span — an
//! HTTP request, and whatever runs inside it — is sent as an OpenTelemetry span over OTLP/HTTP
//! with the JSON encoding (`POST {endpoint}/v1/traces`), in batches, from a thread of its own.
//!
//! Spans of one request share a trace id (a root span starts a trace; children carry it).
//! Fields become string attributes. Export never blocks the service: spans go through a
//! bounded queue and are dropped (and counted in a warning) when it is full or the collector
//! does not answer.

use std::{
    sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde_json::{json, Value};
use tracing::{field::Visit, span, Subscriber};
use tracing_subscriber::{layer::Context, registry::LookupSpan, Layer};

/// Spans waiting for the exporter thread at most.
const QUEUE: usize = 8192;
/// Spans per request to the collector at most.
const BATCH: usize = 512;
/// Longest a finished span waits before it is sent.
const FLUSH: Duration = Duration::from_secs(1);

/// Where and as whom to export.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// Base URL of the collector's OTLP/HTTP receiver (`http://collector:4318`).
    pub endpoint: String,
    /// `service.name` of the resource.
    pub service_name: String,
}

/// A span under way.
struct Open {
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    start: SystemTime,
    attributes: Vec<(String, String)>,
}

/// A finished span, ready to encode.
struct Finished {
    name: &'static str,
    target: String,
    trace_id: [u8; 16],
    span_id: [u8; 8],
    parent: Option<[u8; 8]>,
    start: SystemTime,
    end: SystemTime,
    attributes: Vec<(String, String)>,
}

/// The `tracing` layer that hands finished spans to the exporter thread.
pub struct OtlpLayer {
    tx: SyncSender<Finished>,
}

struct Fields<'a>(&'a mut Vec<(String, String)>);

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        self.0.push((field.name().to_owned(), value.to_owned()));
    }

    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        self.0.push((field.name().to_owned(), format!("{value:?}")));
    }
}

fn random<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    let mut filled = 0;
    while filled < N {
        let bytes = uuid::Uuid::new_v4().into_bytes();
        let n = (N - filled).min(bytes.len());
        out[filled..filled + n].copy_from_slice(&bytes[..n]);
        filled += n;
    }
    out
}

impl<S> Layer<S> for OtlpLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &span::Attributes<'_>, id: &span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        let parent = span.parent().and_then(|p| {
            p.extensions()
                .get::<Open>()
                .map(|o| (o.trace_id, o.span_id))
        });
        let mut attributes = Vec::new();
        attrs.record(&mut Fields(&mut attributes));
        span.extensions_mut().insert(Open {
            trace_id: parent.map_or_else(random::<16>, |p| p.0),
            span_id: random::<8>(),
            parent: parent.map(|p| p.1),
            start: SystemTime::now(),
            attributes,
        });
    }

    fn on_record(&self, id: &span::Id, values: &span::Record<'_>, ctx: Context<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(open) = span.extensions_mut().get_mut::<Open>() {
                values.record(&mut Fields(&mut open.attributes));
            }
        }
    }

    fn on_close(&self, id: span::Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(&id) else { return };
        let Some(open) = span.extensions_mut().remove::<Open>() else {
            return;
        };
        let meta = span.metadata();
        // A full queue drops the span: export never slows the service down.
        let _ = self.tx.try_send(Finished {
            name: meta.name(),
            target: meta.target().to_owned(),
            trace_id: open.trace_id,
            span_id: open.span_id,
            parent: open.parent,
            start: open.start,
            end: SystemTime::now(),
            attributes: open.attributes,
        });
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn nanos(t: SystemTime) -> String {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
        .to_string()
}

fn attribute(key: &str, value: &str) -> Value {
    json!({"key": key, "value": {"stringValue": value}})
}

/// The OTLP/JSON `ExportTraceServiceRequest` for `spans`.
fn encode(settings: &OtlpSettings, instance: &str, spans: &[Finished]) -> Value {
    let spans: Vec<Value> = spans
        .iter()
        .map(|s| {
            let mut attributes: Vec<Value> =
                s.attributes.iter().map(|(k, v)| attribute(k, v)).collect();
            attributes.push(attribute("code.namespace", &s.target));
            let mut span = json!({
                "traceId": hex(&s.trace_id),
                "spanId": hex(&s.span_id),
                "name": s.name,
                // SERVER for the root span of a request, INTERNAL for the rest.
                "kind": if s.parent.is_none() && s.name == "request" { 2 } else { 1 },
                "startTimeUnixNano": nanos(s.start),
                "endTimeUnixNano": nanos(s.end),
                "attributes": attributes,
                "status": {},
            });
            if let Some(p) = s.parent {
                span["parentSpanId"] = Value::String(hex(&p));
            }
            span
        })
        .collect();
    json!({"resourceSpans": [{
        "resource": {"attributes": [
            attribute("service.name", &settings.service_name),
            attribute("service.version", domain::VERSION),
            attribute("service.instance.id", instance),
        ]},
        "scopeSpans": [{"scope": {"name": "mcp-orchestrator", "version": domain::VERSION}, "spans": spans}],
    }]})
}

/// Starts the exporter thread; the layer to install.
pub fn layer(settings: OtlpSettings) -> Result<OtlpLayer, String> {
    let url = format!("{}/v1/traces", settings.endpoint.trim_end_matches('/'));
    let parsed = reqwest::Url::parse(&url)
        .map_err(|e| format!("invalid setting telemetry.otlp_endpoint: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("invalid setting telemetry.otlp_endpoint: expected an http(s) URL".into());
    }
    let (tx, rx) = mpsc::sync_channel(QUEUE);
    std::thread::Builder::new()
        .name("otlp-export".into())
        .spawn(move || export(settings, url, rx))
        .map_err(|e| format!("cannot start the OTLP exporter: {e}"))?;
    Ok(OtlpLayer { tx })
}

fn export(settings: OtlpSettings, url: String, rx: Receiver<Finished>) {
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let client = match reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
    {
        Ok(c) => c,
        Err(_) => return,
    };
    let instance = uuid::Uuid::new_v4().to_string();
    let mut batch = Vec::with_capacity(BATCH);
    let mut last_warning: Option<Instant> = None;
    let mut dropped = 0u64;
    loop {
        let deadline = Instant::now() + FLUSH;
        let mut closed = false;
        while batch.len() < BATCH {
            match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(s) => batch.push(s),
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => {
                    closed = true;
                    break;
                }
            }
        }
        if !batch.is_empty() {
            let body = encode(&settings, &instance, &batch);
            let sent = rt.block_on(async {
                client
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| {
                        if r.status().is_success() {
                            Ok(())
                        } else {
                            Err(format!("the collector answered {}", r.status()))
                        }
                    })
            });
            if let Err(e) = sent {
                dropped += batch.len() as u64;
                if last_warning.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
                    // An event, not a span: it does not feed the exporter back.
                    tracing::warn!(target: "mcp_orchestrator::otlp", error = %e, dropped, "cannot export spans");
                    last_warning = Some(Instant::now());
                }
            }
            batch.clear();
        }
        if closed {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_otlp_json_shape() {
        let s = OtlpSettings {
            endpoint: "http://127.0.0.1:4318".into(),
            service_name: "svc".into(),
        };
        let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        let v = encode(
            &s,
            "i",
            &[Finished {
                name: "request",
                target: "server".into(),
                trace_id: [1; 16],
                span_id: [2; 8],
                parent: None,
                start: t,
                end: t + Duration::from_millis(5),
                attributes: vec![("route".into(), "/x".into())],
            }],
        );
        let span = &v["resourceSpans"][0]["scopeSpans"][0]["spans"][0];
        assert_eq!(span["traceId"], "01".repeat(16));
        assert_eq!(span["spanId"], "02".repeat(8));
        assert_eq!(span["kind"], 2);
        assert_eq!(span["startTimeUnixNano"], "1000000000");
        assert_eq!(span["endTimeUnixNano"], "1005000000");
        assert_eq!(span["attributes"][0]["value"]["stringValue"], "/x");
        assert!(span.get("parentSpanId").is_none());
        assert_eq!(
            v["resourceSpans"][0]["resource"]["attributes"][0]["value"]["stringValue"],
            "svc"
        );
    }
}
