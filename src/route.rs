//! Calls answered beside the generated gRPC server, with codecs of their
//! own.
//!
//! The generated `GridServiceServer` encodes every response with prost from
//! a message it owns. Where duckgrid already holds the bytes (a watch's
//! changes, encoded once per selection) or the message is shared (a
//! committed write's event), that costs a copy or an encoding per call. So
//! [`Beside`] wraps the generated server under the same name: a [`Route`]
//! answers its own paths with tonic's machinery and a codec of its own, and
//! every other path goes to the generated server. Clients see the same
//! bytes; the layers around the router (auth, metrics, limits) see the same
//! calls.

use std::convert::Infallible;
use std::task::{Context, Poll};

use futures::future::BoxFuture;
use tonic::body::Body as TonicBody;
use tonic::codegen::{Body, Service, StdError, http};
use tonic::server::NamedService;

/// The message limits the generated server was given, for a route's own
/// `tonic::server::Grpc`.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_decoding: usize,
    pub max_encoding: usize,
}

/// The calls one route answers.
pub trait Route: Clone + Send + 'static {
    /// Whether calls to `path` are this route's.
    fn answers(&self, path: &str) -> bool;

    /// The answer to `request`, a call to one of its paths.
    fn answer<B>(
        &self,
        request: http::Request<B>,
        limits: Limits,
    ) -> BoxFuture<'static, http::Response<TonicBody>>
    where
        B: Body + Send + 'static,
        B::Error: Into<StdError> + Send + 'static;
}

/// A generated server `S` with `R`'s paths answered by `R`.
#[derive(Clone)]
pub struct Beside<S, R> {
    inner: S,
    route: R,
    limits: Limits,
}

impl<S, R> Beside<S, R> {
    /// `limits` are the ones the generated server was given.
    pub fn new(inner: S, route: R, limits: Limits) -> Self {
        Self {
            inner,
            route,
            limits,
        }
    }
}

impl<S: NamedService, R> NamedService for Beside<S, R> {
    const NAME: &'static str = S::NAME;
}

impl<S, R, B> Service<http::Request<B>> for Beside<S, R>
where
    S: Service<http::Request<B>, Response = http::Response<TonicBody>, Error = Infallible>,
    S::Future: Send + 'static,
    R: Route,
    B: Body + Send + 'static,
    B::Error: Into<StdError> + Send + 'static,
{
    type Response = http::Response<TonicBody>;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Self::Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        if !self.route.answers(request.uri().path()) {
            return Box::pin(self.inner.call(request));
        }
        let answer = self.route.answer(request, self.limits);
        Box::pin(async move { Ok(answer.await) })
    }
}
