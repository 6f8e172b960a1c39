//! Rolling fact changes up into sheet cells.
//!
//! The writer keeps a summary of every sheet (one entry per cell) current
//! by applying deltas: a write changes some facts, those changes are summed
//! per (deepest row, month) of each sheet, then rolled up to every ancestor
//! row and into every column the month belongs to (its quarter, year,
//! total). The cells with a non-zero delta are exactly the cells whose
//! value changed. Pure arithmetic over the model; the summary applies it.

use std::collections::HashMap;

use crate::decimal::Units;
use crate::model::{MAX_DIMENSIONS, MAX_MEASURES, Model};

/// How one fact changed: its dimension keys and month, the change of each
/// measure, and whether it is a new fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FactDelta {
    pub keys: [u32; MAX_DIMENSIONS],
    pub month: u16,
    pub created: bool,
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

#[derive(Default, Clone, Copy)]
struct Acc {
    facts: i64,
    values: [Units; MAX_MEASURES],
}

impl Acc {
    fn add(&mut self, facts: i64, values: &[Units; MAX_MEASURES]) {
        self.facts += facts;
        for (a, v) in self.values.iter_mut().zip(values) {
            *a += v;
        }
    }

    fn is_zero(&self) -> bool {
        self.facts == 0 && self.values.iter().all(|v| *v == 0)
    }
}

/// Sums fact changes into the cells of every sheet. Cells whose delta is
/// zero (changes that cancel out) are left out.
pub fn rollup(model: &Model, facts: &[FactDelta]) -> Vec<CellDelta> {
    let mut out = Vec::new();
    for (sheet_index, sheet) in model.sheets.iter().enumerate() {
        // First per (deepest row, month): one hash update per fact...
        let mut deepest: HashMap<(u32, u16), Acc> = HashMap::new();
        for f in facts {
            if let Some(row) = sheet.deepest_row(&model.dimensions, &f.keys) {
                deepest
                    .entry((row, f.month))
                    .or_default()
                    .add(i64::from(f.created), &f.values);
            }
        }
        // ...then up the (much smaller) set of touched rows.
        let mut cells: HashMap<(u32, u16), Acc> = HashMap::new();
        for (&(row, month), acc) in &deepest {
            let mut r = row;
            loop {
                for &col in sheet.columns_of(month) {
                    cells
                        .entry((r, col))
                        .or_default()
                        .add(acc.facts, &acc.values);
                }
                if r == 0 {
                    break;
                }
                r = sheet.rows[r as usize].parent;
            }
        }
        out.extend(
            cells
                .into_iter()
                .filter(|(_, acc)| !acc.is_zero())
                .map(|((row, col), acc)| CellDelta {
                    sheet: sheet_index,
                    row,
                    col,
                    facts: acc.facts,
                    values: acc.values,
                }),
        );
    }
    out.sort_unstable_by_key(|c| (c.sheet, c.row, c.col));
    out
}
