//! The sheet summary: every cell of every sheet, in memory, so reads never
//! aggregate millions of facts and writes never run SQL for their roll-up.
//!
//! It is a cache with one invariant: it always equals a fresh aggregation
//! of the facts (the tests check it against a GROUPING SETS query). It is
//! computed from the writer's copy of the facts when the server starts,
//! then kept current by the writer, which applies each write's rolled-up
//! deltas to its working copy and, after the commit, publishes the copy as
//! an immutable [`Snapshot`] together with the revision it reflects.
//! Readers take the current snapshot (an `Arc` clone under a lock held for
//! nanoseconds): they never wait behind the writer, and a grid and its
//! revision always belong together.
//!
//! The cells are kept in shared chunks of [`CHUNK`], copied on write: the
//! writer's working copy of a commit shares every chunk with the snapshot
//! before it but those the commit changes, so a commit costs the cells it
//! touches, not the size of the model.

use std::sync::{Arc, RwLock};

use crate::decimal::Units;
use crate::model::{MAX_MEASURES, Model};
use crate::rollup::{CellDelta, RowMonths};
use crate::writer::Mirror;

/// One cell: how many facts lie beneath it and the sum of each measure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CellValue {
    pub facts: i64,
    pub values: [Units; MAX_MEASURES],
}

impl CellValue {
    pub(crate) fn add(&mut self, facts: i64, values: &[Units; MAX_MEASURES]) {
        self.facts += facts;
        for (v, dv) in self.values.iter_mut().zip(values) {
            *v += dv;
        }
    }

    pub(crate) fn is_zero(&self) -> bool {
        self.facts == 0 && self.values.iter().all(|v| *v == 0)
    }
}

/// Cells per shared chunk (about 10 KB: a leaf write copies a dozen).
const CHUNK: usize = 128;

/// The cells of one sheet, dense: rows (in the sheet's order), then
/// columns, in chunks of [`CHUNK`] shared between summaries until one of
/// them changes a cell of the chunk.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SheetCells {
    cols: usize,
    chunks: Vec<Arc<Vec<CellValue>>>,
}

impl SheetCells {
    fn new(rows: usize, cols: usize) -> Self {
        let len = rows * cols;
        let chunks = (0..len.div_ceil(CHUNK))
            .map(|c| Arc::new(vec![CellValue::default(); CHUNK.min(len - c * CHUNK)]))
            .collect();
        SheetCells { cols, chunks }
    }

    fn get(&self, i: usize) -> CellValue {
        self.chunks[i / CHUNK][i % CHUNK]
    }

    /// A cell to change: its chunk is copied first if another summary
    /// shares it.
    fn get_mut(&mut self, i: usize) -> &mut CellValue {
        &mut Arc::make_mut(&mut self.chunks[i / CHUNK])[i % CHUNK]
    }
}

/// Every cell of every sheet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    sheets: Vec<SheetCells>,
}

impl Summary {
    /// An all-empty summary shaped for `model`.
    pub fn empty(model: &Model) -> Self {
        let sheets = model
            .sheets
            .iter()
            .map(|s| SheetCells::new(s.rows.len(), s.columns.len()))
            .collect();
        Summary { sheets }
    }

    /// Every cell computed from the facts, the way a large write's changes
    /// are rolled up (see [`RowMonths`]).
    pub fn compute(model: &Model, mirror: &Mirror) -> Self {
        let mut summary = Summary::empty(model);
        let months = model.def.months.count as usize;
        for (i, sheet) in model.sheets.iter().enumerate() {
            let mut sums = RowMonths::new(sheet, months);
            mirror.for_each(|keys, month, values| sums.add(keys, month, 1, values));
            let cells = &mut summary.sheets[i];
            sums.into_cells(|row, col, cell| {
                *cells.get_mut(row as usize * cells.cols + col as usize) = cell;
            });
        }
        summary
    }

    /// A copy of one sheet's cells (the others left empty: only that
    /// sheet may be read or changed in it).
    pub fn one_sheet(&self, sheet: usize) -> Self {
        let sheets = self
            .sheets
            .iter()
            .enumerate()
            .map(|(i, s)| SheetCells {
                cols: s.cols,
                chunks: if i == sheet {
                    s.chunks.clone()
                } else {
                    Vec::new()
                },
            })
            .collect();
        Summary { sheets }
    }

    fn index(&self, sheet: usize, row: u32, col: u16) -> usize {
        row as usize * self.sheets[sheet].cols + col as usize
    }

    /// A cell, or `None` when it has no facts (an empty cell).
    pub fn cell(&self, sheet: usize, row: u32, col: u16) -> Option<CellValue> {
        let v = self.sheets[sheet].get(self.index(sheet, row, col));
        (v.facts > 0).then_some(v)
    }

    /// Adds cell deltas; returns each touched cell's new value, in order.
    pub fn apply(&mut self, deltas: &[CellDelta]) -> Vec<CellValue> {
        deltas
            .iter()
            .map(|d| {
                let i = self.index(d.sheet, d.row, d.col);
                let cell = self.sheets[d.sheet].get_mut(i);
                cell.add(d.facts, &d.values);
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
    use crate::model::tests::tiny_model;
    use crate::rollup::{FactDelta, rollup};
    use crate::store::facts::NewFact;

    fn fact(id: i64, product: u32, customer: u32, month: u16, q: Units, a: Units) -> NewFact {
        NewFact {
            fact_id: id,
            month,
            keys: [product, customer, 0, 0],
            values: [q, a, 0, 0],
        }
    }

    /// Computing every cell from the facts equals adding them one by one as
    /// the writer does.
    #[test]
    fn computing_from_the_facts_equals_rolling_them_up() {
        let model = tiny_model();
        let facts = [
            fact(0, 0, 0, 0, 5, 100),
            fact(1, 1, 0, 2, 3, 250),
            fact(2, 2, 1, 4, 7, -40),
            fact(3, 0, 1, 4, 1, 1),
        ];
        let computed = Summary::compute(&model, &crate::writer::Mirror::from_facts(&model, &facts));
        let mut rolled = Summary::empty(&model);
        let deltas: Vec<FactDelta> = facts
            .iter()
            .map(|f| FactDelta {
                keys: f.keys,
                month: f.month,
                facts: 1,
                values: f.values,
            })
            .collect();
        rolled.apply(&rollup(&model, &deltas));
        assert_eq!(computed, rolled);
        // The grand total of the product sheet's total column.
        let total = model.sheets[0].column("total").unwrap();
        let cell = computed.cell(0, 0, total).unwrap();
        assert_eq!((cell.facts, cell.values[0], cell.values[1]), (4, 16, 311));
        // Only North's facts on the filtered sheet.
        let north = computed
            .cell(2, 0, model.sheets[2].column("total").unwrap())
            .unwrap();
        assert_eq!(north.facts, 2);
        // The nested sheet: North > Alpha > S0 > B0 holds facts 0 and 1.
        let s = &model.sheets[1];
        let row = s
            .find_row(&["North".into(), "Alpha".into(), "S0".into(), "B0".into()])
            .unwrap();
        assert_eq!(
            computed
                .cell(1, row, s.column("total").unwrap())
                .unwrap()
                .facts,
            2
        );
        // Quarter Q1 2025 of the same row: fact 1 is in January.
        assert_eq!(
            computed
                .cell(1, row, s.column("2025-Q1").unwrap())
                .unwrap()
                .facts,
            1
        );
    }

    /// A copy shares every chunk; a change copies only the chunk it is
    /// in, and the original keeps its value.
    #[test]
    fn a_copy_changed_in_one_cell_shares_every_other_chunk() {
        let original = SheetCells::new(100, 25);
        assert_eq!(original.chunks.len(), (100 * 25usize).div_ceil(CHUNK));
        let mut copy = original.clone();
        let i = 2 * CHUNK + 3;
        copy.get_mut(i).add(1, &[7, 0, 0, 0]);
        assert_eq!(copy.get(i).values[0], 7);
        assert_eq!(
            original.get(i),
            CellValue::default(),
            "the original is unchanged"
        );
        let shared: Vec<bool> = original
            .chunks
            .iter()
            .zip(&copy.chunks)
            .map(|(a, b)| Arc::ptr_eq(a, b))
            .collect();
        let expected: Vec<bool> = (0..shared.len()).map(|c| c != 2).collect();
        assert_eq!(shared, expected);
    }

    #[test]
    fn opposite_changes_cancel_out_above_where_they_meet() {
        let model = tiny_model();
        // Products 0 and 1 are in different families of the same brand.
        let change = |product, q| FactDelta {
            keys: [product, 0, 0, 0],
            month: 0,
            facts: 0,
            values: [q, 0, 0, 0],
        };
        let cells = rollup(&model, &[change(0, 5), change(1, -5)]);
        let by_family: Vec<_> = cells.iter().filter(|c| c.sheet == 0).collect();
        // Only the two families, in the month and the total column.
        assert_eq!(by_family.len(), 4);
        assert!(by_family.iter().all(|c| model.sheets[0].depth(c.row) == 3));
    }
}
