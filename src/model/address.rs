//! Validated cell addresses and the facts ("atoms") beneath them.
//!
//! Addresses arrive as names (`sheets/x`, a row path of member names, a
//! column key, a measure name) and are resolved once, at the edge, into
//! indexes. After that the core never sees an invalid address.

use std::ops::{Range, RangeInclusive};

use super::Model;
use crate::error::{Error, Result, quoted, quoted_path};

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

/// The facts beneath any of several cells (an edit's holds), arranged so
/// that asking about one fact costs a binary search per dimension rather
/// than a test per cell: per dimension and month, the held leaf keys as
/// sorted, disjoint ranges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldSet {
    /// (dimension, per month: held key ranges, sorted and merged).
    by_dimension: Vec<(usize, Vec<Vec<RangeInclusive<u32>>>)>,
}

impl HoldSet {
    pub fn new(cells: &[AtomFilter], months: u16) -> Self {
        let mut by_dimension: Vec<(usize, Vec<Vec<RangeInclusive<u32>>>)> = Vec::new();
        for cell in cells {
            let slot = match by_dimension.iter().position(|(d, _)| *d == cell.dimension) {
                Some(i) => i,
                None => {
                    by_dimension.push((cell.dimension, vec![Vec::new(); months as usize]));
                    by_dimension.len() - 1
                }
            };
            for month in cell.months.clone() {
                by_dimension[slot].1[month as usize].push(cell.keys.clone());
            }
        }
        for (_, per_month) in &mut by_dimension {
            for ranges in per_month.iter_mut() {
                ranges.sort_by_key(|r| *r.start());
                let mut merged: Vec<RangeInclusive<u32>> = Vec::with_capacity(ranges.len());
                for r in ranges.drain(..) {
                    match merged.last_mut() {
                        Some(last) if *r.start() <= last.end().saturating_add(1) => {
                            *last = *last.start()..=(*last.end()).max(*r.end());
                        }
                        _ => merged.push(r),
                    }
                }
                *ranges = merged;
            }
        }
        Self { by_dimension }
    }

    pub fn is_empty(&self) -> bool {
        self.by_dimension.is_empty()
    }

    /// Whether a fact with these dimension keys and month is held.
    pub fn contains(&self, keys: &[u32], month: u16) -> bool {
        self.by_dimension.iter().any(|(d, per_month)| {
            let key = keys[*d];
            let ranges = &per_month[month as usize];
            // The last range starting at or before the key.
            let i = ranges.partition_point(|r| *r.start() <= key);
            i > 0 && ranges[i - 1].contains(&key)
        })
    }
}

/// The error for a row path with more members than its sheet has levels.
pub fn row_path_too_deep(path: &[String], sheet: &str, depth: usize) -> Error {
    Error::invalid(format!(
        "row path {} has {} members but {sheet} has {depth} row levels",
        quoted_path(path),
        path.len(),
    ))
}

impl Model {
    /// Resolves `sheets/{id}` to a sheet index.
    pub fn resolve_sheet(&self, name: &str) -> Result<usize> {
        let id = name.strip_prefix("sheets/").ok_or_else(|| {
            Error::invalid(format!(
                "sheet name {} is malformed: expected \"sheets/{{sheet_id}}\"",
                quoted(name)
            ))
        })?;
        self.sheet_index(id)
            .ok_or_else(|| Error::not_found(format!("sheet {} does not exist", quoted(name))))
    }

    /// Resolves a row path of member names on a sheet.
    pub fn resolve_row(&self, sheet: usize, path: &[String]) -> Result<RowRef> {
        let s = &self.sheets[sheet];
        if path.len() > s.depth() {
            return Err(row_path_too_deep(path, &s.name(), s.depth()));
        }
        let dim = &self.dimensions[s.dimension];
        let mut member = 0;
        for (level, name) in path.iter().enumerate() {
            member = dim.child(level, member, name).ok_or_else(|| {
                Error::not_found(format!(
                    "row {} does not exist in {}: no {} {} there",
                    quoted_path(&path[..=level]),
                    s.name(),
                    dim.def.levels[level].name,
                    quoted(name)
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
                "column {} does not exist: expected a month from {} to {} or \"total\"",
                quoted(key),
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
                "measure {} does not exist (measures: {})",
                quoted(name),
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(dimension: usize, keys: RangeInclusive<u32>, months: Range<u16>) -> AtomFilter {
        AtomFilter {
            dimension,
            keys,
            months,
        }
    }

    proptest! {
        /// The hold set answers exactly what testing every held cell would.
        #[test]
        fn hold_sets_agree_with_their_cells(
            cells in prop::collection::vec((0..2usize, 0..40u32, 0..10u32, 0..6u16, 1..4u16), 0..12),
            facts in prop::collection::vec((0..50u32, 0..50u32, 0..6u16), 1..60),
        ) {
            let cells: Vec<AtomFilter> = cells
                .into_iter()
                .map(|(d, lo, len, m, n)| filter(d, lo..=lo + len, m..(m + n).min(6)))
                .collect();
            let set = HoldSet::new(&cells, 6);
            for (a, b, month) in facts {
                let keys = [a, b, 0, 0];
                let expected = cells.iter().any(|c| c.contains(&keys, month));
                prop_assert_eq!(set.contains(&keys, month), expected);
            }
        }
    }
}
