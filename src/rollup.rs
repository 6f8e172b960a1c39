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
    (0..model.sheets.len())
        .flat_map(|sheet| rollup_sheet(model, sheet, facts))
        .collect()
}

/// The same for one sheet.
pub fn rollup_sheet(model: &Model, sheet_index: usize, facts: &[FactDelta]) -> Vec<CellDelta> {
    let months = model.def.months.count as usize;
    let sheet = &model.sheets[sheet_index];
    let mut out = Vec::new();
    let mut push = |row, col, cell: CellValue| {
        out.push(CellDelta {
            sheet: sheet_index,
            row,
            col,
            facts: cell.facts,
            values: cell.values,
        })
    };
    // The dense array costs its size whatever the write; below an eighth
    // of it, the hash maps are cheaper.
    if facts.len() * 8 >= sheet.rows.len() * months {
        let mut sums = RowMonths::new(sheet, months);
        for f in facts {
            sums.add(&f.keys, f.month, f.facts, &f.values);
        }
        sums.into_cells(push);
    } else {
        sparse(sheet, facts, &mut push);
    }
    out
}

/// The same sums through hash maps of the touched cells only.
fn sparse(sheet: &Sheet, facts: &[FactDelta], push: &mut impl FnMut(u32, u16, CellValue)) {
    // First per (deepest row, month): one hash update per fact...
    let mut deepest: HashMap<(u32, u16), CellValue> = HashMap::default();
    for f in facts {
        if let Some(row) = sheet.deepest_row(&f.keys) {
            deepest
                .entry((row, f.month))
                .or_default()
                .add(f.facts, &f.values);
        }
    }
    // ...then up the (much smaller) set of touched rows.
    let mut cells: HashMap<(u32, u16), CellValue> = HashMap::default();
    for (&(row, month), sum) in &deepest {
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
