//! Applying one edit inside the writer's open transaction: read the cell,
//! check compare-and-set and bounds, spread the target over the facts (or
//! create adjustment facts for an empty cell), roll the changes up into the
//! summary, and verify the target against the facts before anyone commits.
//! Facts change in the mirror; the request's journal record gets their
//! deltas ([`Deltas`]), and the tables catch up with the journal behind
//! the writes. New facts are inserted when the group flushes
//! ([`NewFacts`]): a database that refuses one fails the write.

use super::changes::Changes;
use super::deltas::Deltas;
use super::mirror::Mirror;
use super::writes::NewFacts;
use crate::decimal::{self, Units};
use crate::edit::Edit;
use crate::error::Error;
use crate::model::{MAX_DIMENSIONS, MAX_MEASURES, Model};
use crate::rollup::{self, CellDelta, FactDelta};
use crate::spread::{self, Method, SpreadError};
use crate::store::facts;
use crate::summary::Summary;

/// A failed edit, and whether it had already changed anything in the open
/// transaction (then the transaction must be rolled back).
#[derive(Debug)]
pub struct ApplyError {
    pub error: Error,
    pub dirty: bool,
}

pub fn clean(error: Error) -> ApplyError {
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

/// Applies the edits of one request.
pub struct Applier<'a> {
    pub model: &'a Model,
    /// The most facts one request may change or create
    /// (`--max-facts-per-write`), over all its edits.
    pub max_facts: i64,
    /// What this request has left of `max_facts`.
    pub facts_left: i64,
    /// The writer's working copy of the summary.
    pub summary: &'a mut Summary,
    /// The writer's in-memory copy of the facts: changes are made to it
    /// first; it is what reads and spreads see.
    pub mirror: &'a mut Mirror,
    /// The facts the group created, inserted before commit.
    pub created: &'a mut NewFacts,
    /// Every fact value the request changed, before and after.
    pub deltas: Deltas,
    /// The oldest revision the fact history can rebuild (only later ones
    /// can be reverted); `None` with the history off.
    pub history_from: Option<i64>,
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
        let measure = &model.def.measures[cell.measure];
        let current = self.summary.cell(cell.sheet, cell.row, cell.col);
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
        self.take_facts(facts)?;

        let atoms = self.mirror.atoms(&filter, cell.measure, facts as usize);
        if atoms.ids.len() as i64 != facts {
            return Err(clean(Error::Internal(format!(
                "summary of {} counts {facts} facts, the writer's facts {}",
                model.describe(cell),
                atoms.ids.len()
            ))));
        }
        let held: Option<Vec<bool>> = (!edit.holds.is_empty()).then(|| {
            let mirror = &*self.mirror;
            atoms
                .ids
                .iter()
                .map(|&id| {
                    let (keys, month) = mirror.place(id);
                    edit.holds.contains(keys, month)
                })
                .collect()
        });
        let new_values =
            spread::spread_with_holds(target, &atoms.values, held.as_deref(), edit.method)
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
        self.mirror.reserve(atoms.ids.len());
        self.deltas.reserve(atoms.ids.len());
        let mut facts_changed = 0;
        for ((&id, &old), &new) in atoms.ids.iter().zip(&atoms.values).zip(&new_values) {
            let old = Units::from(old);
            if new != old {
                self.mirror.set(i64::from(id), cell.measure, new);
                self.deltas.changed(i64::from(id), cell.measure, old, new);
                facts_changed += 1;
            }
        }
        // Rolled up from the atoms, without collecting a delta per fact.
        let (mirror, measure) = (&*self.mirror, cell.measure);
        let changed = atoms
            .ids
            .iter()
            .zip(&atoms.values)
            .zip(&new_values)
            .filter(|((_, old), new)| **new != Units::from(**old))
            .map(|((&id, &old), &new)| {
                let (keys, month) = mirror.place(id);
                let mut values = [0; MAX_MEASURES];
                values[measure] = new - Units::from(old);
                FactDelta {
                    keys: *keys,
                    month,
                    facts: 0,
                    values,
                }
            });
        let cells = rollup::rollup_each(model, facts_changed, changed);
        self.record(&cells, changes);
        self.post_check(edit, target, &new_values)?;
        tracing::debug!(facts, ?spread_at, total = ?started.elapsed(), "edit applied");
        Ok(EditOutcome {
            previous: Some(value),
            new: Some(target),
            facts_changed: facts_changed as i64,
        })
    }

    /// Writes to a cell without facts: the value is split equally over the
    /// places beneath it — every combination of the leaves its row and the
    /// sheet's filters fix (TM1 spreads into a consolidation's leaves the
    /// same way), in every month of its column — as new adjustment facts;
    /// every other dimension of those facts is its placeholder member. A
    /// place held by the edit's holds gets nothing (the rest absorbs its
    /// share; all of them held is EVERYTHING_HELD), and only non-zero shares
    /// become facts.
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
        let mut base = [0u32; MAX_DIMENSIONS];
        for (i, d) in model.dimensions.iter().enumerate() {
            base[i] = d.placeholder_leaf();
        }
        let mut count = filter.months.len() as i64;
        for (_, leaves) in &filter.keys {
            count = count.saturating_mul(i64::from(leaves.end() - leaves.start() + 1));
        }
        self.take_facts(count)?;
        let mut places = Vec::new();
        for month in filter.months.clone() {
            let mut keys = base;
            each_combination(&filter.keys, 0, &mut keys, &mut |keys| {
                if !edit.holds.contains(keys, month) {
                    places.push((*keys, month));
                }
            });
        }
        if places.is_empty() {
            return Err(clean(Error::precondition(
                "EVERYTHING_HELD",
                format!(
                    "{} is empty and every place an adjustment fact beneath it could go is held",
                    model.describe(&edit.cell)
                ),
            )));
        }
        let shares = spread::spread(target, &vec![0; places.len()], Method::Equal);
        let first = self.mirror.next_id();
        let mut values_created = Vec::new();
        let mut deltas = Vec::new();
        for ((keys, month), value) in places.into_iter().zip(shares) {
            if value == 0 {
                continue;
            }
            let mut values = [0; MAX_MEASURES];
            values[edit.cell.measure] = value;
            let fact = facts::NewFact {
                fact_id: self.mirror.next_id(),
                month,
                keys,
                values,
            };
            self.mirror.append(&fact);
            self.deltas.existence(fact.fact_id, true);
            self.deltas
                .changed(fact.fact_id, edit.cell.measure, 0, value);
            values_created.push(value);
            deltas.push(FactDelta {
                keys,
                month,
                facts: 1,
                values,
            });
        }
        self.created.record(revision, first, values_created.len());
        self.roll_up(&deltas, changes);
        self.post_check(edit, target, &values_created)?;
        Ok(EditOutcome {
            previous: None,
            new: Some(target),
            facts_changed: values_created.len() as i64,
        })
    }

    /// Counts `facts` against what the request may still touch.
    pub(super) fn take_facts(&mut self, facts: i64) -> Result<(), ApplyError> {
        if facts > self.facts_left {
            let touched = self.max_facts - self.facts_left + facts;
            return Err(clean(Error::ResourceExhausted {
                reason: "TOO_MANY_FACTS",
                message: format!(
                    "the request would touch at least {touched} facts; at most {} are allowed per \
                     request, over all its edits (--max-facts-per-write)",
                    self.max_facts
                ),
                resume_revision: None,
            }));
        }
        self.facts_left -= facts;
        Ok(())
    }

    pub(super) fn roll_up(&mut self, deltas: &[FactDelta], changes: &mut Changes) {
        let cells = rollup::rollup(self.model, deltas);
        self.record(&cells, changes);
    }

    /// Applies changed cells to the summary and records them for the event.
    fn record(&mut self, cells: &[CellDelta], changes: &mut Changes) {
        let rows = self.summary.apply(cells);
        changes.record(cells, &rows);
    }

    /// Before anyone commits, the cell must hold exactly the target: the
    /// facts beneath the cell (all of them: their count was checked against
    /// the summary) sum to the target, and so does the rolled-up summary
    /// cell. Anything else is a bug, and the transaction is dropped. (That
    /// the database changed exactly the facts it was asked to is checked
    /// when they are written: new ones at flush, changed ones when the
    /// facts catch up.)
    fn post_check(&self, edit: &Edit, target: Units, facts: &[Units]) -> Result<(), ApplyError> {
        let (model, cell) = (self.model, &edit.cell);
        let from_facts: Units = facts.iter().sum();
        let from_summary = self
            .summary
            .cell(cell.sheet, cell.row, cell.col)
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

/// Calls `f` with `keys` set to every combination of the leaves in
/// `ranges[from..]` (a dimension each).
fn each_combination(
    ranges: &[(usize, std::ops::RangeInclusive<u32>)],
    from: usize,
    keys: &mut [u32; MAX_DIMENSIONS],
    f: &mut impl FnMut(&[u32; MAX_DIMENSIONS]),
) {
    let Some((d, leaves)) = ranges.get(from) else {
        f(keys);
        return;
    };
    for leaf in leaves.clone() {
        keys[*d] = leaf;
        each_combination(ranges, from + 1, keys, f);
    }
}
