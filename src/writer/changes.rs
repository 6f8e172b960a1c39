//! The cells a request changed, as its change event lists them: each with
//! its value before and after.

use std::collections::BTreeMap;

use crate::model::{MAX_MEASURES, Model};
use crate::proto::v1 as pb;
use crate::rollup::CellDelta;
use crate::summary::CellValue;

/// The cells a request touched: each one's value before the request and
/// after it. A cell is listed (per measure) only if what a client reads
/// changed: a batch that writes a cell and then writes it back lists
/// nothing for it.
#[derive(Debug, Default)]
pub struct Changes {
    /// (sheet, row, column) -> (before the request, now).
    cells: BTreeMap<(usize, u32, u16), (CellValue, CellValue)>,
}

/// How a cell's measure reads: `None` for an empty cell (no facts).
fn shown(cell: &CellValue, measure: usize) -> Option<i128> {
    (cell.facts > 0).then_some(cell.values[measure])
}

impl Changes {
    /// Records rolled-up deltas and the touched cells' values after them.
    pub fn record(&mut self, deltas: &[CellDelta], rows: &[CellValue]) {
        for (d, now) in deltas.iter().zip(rows) {
            let entry = self
                .cells
                .entry((d.sheet, d.row, d.col))
                .or_insert_with(|| {
                    let mut before = *now;
                    before.facts -= d.facts;
                    for (v, dv) in before.values.iter_mut().zip(d.values) {
                        *v -= dv;
                    }
                    (before, *now)
                });
            entry.1 = *now;
        }
    }

    /// The changes as the contract shows them, grouped by sheet, each
    /// sheet's in its own measure order.
    pub fn to_proto(&self, model: &Model) -> Vec<pb::SheetChanges> {
        let mut out: Vec<pb::SheetChanges> = Vec::new();
        for (&(sheet, row, col), (before, now)) in &self.cells {
            // Only the measures the sheet shows: a sheet of amounts lists
            // no headcount, whatever its cells add up.
            let def = &model.sheets[sheet];
            let mut changed = def
                .def
                .measures
                .iter()
                .copied()
                .filter(|&m| m < MAX_MEASURES && shown(before, m) != shown(now, m))
                .peekable();
            if changed.peek().is_none() {
                continue;
            }
            if out.last().is_none_or(|s| s.sheet != def.name) {
                out.push(pb::SheetChanges {
                    sheet: def.name.clone(),
                    cells: Vec::new(),
                });
            }
            let cells = &mut out.last_mut().expect("pushed above").cells;
            let mut path = Some(def.path(row));
            let column = &def.columns[col as usize].key;
            let shown = |cell, m| {
                shown(cell, m)
                    .map(|v| model.format(m, v))
                    .unwrap_or_default()
            };
            while let Some(m) = changed.next() {
                // The last measure takes the path itself: events are built
                // for every revision, a string per row level each.
                let row_path = match changed.peek() {
                    Some(_) => path.clone(),
                    None => path.take(),
                };
                cells.push(pb::CellChange {
                    row_path: row_path.expect("taken by the last measure only"),
                    column: column.clone(),
                    measure: model.def.measures[m].name.clone(),
                    value: shown(now, m),
                    previous_value: shown(before, m),
                });
            }
        }
        out
    }
}
