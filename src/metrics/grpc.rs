//! The gRPC metrics of go-grpc-prometheus, from one tower layer around
//! every service: `grpc_server_started_total`, `grpc_server_handled_total`,
//! `grpc_server_handling_seconds` and `grpc_server_msg_sent_total`, with
//! its labels (`grpc_type`, `grpc_service`, `grpc_method`, `grpc_code`).
//!
//! A call is *handled* when its final status is known: from the response
//! headers for a trailers-only answer (every refusal before a stream
//! starts), else from the trailers at the end of the body; a stream whose
//! client went away first ends as `Canceled`. A server stream is thus
//! counted when it ends, with its final code and its whole duration.
//! Messages sent are counted from the gRPC framing of the body. A refused
//! write also counts its `ErrorInfo.reason` in
//! `duckgrid_writes_refused_total`.

use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use futures::FutureExt;
use futures::future::BoxFuture;
use http_body::{Body, Frame, SizeHint};
use prometheus::{HistogramVec, IntCounter, IntCounterVec};
use tonic::codegen::{Bytes, http};
use tonic::{Code, Status};
use tonic_types::StatusExt;
use tower::{Layer, Service};

use super::{LATENCY_BUCKETS, Registrar};

const LABELS: &[&str] = &["grpc_type", "grpc_service", "grpc_method"];
const HANDLED_LABELS: &[&str] = &["grpc_type", "grpc_service", "grpc_method", "grpc_code"];

/// The gRPC counters and histogram.
#[derive(Clone)]
pub struct GrpcMetrics {
    started: IntCounterVec,
    handled: IntCounterVec,
    handling: HistogramVec,
    msg_sent: IntCounterVec,
    refused: IntCounterVec,
}

impl GrpcMetrics {
    pub(super) fn new(reg: &Registrar<'_>) -> Self {
        // Streams last long: the buckets go on past a unary call's.
        let mut buckets = LATENCY_BUCKETS.to_vec();
        buckets.extend([30.0, 120.0, 600.0, 3600.0]);
        Self {
            started: reg.counter_vec(
                "grpc_server_started_total",
                "RPCs started on the server.",
                LABELS,
            ),
            handled: reg.counter_vec(
                "grpc_server_handled_total",
                "RPCs completed on the server, by final code.",
                HANDLED_LABELS,
            ),
            handling: reg.histogram_vec(
                "grpc_server_handling_seconds",
                "Time from an RPC's start to its final status.",
                &buckets,
                LABELS,
            ),
            msg_sent: reg.counter_vec(
                "grpc_server_msg_sent_total",
                "gRPC messages sent by the server.",
                LABELS,
            ),
            refused: reg.counter_vec(
                "duckgrid_writes_refused_total",
                "Writes (UpdateCell, BatchUpdateCells) refused, by ErrorInfo reason.",
                &["reason"],
            ),
        }
    }

    /// The layer that counts every call; a pass-through when metrics are
    /// not served (nothing would read them).
    pub fn layer(&self, enabled: bool) -> GrpcMetricsLayer {
        GrpcMetricsLayer(enabled.then(|| self.clone()))
    }
}

/// What a call is, from its path; anything not served here is `unknown`
/// (a path is the client's to choose: it must not become a label value).
fn classify(path: &str) -> [&'static str; 3] {
    match crate::rpc::of(path) {
        Some(rpc) => [rpc.kind, rpc.service, rpc.method],
        None => ["unary", "unknown", "unknown"],
    }
}

/// Go's names for the codes, as go-grpc-prometheus labels them.
fn code_name(code: Code) -> &'static str {
    match code {
        Code::Ok => "OK",
        Code::Cancelled => "Canceled",
        Code::Unknown => "Unknown",
        Code::InvalidArgument => "InvalidArgument",
        Code::DeadlineExceeded => "DeadlineExceeded",
        Code::NotFound => "NotFound",
        Code::AlreadyExists => "AlreadyExists",
        Code::PermissionDenied => "PermissionDenied",
        Code::ResourceExhausted => "ResourceExhausted",
        Code::FailedPrecondition => "FailedPrecondition",
        Code::Aborted => "Aborted",
        Code::OutOfRange => "OutOfRange",
        Code::Unimplemented => "Unimplemented",
        Code::Internal => "Internal",
        Code::Unavailable => "Unavailable",
        Code::DataLoss => "DataLoss",
        Code::Unauthenticated => "Unauthenticated",
    }
}

/// A reason fit to be a label value: duckgrid's reasons are UPPER_SNAKE
/// constants; anything else (a status from elsewhere) is `OTHER`.
pub(crate) fn reason_label(status: &Status) -> String {
    let reason = status
        .get_error_details()
        .error_info()
        .map(|info| info.reason.clone())
        .unwrap_or_default();
    let fits = !reason.is_empty()
        && reason.len() <= 48
        && reason.bytes().all(|b| b.is_ascii_uppercase() || b == b'_');
    if fits { reason } else { "OTHER".into() }
}

#[derive(Clone)]
pub struct GrpcMetricsLayer(Option<GrpcMetrics>);

impl<S> Layer<S> for GrpcMetricsLayer {
    type Service = GrpcMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        GrpcMetricsService {
            inner,
            metrics: self.0.clone(),
        }
    }
}

#[derive(Clone)]
pub struct GrpcMetricsService<S> {
    inner: S,
    metrics: Option<GrpcMetrics>,
}

impl<S, B, R> Service<http::Request<B>> for GrpcMetricsService<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Body<Data = Bytes> + Unpin,
{
    type Response = http::Response<MeteredBody<R>>;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let mut call = self.metrics.as_ref().map(|metrics| {
            let labels = classify(request.uri().path());
            metrics.started.with_label_values(&labels).inc();
            Call {
                // Resolved once: a watch sends a message per event.
                messages_sent: metrics.msg_sent.with_label_values(&labels),
                metrics: metrics.clone(),
                labels,
                started: Instant::now(),
            }
        });
        let response = self.inner.call(request);
        async move {
            let response = response.await?;
            let (parts, body) = response.into_parts();
            // Trailers-only: the status is in the headers, the body empty.
            if let Some(status) = Status::from_header_map(&parts.headers)
                && let Some(call) = call.take()
            {
                call.finish(&status);
            }
            let body = MeteredBody {
                inner: body,
                call,
                frame: Framing::default(),
            };
            Ok(http::Response::from_parts(parts, body))
        }
        .boxed()
    }
}

/// One call being counted, until its status is known.
struct Call {
    metrics: GrpcMetrics,
    messages_sent: IntCounter,
    labels: [&'static str; 3],
    started: Instant,
}

impl Call {
    fn finish(self, status: &Status) {
        let [kind, service, method] = self.labels;
        let code = code_name(status.code());
        let m = &self.metrics;
        m.handled
            .with_label_values(&[kind, service, method, code])
            .inc();
        m.handling
            .with_label_values(&self.labels)
            .observe(self.started.elapsed().as_secs_f64());
        if status.code() != Code::Ok && matches!(method, "UpdateCell" | "BatchUpdateCells") {
            m.refused.with_label_values(&[reason_label(status)]).inc();
        }
    }

    fn sent(&self, messages: u64) {
        if messages > 0 {
            self.messages_sent.inc_by(messages);
        }
    }
}

/// Where the body is in gRPC's framing: each message is a 5-byte header
/// (compression flag, big-endian length) and that many bytes.
#[derive(Default)]
struct Framing {
    header: [u8; 5],
    header_len: usize,
    /// Bytes of the current message still to come.
    remaining: usize,
}

impl Framing {
    /// The messages that start in `data`.
    fn messages(&mut self, mut data: &[u8]) -> u64 {
        let mut started = 0;
        while !data.is_empty() {
            if self.remaining > 0 {
                let skip = self.remaining.min(data.len());
                self.remaining -= skip;
                data = &data[skip..];
                continue;
            }
            let take = (5 - self.header_len).min(data.len());
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 5 {
                started += 1;
                self.header_len = 0;
                let len = u32::from_be_bytes(self.header[1..5].try_into().expect("4 bytes"));
                self.remaining = len as usize;
            }
        }
        started
    }
}

/// A response body that counts the messages it carries and finishes its
/// call at the trailers (or as `Canceled` if dropped before them).
pub struct MeteredBody<B> {
    inner: B,
    call: Option<Call>,
    frame: Framing,
}

impl<B: Body<Data = Bytes> + Unpin> Body for MeteredBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = &mut *self;
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Some(call) = &this.call {
            match &polled {
                Poll::Ready(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        call.sent(this.frame.messages(data));
                    } else if let Some(trailers) = frame.trailers_ref() {
                        let status = Status::from_header_map(trailers)
                            .unwrap_or_else(|| Status::unknown("no grpc-status in the trailers"));
                        this.call.take().expect("checked").finish(&status);
                    }
                }
                Poll::Ready(Some(Err(_))) => {
                    let status = Status::unknown("the response body failed");
                    this.call.take().expect("checked").finish(&status);
                }
                Poll::Ready(None) | Poll::Pending => {}
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl<B> Drop for MeteredBody<B> {
    fn drop(&mut self) {
        // Gone before its status: the client cancelled (or disconnected).
        if let Some(call) = self.call.take() {
            call.finish(&Status::cancelled("the client went away"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_become_bounded_labels() {
        assert_eq!(
            classify("/duckgrid.v1.GridService/WatchUpdates"),
            ["server_stream", "duckgrid.v1.GridService", "WatchUpdates"]
        );
        assert_eq!(
            classify("/duckgrid.v1.GridService/Nope"),
            ["unary", "unknown", "unknown"]
        );
        assert_eq!(classify("/x.Y/Z"), ["unary", "unknown", "unknown"]);
        assert_eq!(classify("garbage"), ["unary", "unknown", "unknown"]);
    }

    #[test]
    fn messages_are_counted_across_any_split_of_the_framing() {
        let mut body = Vec::new();
        for len in [3u32, 0, 70_000] {
            body.push(0);
            body.extend(len.to_be_bytes());
            body.extend(std::iter::repeat_n(7u8, len as usize));
        }
        for chunk in [1, 2, 5, 6, 4096, body.len()] {
            let mut framing = Framing::default();
            let n: u64 = body.chunks(chunk).map(|c| framing.messages(c)).sum();
            assert_eq!(n, 3, "chunks of {chunk}");
        }
    }
}
