//! Watch validation and snapshots for an edge, by its writer.
//!
//! The model never changes while the writer runs, so what the writer said
//! once holds: the sheets (with their measures) are asked for once, and
//! each selection the writer has confirmed (sheet, row path, measures) is
//! remembered. A storm of reconnecting watchers then validates locally; only
//! a selection never seen before, and snapshots, reach the writer.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::OnceCell;

use super::writer::{WriterLink, from_writer};
use crate::error::{Error, Result, quoted};
use crate::model::{TOTAL_COLUMN, row_path_too_deep};
use crate::proto::v1 as pb;
use crate::watch::{SheetSource, WatchRequest};

/// Confirmed selections remembered (beyond this the memory starts over).
const KNOWN_SELECTIONS: usize = 4096;

/// A selection the writer confirmed: sheet, row path, measures (sorted).
type SelectionKey = (String, Vec<String>, Vec<String>);

/// Validation and snapshots by the writer.
pub struct RemoteSheets {
    writer: Arc<WriterLink>,
    sheets: OnceCell<Vec<pb::Sheet>>,
    confirmed: Mutex<HashSet<SelectionKey>>,
}

impl RemoteSheets {
    pub fn new(writer: Arc<WriterLink>) -> Self {
        Self {
            writer,
            sheets: OnceCell::new(),
            confirmed: Mutex::new(HashSet::new()),
        }
    }

    /// Every sheet of the model, asked for once.
    async fn sheets(&self) -> Result<&[pb::Sheet]> {
        let sheets = self
            .sheets
            .get_or_try_init(|| async {
                let mut sheets = Vec::new();
                let mut page_token = String::new();
                loop {
                    let page = self
                        .writer
                        .grid
                        .clone()
                        .list_sheets(pb::ListSheetsRequest {
                            page_size: 0,
                            page_token,
                        })
                        .await
                        .map_err(from_writer)?
                        .into_inner();
                    sheets.extend(page.sheets);
                    if page.next_page_token.is_empty() {
                        return Ok::<_, Error>(sheets);
                    }
                    page_token = page.next_page_token;
                }
            })
            .await?;
        Ok(sheets)
    }

    /// Asks the writer whether a sheet selection exists (its own error
    /// codes and messages), remembering a yes.
    async fn confirm(&self, key: SelectionKey) -> Result<()> {
        if self.confirmed.lock().expect("selections").contains(&key) {
            return Ok(());
        }
        let (name, row_path, measures) = key.clone();
        // One column and the selection's measures keep the answer small.
        self.writer
            .grid
            .clone()
            .get_sheet(pb::GetSheetRequest {
                name,
                row_path,
                columns: vec![TOTAL_COLUMN.to_owned()],
                measures,
                revision: None,
            })
            .await
            .map_err(from_writer)?;
        let mut confirmed = self.confirmed.lock().expect("selections");
        if confirmed.len() >= KNOWN_SELECTIONS {
            confirmed.clear();
        }
        confirmed.insert(key);
        Ok(())
    }
}

impl SheetSource for RemoteSheets {
    fn resolve<'a>(
        &'a self,
        r: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>> {
        async move {
            let sheets = self.sheets().await?;
            // Every sheet's measures (a watch of every sheet may name any).
            let mut known: Vec<&str> = Vec::new();
            for m in sheets.iter().flat_map(|s| &s.measures) {
                if !known.contains(&m.name.as_str()) {
                    known.push(&m.name);
                }
            }
            let request = WatchRequest::from_proto(r, known.len())?;
            let measures = &request.selection.measures;
            if r.sheet.is_empty() {
                if let Some(m) = measures.iter().find(|m| !known.contains(&m.as_str())) {
                    return Err(Error::not_found(format!(
                        "measure {} does not exist (measures: {})",
                        quoted(m),
                        known.join(", ")
                    )));
                }
            } else {
                // Deeper than the sheet: refused here, never sent on.
                if let Some(sheet) = sheets.iter().find(|s| s.name == r.sheet)
                    && r.row_path.len() > sheet.row_levels.len()
                {
                    return Err(row_path_too_deep(
                        &r.row_path,
                        &sheet.name,
                        sheet.row_levels.len(),
                    ));
                }
                let mut sorted = measures.clone();
                sorted.sort();
                self.confirm((r.sheet.clone(), r.row_path.clone(), sorted))
                    .await?;
            }
            Ok(request)
        }
        .boxed()
    }

    fn snapshot<'a>(&'a self, q: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>> {
        async move {
            let response = self
                .writer
                .grid
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
