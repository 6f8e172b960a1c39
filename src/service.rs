//! The gRPC service: `duckgrid.v1.GridService`.
//!
//! A thin edge: each call validates its request into domain types (so bad
//! input fails here, before touching anything), reads the published summary
//! or hands the request to the writer or the watch hub, and converts the
//! result back. Every error
//! goes through the one `From<Error> for Status` mapping.

use std::sync::Arc;
use std::time::Instant;

use tonic::{Request, Response, Status};

use crate::edit::{WriteRequest, check_id_length};
use crate::error::{Error, Result, quoted};
use crate::grid::{self, GridQuery};
use crate::model::{ColumnKind, Model};
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_server::GridService;
use crate::summary::Published;
use crate::telemetry;
use crate::watch::{WatchStream, Watches};
use crate::writer::{WriteOutcome, WriterHandle};

/// The request metadata naming who writes (until authentication exists).
pub const ACTOR_HEADER: &str = "x-duckgrid-actor";
/// The actor of requests without one.
pub const ANONYMOUS: &str = "anonymous";

/// The service's shared state.
pub struct GridApi {
    pub model: Arc<Model>,
    /// The summary at the latest committed revision.
    pub published: Arc<Published>,
    pub writer: WriterHandle,
    pub watches: Arc<Watches>,
}

/// Puts a write's request id on its RPC span (before validation: an
/// over-long one is cut for the log).
fn record_request_id(id: &str) {
    if !id.is_empty() {
        tracing::Span::current().record("request_id", telemetry::clip(id, 128));
    }
}

fn actor<T>(request: &Request<T>) -> Result<String> {
    match request.metadata().get(ACTOR_HEADER) {
        None => Ok(ANONYMOUS.to_owned()),
        Some(v) => {
            let actor = v
                .to_str()
                .map_err(|_| Error::invalid(format!("{ACTOR_HEADER} must be printable ASCII")))?
                .trim();
            check_id_length(ACTOR_HEADER, actor)?;
            Ok(if actor.is_empty() { ANONYMOUS } else { actor }.to_owned())
        }
    }
}

impl GridApi {
    async fn write(&self, request: WriteRequest) -> Result<WriteOutcome> {
        let started = Instant::now();
        let actor = request.actor.clone();
        let outcome = self.writer.write(request).await?;
        tracing::info!(
            revision = outcome.event.revision,
            %actor,
            replayed = outcome.replayed,
            facts_changed = outcome.event.change.results.iter().map(|r| r.facts_changed).sum::<i64>(),
            elapsed_us = started.elapsed().as_micros() as u64,
            "write committed"
        );
        Ok(outcome)
    }

    /// The contract's description of a sheet, from the model.
    fn describe_sheet(&self, index: usize) -> pb::Sheet {
        let model = &self.model;
        let sheet = &model.sheets[index];
        let mut row_levels = Vec::new();
        for axis in &sheet.def.rows {
            let def = &model.def.dimensions[axis.dimension];
            let dim = &model.dimensions[axis.dimension];
            for (i, level) in def.levels[..axis.depth].iter().enumerate() {
                row_levels.push(pb::Level {
                    name: level.name.clone(),
                    display_name: level.display_name.clone(),
                    member_count: i64::from(dim.level_count(i)),
                    dimension: def.name.clone(),
                });
            }
        }
        let columns = sheet
            .columns
            .iter()
            .map(|col| pb::Column {
                key: col.key.clone(),
                display_name: col.display_name.clone(),
                total: col.kind == ColumnKind::Total,
                period_start: model.month_start(col.months.start).to_string(),
                period_end: model.month_start(col.months.end).to_string(),
                kind: match col.kind {
                    ColumnKind::Month => pb::ColumnKind::Month,
                    ColumnKind::Quarter => pb::ColumnKind::Quarter,
                    ColumnKind::Year => pb::ColumnKind::Year,
                    ColumnKind::Total => pb::ColumnKind::Total,
                } as i32,
            })
            .collect();
        let measures = sheet
            .def
            .measures
            .iter()
            .map(|&m| {
                let m = &model.def.measures[m];
                pb::Measure {
                    name: m.name.clone(),
                    display_name: m.display_name.clone(),
                    scale: m.scale as i32,
                    min_value: m
                        .min
                        .map(|v| crate::decimal::format(v, m.scale))
                        .unwrap_or_default(),
                }
            })
            .collect();
        let filters = sheet
            .def
            .filters
            .iter()
            .map(|f| pb::SheetFilter {
                dimension: model.def.dimensions[f.dimension].name.clone(),
                member: f.path.clone(),
            })
            .collect();
        pb::Sheet {
            name: model.sheet_name(index),
            display_name: sheet.def.display_name.clone(),
            row_count: sheet.rows.len() as i64,
            row_levels,
            columns,
            measures,
            filters,
        }
    }
}

#[tonic::async_trait]
impl GridService for GridApi {
    async fn list_sheets(
        &self,
        request: Request<pb::ListSheetsRequest>,
    ) -> Result<Response<pb::ListSheetsResponse>, Status> {
        let r = request.into_inner();
        let total = self.model.sheets.len();
        if r.page_size < 0 {
            return Err(Error::invalid("page_size cannot be negative").into());
        }
        let start = match r.page_token.as_str() {
            "" => 0,
            token => token
                .parse::<usize>()
                .ok()
                .filter(|s| *s < total)
                .ok_or_else(|| {
                    Error::invalid(format!(
                        "page_token {} is not one this server issued",
                        quoted(token)
                    ))
                })?,
        };
        let size = if r.page_size == 0 {
            total
        } else {
            r.page_size as usize
        };
        let end = (start + size).min(total);
        Ok(Response::new(pb::ListSheetsResponse {
            sheets: (start..end).map(|i| self.describe_sheet(i)).collect(),
            next_page_token: if end < total {
                end.to_string()
            } else {
                String::new()
            },
        }))
    }

    async fn get_sheet(
        &self,
        request: Request<pb::GetSheetRequest>,
    ) -> Result<Response<pb::GetSheetResponse>, Status> {
        let r = request.into_inner();
        let query = GridQuery::resolve(&self.model, &r.name, &r.row_path, &r.columns, &r.measures)?;
        let grid = grid::read(&self.published.current(), &self.model, &query);
        tracing::Span::current().record("revision", grid.revision);
        Ok(Response::new(pb::GetSheetResponse { grid: Some(grid) }))
    }

    async fn update_cell(
        &self,
        request: Request<pb::UpdateCellRequest>,
    ) -> Result<Response<pb::UpdateCellResponse>, Status> {
        let actor = actor(&request)?;
        let r = request.into_inner();
        let edit = r.edit.ok_or_else(|| Error::invalid("edit is required"))?;
        record_request_id(&r.request_id);
        let request = WriteRequest::new(&self.model, vec![edit], r.request_id, actor)?;
        let outcome = self.write(request).await?;
        let change = &outcome.event.change;
        tracing::Span::current().record("revision", change.revision);
        Ok(Response::new(pb::UpdateCellResponse {
            revision: change.revision,
            result: change.results.first().cloned(),
            changes: change.changes.clone(),
        }))
    }

    async fn batch_update_cells(
        &self,
        request: Request<pb::BatchUpdateCellsRequest>,
    ) -> Result<Response<pb::BatchUpdateCellsResponse>, Status> {
        let actor = actor(&request)?;
        let r = request.into_inner();
        record_request_id(&r.request_id);
        let request = WriteRequest::new(&self.model, r.edits, r.request_id, actor)?;
        let outcome = self.write(request).await?;
        let change = &outcome.event.change;
        tracing::Span::current().record("revision", change.revision);
        Ok(Response::new(pb::BatchUpdateCellsResponse {
            revision: change.revision,
            results: change.results.clone(),
            changes: change.changes.clone(),
        }))
    }

    type WatchUpdatesStream = WatchStream;

    async fn watch_updates(
        &self,
        request: Request<pb::WatchUpdatesRequest>,
    ) -> Result<Response<Self::WatchUpdatesStream>, Status> {
        self.watches.serve(request).await
    }
}
