//! Rolling fact changes up into sheet cells.
//!
//! The writer keeps a summary of every sheet (one entry per cell) current
//! by applying deltas: a write changes some facts, those changes are summed
//! per (deepest row, month) of each sheet, then rolled up to every ancestor
//! row and into every column the month belongs to (its quarter, year,
//! total). The cells with a non-zero delta are exactly the cells whose
//! value changed. Pure arithmetic over the model; the summary applies it.
//!
//! Two ways to the same sums: a few changed facts go through hash maps of
//! the cells they touch; many (a subtotal's spread) through a dense array
//! of every (row, month), which is also how the summary is first computed.

use rustc_hash::FxHashMap as HashMap;

use crate::decimal::Units;
use crate::model::{MAX_DIMENSIONS, MAX_MEASURES, Model, Sheet};
use crate::summary::CellValue;

/// How one fact changed: its dimension keys and month, the change of each
/// measure, and whether it appeared (1: created or brought back) or went
/// (-1: removed).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactDelta {
    pub keys: [u32; MAX_DIMENSIONS],
    pub month: u16,
    pub facts: i64,
    pub values: [Units; MAX_MEASURES],
}

/// How one sheet cell (all measures) changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CellDelta {
    pub sheet: usize,
    pub row: u32,
    pub col: u16,
    /// New facts beneath the cell.
    pub facts: i64,
    pub values: [Units; MAX_MEASURES],
}

/// Sums over every (row, month) of one sheet, dense.
pub struct RowMonths<'a> {
    sheet: &'a Sheet,
    months: usize,
    sums: Vec<CellValue>,
}

impl<'a> RowMonths<'a> {
    pub fn new(sheet: &'a Sheet, months: usize) -> Self {
        RowMonths {
            sheet,
            months,
            sums: vec![CellValue::default(); sheet.rows.len() * months],
        }
    }

    /// Adds a fact (or a fact's change) to its deepest row, if the sheet
    /// shows it.
    pub fn add(&mut self, keys: &[u32], month: u16, facts: i64, values: &[Units; MAX_MEASURES]) {
        if let Some(row) = self.sheet.deepest_row(keys) {
            self.sums[row as usize * self.months + month as usize].add(facts, values);
        }
    }

    /// Every non-zero cell: the rows summed up the tree (a sheet's rows are
    /// in pre-order, so going backwards adds each child before its parent
    /// is read), then each month into its columns. In (row, column) order.
    pub fn into_cells(mut self, mut f: impl FnMut(u32, u16, CellValue)) {
        let (sheet, months) = (self.sheet, self.months);
        for row in (1..sheet.rows.len()).rev() {
            let parent = sheet.rows[row].parent as usize;
            for m in 0..months {
                let cell = self.sums[row * months + m];
                self.sums[parent * months + m].add(cell.facts, &cell.values);
            }
        }
        let mut cols = vec![CellValue::default(); sheet.columns.len()];
        for row in 0..sheet.rows.len() {
            cols.fill(CellValue::default());
            for m in 0..months {
                let cell = self.sums[row * months + m];
                if cell.is_zero() {
                    continue;
                }
                for &col in sheet.columns_of(m as u16) {
                    cols[col as usize].add(cell.facts, &cell.values);
                }
            }
            for (col, cell) in cols.iter().enumerate() {
                if !cell.is_zero() {
                    f(row as u32, col as u16, *cell);
                }
            }
        }
    }
}

/// Sums fact changes into the cells of every sheet, ordered by (sheet,
/// row, column). Cells whose delta is zero (changes that cancel out) are
/// left out.
pub fn rollup(model: &Model, facts: &[FactDelta]) -> Vec<CellDelta> {
    rollup_each(model, facts.len(), facts.iter().copied())
}

/// The same over `count` changes made on the fly, in one pass for every
/// sheet: a spread over 1,000,000 facts would otherwise collect ~100 MB of
/// them first, and read them once per sheet.
pub fn rollup_each(
    model: &Model,
    count: usize,
    facts: impl Iterator<Item = FactDelta>,
) -> Vec<CellDelta> {
    let mut sums: Vec<Sums> = (0..model.sheets.len())
        .map(|sheet| Sums::new(model, sheet, count))
        .collect();
    for f in facts {
        for s in &mut sums {
            s.add(&f);
        }
    }
    sums.into_iter().flat_map(Sums::into_cells).collect()
}

/// The same for one sheet.
pub fn rollup_sheet(model: &Model, sheet_index: usize, facts: &[FactDelta]) -> Vec<CellDelta> {
    let mut sums = Sums::new(model, sheet_index, facts.len());
    for f in facts {
        sums.add(f);
    }
    sums.into_cells()
}

/// One sheet's sums of changes, per (deepest row, month).
enum Sums<'a> {
    /// The dense array: it costs its size whatever the write.
    Dense(usize, RowMonths<'a>),
    /// Hash maps of the touched cells only: cheaper below an eighth of
    /// the dense array.
    Sparse(usize, &'a Sheet, HashMap<(u32, u16), CellValue>),
}

impl<'a> Sums<'a> {
    fn new(model: &'a Model, sheet_index: usize, count: usize) -> Self {
        let months = model.def.months.count as usize;
        let sheet = &model.sheets[sheet_index];
        if count * 8 >= sheet.rows.len() * months {
            Sums::Dense(sheet_index, RowMonths::new(sheet, months))
        } else {
            Sums::Sparse(sheet_index, sheet, HashMap::default())
        }
    }

    fn add(&mut self, f: &FactDelta) {
        match self {
            Sums::Dense(_, sums) => sums.add(&f.keys, f.month, f.facts, &f.values),
            Sums::Sparse(_, sheet, deepest) => {
                if let Some(row) = sheet.deepest_row(&f.keys) {
                    deepest
                        .entry((row, f.month))
                        .or_default()
                        .add(f.facts, &f.values);
                }
            }
        }
    }

    /// The sheet's changed cells, in (row, column) order.
    fn into_cells(self) -> Vec<CellDelta> {
        let mut out = Vec::new();
        let sheet_index = match &self {
            Sums::Dense(i, _) | Sums::Sparse(i, _, _) => *i,
        };
        let mut push = |row, col, cell: CellValue| {
            out.push(CellDelta {
                sheet: sheet_index,
                row,
                col,
                facts: cell.facts,
                values: cell.values,
            })
        };
        match self {
            Sums::Dense(_, sums) => sums.into_cells(push),
            Sums::Sparse(_, sheet, deepest) => up_the_rows(sheet, &deepest, &mut push),
        }
        out
    }
}

/// The sparse sums of the deepest rows added up the (much smaller) set of
/// touched rows and into the columns of their months.
fn up_the_rows(
    sheet: &Sheet,
    deepest: &HashMap<(u32, u16), CellValue>,
    push: &mut impl FnMut(u32, u16, CellValue),
) {
    let mut cells: HashMap<(u32, u16), CellValue> = HashMap::default();
    for (&(row, month), sum) in deepest {
        let mut r = row;
        loop {
            for &col in sheet.columns_of(month) {
                cells
                    .entry((r, col))
                    .or_default()
                    .add(sum.facts, &sum.values);
            }
            if r == 0 {
                break;
            }
            r = sheet.rows[r as usize].parent;
        }
    }
    let mut cells: Vec<_> = cells.into_iter().filter(|(_, c)| !c.is_zero()).collect();
    cells.sort_unstable_by_key(|(key, _)| *key);
    for ((row, col), cell) in cells {
        push(row, col, cell);
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::model::tests::tiny_model;

    /// Both ways to a sheet's sums, over the same changes.
    fn both(model: &Model, sheet: usize, facts: &[FactDelta]) -> [Vec<CellDelta>; 2] {
        let months = model.def.months.count as usize;
        let s = &model.sheets[sheet];
        [
            Sums::Dense(sheet, RowMonths::new(s, months)),
            Sums::Sparse(sheet, s, HashMap::default()),
        ]
        .map(|mut sums| {
            for f in facts {
                sums.add(f);
            }
            sums.into_cells()
        })
    }

    proptest! {
        /// The hash maps of the touched cells give exactly the cells, in
        /// the order, that the dense array gives, on every sheet (nested
        /// rows, quarters and years, a filter), whatever cancels out.
        #[test]
        fn the_sparse_sums_are_the_dense_sums(
            changes in prop::collection::vec(
                (0u32..4, 0u32..3, 0u16..5, -1i64..=1, -1_000i128..1_000),
                0..40,
            )
        ) {
            let model = tiny_model();
            let facts: Vec<FactDelta> = changes
                .iter()
                .map(|&(product, customer, month, facts, value)| FactDelta {
                    keys: [product, customer, 0, 0],
                    month,
                    facts,
                    values: [value, -value, 0, 0],
                })
                .collect();
            for sheet in 0..model.sheets.len() {
                let [dense, sparse] = both(&model, sheet, &facts);
                prop_assert_eq!(dense, sparse, "sheet {}", sheet);
            }
        }
    }
}
