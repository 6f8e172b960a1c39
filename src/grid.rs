//! Reading a sheet as a grid: what `GetSheet` returns and what a watch
//! snapshot starts with.

use crate::error::{Error, Result};
use crate::model::{Col, Model, RowRef};
use crate::proto::v1 as pb;
use crate::summary::Snapshot;

/// A validated grid request: a sheet, narrowed to the subtree under `root`,
/// to some columns and to some measures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridQuery {
    pub sheet: usize,
    pub root: RowRef,
    pub cols: Vec<Col>,
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
    /// of them; duplicates are ignored (but a list may not be longer than
    /// the distinct names the model has).
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
        check_list_len("columns", columns.len(), model.columns().count())?;
        check_list_len("measures", measures.len(), model.measures.len())?;
        let mut cols = Vec::new();
        for key in columns {
            let col = model.resolve_column(key)?;
            if !cols.contains(&col) {
                cols.push(col);
            }
        }
        if cols.is_empty() {
            cols = model.columns().collect();
        }
        let mut ms = Vec::new();
        for name in measures {
            let m = model.resolve_measure(name)?;
            if !ms.contains(&m) {
                ms.push(m);
            }
        }
        if ms.is_empty() {
            ms = (0..model.measures.len()).collect();
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
    let dim = &model.dimensions[sheet.dimension];
    let depth = sheet.depth() as u8;
    let rows = dim
        .rows_preorder(depth, q.root.depth, q.root.member)
        .into_iter()
        .map(|(d, member)| {
            let row = RowRef { depth: d, member };
            pb::Row {
                path: dim.path(d, member),
                leaf: d == depth,
                measures: q
                    .measures
                    .iter()
                    .map(|&m| pb::MeasureValues {
                        measure: model.measures[m].name.to_owned(),
                        values: q
                            .cols
                            .iter()
                            .map(|&c| match summary.cell(model, q.sheet, row, c) {
                                Some(v) => model.format(m, v.values[m]),
                                None => String::new(),
                            })
                            .collect(),
                    })
                    .collect(),
            }
        })
        .collect();
    pb::Grid {
        sheet: sheet.name(),
        revision: snapshot.revision,
        columns: q.cols.iter().map(|&c| model.column_key(c)).collect(),
        rows,
    }
}
