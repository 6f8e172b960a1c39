//! Where WatchUpdates calls are answered: beside the generated service,
//! with a codec that sends encoded bytes as they are.
//!
//! The generated `GridServiceServer` encodes every response with prost,
//! and its WatchUpdates stream must yield `WatchUpdatesResponse` structs:
//! each subscriber would encode every event again (about three quarters
//! of an edge's work per delivery, measured with 1,000 subscribers). So
//! [`WithWatchRoute`] wraps the generated server under the same name,
//! answers the WatchUpdates path itself with [`WatchCodec`], whose frames
//! are changes encoded once per selection, and hands every other path to
//! the generated server. Clients see the same bytes; the layers around the
//! router (auth, metrics, limits) see the same calls.

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::Status;
use tonic::codegen::{Body, Service, StdError, http};
use tonic::server::{Grpc, NamedService, ServerStreamingService};

use super::{WatchStream, Watches};
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::wire::{WatchCodec, WatchFrame};

const PATH: &str = "/duckgrid.v1.GridService/WatchUpdates";

/// A generated gRPC server whose WatchUpdates calls [`Watches`] answers.
#[derive(Clone)]
pub struct WithWatchRoute<S> {
    inner: S,
    watches: Arc<Watches>,
    max_decoding: usize,
    max_encoding: usize,
}

impl<S> WithWatchRoute<S> {
    /// `max_decoding` and `max_encoding` are the message limits the
    /// generated server was given.
    pub fn new(inner: S, watches: Arc<Watches>, max_decoding: usize, max_encoding: usize) -> Self {
        Self {
            inner,
            watches,
            max_decoding,
            max_encoding,
        }
    }
}

impl<S: NamedService> NamedService for WithWatchRoute<S> {
    const NAME: &'static str = S::NAME;
}

impl<S, B> Service<http::Request<B>> for WithWatchRoute<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>, Error = Infallible>,
    S::Future: Send + 'static,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<tonic::body::Body>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if request.uri().path() != PATH {
            return Box::pin(self.inner.call(request));
        }
        let call = WatchCall(Arc::clone(&self.watches));
        let (decoding, encoding) = (self.max_decoding, self.max_encoding);
        Box::pin(async move {
            // No compression: tonic would compress each frame again for
            // every subscriber (and duckgrid enables none anyway).
            let mut grpc =
                Grpc::new(WatchCodec).apply_max_message_size_config(Some(decoding), Some(encoding));
            Ok(grpc.server_streaming(call, request).await)
        })
    }
}

/// One WatchUpdates call, as tonic's server-streaming machinery runs it.
struct WatchCall(Arc<Watches>);

impl ServerStreamingService<pb::WatchUpdatesRequest> for WatchCall {
    type Response = WatchFrame;
    type ResponseStream = WatchStream;
    type Future = BoxFuture<'static, Result<tonic::Response<WatchStream>, Status>>;

    fn call(&mut self, request: tonic::Request<pb::WatchUpdatesRequest>) -> Self::Future {
        let watches = Arc::clone(&self.0);
        Box::pin(async move { watches.serve(request).await })
    }
}

/// The stream type the generated trait's `watch_updates` names: never
/// produced, as [`WithWatchRoute`] answers every WatchUpdates call.
pub type Unrouted = futures::stream::Empty<Result<pb::WatchUpdatesResponse, Status>>;

/// What the generated trait's `watch_updates` answers, should a server
/// ever be built without [`WithWatchRoute`].
pub fn unrouted() -> Status {
    Error::Internal(
        "WatchUpdates is answered by watch::WithWatchRoute, which wraps this server".into(),
    )
    .into()
}
