//! Edge processes: watch-only servers without a database.
//!
//! `duckgrid serve --role edge --writer URL --redis-url URL` serves
//! `WatchUpdates` to any number of subscribers from the Redis stream and
//! forwards everything else (`ListSheets`, `GetSheet`, `UpdateCell`,
//! `BatchUpdateCells`) to the writer, so clients can talk to any process.
//! A snapshot-first watch takes its snapshot from the writer (the sheet at
//! revision R) and replays R + 1 onwards from the stream. History the stream
//! no longer retains comes from the writer's changelog through the writer's
//! own `WatchUpdates`. Subscribers on the writer and on every edge see the
//! identical sequence: all of them read the one stream.

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::Client;
use futures::FutureExt;
use futures::future::BoxFuture;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

use crate::error::{Error, Result};
use crate::feed::{EventRef, History, redis};
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_client::GridServiceClient;
use crate::proto::v1::grid_service_server::GridService;
use crate::service::ACTOR_HEADER;
use crate::watch::{SheetSource, WatchRequest, WatchStream, Watches};

/// How long an edge waits for the writer on one call.
const WRITER_TIMEOUT: Duration = Duration::from_secs(30);

/// A lazily connected client of the writer.
pub fn writer_client(url: &str) -> Result<GridServiceClient<Channel>> {
    let url = if url.contains("://") {
        url.to_owned()
    } else {
        format!("http://{url}")
    };
    let endpoint = Endpoint::from_shared(url.clone())
        .map_err(|e| Error::invalid(format!("writer url {url:?}: {e}")))?
        .tcp_nodelay(true)
        .connect_timeout(Duration::from_secs(5))
        .timeout(WRITER_TIMEOUT);
    Ok(GridServiceClient::new(endpoint.connect_lazy())
        .max_decoding_message_size(256 * 1024 * 1024)
        .max_encoding_message_size(256 * 1024 * 1024))
}

/// A writer's error, passed through; a transport failure is UNAVAILABLE.
fn from_writer(status: Status) -> Error {
    match status.code() {
        tonic::Code::Unavailable | tonic::Code::Unknown | tonic::Code::Cancelled => {
            Error::Unavailable {
                reason: "WRITER_UNAVAILABLE",
                message: format!("the writer is unavailable: {}", status.message()),
                resume_revision: None,
            }
        }
        _ => Error::Passthrough(status),
    }
}

/// The writer's head revision (cheaply: one column of one measure).
pub async fn writer_head(mut writer: GridServiceClient<Channel>) -> Result<i64> {
    let sheets = writer
        .list_sheets(pb::ListSheetsRequest {
            page_size: 1,
            page_token: String::new(),
        })
        .await
        .map_err(from_writer)?
        .into_inner();
    let sheet = sheets
        .sheets
        .first()
        .ok_or_else(|| Error::Internal("the writer has no sheets".into()))?;
    let grid = writer
        .get_sheet(pb::GetSheetRequest {
            name: sheet.name.clone(),
            row_path: Vec::new(),
            columns: vec![crate::model::TOTAL_COLUMN.to_owned()],
            measures: sheet
                .measures
                .iter()
                .take(1)
                .map(|m| m.name.clone())
                .collect(),
        })
        .await
        .map_err(from_writer)?
        .into_inner();
    Ok(grid.grid.map_or(0, |g| g.revision))
}

/// Validation and snapshots by the writer.
pub struct RemoteSheets {
    pub writer: GridServiceClient<Channel>,
}

impl SheetSource for RemoteSheets {
    fn resolve<'a>(
        &'a self,
        r: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>> {
        async move {
            let request = WatchRequest::from_proto(r)?;
            let mut writer = self.writer.clone();
            if !r.sheet.is_empty() {
                // The writer checks sheet, row path and measures, with its
                // own error codes; one total column keeps the answer small.
                writer
                    .get_sheet(pb::GetSheetRequest {
                        name: r.sheet.clone(),
                        row_path: r.row_path.clone(),
                        columns: vec![crate::model::TOTAL_COLUMN.to_owned()],
                        measures: r.measures.clone(),
                    })
                    .await
                    .map_err(from_writer)?;
            } else if !r.measures.is_empty() {
                let sheets = writer
                    .list_sheets(pb::ListSheetsRequest::default())
                    .await
                    .map_err(from_writer)?
                    .into_inner();
                let known: Vec<&str> = sheets
                    .sheets
                    .first()
                    .map(|s| s.measures.iter().map(|m| m.name.as_str()).collect())
                    .unwrap_or_default();
                if let Some(m) = r.measures.iter().find(|m| !known.contains(&m.as_str())) {
                    return Err(Error::not_found(format!(
                        "measure {m:?} does not exist (measures: {})",
                        known.join(", ")
                    )));
                }
            }
            Ok(request)
        }
        .boxed()
    }

    fn snapshot<'a>(&'a self, q: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>> {
        async move {
            let response = self
                .writer
                .clone()
                .get_sheet(q.clone())
                .await
                .map_err(from_writer)?;
            response
                .into_inner()
                .grid
                .ok_or_else(|| Error::Internal("the writer sent no grid".into()))
        }
        .boxed()
    }
}

/// History for edges: the stream while it retains the revisions, then the
/// writer's changelog (through the writer's WatchUpdates).
pub struct EdgeHistory {
    pub redis: Client,
    pub stream: String,
    pub writer: GridServiceClient<Channel>,
}

impl History for EdgeHistory {
    fn events(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        async move {
            match redis::stream_range(&self.redis, &self.stream, from, limit).await {
                Ok(events) if events.first().is_some_and(|e| e.revision == from) => {
                    // Stop at a gap (never skip a revision).
                    let n = events
                        .iter()
                        .zip(from..)
                        .take_while(|(e, r)| e.revision == *r)
                        .count();
                    Ok(events.into_iter().take(n).collect())
                }
                // Trimmed, lost, or Redis is down: ask the writer.
                _ => self.ask_writer(from, limit).await,
            }
        }
        .boxed()
    }
}

impl EdgeHistory {
    async fn ask_writer(&self, from: i64, limit: usize) -> Result<Vec<EventRef>> {
        let head = writer_head(self.writer.clone()).await?;
        if from > head {
            return Ok(Vec::new());
        }
        let mut stream = self
            .writer
            .clone()
            .watch_updates(pb::WatchUpdatesRequest {
                start_revision: from,
                ..Default::default()
            })
            .await
            .map_err(from_writer)?
            .into_inner();
        let last = head.min(from + limit as i64 - 1);
        let mut events = Vec::new();
        let read = async {
            while let Some(message) = stream.message().await.map_err(from_writer)? {
                if let Some(pb::watch_updates_response::Kind::Change(change)) = message.kind {
                    let revision = change.revision;
                    events.push(Arc::new(crate::feed::Event { revision, change }));
                    if revision >= last {
                        break;
                    }
                }
            }
            Ok::<_, Error>(())
        };
        // The writer has every revision up to `head`: this only waits long
        // when the writer is in trouble, and then a watch should fail, not hang.
        tokio::time::timeout(WRITER_TIMEOUT, read)
            .await
            .map_err(|_| Error::Unavailable {
                reason: "WRITER_UNAVAILABLE",
                message: format!("the writer did not replay revisions {from}..={last} in time"),
                resume_revision: Some(from),
            })??;
        Ok(events)
    }
}

/// The GridService of an edge: forwards to the writer, watches locally.
pub struct EdgeApi {
    pub writer: GridServiceClient<Channel>,
    pub watches: Arc<Watches>,
}

/// Copies a request for the writer, keeping who is writing.
fn forward<T>(request: Request<T>) -> Request<T> {
    let actor = request.metadata().get(ACTOR_HEADER).cloned();
    let mut forwarded = Request::new(request.into_inner());
    if let Some(actor) = actor {
        forwarded.metadata_mut().insert(ACTOR_HEADER, actor);
    }
    forwarded
}

#[tonic::async_trait]
impl GridService for EdgeApi {
    async fn list_sheets(
        &self,
        request: Request<pb::ListSheetsRequest>,
    ) -> Result<Response<pb::ListSheetsResponse>, Status> {
        self.writer.clone().list_sheets(forward(request)).await
    }

    async fn get_sheet(
        &self,
        request: Request<pb::GetSheetRequest>,
    ) -> Result<Response<pb::GetSheetResponse>, Status> {
        self.writer.clone().get_sheet(forward(request)).await
    }

    async fn update_cell(
        &self,
        request: Request<pb::UpdateCellRequest>,
    ) -> Result<Response<pb::UpdateCellResponse>, Status> {
        self.writer.clone().update_cell(forward(request)).await
    }

    async fn batch_update_cells(
        &self,
        request: Request<pb::BatchUpdateCellsRequest>,
    ) -> Result<Response<pb::BatchUpdateCellsResponse>, Status> {
        self.writer
            .clone()
            .batch_update_cells(forward(request))
            .await
    }

    type WatchUpdatesStream = WatchStream;

    async fn watch_updates(
        &self,
        request: Request<pb::WatchUpdatesRequest>,
    ) -> Result<Response<Self::WatchUpdatesStream>, Status> {
        Ok(Response::new(self.watches.start(request.get_ref()).await?))
    }
}
