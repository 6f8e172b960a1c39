//! Validated cell addresses and the facts ("atoms") beneath them.
//!
//! Addresses arrive as names (`sheets/x`, a row path of member names, a
//! column key, a measure name) and are resolved once, at the edge, into
//! indexes. After that the core never sees an invalid address.

use std::ops::{Range, RangeInclusive};

use super::Model;
use crate::error::{Error, Result, quoted, quoted_path};

/// A resolved cell address: indexes into the model's sheets, the sheet's
/// rows and columns, and the model's measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CellAddr {
    pub sheet: usize,
    pub row: u32,
    pub col: u16,
    pub measure: usize,
}

/// The facts beneath a cell: leaf keys of some dimensions in ranges (the
/// row's members and the sheet's filters) and months in a range. Other
/// dimensions are unrestricted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AtomFilter {
    /// (dimension, leaves), at most one range per dimension.
    pub keys: Vec<(usize, RangeInclusive<u32>)>,
    pub months: Range<u16>,
}

impl AtomFilter {
    /// Whether a fact with these dimension keys and month lies beneath.
    pub fn contains(&self, keys: &[u32], month: u16) -> bool {
        self.months.contains(&month) && self.keys.iter().all(|(d, r)| r.contains(&keys[*d]))
    }

    /// The range of dimension `d`, if the filter restricts it.
    pub fn range(&self, d: usize) -> Option<&RangeInclusive<u32>> {
        self.keys.iter().find(|(x, _)| *x == d).map(|(_, r)| r)
    }
}

/// The facts beneath any of several cells (an edit's holds), arranged so
/// that asking about one fact costs a binary search per dimension rather
/// than a test per cell: cells restricting one dimension (the common case)
/// become, per dimension and month, sorted disjoint key ranges; cells
/// restricting none hold whole months; the rest (two-dimension rows,
/// filtered sheets) are tested one by one — at most the edit's hold limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldSet {
    /// (dimension, per month: held key ranges, sorted and merged).
    by_dimension: Vec<(usize, Vec<Vec<RangeInclusive<u32>>>)>,
    /// Months held whole.
    whole_months: Vec<bool>,
    /// Cells restricting several dimensions.
    others: Vec<AtomFilter>,
}

impl HoldSet {
    pub fn new(cells: &[AtomFilter], months: u16) -> Self {
        let mut set = HoldSet {
            whole_months: vec![false; months as usize],
            ..HoldSet::default()
        };
        for cell in cells {
            match cell.keys.as_slice() {
                [] => {
                    for m in cell.months.clone() {
                        set.whole_months[m as usize] = true;
                    }
                }
                [(d, keys)] => {
                    let slot = match set.by_dimension.iter().position(|(x, _)| x == d) {
                        Some(i) => i,
                        None => {
                            set.by_dimension
                                .push((*d, vec![Vec::new(); months as usize]));
                            set.by_dimension.len() - 1
                        }
                    };
                    for month in cell.months.clone() {
                        set.by_dimension[slot].1[month as usize].push(keys.clone());
                    }
                }
                _ => set.others.push(cell.clone()),
            }
        }
        for (_, per_month) in &mut set.by_dimension {
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
        set
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.by_dimension.is_empty() && self.others.is_empty() && !self.whole_months.contains(&true)
    }

    /// Whether a fact with these dimension keys and month is held.
    pub fn contains(&self, keys: &[u32], month: u16) -> bool {
        self.whole_months
            .get(month as usize)
            .copied()
            .unwrap_or(false)
            || self.by_dimension.iter().any(|(d, per_month)| {
                let key = keys[*d];
                let ranges = &per_month[month as usize];
                // The last range starting at or before the key.
                let i = ranges.partition_point(|r| *r.start() <= key);
                i > 0 && ranges[i - 1].contains(&key)
            })
            || self.others.iter().any(|c| c.contains(keys, month))
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
    pub fn resolve_row(&self, sheet: usize, path: &[String]) -> Result<u32> {
        let s = &self.sheets[sheet];
        let depth = self.row_depth(sheet);
        if path.len() > depth {
            return Err(row_path_too_deep(path, &self.sheet_name(sheet), depth));
        }
        let mut row = 0;
        for (i, name) in path.iter().enumerate() {
            row = s.find_row(&path[..=i]).ok_or_else(|| {
                let under = if i == 0 {
                    "the grand total".to_owned()
                } else {
                    quoted_path(&path[..i])
                };
                Error::not_found(format!(
                    "row {} does not exist in {}: nothing named {} under {under}",
                    quoted_path(&path[..=i]),
                    self.sheet_name(sheet),
                    quoted(name)
                ))
            })?;
        }
        Ok(row)
    }

    /// Resolves a column key of a sheet; empty is a malformed request.
    pub fn resolve_column(&self, sheet: usize, key: &str) -> Result<u16> {
        if key.is_empty() {
            return Err(Error::invalid("column is required"));
        }
        let s = &self.sheets[sheet];
        s.column(key).ok_or_else(|| {
            let (first, last) = (&s.columns[0].key, &s.columns[s.columns.len() - 2].key);
            Error::not_found(format!(
                "column {} does not exist in {}: expected a month from {first} to {last}, a \
                 subtotal column or \"total\"",
                quoted(key),
                self.sheet_name(sheet)
            ))
        })
    }

    /// Resolves a measure name of a sheet; empty is a malformed request.
    pub fn resolve_measure(&self, sheet: usize, name: &str) -> Result<usize> {
        if name.is_empty() {
            return Err(Error::invalid("measure is required"));
        }
        let s = &self.sheets[sheet];
        self.measure_index(name)
            .filter(|m| s.def.measures.contains(m))
            .ok_or_else(|| {
                let known: Vec<&str> = s
                    .def
                    .measures
                    .iter()
                    .map(|&m| self.def.measures[m].name.as_str())
                    .collect();
                Error::not_found(format!(
                    "measure {} does not exist in {} (measures: {})",
                    quoted(name),
                    self.sheet_name(sheet),
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
            col: self.resolve_column(sheet, column)?,
            measure: self.resolve_measure(sheet, measure)?,
        })
    }

    /// The facts beneath a cell.
    pub fn atoms(&self, cell: &CellAddr) -> AtomFilter {
        let s = &self.sheets[cell.sheet];
        let mut keys = s.filters.clone();
        keys.extend(s.rows[cell.row as usize].constraint.iter().cloned());
        AtomFilter {
            keys,
            months: s.columns[cell.col as usize].months.clone(),
        }
    }

    /// A human-readable address for messages: `sheets/x [A > B] 2024-03 quantity`.
    pub fn describe(&self, cell: &CellAddr) -> String {
        let s = &self.sheets[cell.sheet];
        let path = s.path(cell.row);
        let row = if path.is_empty() {
            "grand total".to_owned()
        } else {
            path.join(" > ")
        };
        format!(
            "{} [{row}] {} {}",
            self.sheet_name(cell.sheet),
            s.columns[cell.col as usize].key,
            self.def.measures[cell.measure].name
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn filter(keys: Vec<(usize, RangeInclusive<u32>)>, months: Range<u16>) -> AtomFilter {
        AtomFilter { keys, months }
    }

    proptest! {
        /// The hold set answers exactly what testing every held cell would.
        #[test]
        fn hold_sets_agree_with_their_cells(
            cells in prop::collection::vec(
                (prop::collection::vec((0..3usize, 0..40u32, 0..10u32), 0..3), 0..6u16, 1..4u16),
                0..12,
            ),
            facts in prop::collection::vec((0..50u32, 0..50u32, 0..50u32, 0..6u16), 1..60),
        ) {
            let cells: Vec<AtomFilter> = cells
                .into_iter()
                .map(|(keys, m, n)| {
                    let mut keys: Vec<(usize, RangeInclusive<u32>)> =
                        keys.into_iter().map(|(d, lo, len)| (d, lo..=lo + len)).collect();
                    keys.sort_by_key(|k| k.0);
                    keys.dedup_by_key(|k| k.0);
                    filter(keys, m..(m + n).min(6))
                })
                .collect();
            let set = HoldSet::new(&cells, 6);
            for (a, b, c, month) in facts {
                let keys = [a, b, c, 0];
                let expected = cells.iter().any(|c| c.contains(&keys, month));
                prop_assert_eq!(set.contains(&keys, month), expected);
            }
        }
    }
}
