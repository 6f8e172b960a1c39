//! An edge's link to its writer: the gRPC client, the writer's position
//! (head and oldest retained revision) asked for cheaply and coalesced,
//! and whether the writer accepts writes (its health).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::Mutex;
use tokio::time::Instant;
use tonic::Status;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};
use tonic_types::StatusExt;

use crate::error::{ERROR_DOMAIN, Error, Result};
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_client::GridServiceClient;
use crate::wire::MALFORMED_MESSAGE;

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

/// The edge's gRPC client of its writer.
pub type WriterClient = GridServiceClient<InterceptedService<Channel, EdgeKey>>;

/// The edge's own key (`--writer-token`, a principal with role `edge`), on
/// every call to the writer: the edge's own questions (position, history,
/// snapshots) and the calls it forwards, which name their caller.
#[derive(Clone)]
pub struct EdgeKey(Option<MetadataValue<Ascii>>);

impl Interceptor for EdgeKey {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        if let Some(key) = &self.0 {
            request.metadata_mut().insert("authorization", key.clone());
        }
        Ok(request)
    }
}

/// The writer, as an edge reaches it.
pub struct WriterLink {
    pub grid: WriterClient,
    health: HealthClient<Channel>,
    /// The last answer about the writer's position (or why there was
    /// none), and when the question was sent.
    position: Mutex<Option<(Instant, Result<Position, Status>)>>,
    /// The writer's database identity, learnt from its first answer (the
    /// edge's reader passes on only that database's stream entries).
    pub database_id: Arc<OnceLock<String>>,
    /// The newest head the writer has reported.
    pub known_head: Arc<AtomicI64>,
    /// Recent answers (when asked, the head then), newest last.
    recent: std::sync::Mutex<VecDeque<(Instant, i64)>>,
}

/// Recent position answers remembered.
const RECENT: usize = 16;

impl WriterLink {
    /// A lazily connected link (the edge starts whether or not the writer
    /// is up).
    pub fn connect_lazy(
        url: &str,
        token: Option<&str>,
        tls: Option<tonic::transport::ClientTlsConfig>,
    ) -> Result<Self> {
        let key = token
            .map(|t| {
                MetadataValue::try_from(format!("Bearer {t}"))
                    .map_err(|_| Error::invalid("--writer-token must be printable ASCII"))
            })
            .transpose()?;
        // No overall timeout: each call carries its caller's deadline.
        let channel = crate::tls::endpoint(url, tls)
            .map_err(|e| Error::invalid(format!("--writer: {e:#}")))?
            .tcp_nodelay(true)
            .connect_timeout(Duration::from_secs(5))
            .http2_keep_alive_interval(Duration::from_secs(30))
            .connect_lazy();
        Ok(Self {
            grid: GridServiceClient::with_interceptor(channel.clone(), EdgeKey(key))
                .max_decoding_message_size(MAX_MESSAGE)
                .max_encoding_message_size(MAX_MESSAGE),
            health: HealthClient::new(channel),
            position: Mutex::new(None),
            database_id: Arc::default(),
            known_head: Arc::default(),
            recent: std::sync::Mutex::new(VecDeque::new()),
        })
    }

    /// The writer's position now: asked at or after the time of the call,
    /// and shared by every caller waiting meanwhile (a storm of new
    /// watches costs the writer one or two questions, not one each; a
    /// writer that does not answer costs them one wait, not one each).
    ///
    /// The question is a watch from the farthest revision there is, which
    /// the contract refuses with OUT_OF_RANGE and the writer's head, oldest
    /// revision and database in the details: no rows read, nothing streamed.
    pub async fn position(&self) -> Result<Position> {
        let asked = Instant::now();
        let mut last = self.position.lock().await;
        if let Some((at, answer)) = &*last
            && *at >= asked
        {
            return answer.clone().map_err(from_writer);
        }
        let sent = Instant::now();
        let answer = self.ask_position().await;
        if let Ok(position) = &answer {
            self.known_head.fetch_max(position.head, Ordering::AcqRel);
            let mut recent = self.recent.lock().expect("recent positions");
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back((sent, position.head));
        }
        *last = Some((sent, answer.clone()));
        answer.map_err(from_writer)
    }

    /// Whether the writer already had `revision` at least `age` ago (by its
    /// recent answers): a revision the stream still lacks after that is
    /// not on its way through Redis, and is worth asking the writer for.
    pub fn had_for(&self, revision: i64, age: Duration) -> bool {
        let recent = self.recent.lock().expect("recent positions");
        let now = Instant::now();
        recent
            .iter()
            .any(|&(at, head)| head >= revision && now.duration_since(at) >= age)
    }

    async fn ask_position(&self) -> Result<Position, Status> {
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
                    return Err(Status::internal(
                        "the writer accepted a watch past any head",
                    ));
                }
                Ok(Err(status)) => status,
                Err(_) => return Err(Status::unavailable("the writer did not answer in time")),
            };
        let Some(info) = status
            .get_details_error_info()
            .filter(|i| i.domain == ERROR_DOMAIN && i.reason == "REVISION_OUT_OF_RANGE")
        else {
            return Err(status);
        };
        if let Some(id) = info.metadata.get("database_id") {
            let _ = self.database_id.set(id.clone());
        }
        let number = |key: &str| info.metadata.get(key).and_then(|v| v.parse().ok());
        match (number("head_revision"), number("oldest_revision")) {
            (Some(head), Some(oldest)) => Ok(Position { head, oldest }),
            _ => Err(status),
        }
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

/// Whether a status came from the writer itself (every duckgrid error
/// carries an `ErrorInfo` of its domain) rather than from the way there.
/// A MALFORMED_MESSAGE is this edge's own decoder refusing the writer's
/// answer: not the caller's fault, and not the writer's word.
fn from_duckgrid(status: &tonic::Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|i| i.domain == ERROR_DOMAIN && i.reason != MALFORMED_MESSAGE)
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
    if is_malformed(&status) {
        Error::Internal(format!(
            "the writer's answer could not be decoded: {}",
            status.message()
        ))
    } else if transport_failure(&status) {
        Error::WriterUnavailable {
            message: format!("the writer is unavailable: {}", status.message()),
            request_id: None,
        }
    } else {
        Error::Passthrough(status)
    }
}

fn is_malformed(status: &tonic::Status) -> bool {
    status
        .get_details_error_info()
        .is_some_and(|i| i.reason == MALFORMED_MESSAGE)
}
