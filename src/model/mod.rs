//! The model: dimensions with hierarchies, measures, months and the sheets
//! (pivots) defined over them.
//!
//! The schema is fixed by [`definition`]; the members are loaded from DuckDB
//! once at start-up (they never change afterwards), so the model is immutable
//! and shared as `Arc<Model>` by every request.
//!
//! Architecture invariant: the leaves of a dimension are numbered in
//! hierarchy order, so every member covers one contiguous range of leaf keys.
//! A cell's facts are therefore `key BETWEEN lo AND hi AND date in period`:
//! no joins on the write path, and zone maps prune the fact table.

mod address;
pub mod definition;
mod dimension;

pub use address::{AtomFilter, CellAddr, Col, HoldSet, RowRef, row_path_too_deep};
pub use definition::{DimensionDef, LevelDef, MeasureDef, SheetDef};
pub use dimension::{Dimension, Member};

use chrono::{Datelike, Months as ChronoMonths, NaiveDate};

use crate::decimal::{self, Units};

/// The resolved model.
#[derive(Debug)]
pub struct Model {
    pub dimensions: Vec<Dimension>,
    pub measures: &'static [MeasureDef],
    pub months: Months,
    pub sheets: Vec<Sheet>,
}

/// The column dimension: consecutive calendar months, plus a total column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Months {
    /// The first day of the first month.
    pub first: NaiveDate,
    pub count: u16,
}

impl Months {
    /// The first day of month `index` (0-based).
    pub fn start(&self, index: u16) -> NaiveDate {
        self.first + ChronoMonths::new(u32::from(index))
    }

    /// The column key of month `index`, e.g. "2024-03".
    pub fn key(&self, index: u16) -> String {
        self.start(index).format("%Y-%m").to_string()
    }

    /// The month index of a date, if the date falls inside the months.
    pub fn index_of(&self, date: NaiveDate) -> Option<u16> {
        let months = (date.year() - self.first.year()) * 12 + date.month0() as i32
            - self.first.month0() as i32;
        u16::try_from(months).ok().filter(|m| *m < self.count)
    }

    /// Parses a month column key.
    pub fn parse_key(&self, key: &str) -> Option<u16> {
        let date = NaiveDate::parse_from_str(&format!("{key}-01"), "%Y-%m-%d").ok()?;
        // Only the canonical spelling ("2024-03", not "2024-3") is a key.
        self.index_of(date).filter(|m| self.key(*m) == key)
    }
}

/// A sheet: a pivot whose rows are the top `depth` levels of one dimension.
#[derive(Debug)]
pub struct Sheet {
    pub def: &'static SheetDef,
    /// Index into [`Model::dimensions`].
    pub dimension: usize,
}

impl Sheet {
    /// The resource name, `sheets/{id}`.
    pub fn name(&self) -> String {
        format!("sheets/{}", self.def.id)
    }

    /// How many row levels the sheet shows (grand total excluded).
    pub fn depth(&self) -> usize {
        self.def.depth
    }
}

/// The key of the total column.
pub const TOTAL_COLUMN: &str = "total";

/// The most dimensions a model may have (fact keys are held in fixed arrays).
pub const MAX_DIMENSIONS: usize = 4;
/// The most measures a model may have.
pub const MAX_MEASURES: usize = 4;

impl Model {
    /// Assembles the model from its loaded dimensions (in
    /// [`definition::DIMENSIONS`] order) and months.
    pub fn new(dimensions: Vec<Dimension>, months: Months) -> Self {
        assert!(dimensions.len() <= MAX_DIMENSIONS);
        assert!(definition::MEASURES.len() <= MAX_MEASURES);
        let sheets = definition::SHEETS
            .iter()
            .map(|def| Sheet {
                def,
                dimension: dimensions
                    .iter()
                    .position(|d| d.def.name == def.dimension)
                    .expect("every sheet is over a defined dimension"),
            })
            .collect();
        Model {
            dimensions,
            measures: &definition::MEASURES,
            months,
            sheets,
        }
    }

    /// Finds a sheet by id (the part after `sheets/`).
    pub fn sheet_index(&self, id: &str) -> Option<usize> {
        self.sheets.iter().position(|s| s.def.id == id)
    }

    /// Finds a measure by name.
    pub fn measure_index(&self, name: &str) -> Option<usize> {
        self.measures.iter().position(|m| m.name == name)
    }

    /// The column index of a key ("2024-03" or "total").
    pub fn column(&self, key: &str) -> Option<Col> {
        if key == TOTAL_COLUMN {
            Some(Col::Total)
        } else {
            self.months.parse_key(key).map(Col::Month)
        }
    }

    /// The key of a column.
    pub fn column_key(&self, col: Col) -> String {
        match col {
            Col::Month(m) => self.months.key(m),
            Col::Total => TOTAL_COLUMN.to_owned(),
        }
    }

    /// Every column, months first, total last.
    pub fn columns(&self) -> impl Iterator<Item = Col> + '_ {
        (0..self.months.count)
            .map(Col::Month)
            .chain(std::iter::once(Col::Total))
    }

    /// The half-open range of month indexes a column covers.
    pub fn column_months(&self, col: Col) -> std::ops::Range<u16> {
        match col {
            Col::Month(m) => m..m + 1,
            Col::Total => 0..self.months.count,
        }
    }

    /// The storage index of a column: months 0..n, total n.
    pub fn col_index(&self, col: Col) -> u16 {
        match col {
            Col::Month(m) => m,
            Col::Total => self.months.count,
        }
    }

    /// The inverse of [`Model::col_index`].
    pub fn col_from_index(&self, index: u16) -> Col {
        if index >= self.months.count {
            Col::Total
        } else {
            Col::Month(index)
        }
    }

    /// Formats a value of measure `m`.
    pub fn format(&self, measure: usize, units: Units) -> String {
        decimal::format(units, self.measures[measure].scale)
    }

    /// The member names from the top of the sheet's hierarchy down to `row`.
    pub fn row_path(&self, sheet: usize, row: RowRef) -> Vec<String> {
        let dim = &self.dimensions[self.sheets[sheet].dimension];
        dim.path(row.depth, row.member)
    }
}

#[cfg(test)]
pub mod tests_support {
    //! A tiny model for unit tests: one supplier > one brand > two families
    //! with one product each; one province > one city > one customer.
    use super::*;

    fn rows(levels: &[&[(u32, &str)]]) -> Vec<Vec<(u32, String)>> {
        levels
            .iter()
            .map(|l| l.iter().map(|(i, n)| (*i, n.to_string())).collect())
            .collect()
    }

    pub fn tiny_model() -> Model {
        let products = rows(&[
            &[(0, "S0"), (0, "B0"), (0, "F0"), (0, "P0")],
            &[(0, "S0"), (0, "B0"), (1, "F1"), (1, "P1")],
        ]);
        let customers = rows(&[&[(0, "R0"), (0, "C0"), (0, "K0")]]);
        let dims = vec![
            Dimension::from_leaves(&definition::DIMENSIONS[0], &products).unwrap(),
            Dimension::from_leaves(&definition::DIMENSIONS[1], &customers).unwrap(),
        ];
        let months = Months {
            first: NaiveDate::from_ymd_opt(2024, 1, 1).unwrap(),
            count: 3,
        };
        Model::new(dims, months)
    }

    #[test]
    fn month_keys_round_trip() {
        let m = tiny_model();
        assert_eq!(m.column("2024-02"), Some(Col::Month(1)));
        assert_eq!(m.column("2024-2"), None);
        assert_eq!(m.column("2024-04"), None, "past the last month");
        assert_eq!(m.column("total"), Some(Col::Total));
        assert_eq!(
            m.months
                .index_of(NaiveDate::from_ymd_opt(2024, 3, 31).unwrap()),
            Some(2)
        );
    }
}
