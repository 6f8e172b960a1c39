//! The model: its definition ([`def`], read from a model file by [`file`]),
//! the dimensions' members loaded from the database ([`dimension`]), and
//! the sheets built over them ([`sheet`]). Immutable once built and shared
//! as `Arc<Model>` by every request.
//!
//! Architecture invariant: the leaves of a dimension are numbered in
//! hierarchy order, so every member covers one contiguous range of leaf
//! keys. A cell's facts are therefore a conjunction of key ranges and a
//! month range: no joins on the write path.

mod address;
pub mod def;
mod dimension;
pub mod file;
pub mod months;
pub mod sheet;
#[cfg(test)]
pub mod tests;

pub use address::{AtomFilter, CellAddr, HoldSet, row_path_too_deep};
pub use def::{MAX_DIMENSIONS, MAX_MEASURES, MeasureDef, ModelDef};
pub use dimension::{Dimension, HierarchyError, LeafPath, Member};
pub use sheet::{Column, ColumnKind, Row, Sheet};

use chrono::NaiveDate;

use crate::decimal::{self, Units};

/// The key of the total column.
pub const TOTAL_COLUMN: &str = "total";

/// The resolved model.
#[derive(Debug)]
pub struct Model {
    pub def: ModelDef,
    /// In the order of `def.dimensions`.
    pub dimensions: Vec<Dimension>,
    /// In the order of `def.sheets`.
    pub sheets: Vec<Sheet>,
}

impl Model {
    /// Assembles the model from its definition and loaded dimensions;
    /// fails when a sheet's filter names a member that does not exist.
    pub fn new(def: ModelDef, dimensions: Vec<Dimension>) -> Result<Self, String> {
        assert!(dimensions.len() <= MAX_DIMENSIONS && def.measures.len() <= MAX_MEASURES);
        let mut sheets = Vec::with_capacity(def.sheets.len());
        for sheet in &def.sheets {
            let mut filters = Vec::new();
            for f in &sheet.filters {
                let d = &dimensions[f.dimension];
                let member = d.find(&f.path).ok_or_else(|| {
                    format!(
                        "sheet {:?}: its filter's member {:?} does not exist in dimension {:?}",
                        sheet.id, f.path, d.name
                    )
                })?;
                filters.push((f.dimension, d.members[member as usize].leaves.clone()));
            }
            sheets.push(Sheet::new(sheet.clone(), &dimensions, &def.months, filters));
        }
        Ok(Model {
            def,
            dimensions,
            sheets,
        })
    }

    /// Finds a sheet by id (the part after `sheets/`).
    pub fn sheet_index(&self, id: &str) -> Option<usize> {
        self.sheets.iter().position(|s| s.def.id == id)
    }

    /// The resource name of a sheet, `sheets/{id}`.
    pub fn sheet_name(&self, sheet: usize) -> String {
        self.sheets[sheet].name.clone()
    }

    /// How many row levels a sheet shows (grand total excluded).
    pub fn row_depth(&self, sheet: usize) -> usize {
        self.sheets[sheet].def.rows.iter().map(|a| a.depth).sum()
    }

    /// Finds a measure by name.
    pub fn measure_index(&self, name: &str) -> Option<usize> {
        self.def.measure_index(name)
    }

    /// The first day of month `index`.
    pub fn month_start(&self, index: u16) -> NaiveDate {
        months::month_start(&self.def.months, index)
    }

    /// Formats a value of measure `m`.
    pub fn format(&self, measure: usize, units: Units) -> String {
        decimal::format(units, self.def.measures[measure].scale)
    }

    /// The member names from the top of a sheet down to `row`.
    pub fn row_path(&self, sheet: usize, row: u32) -> Vec<String> {
        self.sheets[sheet].path(row)
    }
}
