//! Reading a sheet as a grid: what `GetSheet` returns and what a watch
//! snapshot starts with.

use crate::error::{Error, Result};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::summary::Snapshot;

/// A validated grid request: a sheet, narrowed to the subtree under `root`,
/// to some columns and to some measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridQuery {
    pub sheet: usize,
    pub root: u32,
    pub cols: Vec<u16>,
    pub measures: Vec<usize>,
}

/// Refuses a list of names longer than the model could need (as many as
/// it has distinct ones), before reading any entry: a request must not
/// make the server parse a million repetitions of one name.
pub fn check_list_len(what: &str, len: usize, available: usize) -> Result<()> {
    if len > available {
        return Err(Error::invalid(format!(
            "{what} lists {len} names; there are only {available}"
        )));
    }
    Ok(())
}

impl GridQuery {
    /// Resolves names into a query. Empty `columns` or `measures` mean all
    /// of the sheet's; duplicates are ignored (but a list may not be longer
    /// than the distinct names the sheet has).
    pub fn resolve(
        model: &Model,
        sheet: &str,
        row_path: &[String],
        columns: &[String],
        measures: &[String],
    ) -> Result<Self> {
        if sheet.is_empty() {
            return Err(Error::invalid("sheet name is required"));
        }
        let sheet = model.resolve_sheet(sheet)?;
        let root = model.resolve_row(sheet, row_path)?;
        let s = &model.sheets[sheet];
        check_list_len("columns", columns.len(), s.columns.len())?;
        check_list_len("measures", measures.len(), s.def.measures.len())?;
        let mut cols = Vec::new();
        for key in columns {
            let col = model.resolve_column(sheet, key)?;
            if !cols.contains(&col) {
                cols.push(col);
            }
        }
        if cols.is_empty() {
            cols = (0..s.columns.len() as u16).collect();
        }
        let mut ms = Vec::new();
        for name in measures {
            let m = model.resolve_measure(sheet, name)?;
            if !ms.contains(&m) {
                ms.push(m);
            }
        }
        if ms.is_empty() {
            ms = s.def.measures.clone();
        }
        Ok(Self {
            sheet,
            root,
            cols,
            measures: ms,
        })
    }
}

/// The grid of a committed snapshot.
pub fn read(snapshot: &Snapshot, model: &Model, q: &GridQuery) -> pb::Grid {
    let summary = &snapshot.summary;
    let sheet = &model.sheets[q.sheet];
    let end = sheet.rows[q.root as usize].end;
    let rows = (q.root..end)
        .map(|r| {
            let row = &sheet.rows[r as usize];
            pb::Row {
                path: sheet.path(r),
                leaf: row.leaf,
                measures: q
                    .measures
                    .iter()
                    .map(|&m| pb::MeasureValues {
                        measure: model.def.measures[m].name.clone(),
                        values: q
                            .cols
                            .iter()
                            .map(|&c| match summary.cell(q.sheet, r, c) {
                                Some(v) => model.format(m, v.values[m]),
                                None => String::new(),
                            })
                            .collect(),
                    })
                    .collect(),
                caption: row.caption.clone().unwrap_or_default(),
            }
        })
        .collect();
    pb::Grid {
        sheet: model.sheet_name(q.sheet),
        revision: snapshot.revision,
        columns: q
            .cols
            .iter()
            .map(|&c| sheet.columns[c as usize].key.clone())
            .collect(),
        rows,
    }
}
