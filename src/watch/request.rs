//! What a watch asks for: validated requests and selections, and where
//! they are validated (this process's model, or the writer's for edges).

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use prost::bytes::{BufMut, Bytes, BytesMut};

use crate::error::{Error, Result};
use crate::feed::Event;
use crate::grid::{self, GridQuery, check_list_len};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::summary::Published;

/// What a watch selects: a sheet, a subtree of it, some measures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `sheets/{id}`; `None` selects every sheet.
    pub sheet: Option<String>,
    /// Only rows whose path starts with this one.
    pub row_prefix: Vec<String>,
    /// Only these measures (distinct); empty selects all.
    pub measures: Vec<String>,
    /// Only the edits (and their results) on the selected sheet: for a
    /// caller who may not read every sheet.
    pub only_its_edits: bool,
}

impl Selection {
    fn selects_everything(&self) -> bool {
        self.sheet.is_none() && self.row_prefix.is_empty() && self.measures.is_empty()
    }

    /// The `WatchUpdatesResponse` carrying the selected part of `event`,
    /// encoded: what every watch with this selection sends (see
    /// [`crate::feed::Event::encoded`]).
    pub fn encode(&self, event: &Event) -> Bytes {
        if self.selects_everything() {
            let bytes = event.bytes();
            return wrap_change(bytes.len(), |out| out.put_slice(bytes));
        }
        let filtered = self.filter(event.change());
        wrap_change(filtered.encoded_len(), |out| {
            filtered.encode(out).expect("the buffer was sized for it")
        })
    }

    /// The event with only the selected cells.
    pub fn filter(&self, event: &pb::ChangeEvent) -> pb::ChangeEvent {
        if self.selects_everything() {
            return event.clone();
        }
        let changes = event
            .changes
            .iter()
            .filter(|s| self.sheet.as_ref().is_none_or(|name| *name == s.sheet))
            .map(|s| pb::SheetChanges {
                sheet: s.sheet.clone(),
                cells: s
                    .cells
                    .iter()
                    .filter(|c| c.row_path.starts_with(&self.row_prefix))
                    .filter(|c| self.measures.is_empty() || self.measures.contains(&c.measure))
                    .cloned()
                    .collect(),
            })
            .filter(|s| !s.cells.is_empty())
            .collect();
        let (edits, results) = match (&self.sheet, self.only_its_edits) {
            (Some(sheet), true) => event
                .edits
                .iter()
                .zip(&event.results)
                .filter(|(e, _)| e.cell.as_ref().is_some_and(|c| c.sheet == *sheet))
                .map(|(e, r)| (e.clone(), r.clone()))
                .unzip(),
            _ => (event.edits.clone(), event.results.clone()),
        };
        pb::ChangeEvent {
            revision: event.revision,
            commit_time: event.commit_time,
            actor: event.actor.clone(),
            request_id: event.request_id.clone(),
            edits,
            results,
            changes,
            reverts_revision: event.reverts_revision,
            session_id: event.session_id.clone(),
        }
    }
}

/// `WatchUpdatesResponse { kind: Change(change) }` around a `ChangeEvent`
/// of `len` encoded bytes that `write` puts in, without building the
/// response: `change` is field 2 of the oneof, length-delimited.
fn wrap_change(len: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
    const CHANGE_TAG: u8 = (2 << 3) | 2;
    let size = 1 + prost::length_delimiter_len(len) + len;
    let mut bytes = BytesMut::with_capacity(size);
    bytes.put_u8(CHANGE_TAG);
    prost::encode_length_delimiter(len, &mut bytes).expect("the buffer was sized for it");
    write(&mut bytes);
    debug_assert_eq!(bytes.len(), size, "the event is {len} bytes");
    bytes.freeze()
}

/// A validated watch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRequest {
    pub selection: Selection,
    /// The first revision to deliver; 0 means "from now on".
    pub start: i64,
    /// Send this grid first (snapshot-then-changes).
    pub snapshot: Option<pb::GetSheetRequest>,
}

impl WatchRequest {
    /// Checks what needs no model but how many measures it has, and builds
    /// the request (measures deduplicated) from names.
    pub fn from_proto(r: &pb::WatchUpdatesRequest, measure_count: usize) -> Result<Self> {
        if r.start_revision < 0 {
            return Err(Error::invalid("start_revision cannot be negative"));
        }
        if r.sheet.is_empty() && (!r.row_path.is_empty() || r.send_snapshot) {
            return Err(Error::invalid("row_path and send_snapshot need a sheet"));
        }
        if r.send_snapshot && r.start_revision != 0 {
            return Err(Error::invalid(
                "send_snapshot and start_revision exclude each other: the snapshot decides where changes start",
            ));
        }
        check_list_len("measures", r.measures.len(), measure_count)?;
        let mut measures: Vec<String> = Vec::with_capacity(r.measures.len());
        for m in &r.measures {
            if !measures.contains(m) {
                measures.push(m.clone());
            }
        }
        let sheet = Some(r.sheet.clone()).filter(|s| !s.is_empty());
        Ok(Self {
            snapshot: r.send_snapshot.then(|| pb::GetSheetRequest {
                name: r.sheet.clone(),
                row_path: r.row_path.clone(),
                columns: Vec::new(),
                measures: measures.clone(),
                revision: None,
            }),
            selection: Selection {
                sheet,
                row_prefix: r.row_path.clone(),
                measures,
                only_its_edits: false,
            },
            start: r.start_revision,
        })
    }
}

/// Where watches are validated and snapshots read: this process's summary
/// (the writer) or the writer over gRPC (edges, see `crate::edge`).
pub trait SheetSource: Send + Sync + 'static {
    /// Validates a watch request: names exist, with the right error codes.
    fn resolve<'a>(
        &'a self,
        request: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>>;
    /// The grid a snapshot-first watch starts with.
    fn snapshot<'a>(&'a self, query: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>>;
}

/// The writer's own summary.
pub struct LocalSheets {
    pub model: Arc<Model>,
    pub published: Arc<Published>,
}

impl SheetSource for LocalSheets {
    fn resolve<'a>(
        &'a self,
        r: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>> {
        let model = &self.model;
        let resolved = WatchRequest::from_proto(r, model.def.measures.len()).and_then(|request| {
            let measures = &request.selection.measures;
            if !r.sheet.is_empty() {
                GridQuery::resolve(model, &r.sheet, &r.row_path, &[], measures)?;
            } else if let Some(m) = measures.iter().find(|m| model.measure_index(m).is_none()) {
                let known: Vec<&str> = model.def.measures.iter().map(|m| m.name.as_str()).collect();
                return Err(Error::not_found(format!(
                    "measure {} does not exist (measures: {})",
                    crate::error::quoted(m),
                    known.join(", ")
                )));
            }
            Ok(request)
        });
        futures::future::ready(resolved).boxed()
    }

    fn snapshot<'a>(&'a self, q: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>> {
        let grid = GridQuery::resolve(&self.model, &q.name, &q.row_path, &q.columns, &q.measures)
            .map(|query| grid::read(&self.published.current(), &self.model, &query));
        futures::future::ready(grid).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> pb::ChangeEvent {
        let cell = |region: &str, measure: &str| pb::CellChange {
            row_path: vec![region.into()],
            column: "2024-01".into(),
            measure: measure.into(),
            value: "12.50".into(),
            previous_value: "10.00".into(),
        };
        pb::ChangeEvent {
            revision: 7,
            commit_time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            actor: "ana".into(),
            request_id: "r-7".into(),
            changes: vec![pb::SheetChanges {
                sheet: "sheets/s".into(),
                cells: vec![cell("North", "net_amount"), cell("South", "units")],
            }],
            ..Default::default()
        }
    }

    #[test]
    fn an_encoded_change_is_the_response_prost_would_send() {
        use pb::watch_updates_response::Kind;
        let event = event();
        let shared = Event::new(event.revision, event.clone());
        let narrow = Selection {
            sheet: Some("sheets/s".into()),
            row_prefix: vec!["North".into()],
            ..Default::default()
        };
        for selection in [Selection::default(), narrow] {
            let expected = pb::WatchUpdatesResponse {
                kind: Some(Kind::Change(selection.filter(&event))),
            };
            assert_eq!(selection.encode(&shared), expected.encode_to_vec());
        }
    }
}
