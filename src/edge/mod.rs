//! Edge processes: watch-only servers without a database.
//!
//! `duckgrid serve --role edge --writer URL --redis-url URL` serves
//! `WatchUpdates` to any number of subscribers from the Redis stream and
//! forwards everything else (`ListSheets`, `GetSheet`, `UpdateCell`,
//! `BatchUpdateCells`, the history's `ListRevisions`, `GetRevision`,
//! `RevertRevision` and `Undo`) to the writer, so clients can talk to any process.
//! A snapshot-first watch takes its snapshot from the writer (the sheet at
//! revision R) and replays R + 1 onwards from the stream. History the stream
//! no longer retains comes from the writer's changelog through the writer's
//! own `WatchUpdates`. Subscribers on the writer and on every edge see the
//! identical sequence: all of them read the one stream.
//!
//! Forwarded calls keep the caller's deadline (`grpc-timeout`) and actor,
//! and go with the edge's own key naming the caller the edge authenticated
//! (`x-duckgrid-forwarded-for`, which the writer honours from an edge's
//! key only): callers' tokens never travel past the edge.
//! A call that failed on the way to the writer (not refused by it) is
//! retried until the deadline; a write is made safe to retry by the request
//! id the edge gives it when the client gave none, and a write that still
//! could not be confirmed answers WRITER_UNAVAILABLE with that id, so the
//! client can retry it safely itself.

mod history;
mod sheets;
mod writer;

pub use history::EdgeHistory;
pub use sheets::RemoteSheets;
pub use writer::{Position, WriterLink};

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use rand::RngExt;
use tokio::time::Instant;
use tonic::metadata::{Ascii, MetadataMap, MetadataValue};
use tonic::{Request, Response, Status};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;

use crate::auth::Caller;
use crate::auth::layer::{FORWARDED_FOR, FORWARDED_PEER};
use crate::error::Error;
use crate::metrics::EdgeMetrics;
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_server::GridService;
use crate::service::{ACTOR_HEADER, SESSION_HEADER};
use crate::telemetry;
use crate::watch;
use writer::transport_failure;

/// How long a forwarded call may take when its caller set no deadline.
const FORWARD_DEADLINE: Duration = Duration::from_secs(30);
/// How often an edge asks whether its writer accepts writes.
const HEALTH_EVERY: Duration = Duration::from_secs(1);

/// The GridService of an edge: forwards to the writer (its watches are
/// answered locally, by [`crate::watch::WatchRoute`]).
pub struct EdgeApi {
    pub writer: Arc<WriterLink>,
    pub metrics: EdgeMetrics,
}

/// The `grpc-timeout` a caller sent (e.g. `500m`, `3S`), as a duration.
fn grpc_timeout(metadata: &MetadataMap) -> Option<Duration> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n.checked_mul(3600)?),
        "M" => Duration::from_secs(n.checked_mul(60)?),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

/// Whom a forwarded call is for: the caller this edge authenticated (none
/// with auth off), and its address.
#[derive(Clone, Default)]
struct OnBehalf {
    principal: Option<MetadataValue<Ascii>>,
    peer: Option<MetadataValue<Ascii>>,
}

impl OnBehalf {
    fn of(caller: Option<&Caller>, peer: Option<std::net::SocketAddr>) -> Result<Self, Status> {
        let Some(p) = caller.and_then(Caller::principal) else {
            return Ok(Self::default());
        };
        // Never forwarded unnamed: the writer would take it for the edge's.
        let principal = MetadataValue::try_from(p.id.as_str())
            .map_err(|_| Status::internal(format!("the key id {:?} cannot be forwarded", p.id)))?;
        Ok(Self {
            principal: Some(principal),
            peer: peer.and_then(|a| MetadataValue::try_from(a.to_string()).ok()),
        })
    }
}

/// A caller's request as the writer gets it: the message, the actor, whom
/// it is for (the edge's key goes on every call: [`writer::EdgeKey`]), the
/// trace (`traceparent`) and what is left of the deadline.
fn forward<T>(
    message: T,
    metadata: &MetadataMap,
    on_behalf: &OnBehalf,
    deadline: Instant,
) -> Request<T> {
    let mut forwarded = Request::new(message);
    for name in [ACTOR_HEADER, SESSION_HEADER, telemetry::TRACEPARENT] {
        if let Some(value) = metadata.get(name) {
            forwarded.metadata_mut().insert(name, value.clone());
        }
    }
    let headers = forwarded.metadata_mut();
    if let Some(id) = &on_behalf.principal {
        headers.insert(FORWARDED_FOR, id.clone());
    }
    if let Some(peer) = &on_behalf.peer {
        headers.insert(FORWARDED_PEER, peer.clone());
    }
    forwarded.set_timeout(deadline.saturating_duration_since(Instant::now()));
    forwarded
}

/// A request id for a write whose client gave none.
fn edge_request_id() -> String {
    format!("edge-{:032x}", rand::rng().random::<u128>())
}

/// Makes a write safe to retry: gives it a request id if it has none, and
/// returns the id.
fn retryable(request_id: &mut String) -> String {
    if request_id.is_empty() {
        *request_id = edge_request_id();
    }
    request_id.clone()
}

impl EdgeApi {
    /// Forwards a call of `method` to the writer with `call`, timed, in the
    /// caller's trace. `request_id` names a write (for the error when it
    /// cannot be confirmed).
    async fn call<T, R, F, Fut>(
        &self,
        method: &'static str,
        mut request: Request<T>,
        request_id: Option<&str>,
        call: F,
    ) -> Result<Response<R>, Status>
    where
        T: Clone,
        F: Fn(Request<T>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        let started = std::time::Instant::now();
        // The writer's logs of this call carry the same trace id as ours.
        telemetry::continue_trace(request.metadata_mut());
        if let Some(id) = request_id {
            tracing::Span::current().record("request_id", id);
        }
        let result = self.with_retries(method, request, request_id, call).await;
        self.metrics
            .forward_seconds
            .with_label_values(&[method])
            .observe(started.elapsed().as_secs_f64());
        result
    }

    /// Calls the writer, retrying failures on the way to it until the
    /// caller's deadline.
    async fn with_retries<T, R, F, Fut>(
        &self,
        method: &'static str,
        request: Request<T>,
        request_id: Option<&str>,
        call: F,
    ) -> Result<Response<R>, Status>
    where
        T: Clone,
        F: Fn(Request<T>) -> Fut,
        Fut: Future<Output = Result<Response<R>, Status>>,
    {
        // Give up a little before the caller does, so that it hears why.
        let budget = grpc_timeout(request.metadata()).unwrap_or(FORWARD_DEADLINE);
        let deadline = Instant::now() + budget - (budget / 10).min(Duration::from_millis(250));
        let peer = request.remote_addr();
        let (metadata, extensions, message) = request.into_parts();
        let on_behalf = OnBehalf::of(extensions.get::<Caller>(), peer)?;
        let mut backoff = Duration::from_millis(50);
        loop {
            let forwarded = forward(message.clone(), &metadata, &on_behalf, deadline);
            let status = match call(forwarded).await {
                Ok(response) => return Ok(response),
                Err(status) => status,
            };
            let retry_at = Instant::now() + backoff;
            if !transport_failure(&status) || retry_at >= deadline {
                if transport_failure(&status) {
                    self.metrics
                        .forward_failures
                        .with_label_values(&[method])
                        .inc();
                }
                return Err(match writer::from_writer(status) {
                    Error::WriterUnavailable { message, .. } => Error::WriterUnavailable {
                        message,
                        request_id: request_id.map(str::to_owned),
                    },
                    other => other,
                }
                .into());
            }
            tokio::time::sleep_until(retry_at).await;
            backoff = (backoff * 2).min(Duration::from_secs(1));
        }
    }
}

#[tonic::async_trait]
impl GridService for EdgeApi {
    async fn list_sheets(
        &self,
        request: Request<pb::ListSheetsRequest>,
    ) -> Result<Response<pb::ListSheetsResponse>, Status> {
        self.call("ListSheets", request, None, |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.list_sheets(r).await }
        })
        .await
    }

    async fn get_sheet(
        &self,
        request: Request<pb::GetSheetRequest>,
    ) -> Result<Response<pb::GetSheetResponse>, Status> {
        self.call("GetSheet", request, None, |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.get_sheet(r).await }
        })
        .await
    }

    async fn update_cell(
        &self,
        mut request: Request<pb::UpdateCellRequest>,
    ) -> Result<Response<pb::UpdateCellResponse>, Status> {
        let id = retryable(&mut request.get_mut().request_id);
        self.call("UpdateCell", request, Some(&id), |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.update_cell(r).await }
        })
        .await
    }

    async fn batch_update_cells(
        &self,
        mut request: Request<pb::BatchUpdateCellsRequest>,
    ) -> Result<Response<pb::BatchUpdateCellsResponse>, Status> {
        let id = retryable(&mut request.get_mut().request_id);
        self.call("BatchUpdateCells", request, Some(&id), |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.batch_update_cells(r).await }
        })
        .await
    }

    async fn list_revisions(
        &self,
        request: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        self.call("ListRevisions", request, None, |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.list_revisions(r).await }
        })
        .await
    }

    async fn get_revision(
        &self,
        request: Request<pb::GetRevisionRequest>,
    ) -> Result<Response<pb::GetRevisionResponse>, Status> {
        self.call("GetRevision", request, None, |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.get_revision(r).await }
        })
        .await
    }

    async fn revert_revision(
        &self,
        mut request: Request<pb::RevertRevisionRequest>,
    ) -> Result<Response<pb::RevertRevisionResponse>, Status> {
        let id = retryable(&mut request.get_mut().request_id);
        self.call("RevertRevision", request, Some(&id), |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.revert_revision(r).await }
        })
        .await
    }

    async fn undo(
        &self,
        mut request: Request<pb::UndoRequest>,
    ) -> Result<Response<pb::UndoResponse>, Status> {
        let id = retryable(&mut request.get_mut().request_id);
        self.call("Undo", request, Some(&id), |r| {
            let mut writer = self.writer.grid.clone();
            async move { writer.undo(r).await }
        })
        .await
    }

    type WatchUpdatesStream = watch::Unrouted;

    async fn watch_updates(
        &self,
        _: Request<pb::WatchUpdatesRequest>,
    ) -> Result<Response<Self::WatchUpdatesStream>, Status> {
        Err(watch::unrouted())
    }
}

/// Keeps the edge's health of the grid service equal to whether its
/// writer accepts writes, and what the edge knows of the writer's
/// position current, asking every [`HEALTH_EVERY`] until `stop`.
pub async fn report_writer_health(
    writer: Arc<WriterLink>,
    health: HealthReporter,
    service: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut last = None;
    loop {
        // The writer's identity (the stream reader waits for it) and head
        // (how watchers tell a lagging stream from a quiet one).
        let _ = writer.position().await;
        // Serving once the writer accepts writes and the edge knows whose
        // stream to follow.
        let serving = writer.serving(HEALTH_EVERY).await && writer.database_id.get().is_some();
        if *stop.borrow() {
            return; // Shutting down: the server has said NOT_SERVING.
        }
        if last != Some(serving) {
            if last.is_some() {
                tracing::warn!(serving, "the writer's availability changed");
            }
            let status = if serving {
                ServingStatus::Serving
            } else {
                ServingStatus::NotServing
            };
            health.set_service_status(service, status).await;
            last = Some(serving);
        }
        tokio::select! {
            _ = tokio::time::sleep(HEALTH_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_callers_deadline_and_actor_are_forwarded() {
        let mut metadata = MetadataMap::new();
        metadata.insert("grpc-timeout", "1500m".parse().unwrap());
        metadata.insert(ACTOR_HEADER, "alice".parse().unwrap());
        let timeout = grpc_timeout(&metadata).unwrap();
        assert_eq!(timeout, Duration::from_millis(1500));
        metadata.insert("authorization", "Bearer dg_callers_own".parse().unwrap());
        let forwarded = forward(
            (),
            &metadata,
            &OnBehalf::default(),
            Instant::now() + timeout,
        );
        assert_eq!(forwarded.metadata().get(ACTOR_HEADER).unwrap(), "alice");
        // The caller's token stays here: the edge's own key goes instead.
        assert!(forwarded.metadata().get("authorization").is_none());
        let sent = grpc_timeout(forwarded.metadata()).expect("a deadline on the forwarded call");
        assert!(
            sent <= timeout && sent > Duration::from_millis(1000),
            "{sent:?}"
        );
        for (text, expected) in [("3S", 3_000), ("2M", 120_000), ("7u", 0)] {
            metadata.insert("grpc-timeout", text.parse().unwrap());
            assert_eq!(
                grpc_timeout(&metadata).unwrap().as_millis(),
                expected,
                "{text}"
            );
        }
        metadata.insert("grpc-timeout", "soon".parse().unwrap());
        assert_eq!(grpc_timeout(&metadata), None);
    }

    #[test]
    fn edge_request_ids_are_distinct_and_fit_the_limit() {
        let (a, b) = (edge_request_id(), edge_request_id());
        assert_ne!(a, b);
        assert!(a.chars().count() <= crate::edit::MAX_ID_CHARS);
    }
}
