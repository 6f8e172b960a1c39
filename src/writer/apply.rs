//! Applying one edit inside the writer's open transaction: read the cell,
//! check compare-and-set and bounds, spread the target over the facts (or
//! create adjustment facts for an empty cell), roll the changes up into the
//! summary, and verify the target against the facts before anyone commits.

use std::collections::BTreeMap;

use duckdb::Connection;

use super::mirror::Mirror;
use crate::decimal::{self, Units};
use crate::edit::Edit;
use crate::error::Error;
use crate::model::{AtomFilter, Col, MAX_DIMENSIONS, MAX_MEASURES, Model, RowRef};
use crate::proto::v1 as pb;
use crate::rollup::{self, CellDelta, FactDelta};
use crate::spread::{self, Method, SpreadError};
use crate::store::facts;
use crate::summary::{CellValue, Summary};

/// A failed edit, and whether it had already changed anything in the open
/// transaction (then the transaction must be rolled back).
#[derive(Debug)]
pub struct ApplyError {
    pub error: Error,
    pub dirty: bool,
}

impl From<duckdb::Error> for ApplyError {
    fn from(e: duckdb::Error) -> Self {
        ApplyError {
            error: e.into(),
            dirty: true,
        }
    }
}

fn clean(error: Error) -> ApplyError {
    ApplyError {
        error,
        dirty: false,
    }
}

/// What an edit did to its own cell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EditOutcome {
    /// `None` when the cell was empty.
    pub previous: Option<Units>,
    /// `None` when the cell is still empty (0 written to an empty cell).
    pub new: Option<Units>,
    pub facts_changed: i64,
}

/// The cells a request changed: their final summary rows, and which
/// measures changed.
#[derive(Debug, Default)]
pub struct Changes {
    cells: BTreeMap<(usize, RowRef, Col), (CellValue, [bool; MAX_MEASURES])>,
}

impl Changes {
    fn record(&mut self, deltas: &[CellDelta], rows: &[CellValue]) {
        for (d, v) in deltas.iter().zip(rows) {
            // A cell that just got its first facts changed in every measure
            // (from empty to a value), even where the delta is zero.
            let was_empty = d.facts > 0 && v.facts == d.facts;
            let entry = self
                .cells
                .entry((d.sheet, d.row, d.col))
                .or_insert((*v, [false; MAX_MEASURES]));
            entry.0 = *v;
            for (flag, delta) in entry.1.iter_mut().zip(d.values) {
                *flag |= was_empty || delta != 0;
            }
        }
    }

    /// The changes as the contract shows them, grouped by sheet.
    pub fn to_proto(&self, model: &Model) -> Vec<pb::SheetChanges> {
        let mut out: Vec<pb::SheetChanges> = Vec::new();
        for (&(sheet, row, col), (value, changed)) in &self.cells {
            if out
                .last()
                .is_none_or(|s| s.sheet != model.sheets[sheet].name())
            {
                out.push(pb::SheetChanges {
                    sheet: model.sheets[sheet].name(),
                    cells: Vec::new(),
                });
            }
            let cells = &mut out.last_mut().expect("pushed above").cells;
            let path = model.row_path(sheet, row);
            let measures = changed.iter().take(model.measures.len());
            for (m, _) in measures.enumerate().filter(|(_, c)| **c) {
                cells.push(pb::CellChange {
                    row_path: path.clone(),
                    column: model.column_key(col),
                    measure: model.measures[m].name.to_owned(),
                    value: model.format(m, value.values[m]),
                });
            }
        }
        out
    }
}

/// Applies edits on the writer's connection.
pub struct Applier<'a> {
    pub conn: &'a Connection,
    pub model: &'a Model,
    pub max_facts: i64,
    /// The writer's working copy of the summary.
    pub summary: &'a mut Summary,
    /// The writer's in-memory copy of the facts: changes are made to it
    /// first, and written to DuckDB from it (see [`FactWrites`]).
    pub mirror: &'a mut Mirror,
    /// The facts the group changed, written to DuckDB before commit.
    pub writes: &'a mut FactWrites,
}

/// The fact values a group of requests changed, written to DuckDB once per
/// measure just before the group commits.
///
/// One UPDATE costs about as much for one fact as for a few thousand (a
/// join over the changed ids), so a statement per edit would cap a busy
/// writer at a few hundred leaf writes a second; one per group keeps the
/// cost per write falling as the load grows. The values come from the
/// mirror, which every edit changed first: what DuckDB gets is the group's
/// final state, whatever the order of its edits.
#[derive(Debug, Default)]
pub struct FactWrites {
    /// Per measure, the cells written and the ids of the facts changed.
    changed: [Vec<(AtomFilter, Vec<i64>)>; MAX_MEASURES],
}

impl FactWrites {
    fn record(&mut self, measure: usize, cell: AtomFilter, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.changed[measure].push((cell, ids));
        }
    }

    /// Writes every changed fact value to DuckDB and checks that each
    /// changed exactly one row. An error here fails the whole group.
    pub fn flush(
        &mut self,
        conn: &Connection,
        model: &Model,
        mirror: &Mirror,
    ) -> Result<(), Error> {
        for (measure, cells) in self.changed.iter_mut().enumerate() {
            // A single cell keeps its filter: the statement then skips every
            // row group outside it (the common case: one leaf edit).
            let (filter, mut ids) = match cells.len() {
                0 => continue,
                1 => {
                    let (filter, ids) = cells.pop().expect("one cell");
                    (Some(filter), ids)
                }
                _ => (None, cells.drain(..).flat_map(|(_, ids)| ids).collect()),
            };
            ids.sort_unstable();
            ids.dedup();
            let values: Vec<(i64, Units)> = ids
                .iter()
                .map(|&id| (id, mirror.value(id, measure)))
                .collect();
            let updated = facts::update(conn, model, filter.as_ref(), measure, &values)?;
            if updated != values.len() {
                return Err(Error::Internal(format!(
                    "{updated} facts were updated where {} changed",
                    values.len()
                )));
            }
        }
        Ok(())
    }
}

impl Applier<'_> {
    pub fn apply(
        &mut self,
        edit: &Edit,
        revision: i64,
        changes: &mut Changes,
    ) -> Result<EditOutcome, ApplyError> {
        let started = std::time::Instant::now();
        let (model, cell) = (self.model, &edit.cell);
        let measure = &model.measures[cell.measure];
        let current = self.summary.cell(model, cell.sheet, cell.row, cell.col);
        let facts = current.map_or(0, |c| c.facts);
        let value = current.map_or(0, |c| c.values[cell.measure]);
        let shown = |v: Option<Units>| v.map(|v| model.format(cell.measure, v)).unwrap_or_default();

        if let Some(expected) = edit.expected
            && expected != value
        {
            return Err(clean(Error::ExpectedValueMismatch {
                cell: model.describe(cell),
                expected: model.format(cell.measure, expected),
                current: shown(current.map(|c| c.values[cell.measure])),
            }));
        }
        let target = edit
            .mode
            .target(value)
            .ok()
            .filter(|t| t.abs() < decimal::pow10(decimal::MAX_DIGITS))
            .ok_or_else(|| {
                clean(Error::invalid(format!(
                    "the new value of {} is out of range",
                    model.describe(cell)
                )))
            })?;
        if let Some(min) = measure.min
            && target < min
        {
            return Err(clean(Error::precondition(
                "BOUND_VIOLATED",
                format!(
                    "{} cannot be {}: {} is never below {}",
                    model.describe(cell),
                    model.format(cell.measure, target),
                    measure.name,
                    model.format(cell.measure, min)
                ),
            )));
        }
        let filter = model.atoms(cell);
        if facts == 0 {
            return self.fill_empty(edit, target, revision, changes);
        }
        self.check_cap(facts)?;

        let atoms = self.mirror.atoms(&filter, cell.measure, facts as usize);
        if atoms.len() as i64 != facts {
            return Err(clean(Error::Internal(format!(
                "summary of {} counts {facts} facts, the writer's facts {}",
                model.describe(cell),
                atoms.len()
            ))));
        }
        let current_values: Vec<Units> = atoms.iter().map(|a| a.value).collect();
        let held: Vec<bool> = atoms
            .iter()
            .map(|a| edit.holds.iter().any(|h| h.contains(&a.keys, a.month)))
            .collect();
        let new_values = spread::spread_with_holds(target, &current_values, &held, edit.method)
            .map_err(|e| match e {
                SpreadError::EverythingHeld => clean(Error::precondition(
                    "EVERYTHING_HELD",
                    format!(
                        "every fact beneath {} is held: nothing is free to change",
                        model.describe(cell)
                    ),
                )),
                SpreadError::Overflow => clean(Error::invalid("the new value is out of range")),
            })?;
        // Every fact must fit the column, checked here so the group's
        // deferred UPDATE cannot fail on one request's values.
        if new_values
            .iter()
            .any(|v| v.abs() >= decimal::pow10(decimal::MAX_DIGITS))
        {
            return Err(clean(Error::invalid(format!(
                "writing {} to {} would put a fact out of range",
                model.format(cell.measure, target),
                model.describe(cell)
            ))));
        }
        if let Some(min) = measure.min {
            let below = new_values.iter().filter(|v| **v < min).count();
            if below > 0 {
                return Err(clean(Error::precondition(
                    "BOUND_VIOLATED",
                    format!(
                        "writing {} to {} would make {below} facts' {} negative (the held facts exceed the target)",
                        model.format(cell.measure, target),
                        model.describe(cell),
                        measure.name
                    ),
                )));
            }
        }

        let spread_at = started.elapsed();
        let mut changed = Vec::new();
        let mut deltas = Vec::new();
        for (atom, new) in atoms.iter().zip(&new_values) {
            if *new != atom.value {
                changed.push(atom.sale_id);
                self.mirror.set(atom.sale_id, cell.measure, *new);
                let mut values = [0; MAX_MEASURES];
                values[cell.measure] = new - atom.value;
                deltas.push(FactDelta {
                    keys: atom.keys,
                    month: atom.month,
                    created: false,
                    values,
                });
            }
        }
        let facts_changed = changed.len() as i64;
        self.writes.record(cell.measure, filter, changed);
        self.roll_up(&deltas, changes);
        self.post_check(edit, target, &new_values)?;
        tracing::debug!(facts, ?spread_at, total = ?started.elapsed(), "edit applied");
        Ok(EditOutcome {
            previous: Some(value),
            new: Some(target),
            facts_changed,
        })
    }

    /// Writes to a cell without facts: the value is split equally over the
    /// leaves beneath the row and the months of the column, as new
    /// adjustment facts dated on the first of their month; every other
    /// dimension of those facts is its `(unassigned)` member. Only non-zero
    /// shares become facts.
    fn fill_empty(
        &mut self,
        edit: &Edit,
        target: Units,
        revision: i64,
        changes: &mut Changes,
    ) -> Result<EditOutcome, ApplyError> {
        if target == 0 {
            return Ok(EditOutcome {
                previous: None,
                new: None,
                facts_changed: 0,
            });
        }
        let model = self.model;
        let filter = model.atoms(&edit.cell);
        let leaves = filter.keys.clone();
        let n_leaves = i64::from(leaves.end() - leaves.start() + 1);
        let n = n_leaves * filter.months.len() as i64;
        self.check_cap(n)?;
        let shares = spread::spread(target, &vec![0; n as usize], Method::Equal);
        let mut keys = [0u32; MAX_DIMENSIONS];
        for (i, d) in model.dimensions.iter().enumerate() {
            keys[i] = d.unassigned_leaf();
        }
        let mut new_facts = Vec::new();
        let mut deltas = Vec::new();
        let mut share = shares.into_iter();
        for month in filter.months.clone() {
            for leaf in leaves.clone() {
                let value = share.next().expect("one share per fact");
                if value == 0 {
                    continue;
                }
                keys[filter.dimension] = leaf;
                let mut values = [0; MAX_MEASURES];
                values[edit.cell.measure] = value;
                let fact = facts::NewFact {
                    sale_id: self.mirror.next_id(),
                    invoice_date: model.months.start(month),
                    keys,
                    values,
                };
                self.mirror.append(&fact, month);
                new_facts.push(fact);
                deltas.push(FactDelta {
                    keys,
                    month,
                    created: true,
                    values,
                });
            }
        }
        facts::insert(self.conn, model, revision, &new_facts)?;
        self.roll_up(&deltas, changes);
        let values: Vec<Units> = new_facts
            .iter()
            .map(|f| f.values[edit.cell.measure])
            .collect();
        self.post_check(edit, target, &values)?;
        Ok(EditOutcome {
            previous: None,
            new: Some(target),
            facts_changed: new_facts.len() as i64,
        })
    }

    fn check_cap(&self, facts: i64) -> Result<(), ApplyError> {
        if facts > self.max_facts {
            return Err(clean(Error::ResourceExhausted {
                reason: "TOO_MANY_FACTS",
                message: format!(
                    "the write would touch {facts} facts; at most {} are allowed per write (--max-facts-per-write)",
                    self.max_facts
                ),
                resume_revision: None,
            }));
        }
        Ok(())
    }

    fn roll_up(&mut self, deltas: &[FactDelta], changes: &mut Changes) {
        let cells = rollup::rollup(self.model, deltas);
        let rows = self.summary.apply(self.model, &cells);
        changes.record(&cells, &rows);
    }

    /// Before anyone commits, the cell must hold exactly the target: the
    /// facts beneath the cell (all of them: their count was checked against
    /// the summary) sum to the target, and so does the rolled-up summary
    /// cell. Anything else is a bug, and the transaction is dropped. (That
    /// the database changed exactly the facts it was asked to is checked
    /// when the group's writes are flushed.)
    fn post_check(&self, edit: &Edit, target: Units, facts: &[Units]) -> Result<(), ApplyError> {
        let (model, cell) = (self.model, &edit.cell);
        let from_facts: Units = facts.iter().sum();
        let from_summary = self
            .summary
            .cell(model, cell.sheet, cell.row, cell.col)
            .map(|c| c.values[cell.measure]);
        if from_facts != target || from_summary != Some(target) {
            return Err(ApplyError {
                error: Error::Internal(format!(
                    "post-check failed for {}: target {target}, facts {from_facts}, summary \
                     {from_summary:?}",
                    model.describe(cell)
                )),
                dirty: true,
            });
        }
        Ok(())
    }
}
