//! An edge's link to its writer: the gRPC client, the writer's position
//! (head and oldest retained revision) asked for cheaply and coalesced,
//! and whether the writer accepts writes (its health).

use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::error::{ERROR_DOMAIN, Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_client::GridServiceClient;

/// The largest message exchanged with the writer (a write to a grand total
/// changes every cell).
const MAX_MESSAGE: usize = 256 * 1024 * 1024;
/// How long a question about the writer's position may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the writer is in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    pub head: i64,
    pub oldest: i64,
}

/// The writer, as an edge reaches it.
pub struct WriterLink {
    pub grid: GridServiceClient<Channel>,
    health: HealthClient<Channel>,
    /// The last position asked for, and when the question was sent.
    position: Mutex<Option<(Instant, Position)>>,
}

impl WriterLink {
    /// A lazily connected link (the edge starts whether or not the writer
    /// is up).
    pub fn connect_lazy(url: &str) -> Result<Self> {
        let url = if url.contains("://") {
            url.to_owned()
        } else {
            format!("http://{url}")
        };
        // No overall timeout: each call carries its caller's deadline.
        let channel = Endpoint::from_shared(url.clone())
            .map_err(|e| Error::invalid(format!("writer url {url:?}: {e}")))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect_lazy();
        Ok(Self {
            grid: GridServiceClient::new(channel.clone())
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            health: HealthClient::new(channel),
            position: Mutex::new(None),
        })
    }

    /// The writer's position now: asked at or after the time of the call,
    /// and shared by every caller waiting meanwhile (a storm of new
    /// watches costs the writer one or two questions, not one each).
    ///
    /// The question is a watch from the farthest revision there is, which
    /// the contract refuses with OUT_OF_RANGE and the writer's head and
    /// oldest revision in the details: no rows read, nothing streamed.
    pub async fn position(&self) -> Result<Position> {
        let asked = Instant::now();
        let mut last = self.position.lock().await;
        if let Some((at, position)) = *last
            && at >= asked
        {
            return Ok(position);
        }
        let sent = Instant::now();
        let mut request = tonic::Request::new(pb::WatchUpdatesRequest {
            start_revision: i64::MAX,
            ..Default::default()
        });
        request.set_timeout(PROBE_TIMEOUT);
        let status =
            match tokio::time::timeout(PROBE_TIMEOUT, self.grid.clone().watch_updates(request))
                .await
            {
                Ok(Ok(_)) => {
                    return Err(Error::Internal(
                        "the writer accepted a watch past any head".into(),
                    ));
                }
                Ok(Err(status)) => status,
                Err(_) => {
                    return Err(unavailable(
                        "the writer did not say where it is in time".into(),
                    ));
                }
            };
        let position = status
            .get_details_error_info()
            .filter(|i| i.domain == ERROR_DOMAIN && i.reason == "REVISION_OUT_OF_RANGE")
            .and_then(|info| {
                Some(Position {
                    head: info.metadata.get("head_revision")?.parse().ok()?,
                    oldest: info.metadata.get("oldest_revision")?.parse().ok()?,
                })
            })
            .ok_or_else(|| from_writer(status))?;
        *last = Some((sent, position));
        Ok(position)
    }

    /// Whether the writer says it accepts writes (within `timeout`).
    pub async fn serving(&self, timeout: Duration) -> bool {
        let mut request = tonic::Request::new(HealthCheckRequest {
            service: crate::server::GRID_SERVICE.to_owned(),
        });
        request.set_timeout(timeout);
        let answer = tokio::time::timeout(timeout, self.health.clone().check(request)).await;
        matches!(answer, Ok(Ok(r)) if r.get_ref().status == ServingStatus::Serving as i32)
    }
}

fn unavailable(message: String) -> Error {
    Error::WriterUnavailable {
        message,
        request_id: None,
    }
}

/// Whether a status came from the writer itself (every duckgrid error
/// carries an `ErrorInfo` of its domain) rather than from the way there.
fn from_duckgrid(status: &tonic::Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|i| i.domain == ERROR_DOMAIN)
}

/// Whether a failed call may not have reached the writer at all (the
/// connection could not be made, or broke): safe to retry an idempotent
/// call.
pub fn transport_failure(status: &tonic::Status) -> bool {
    use tonic::Code;
    !from_duckgrid(status)
        && matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled | Code::Internal
        )
}

/// A writer's error, passed through; a failure on the way to it is
/// WRITER_UNAVAILABLE.
pub fn from_writer(status: tonic::Status) -> Error {
    if transport_failure(&status) {
        unavailable(format!("the writer is unavailable: {}", status.message()))
    } else {
        Error::Passthrough(status)
    }
}
