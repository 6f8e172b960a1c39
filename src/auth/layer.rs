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

use super::{Auth, Caller, Principal, Role, unauthenticated};
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
        let caller = match check(auth, &request, need) {
            Ok(caller) => caller,
            Err((error, caller)) => {
                let status = Status::from(error);
                let audit = Audit::of(&request, caller);
                self.layer.denied(&audit, &status);
                return ready(Ok(status.into_http())).boxed();
            }
        };
        let audit = Audit::of(&request, Some(caller.clone()));
        request.extensions_mut().insert(caller);
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

/// A refusal, and whom it refused (when the credentials said).
type Denial = (Error, Option<Caller>);

/// The header with which an edge names the caller it authenticated (a
/// principal id); honoured from an edge's key only, so only edges can
/// assert another principal's identity.
pub const FORWARDED_FOR: &str = "x-duckgrid-forwarded-for";
/// The address of the caller an edge forwards (for the audit log).
pub const FORWARDED_PEER: &str = "x-duckgrid-forwarded-peer";

fn check<B>(auth: &Auth, request: &http::Request<B>, need: Need) -> Result<Caller, Denial> {
    let own = credentials(auth, request).map_err(|e| (e, None))?;
    let caller = match request.headers().get(FORWARDED_FOR) {
        None => Caller::Principal(own),
        Some(_) if own.role != Role::Edge => {
            let error = Error::denied(
                "FORWARDING_NOT_ALLOWED",
                format!(
                    "{} is not an edge's key: only an edge may name the caller it forwards \
                     ({FORWARDED_FOR})",
                    own.id
                ),
            );
            return Err((error, Some(Caller::Principal(own))));
        }
        Some(id) => {
            let principal = auth
                .forwarded(id.to_str().unwrap_or_default())
                .map_err(|e| (e, Some(Caller::Principal(Arc::clone(&own)))))?;
            let peer = request
                .headers()
                .get(FORWARDED_PEER)
                .and_then(|v| v.to_str().ok()?.parse().ok());
            Caller::Forwarded {
                principal,
                edge: own,
                peer,
            }
        }
    };
    let principal = caller.principal().expect("an authenticated caller");
    if need == Need::Write && !principal.writes() {
        let error = Error::denied(
            "ROLE_NOT_ALLOWED",
            format!(
                "{} is {} key: it may not write",
                principal.id,
                match principal.role {
                    Role::Reader => "a reader's",
                    _ => "an edge's",
                }
            ),
        );
        return Err((error, Some(caller)));
    }
    Ok(caller)
}

/// Who the credentials say the caller is: a bearer token, else the client
/// certificate of a mutual-TLS connection.
fn credentials<B>(auth: &Auth, request: &http::Request<B>) -> crate::error::Result<Arc<Principal>> {
    let Some(header) = request.headers().get(http::header::AUTHORIZATION) else {
        return match crate::tls::peer_common_name(request) {
            Some(cn) => auth.certificate(&cn),
            None => Err(unauthenticated(
                "MISSING_CREDENTIALS",
                "this server needs `authorization: Bearer <token>`".into(),
            )),
        };
    };
    let token = header
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or_else(|| {
            unauthenticated(
                "MALFORMED_CREDENTIALS",
                "the authorization header must be `Bearer <token>`".into(),
            )
        })?;
    auth.authenticate(token)
}

/// Who asked what, for the audit log: kept cheaply for every call (a
/// handler may still refuse it), written out only for a refusal.
struct Audit {
    uri: http::Uri,
    peer: Option<std::net::SocketAddr>,
    caller: Option<Caller>,
}

impl Audit {
    fn of<B>(request: &http::Request<B>, caller: Option<Caller>) -> Self {
        let connection = request
            .extensions()
            .get::<TcpConnectInfo>()
            .and_then(|i| i.remote_addr());
        Self {
            uri: request.uri().clone(),
            peer: caller.as_ref().map_or(connection, |c| c.peer(connection)),
            caller,
        }
    }
}

/// One line of the audit log (target `duckgrid::audit`) for a refusal.
fn audit_denial(audit: &Audit, message: &str, code: Code) {
    let principal = audit.caller.as_ref().and_then(Caller::principal);
    tracing::warn!(
        target: "duckgrid::audit",
        outcome = "denied",
        ?code,
        detail = message,
        principal = principal.map_or("-", |p| p.id.as_str()),
        subject = principal.map_or("-", |p| p.subject.as_str()),
        via = audit.caller.as_ref().and_then(Caller::edge).map_or("-", |e| e.id.as_str()),
        peer = %audit.peer.map_or_else(|| "-".to_owned(), |a| a.to_string()),
        rpc = crate::telemetry::clip(audit.uri.path(), 128),
        "call refused"
    );
}
