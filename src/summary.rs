//! The sheet summary: every cell of every sheet, in memory, so reads never
//! aggregate millions of facts and writes never run SQL for their roll-up.
//!
//! It is a cache with one invariant: it always equals a fresh GROUPING SETS
//! recomputation from the facts (`store::summary::recompute_sql`). It is
//! built that way when the server starts, then kept current by the writer,
//! which applies each write's rolled-up deltas to its working copy and, after
//! the commit, publishes the copy as an immutable [`Snapshot`] together with
//! the revision it reflects. Readers take the current snapshot (an `Arc`
//! clone under a lock held for nanoseconds): they never wait behind the
//! writer, and a grid and its revision always belong together.

use std::sync::{Arc, RwLock};

use crate::decimal::Units;
use crate::model::{Col, MAX_MEASURES, Model, RowRef};
use crate::rollup::CellDelta;

/// One cell: how many facts lie beneath it and the sum of each measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellValue {
    pub facts: i64,
    pub values: [Units; MAX_MEASURES],
}

/// The cells of one sheet, dense: rows in (depth, member) order, then columns.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SheetCells {
    /// The index of the first row of each depth.
    depth_offsets: Vec<usize>,
    cols: usize,
    cells: Vec<CellValue>,
}

/// Every cell of every sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    sheets: Vec<SheetCells>,
}

impl Summary {
    /// An all-empty summary shaped for `model`.
    pub fn empty(model: &Model) -> Self {
        let cols = model.months.count as usize + 1;
        let sheets = model
            .sheets
            .iter()
            .map(|s| {
                let dim = &model.dimensions[s.dimension];
                let mut depth_offsets = vec![0, 1];
                for level in &dim.levels[..s.depth()] {
                    depth_offsets.push(depth_offsets.last().unwrap() + level.len());
                }
                let rows = depth_offsets.pop().unwrap();
                SheetCells {
                    depth_offsets,
                    cols,
                    cells: vec![CellValue::default(); rows * cols],
                }
            })
            .collect();
        Summary { sheets }
    }

    fn index(&self, model: &Model, sheet: usize, row: RowRef, col: Col) -> usize {
        let s = &self.sheets[sheet];
        (s.depth_offsets[row.depth as usize] + row.member as usize) * s.cols
            + model.col_index(col) as usize
    }

    /// A cell, or `None` when it has no facts (an empty cell).
    pub fn cell(&self, model: &Model, sheet: usize, row: RowRef, col: Col) -> Option<CellValue> {
        let v = self.sheets[sheet].cells[self.index(model, sheet, row, col)];
        (v.facts > 0).then_some(v)
    }

    /// Sets a cell (used when loading from the database).
    pub fn set(&mut self, model: &Model, sheet: usize, row: RowRef, col: Col, value: CellValue) {
        let i = self.index(model, sheet, row, col);
        self.sheets[sheet].cells[i] = value;
    }

    /// Adds cell deltas; returns each touched cell's new value, in order.
    pub fn apply(&mut self, model: &Model, deltas: &[CellDelta]) -> Vec<CellValue> {
        deltas
            .iter()
            .map(|d| {
                let i = self.index(model, d.sheet, d.row, d.col);
                let cell = &mut self.sheets[d.sheet].cells[i];
                cell.facts += d.facts;
                for (v, dv) in cell.values.iter_mut().zip(d.values) {
                    *v += dv;
                }
                *cell
            })
            .collect()
    }
}

/// The summary at a committed revision.
#[derive(Debug)]
pub struct Snapshot {
    pub revision: i64,
    pub summary: Summary,
}

/// The latest committed snapshot, shared by the writer (which replaces it
/// after every commit) and every reader.
#[derive(Debug)]
pub struct Published(RwLock<Arc<Snapshot>>);

impl Published {
    pub fn new(snapshot: Snapshot) -> Self {
        Published(RwLock::new(Arc::new(snapshot)))
    }

    /// The latest committed snapshot.
    pub fn current(&self) -> Arc<Snapshot> {
        Arc::clone(&self.0.read().expect("snapshot lock"))
    }

    /// Replaces the snapshot (the writer, after a commit).
    pub fn publish(&self, snapshot: Arc<Snapshot>) {
        *self.0.write().expect("snapshot lock") = snapshot;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests_support::tiny_model;

    #[test]
    fn deltas_accumulate_and_empty_cells_read_as_none() {
        let model = tiny_model();
        let mut s = Summary::empty(&model);
        let family = RowRef {
            depth: 3,
            member: 1,
        };
        assert_eq!(s.cell(&model, 0, family, Col::Total), None);
        let delta = CellDelta {
            sheet: 0,
            row: family,
            col: Col::Total,
            facts: 2,
            values: [5, 700, 0, 0],
        };
        let after = s.apply(&model, &[delta, delta]);
        assert_eq!(after[1].facts, 4);
        assert_eq!(
            s.cell(&model, 0, family, Col::Total).unwrap().values[1],
            1400
        );
        assert_eq!(
            s.cell(
                &model,
                0,
                RowRef {
                    depth: 3,
                    member: 0
                },
                Col::Total
            ),
            None
        );
    }
}
