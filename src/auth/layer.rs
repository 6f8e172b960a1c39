//! The authentication layer: every call's bearer token checked against the
//! keys, and the role the RPC needs against the principal's, before any
//! handler runs. A refusal is a trailers-only UNAUTHENTICATED or
//! PERMISSION_DENIED with ErrorInfo, recorded in the audit log.

use std::sync::Arc;
use std::task::{Context, Poll};

use futures::FutureExt;
use futures::future::{BoxFuture, ready};
use prometheus::IntCounterVec;
use tonic::codegen::http;
use tonic::transport::server::TcpConnectInfo;
use tonic::{Code, Status};
use tower::{Layer, Service};

use super::{Auth, Caller, Role, unauthenticated};
use crate::error::Error;
use crate::rpc::Need;

#[derive(Clone)]
pub struct AuthLayer {
    /// `None`: authentication is off.
    pub auth: Option<Arc<Auth>>,
    pub anonymous_reflection: bool,
    /// `duckgrid_auth_denials_total{reason}`.
    pub denials: IntCounterVec,
}

impl AuthLayer {
    /// Counts and audits a refusal.
    fn denied(&self, audit: &Audit, status: &Status) {
        self.denials
            .with_label_values(&[crate::metrics::grpc::reason_label(status)])
            .inc();
        audit_denial(audit, status.message(), status.code());
    }
}

impl<S> Layer<S> for AuthLayer {
    type Service = Authenticate<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Authenticate {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Authenticate<S> {
    inner: S,
    layer: AuthLayer,
}

impl<S, B, R> Service<http::Request<B>> for Authenticate<S>
where
    S: Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
    S::Error: Send + 'static,
    R: Default + Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<'static, Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(auth) = &self.layer.auth else {
            request.extensions_mut().insert(Caller::Open);
            return self.inner.call(request).boxed();
        };
        let need = crate::rpc::of(request.uri().path()).map_or(Need::Authenticated, |r| r.need);
        if need == Need::Anonymous || (need == Need::Reflection && self.layer.anonymous_reflection)
        {
            return self.inner.call(request).boxed();
        }
        let principal = match check(auth, &request, need) {
            Ok(principal) => principal,
            Err((error, principal)) => {
                let status = Status::from(error);
                let audit = Audit::of(&request, principal);
                self.layer.denied(&audit, &status);
                return ready(Ok(status.into_http())).boxed();
            }
        };
        let audit = Audit::of(&request, Some(Arc::clone(&principal)));
        request
            .extensions_mut()
            .insert(Caller::Principal(principal));
        let call = self.inner.call(request);
        let layer = self.layer.clone();
        async move {
            let response = call.await?;
            // What a handler refused (a sheet, a spread, an impersonation)
            // is audited like what this layer refused.
            if let Some(status) = Status::from_header_map(response.headers())
                && matches!(
                    status.code(),
                    Code::PermissionDenied | Code::Unauthenticated
                )
            {
                layer.denied(&audit, &status);
            }
            Ok(response)
        }
        .boxed()
    }
}

type Denial = (Error, Option<Arc<super::Principal>>);

fn check<B>(
    auth: &Auth,
    request: &http::Request<B>,
    need: Need,
) -> Result<Arc<super::Principal>, Denial> {
    let header = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .ok_or_else(|| {
            (
                unauthenticated(
                    "MISSING_CREDENTIALS",
                    "this server needs `authorization: Bearer <token>`".into(),
                ),
                None,
            )
        })?;
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            (
                unauthenticated(
                    "MALFORMED_CREDENTIALS",
                    "the authorization header must be `Bearer <token>`".into(),
                ),
                None,
            )
        })?;
    let principal = auth.authenticate(token).map_err(|e| (e, None))?;
    if need == Need::Write && principal.role == Role::Reader {
        let error = Error::denied(
            "ROLE_NOT_ALLOWED",
            format!("{} is a reader: it may not write", principal.id),
        );
        return Err((error, Some(principal)));
    }
    Ok(principal)
}

/// Who asked what, for the audit log: kept cheaply for every call (a
/// handler may still refuse it), written out only for a refusal.
struct Audit {
    uri: http::Uri,
    peer: Option<std::net::SocketAddr>,
    principal: Option<Arc<super::Principal>>,
}

impl Audit {
    fn of<B>(request: &http::Request<B>, principal: Option<Arc<super::Principal>>) -> Self {
        Self {
            uri: request.uri().clone(),
            peer: request
                .extensions()
                .get::<TcpConnectInfo>()
                .and_then(|i| i.remote_addr()),
            principal,
        }
    }
}

/// One line of the audit log (target `duckgrid::audit`) for a refusal.
fn audit_denial(audit: &Audit, message: &str, code: Code) {
    tracing::warn!(
        target: "duckgrid::audit",
        outcome = "denied",
        ?code,
        detail = message,
        principal = audit.principal.as_ref().map_or("-", |p| p.id.as_str()),
        subject = audit.principal.as_ref().map_or("-", |p| p.subject.as_str()),
        peer = %audit.peer.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        rpc = crate::telemetry::clip(audit.uri.path(), 128),
        "call refused"
    );
}
