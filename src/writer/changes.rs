//! The cells a request changed, as its change event lists them: each with
//! its value before and after.

use std::collections::hash_map::Entry;

use prost::encoding::{WireType, encode_key, encode_varint};
use rustc_hash::FxHashMap as HashMap;

use super::event::{put_element, put_string, string_len};
use crate::decimal;
use crate::feed::Resident;
use crate::model::{MAX_MEASURES, Model};
#[cfg(test)]
use crate::proto::v1 as pb;
use crate::rollup::CellDelta;
use crate::summary::CellValue;

/// (sheet, row, column).
type Key = (usize, u32, u16);

/// The cells a request touched: each one's value before the request and
/// after it. A cell is listed (per measure) only if what a client reads
/// changed: a batch that writes a cell and then writes it back lists
/// nothing for it.
///
/// A vector in the order first touched, rather than an ordered map: a
/// leaf's ~150 cells at 1,000,000 facts went into a `BTreeMap` at 6–7% of
/// the writer's time (`perf`, 32 clients), and into a hash map at about
/// the same. One edit's cells come from the roll-up in order, each once,
/// so they are only copied; a batch's later edits find the cells they
/// touch again through a hash index, and encoding sorts them.
#[derive(Debug, Default)]
pub struct Changes {
    /// Where each touched cell is in `cells` (built once a second batch
    /// of deltas comes).
    at: HashMap<Key, u32>,
    /// Each touched cell: before the request, and now.
    cells: Vec<(Key, CellValue, CellValue)>,
}

/// How a cell's measure reads: `None` for an empty cell (no facts).
fn shown(cell: &CellValue, measure: usize) -> Option<i128> {
    (cell.facts > 0).then_some(cell.values[measure])
}

impl Changes {
    /// How many cells were touched (an upper bound on those listed).
    pub fn touched(&self) -> usize {
        self.cells.len()
    }

    /// Records rolled-up deltas and the touched cells' values after them.
    pub fn record(&mut self, deltas: &[CellDelta], rows: &[CellValue]) {
        let key = |d: &CellDelta| (d.sheet, d.row, d.col);
        let fresh = |d: &CellDelta, now: &CellValue| {
            let mut before = *now;
            before.facts -= d.facts;
            for (v, dv) in before.values.iter_mut().zip(d.values) {
                *v -= dv;
            }
            (key(d), before, *now)
        };
        // The first deltas (all of a one-edit request's), as the roll-up
        // gives them: in order, each cell once. Nothing to look up yet.
        if self.cells.is_empty() && deltas.is_sorted_by(|a, b| key(a) < key(b)) {
            self.cells
                .extend(deltas.iter().zip(rows).map(|(d, now)| fresh(d, now)));
            return;
        }
        if self.at.len() < self.cells.len() {
            self.at = (0..).zip(&self.cells).map(|(i, c)| (c.0, i)).collect();
        }
        self.at.reserve(deltas.len());
        for (d, now) in deltas.iter().zip(rows) {
            match self.at.entry(key(d)) {
                Entry::Occupied(at) => self.cells[*at.get() as usize].2 = *now,
                Entry::Vacant(at) => {
                    at.insert(self.cells.len() as u32);
                    self.cells.push(fresh(d, now));
                }
            }
        }
    }

    /// Each touched cell once, in (sheet, row, column) order: where it is,
    /// its value before the request and now.
    fn in_order(&self) -> impl Iterator<Item = &(Key, CellValue, CellValue)> {
        let cells = &self.cells;
        let order = (!cells.is_sorted_by(|a, b| a.0 < b.0)).then(|| {
            let mut order: Vec<u32> = (0..cells.len() as u32).collect();
            order.sort_unstable_by_key(|&i| cells[i as usize].0);
            order
        });
        (0..cells.len()).map(move |i| &cells[order.as_ref().map_or(i, |o| o[i] as usize)])
    }

    /// Writes the changes as the contract shows them into an encoded
    /// `ChangeEvent` (its field 7, `SheetChanges`, one per sheet in sheet
    /// order, each sheet's cells in row, column and measure order), and
    /// counts what they will hold decoded. Straight from the model's
    /// names: a leaf's event at 1,000,000 facts lists ~150 cells, and
    /// building them as strings first cost the writer a seventh of its time
    /// (perf, 32 clients).
    pub fn encode(&self, model: &Model, buf: &mut Vec<u8>, resident: &mut Resident) {
        let mut cells = Vec::new();
        let mut sheet_at = None;
        // A row's path, encoded once for all its changed cells (a leaf's
        // rows have four changed columns each), and what it holds decoded.
        let (mut path_of, mut names, mut path) = (None, Vec::new(), Vec::new());
        let mut path_resident = Resident::default();
        let (mut now_text, mut before_text) = (String::new(), String::new());
        for ((sheet, row, col), before, now) in self.in_order() {
            let (sheet, row, col) = (*sheet, *row, *col);
            if sheet_at != Some(sheet) {
                if let Some(done) = sheet_at.replace(sheet) {
                    put_sheet(&model.sheets[done].name, &cells, buf);
                }
                cells.clear();
            }
            let def = &model.sheets[sheet];
            if path_of != Some((sheet, row)) {
                path_of = Some((sheet, row));
                def.path_names(row, &mut names);
                path.clear();
                path_resident = Resident::default();
                for p in &names {
                    put_element(1, p, &mut path);
                    path_resident.text(p.len());
                }
            }
            let column = &def.columns[col as usize].key;
            for &m in &def.def.measures {
                if m >= MAX_MEASURES || shown(before, m) == shown(now, m) {
                    continue;
                }
                let scale = model.def.measures[m].scale;
                let text = |cell, out: &mut String| {
                    out.clear();
                    if let Some(v) = shown(cell, m) {
                        decimal::format_into(v, scale, out);
                    }
                };
                text(now, &mut now_text);
                text(before, &mut before_text);
                let measure = &model.def.measures[m].name;
                let strings = [column.as_str(), measure, &now_text, &before_text];
                let len = path.len() + strings.iter().map(|s| string_len(s)).sum::<usize>();
                encode_key(2, WireType::LengthDelimited, &mut cells);
                encode_varint(len as u64, &mut cells);
                cells.extend_from_slice(&path);
                for (field, s) in (2..).zip(strings) {
                    put_string(field, s, &mut cells);
                }
                resident.cell();
                resident.0 += path_resident.0;
                for s in strings {
                    resident.text(s.len());
                }
            }
        }
        if let Some(done) = sheet_at {
            put_sheet(&model.sheets[done].name, &cells, buf);
        }
    }

    /// The changes decoded: what [`Changes::encode`] writes, as prost
    /// would build it (the encoding's test oracle).
    #[cfg(test)]
    pub fn to_proto(&self, model: &Model) -> Vec<pb::SheetChanges> {
        let mut out: Vec<pb::SheetChanges> = Vec::new();
        for &((sheet, row, col), ref before, ref now) in self.in_order() {
            let def = &model.sheets[sheet];
            for &m in &def.def.measures {
                if m >= MAX_MEASURES || shown(before, m) == shown(now, m) {
                    continue;
                }
                if out.last().is_none_or(|s| s.sheet != def.name) {
                    out.push(pb::SheetChanges {
                        sheet: def.name.clone(),
                        cells: Vec::new(),
                    });
                }
                let shown = |cell| {
                    shown(cell, m)
                        .map(|v| model.format(m, v))
                        .unwrap_or_default()
                };
                out.last_mut()
                    .expect("pushed above")
                    .cells
                    .push(pb::CellChange {
                        row_path: def.path(row),
                        column: def.columns[col as usize].key.clone(),
                        measure: model.def.measures[m].name.clone(),
                        value: shown(now),
                        previous_value: shown(before),
                    });
            }
        }
        out
    }
}

/// A sheet's `SheetChanges` (field 7 of the event) around its encoded
/// cells; a sheet with none is left out.
fn put_sheet(name: &str, cells: &[u8], buf: &mut Vec<u8>) {
    if cells.is_empty() {
        return;
    }
    encode_key(7, WireType::LengthDelimited, buf);
    encode_varint((string_len(name) + cells.len()) as u64, buf);
    put_string(1, name, buf);
    buf.extend_from_slice(cells);
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    /// Cells touched by several batches of deltas, in no particular order
    /// across the batches, come out once each in (sheet, row, column)
    /// order, with their value before the first delta and after the last
    /// (checked against an ordered map of the same).
    #[test]
    fn each_cell_comes_out_once_in_order_from_before_its_first_delta_to_after_its_last() {
        let mut seed = 11u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut changes = Changes::default();
        let mut values: BTreeMap<Key, i128> = BTreeMap::new();
        let mut expected: BTreeMap<Key, (i128, i128)> = BTreeMap::new();
        let mut touches = 0;
        for _ in 0..30 {
            // One batch, as the roll-up gives it: in order, each cell once.
            let mut keys: Vec<Key> = (0..1 + next(12))
                .map(|_| (next(3) as usize, next(5) as u32, next(4) as u16))
                .collect();
            keys.sort_unstable();
            keys.dedup();
            touches += keys.len();
            let deltas: Vec<CellDelta> = keys
                .iter()
                .map(|&(sheet, row, col)| CellDelta {
                    sheet,
                    row,
                    col,
                    facts: 0,
                    values: [next(100) as i128 - 50, 0, 0, 0],
                })
                .collect();
            let rows: Vec<CellValue> = deltas
                .iter()
                .zip(&keys)
                .map(|(d, key)| {
                    let value = values.entry(*key).or_insert(1_000);
                    let before = *value;
                    *value += d.values[0];
                    expected.entry(*key).or_insert((before, 0)).1 = *value;
                    CellValue {
                        facts: 1,
                        values: [*value, 0, 0, 0],
                    }
                })
                .collect();
            changes.record(&deltas, &rows);
        }
        let got: Vec<(Key, i128, i128)> = changes
            .in_order()
            .map(|(key, before, now)| (*key, before.values[0], now.values[0]))
            .collect();
        let want: Vec<(Key, i128, i128)> = expected
            .into_iter()
            .map(|(key, (before, now))| (key, before, now))
            .collect();
        assert_eq!(got, want);
        assert!(
            touches > 2 * got.len(),
            "cells are touched by several batches"
        );
    }
}
