//! Where WatchUpdates calls are answered: beside the generated service
//! ([`crate::route::Beside`]), with a codec that sends encoded bytes as
//! they are.
//!
//! The generated server's WatchUpdates stream must yield
//! `WatchUpdatesResponse` structs: each subscriber would encode every event
//! again (about three quarters of an edge's work per delivery, measured
//! with 1,000 subscribers). [`WatchRoute`] answers with [`WatchCodec`],
//! whose frames are changes encoded once per selection.

use std::sync::Arc;

use futures::future::BoxFuture;
use tonic::Status;
use tonic::body::Body as TonicBody;
use tonic::codegen::{Body, StdError, http};
use tonic::server::{Grpc, ServerStreamingService};

use super::{WatchStream, Watches};
use crate::error::Error;
use crate::proto::v1 as pb;
use crate::route::{Limits, Route};
use crate::wire::{WatchCodec, WatchFrame};

const PATH: &str = "/duckgrid.v1.GridService/WatchUpdates";

/// The WatchUpdates path, answered by [`Watches`].
#[derive(Clone)]
pub struct WatchRoute(pub Arc<Watches>);

impl Route for WatchRoute {
    fn answers(&self, path: &str) -> bool {
        path == PATH
    }

    fn answer<B>(
        &self,
        request: http::Request<B>,
        limits: Limits,
    ) -> BoxFuture<'static, http::Response<TonicBody>>
    where
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static,
    {
        let call = WatchCall(Arc::clone(&self.0));
        Box::pin(async move {
            // No compression: tonic would compress each frame again for
            // every subscriber (and duckgrid enables none anyway).
            let mut grpc = Grpc::new(WatchCodec::default()).apply_max_message_size_config(
                Some(limits.max_decoding),
                Some(limits.max_encoding),
            );
            grpc.server_streaming(call, request).await
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
/// produced, as [`WatchRoute`] answers every WatchUpdates call.
pub type Unrouted = futures::stream::Empty<Result<pb::WatchUpdatesResponse, Status>>;

/// What the generated trait's `watch_updates` answers, should a server
/// ever be built without [`WatchRoute`].
pub fn unrouted() -> Status {
    Error::Internal("WatchUpdates is answered by watch::WatchRoute, beside this server".into())
        .into()
}
