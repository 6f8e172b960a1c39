//! Logging and tracing: readable lines by default, JSON on request, filtered
//! like `RUST_LOG`; one span per RPC, joined across processes by the W3C
//! `traceparent` an edge forwards to its writer.

use rand::RngExt;
use tonic::codegen::http;
use tonic::metadata::{MetadataMap, MetadataValue};
use tracing::field::Empty;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// The W3C trace-context header (gRPC metadata), `00-<trace id>-<parent
/// span id>-<flags>`.
pub const TRACEPARENT: &str = "traceparent";

/// Installs the global subscriber. Safe to call more than once (later calls
/// are ignored), so tests can call it freely.
pub fn init(format: LogFormat, filter: &str) {
    let filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        // Colours only for a terminal, not for files and log collectors.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}

/// The span of one RPC. Its `otel.name` is the method's full name,
/// `duckgrid.v1.GridService/UpdateCell` (tracing's span names are fixed
/// strings; `otel.name` is how OpenTelemetry exporters rename a span);
/// `trace_id` comes from the caller's `traceparent`; the handler records
/// the `request_id` and the `revision` it committed or read.
pub fn rpc_span(request: &http::Request<()>) -> tracing::Span {
    let path = request.uri().path();
    let name = path.strip_prefix('/').unwrap_or(path);
    // The path is the client's: a log line, not a place for a novel.
    let name = clip(name, 128);
    let span = tracing::info_span!(
        "rpc",
        otel.name = %name,
        trace_id = Empty,
        request_id = Empty,
        revision = Empty,
    );
    if let Some(id) = request
        .headers()
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(trace_id)
    {
        span.record("trace_id", id);
    }
    span
}

/// At most `max` bytes of `s`, cut at a character boundary: what a log
/// field takes of a value a client chose.
pub fn clip(s: &str, max: usize) -> &str {
    let end = (0..=s.len().min(max))
        .rev()
        .find(|&i| s.is_char_boundary(i))
        .unwrap_or(0);
    &s[..end]
}

/// The trace id of a well-formed `traceparent`.
fn trace_id(traceparent: &str) -> Option<&str> {
    let parts: Vec<&str> = traceparent.split('-').collect();
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    match parts[..] {
        [version, id, parent, flags]
            if hex(version, 2)
                && hex(id, 32)
                && hex(parent, 16)
                && hex(flags, 2)
                && id.bytes().any(|b| b != b'0') =>
        {
            Some(id)
        }
        _ => None,
    }
}

/// Makes sure a call forwarded on carries a trace: the caller's, or a new
/// one, recorded on the current span so both processes log the same id.
pub fn continue_trace(metadata: &mut MetadataMap) {
    let known = metadata
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| trace_id(v).is_some());
    if known {
        return;
    }
    let mut rng = rand::rng();
    let id = format!("{:032x}", rng.random::<u128>() | 1);
    let value = format!("00-{id}-{:016x}-01", rng.random::<u64>() | 1);
    tracing::Span::current().record("trace_id", id.as_str());
    metadata.insert(
        TRACEPARENT,
        MetadataValue::try_from(value).expect("hex is valid metadata"),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_well_formed_traceparent_names_a_trace() {
        let id = "4bf92f3577b34da6a3ce929d0e0e4736";
        assert_eq!(trace_id(&format!("00-{id}-00f067aa0ba902b7-01")), Some(id));
        assert_eq!(
            trace_id("00-0000000000000000000000000000000-00f067aa0ba902b7-01"),
            None
        );
        assert_eq!(trace_id(&format!("00-{id}-00f067aa0ba902b7")), None);
        assert_eq!(trace_id("garbage"), None);
        let mut metadata = MetadataMap::new();
        continue_trace(&mut metadata);
        let made = metadata.get(TRACEPARENT).unwrap().to_str().unwrap();
        assert!(trace_id(made).is_some(), "{made}");
    }
}
