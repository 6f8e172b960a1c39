//! Validated cell addresses and the facts ("atoms") beneath them.
//!
//! Addresses arrive as names (`sheets/x`, a row path of member names, a
//! column key, a measure name) and are resolved once, at the edge, into
//! indexes. After that the core never sees an invalid address.

use std::ops::{Range, RangeInclusive};

use super::Model;
use crate::error::{Error, Result};

/// A column: one month or the total.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Col {
    Month(u16),
    Total,
}

/// A row of a sheet: `depth` 0 is the grand total (member 0), depth d the
/// member of the dimension's level d-1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RowRef {
    pub depth: u8,
    pub member: u32,
}

impl RowRef {
    pub const GRAND_TOTAL: RowRef = RowRef {
        depth: 0,
        member: 0,
    };
}

/// A resolved cell address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CellAddr {
    pub sheet: usize,
    pub row: RowRef,
    pub col: Col,
    pub measure: usize,
}

/// The facts beneath a cell: the leaf keys of one dimension in a range, and
/// invoice dates in a range of months. The other dimensions are unrestricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomFilter {
    pub dimension: usize,
    pub keys: RangeInclusive<u32>,
    pub months: Range<u16>,
}

impl AtomFilter {
    /// Whether a fact with these dimension keys and month lies beneath.
    pub fn contains(&self, keys: &[u32], month: u16) -> bool {
        self.keys.contains(&keys[self.dimension]) && self.months.contains(&month)
    }
}

impl Model {
    /// Resolves `sheets/{id}` to a sheet index.
    pub fn resolve_sheet(&self, name: &str) -> Result<usize> {
        let id = name.strip_prefix("sheets/").ok_or_else(|| {
            Error::invalid(format!(
                "sheet name {name:?} is malformed: expected \"sheets/{{sheet_id}}\""
            ))
        })?;
        self.sheet_index(id)
            .ok_or_else(|| Error::not_found(format!("sheet {name:?} does not exist")))
    }

    /// Resolves a row path of member names on a sheet.
    pub fn resolve_row(&self, sheet: usize, path: &[String]) -> Result<RowRef> {
        let s = &self.sheets[sheet];
        if path.len() > s.depth() {
            return Err(Error::invalid(format!(
                "row path {path:?} has {} members but {} has {} row levels",
                path.len(),
                s.name(),
                s.depth()
            )));
        }
        let dim = &self.dimensions[s.dimension];
        let mut member = 0;
        for (level, name) in path.iter().enumerate() {
            member = dim.child(level, member, name).ok_or_else(|| {
                Error::not_found(format!(
                    "row {:?} does not exist in {}: no {} {name:?} there",
                    &path[..=level],
                    s.name(),
                    dim.def.levels[level].name
                ))
            })?;
        }
        Ok(RowRef {
            depth: path.len() as u8,
            member,
        })
    }

    /// Resolves a column key; empty is a malformed request.
    pub fn resolve_column(&self, key: &str) -> Result<Col> {
        if key.is_empty() {
            return Err(Error::invalid("column is required"));
        }
        self.column(key).ok_or_else(|| {
            Error::not_found(format!(
                "column {key:?} does not exist: expected a month from {} to {} or \"total\"",
                self.months.key(0),
                self.months.key(self.months.count - 1)
            ))
        })
    }

    /// Resolves a measure name; empty is a malformed request.
    pub fn resolve_measure(&self, name: &str) -> Result<usize> {
        if name.is_empty() {
            return Err(Error::invalid("measure is required"));
        }
        self.measure_index(name).ok_or_else(|| {
            let known: Vec<_> = self.measures.iter().map(|m| m.name).collect();
            Error::not_found(format!(
                "measure {name:?} does not exist (measures: {})",
                known.join(", ")
            ))
        })
    }

    /// Resolves a complete cell address.
    pub fn resolve_cell(
        &self,
        sheet: &str,
        row_path: &[String],
        column: &str,
        measure: &str,
    ) -> Result<CellAddr> {
        let sheet = self.resolve_sheet(sheet)?;
        Ok(CellAddr {
            sheet,
            row: self.resolve_row(sheet, row_path)?,
            col: self.resolve_column(column)?,
            measure: self.resolve_measure(measure)?,
        })
    }

    /// The facts beneath a cell.
    pub fn atoms(&self, cell: &CellAddr) -> AtomFilter {
        let dimension = self.sheets[cell.sheet].dimension;
        AtomFilter {
            dimension,
            keys: self.dimensions[dimension].leaves(cell.row.depth, cell.row.member),
            months: self.column_months(cell.col),
        }
    }

    /// A human-readable address for messages: `sheets/x [A > B] 2024-03 quantity`.
    pub fn describe(&self, cell: &CellAddr) -> String {
        let path = self.row_path(cell.sheet, cell.row);
        let row = if path.is_empty() {
            "grand total".to_owned()
        } else {
            path.join(" > ")
        };
        format!(
            "{} [{row}] {} {}",
            self.sheets[cell.sheet].name(),
            self.column_key(cell.col),
            self.measures[cell.measure].name
        )
    }
}
