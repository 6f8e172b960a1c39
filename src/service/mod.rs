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

use crate::auth::Caller;
use crate::edit::{Revert, RevertTarget, WriteRequest, check_id_length};
use crate::error::{Error, Result, quoted};
use crate::grid::GridQuery;
use crate::history;
use crate::model::{ColumnKind, Model};
use crate::proto::v1 as pb;
use crate::proto::v1::grid_service_server::GridService;
use crate::store::ReadPool;
use crate::summary::Published;
use crate::telemetry;
use crate::watch;
use crate::writer::{WriteOutcome, WriterHandle};

mod reply;
mod revert;

pub use reply::WriteRoute;

/// The request metadata naming who writes (until authentication exists).
pub const ACTOR_HEADER: &str = "x-duckgrid-actor";
/// The request metadata naming the client session a write belongs to
/// (what Undo can be scoped to).
pub const SESSION_HEADER: &str = "x-duckgrid-session";
/// The actor of requests without one.
pub const ANONYMOUS: &str = "anonymous";

/// The service's shared state.
pub struct GridApi {
    pub model: Arc<Model>,
    /// The summary at the latest committed revision.
    pub published: Arc<Published>,
    pub writer: WriterHandle,
    /// Connections for reading the changelog and the fact history.
    pub pool: Arc<ReadPool>,
}

/// Puts a write's request id on its RPC span (before validation: an
/// over-long one is cut for the log).
fn record_request_id(id: &str) {
    if !id.is_empty() {
        tracing::Span::current().record("request_id", telemetry::clip(id, 128));
    }
}

/// Who a write came from, for the audit log.
struct Who<'a> {
    caller: &'a Caller,
    peer: Option<std::net::SocketAddr>,
}

/// The caller of a write and the actor it records: the authenticated
/// subject, or `x-duckgrid-actor` (an admin's, or anyone's with auth off).
fn caller_and_actor<T>(request: &Request<T>) -> Result<(Caller, String)> {
    let caller = Caller::of(request)?;
    let actor = caller.actor(header(request, ACTOR_HEADER)?)?;
    Ok((caller, actor))
}

/// An identifier from the request metadata (trimmed; `None` when absent
/// or empty).
fn header<T>(request: &Request<T>, name: &str) -> Result<Option<String>> {
    let Some(v) = request.metadata().get(name) else {
        return Ok(None);
    };
    let value = v
        .to_str()
        .map_err(|_| Error::invalid(format!("{name} must be printable ASCII")))?
        .trim();
    check_id_length(name, value)?;
    Ok(Some(value.to_owned()).filter(|a| !a.is_empty()))
}

impl GridApi {
    /// Checks the sheets of every cell and hold against the caller's
    /// grants, before anything is resolved (a sheet it may not read is
    /// refused the same whether it exists or not).
    fn authorize(&self, caller: &Caller, edits: &[pb::CellEdit]) -> Result<()> {
        for edit in edits {
            if let Some(cell) = &edit.cell {
                caller.write(&cell.sheet)?;
            }
            for hold in &edit.holds {
                caller.read(&hold.sheet)?;
            }
        }
        Ok(())
    }

    /// Refuses writes to aggregate cells (a row with rows beneath it, or a
    /// column adding up months) by a caller without the right to spread.
    fn authorize_spreads(&self, caller: &Caller, edits: &[crate::edit::Edit]) -> Result<()> {
        for edit in edits {
            let cell = &edit.cell;
            let sheet = &self.model.sheets[cell.sheet];
            let aggregate = !sheet.rows[cell.row as usize].leaf
                || sheet.columns[cell.col as usize].kind != ColumnKind::Month;
            if aggregate {
                caller.spread(&self.model.describe(cell))?;
            }
        }
        Ok(())
    }

    /// Hands a write to the writer, and records it in the audit log (who,
    /// with which key, from where, through which RPC).
    async fn write(
        &self,
        rpc: &'static str,
        who: Who<'_>,
        request: WriteRequest,
    ) -> Result<WriteOutcome> {
        let started = Instant::now();
        let actor = request.actor.clone();
        let outcome = self.writer.write(request).await?;
        tracing::info!(
            target: "duckgrid::audit",
            outcome = "committed",
            rpc,
            revision = outcome.event.revision,
            %actor,
            principal = who.caller.principal().map_or("-", |p| p.id.as_str()),
            via = who.caller.edge().map_or("-", |e| e.id.as_str()),
            peer = %who.peer.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            replayed = outcome.replayed,
            facts_changed = outcome.facts_changed,
            elapsed_us = started.elapsed().as_micros() as u64,
            "write committed"
        );
        Ok(outcome)
    }

    /// UpdateCell and BatchUpdateCells: the edits (and request id) of the
    /// request, authorized (grants, the right to spread), written.
    async fn write_edits<T>(
        &self,
        rpc: &'static str,
        request: Request<T>,
        edits_of: impl FnOnce(T) -> Result<(Vec<pb::CellEdit>, String)>,
    ) -> Result<WriteOutcome> {
        let (caller, actor) = caller_and_actor(&request)?;
        let session = header(&request, SESSION_HEADER)?;
        let peer = caller.peer(request.remote_addr());
        let (edits, request_id) = edits_of(request.into_inner())?;
        record_request_id(&request_id);
        self.authorize(&caller, &edits)?;
        let request = WriteRequest::new(&self.model, edits, request_id, actor)?
            .scoped(caller.scope())
            .in_session(session);
        self.authorize_spreads(&caller, &request.edits)?;
        let who = Who {
            caller: &caller,
            peer,
        };
        let outcome = self.write(rpc, who, request).await?;
        tracing::Span::current().record("revision", outcome.event.revision);
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
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        // Only the sheets the caller may read exist for it.
        let visible: Vec<usize> = (0..self.model.sheets.len())
            .filter(|&i| caller.read(&self.model.sheet_name(i)).is_ok())
            .collect();
        let total = visible.len();
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
            sheets: visible[start..end]
                .iter()
                .map(|&i| self.describe_sheet(i))
                .collect(),
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
        let caller = Caller::of(&request)?;
        let r = request.into_inner();
        caller.read(&r.name)?;
        let query = GridQuery::resolve(&self.model, &r.name, &r.row_path, &r.columns, &r.measures)?;
        let snapshot = self.published.current();
        let grid = history::grid_at(&self.pool, &self.model, snapshot, query, r.revision).await?;
        tracing::Span::current().record("revision", grid.revision);
        Ok(Response::new(pb::GetSheetResponse { grid: Some(grid) }))
    }

    async fn update_cell(
        &self,
        _request: Request<pb::UpdateCellRequest>,
    ) -> Result<Response<pb::UpdateCellResponse>, Status> {
        Err(reply::unrouted())
    }

    async fn batch_update_cells(
        &self,
        _request: Request<pb::BatchUpdateCellsRequest>,
    ) -> Result<Response<pb::BatchUpdateCellsResponse>, Status> {
        Err(reply::unrouted())
    }

    async fn list_revisions(
        &self,
        request: Request<pb::ListRevisionsRequest>,
    ) -> Result<Response<pb::ListRevisionsResponse>, Status> {
        let caller = Caller::of(&request)?;
        let page = history::list(&self.pool, &self.model, caller, request.into_inner()).await?;
        Ok(Response::new(page))
    }

    async fn get_revision(
        &self,
        request: Request<pb::GetRevisionRequest>,
    ) -> Result<Response<pb::GetRevisionResponse>, Status> {
        let caller = Caller::of(&request)?;
        let revision = history::get(&self.pool, caller, request.get_ref().revision).await?;
        Ok(Response::new(pb::GetRevisionResponse {
            revision: Some(revision),
        }))
    }

    async fn revert_revision(
        &self,
        request: Request<pb::RevertRevisionRequest>,
    ) -> Result<Response<pb::RevertRevisionResponse>, Status> {
        let revision = self
            .revert("RevertRevision", request, |r| {
                let target = RevertTarget::Revision(r.revision);
                let revert = Revert {
                    target,
                    overwrite: r.overwrite,
                };
                (revert, r.expected_head, r.request_id.clone())
            })
            .await?;
        Ok(Response::new(pb::RevertRevisionResponse {
            revision: Some(revision),
        }))
    }

    async fn undo(
        &self,
        request: Request<pb::UndoRequest>,
    ) -> Result<Response<pb::UndoResponse>, Status> {
        let revision = self
            .revert("Undo", request, |r| {
                let session = Some(r.session_id.clone()).filter(|s| !s.is_empty());
                let revert = Revert {
                    target: RevertTarget::LatestOf {
                        session,
                        authorized: None,
                    },
                    overwrite: r.overwrite,
                };
                (revert, r.expected_head, r.request_id.clone())
            })
            .await?;
        Ok(Response::new(pb::UndoResponse {
            revision: Some(revision),
        }))
    }

    type WatchUpdatesStream = watch::Unrouted;

    async fn watch_updates(
        &self,
        _: Request<pb::WatchUpdatesRequest>,
    ) -> Result<Response<Self::WatchUpdatesStream>, Status> {
        Err(watch::unrouted())
    }
}
