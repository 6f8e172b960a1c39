//! What happens to a request before any handler sees it: decoding, and the
//! size limit. Both are client errors and answer as such.
//!
//! - [`GridCodec`] decodes messages with prost, like tonic's own codec,
//!   but bytes that are not a valid message (`0f`, invalid UTF-8 in a
//!   string) are INVALID_ARGUMENT (`MALFORMED_MESSAGE`), not INTERNAL. (The
//!   same codec decodes an edge's answers from its writer: the edge turns a
//!   MALFORMED_MESSAGE of its own into INTERNAL, not the caller's fault.)
//! - [`CallLimitsLayer`] holds every call to the request timeout; and tonic
//!   refuses a message over
//!   `--max-request-bytes` from its length prefix alone (without reading
//!   it) with OUT_OF_RANGE and no details; the layer answers that refusal
//!   as RESOURCE_EXHAUSTED (`MESSAGE_TOO_LARGE`, with the limit). Every
//!   status duckgrid itself sends carries an `ErrorInfo`, so a trailers-only
//!   OUT_OF_RANGE without one can only be tonic's.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use prost::bytes::{BufMut, Bytes};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http;
use tonic::{Code, Status};
use tonic_prost::ProstEncoder;
use tonic_types::{ErrorDetails, StatusExt};
use tower::{Layer, Service};

use crate::error::{ERROR_DOMAIN, Error};
use crate::proto::v1 as pb;

/// The `ErrorInfo.reason` of a message that is not valid protobuf.
pub const MALFORMED_MESSAGE: &str = "MALFORMED_MESSAGE";

/// The codec of every duckgrid service: prost, with decoding errors
/// answered as the client's.
pub type GridCodec<T, U> = ServiceCodec<ProstEncoder<T>, U>;

/// Requests decoded with [`GridDecoder`], responses encoded with `E`:
/// prost for the generated server ([`GridCodec`]), a route's own encoder
/// for the calls answered beside it ([`crate::route`]).
#[derive(Debug)]
pub struct ServiceCodec<E, U>(PhantomData<(E, U)>);

impl<E, U> Default for ServiceCodec<E, U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<E, U> Clone for ServiceCodec<E, U> {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl<E, U> Codec for ServiceCodec<E, U>
where
    E: Encoder<Error = Status> + Default + Send + 'static,
    E::Item: Send + 'static,
    U: Message + Default + Send + 'static,
{
    type Encode = E::Item;
    type Decode = U;
    type Encoder = E;
    type Decoder = GridDecoder<U>;

    fn encoder(&mut self) -> E {
        E::default()
    }

    fn decoder(&mut self) -> GridDecoder<U> {
        GridDecoder::default()
    }
}

/// Decodes `U` with prost; a malformed message is INVALID_ARGUMENT.
#[derive(Debug)]
pub struct GridDecoder<U>(PhantomData<U>);

impl<U> Default for GridDecoder<U> {
    fn default() -> Self {
        Self(PhantomData)
    }
}

impl<U: Message + Default> Decoder for GridDecoder<U> {
    type Item = U;
    type Error = Status;

    fn decode(&mut self, buf: &mut DecodeBuf<'_>) -> Result<Option<U>, Status> {
        U::decode(buf)
            .map(Some)
            .map_err(|e| Error::Malformed(format!("the message is not valid protobuf: {e}")).into())
    }
}

/// One message of a watch's response stream: a change already encoded
/// (shared by every watch with the same selection), or a message to
/// encode (a snapshot, a progress message).
#[derive(Debug)]
pub enum WatchFrame {
    /// A whole `WatchUpdatesResponse`, encoded.
    Encoded(Bytes),
    Message(pb::WatchUpdatesResponse),
}

/// The codec of WatchUpdates (see [`crate::watch::route`]): encoded frames
/// are copied out as they are.
pub type WatchCodec = ServiceCodec<WatchEncoder, pb::WatchUpdatesRequest>;

#[derive(Debug, Default)]
pub struct WatchEncoder;

impl Encoder for WatchEncoder {
    type Item = WatchFrame;
    type Error = Status;

    fn encode(&mut self, item: WatchFrame, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        match item {
            WatchFrame::Encoded(bytes) => dst.put_slice(&bytes),
            WatchFrame::Message(message) => message
                .encode(dst)
                .map_err(|e| Status::internal(format!("cannot encode a message: {e}")))?,
        }
        Ok(())
    }
}

/// The limits every call is held to before and around its handler: the
/// request size (tonic enforces it; this answers its refusal as
/// RESOURCE_EXHAUSTED) and the time to an answer (`--request-timeout-ms`,
/// DEADLINE_EXCEEDED; a watch has answered once its stream starts, so
/// streams are never cut by it).
#[derive(Debug, Clone, Copy)]
pub struct CallLimitsLayer {
    /// The limit tonic was given, for the error's metadata.
    pub max_request_bytes: usize,
    pub request_timeout: Duration,
}

impl<S> Layer<S> for CallLimitsLayer {
    type Service = CallLimits<S>;

    fn layer(&self, inner: S) -> Self::Service {
        CallLimits {
            inner,
            limits: *self,
        }
    }
}

#[derive(Debug, Clone)]
pub struct CallLimits<S> {
    inner: S,
    limits: CallLimitsLayer,
}

impl<S, B, R> Service<http::Request<B>> for CallLimits<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    R: Default,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let limits = self.limits;
        let call = self.inner.call(request);
        async move {
            match tokio::time::timeout(limits.request_timeout, call).await {
                Ok(result) => result.map(|mut response| {
                    rewrite_too_large(response.headers_mut(), limits.max_request_bytes);
                    response
                }),
                Err(_) => Ok(timed_out(limits.request_timeout).into_http()),
            }
        }
        .boxed()
    }
}

/// The answer to a call that took longer than the request timeout.
fn timed_out(timeout: Duration) -> Status {
    let ms = timeout.as_millis();
    let details = ErrorDetails::with_error_info(
        "REQUEST_TIMEOUT",
        ERROR_DOMAIN,
        HashMap::from([("timeout_ms".to_owned(), ms.to_string())]),
    );
    Status::with_error_details(
        Code::DeadlineExceeded,
        format!(
            "no answer within {ms} ms (--request-timeout-ms); a write may still commit: \
             retry it with the same request_id"
        ),
        details,
    )
}

/// Replaces a detail-less OUT_OF_RANGE in trailers-only response headers.
fn rewrite_too_large(headers: &mut http::HeaderMap, max_bytes: usize) {
    let Some(status) = Status::from_header_map(headers) else {
        return;
    };
    if status.code() != Code::OutOfRange || !status.details().is_empty() {
        return;
    }
    let details = ErrorDetails::with_error_info(
        "MESSAGE_TOO_LARGE",
        ERROR_DOMAIN,
        HashMap::from([("max_bytes".to_owned(), max_bytes.to_string())]),
    );
    let replacement = Status::with_error_details(
        Code::ResourceExhausted,
        format!("the request is larger than the {max_bytes} bytes allowed (--max-request-bytes)"),
        details,
    );
    for name in ["grpc-status", "grpc-message", "grpc-status-details-bin"] {
        headers.remove(name);
    }
    // A status that cannot be put into headers keeps the original.
    let _ = replacement.add_header(headers);
}
