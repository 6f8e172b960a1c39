//! Rolling fact changes up into sheet cells.
//!
//! The writer keeps a summary of every sheet (one row per cell) current by
//! applying deltas: a write changes some facts, those changes are summed per
//! leaf row and month, then rolled up to every ancestor row and to the total
//! column. The cells with a non-zero delta are exactly the cells whose value
//! changed. Pure arithmetic over the model; the store applies the result.

use std::collections::HashMap;

use crate::decimal::Units;
use crate::model::{Col, MAX_DIMENSIONS, MAX_MEASURES, Model, RowRef};

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
    pub row: RowRef,
    pub col: Col,
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
        let dim = &model.dimensions[sheet.dimension];
        let depth = sheet.depth();
        // First per (leaf row, month): one hash update per fact...
        let mut leaf_cells: HashMap<(u32, u16), Acc> = HashMap::new();
        for f in facts {
            let row = dim.ancestor(depth - 1, f.keys[sheet.dimension]);
            leaf_cells
                .entry((row, f.month))
                .or_default()
                .add(i64::from(f.created), &f.values);
        }
        // ...then up the (much smaller) set of touched leaf cells.
        let mut cells: HashMap<(RowRef, Col), Acc> = HashMap::new();
        for (&(leaf_row, month), acc) in &leaf_cells {
            let mut member = leaf_row;
            for d in (0..=depth).rev() {
                let row = RowRef {
                    depth: d as u8,
                    member: if d == 0 { 0 } else { member },
                };
                for col in [Col::Month(month), Col::Total] {
                    cells
                        .entry((row, col))
                        .or_default()
                        .add(acc.facts, &acc.values);
                }
                if d >= 1 {
                    member = dim.levels[d - 1][member as usize].parent;
                }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests_support::tiny_model;

    fn fact(product: u32, customer: u32, month: u16, q: Units, a: Units) -> FactDelta {
        FactDelta {
            keys: [product, customer, 0, 0],
            month,
            created: false,
            values: [q, a, 0, 0],
        }
    }

    #[test]
    fn a_leaf_change_reaches_every_ancestor_and_the_total_column() {
        let model = tiny_model();
        let cells = rollup(&model, &[fact(0, 0, 1, 5, 0)]);
        // Product sheet: 4 rows (grand total, supplier, brand, family) x 2
        // columns; region sheet: 3 rows x 2 columns.
        assert_eq!(cells.len(), 4 * 2 + 3 * 2);
        assert!(cells.iter().all(|c| c.values[0] == 5 && c.values[1] == 0));
        assert!(
            cells
                .iter()
                .any(|c| c.sheet == 0 && c.row == RowRef::GRAND_TOTAL && c.col == Col::Total)
        );
    }

    #[test]
    fn opposite_changes_under_one_parent_cancel_out_above_it() {
        let model = tiny_model();
        // Products 0 and 1 are in different families of the same brand.
        let cells = rollup(&model, &[fact(0, 0, 0, 5, 0), fact(1, 0, 0, -5, 0)]);
        let product_sheet: Vec<_> = cells.iter().filter(|c| c.sheet == 0).collect();
        assert!(
            product_sheet.iter().all(|c| c.row.depth == 3),
            "only the two families changed"
        );
        assert_eq!(product_sheet.len(), 4);
        // On the region sheet both facts are in the same city: nothing changed.
        assert!(cells.iter().all(|c| c.sheet == 0));
    }
}
