//! Reverting a revision inside the writer's open transaction: every fact
//! value the target changed goes back to its value before it, the facts it
//! created are removed and the ones it removed come back — unless a later
//! revision changed any of them, which is a conflict (ABORTED, listing the
//! later revisions) unless the request says to overwrite.
//!
//! A conflict is a later change still in effect: a fact that no longer
//! holds what the target left in it. A later revision that was itself
//! reverted (undo, then undo again) left the facts as they were, so it
//! does not keep the earlier one from being taken back.
//!
//! A revert is an ordinary revision: its own deltas go to the history (so
//! reverting a revert restores the original), its changes roll up into the
//! summary and its event lists the changed cells.

use duckdb::Connection;

use super::apply::{Applier, ApplyError, clean};
use super::changes::Changes;
use crate::decimal::Units;
use crate::error::Error;
use crate::model::MAX_MEASURES;
use crate::rollup::FactDelta;
use crate::store::changelog;
use crate::store::history::{self, Row};
use crate::store::schema::EXISTENCE;

/// What one fact becomes.
struct Restore {
    fact_id: i64,
    live: bool,
    values: [Units; MAX_MEASURES],
}

impl Applier<'_> {
    /// Reverts `target` as revision `revision`; returns how many facts
    /// changed.
    pub fn revert(
        &mut self,
        conn: &Connection,
        target: i64,
        overwrite: bool,
        revision: i64,
        changes: &mut Changes,
    ) -> Result<i64, ApplyError> {
        let head = revision - 1;
        if target > head {
            return Err(clean(Error::not_found(format!(
                "revision {target} does not exist (the head is {head})"
            ))));
        }
        // With the history off, nothing before the head can be rebuilt.
        let from = self.history_from.unwrap_or(head);
        if target <= from {
            return Err(clean(Error::OutOfRange {
                message: format!(
                    "revision {target} can no longer be reverted: the fact history keeps \
                     revisions after {from} (--history-retention)"
                ),
                oldest: from + 1,
                head,
                database_id: None,
            }));
        }
        // The tables hold every revision before this one: a revert starts a
        // group of its own once they have caught up (see `super::group`).
        // A storage error here may have aborted the group's transaction:
        // the group is re-applied.
        let storage = |e: duckdb::Error| ApplyError {
            error: e.into(),
            dirty: true,
        };
        // Taken back twice, the bookkeeping of what is in effect would have
        // two reverts of one revision (and the second would change nothing).
        if let Some(by) = changelog::reverted_by(conn, target).map_err(storage)? {
            return Err(clean(Error::precondition(
                "ALREADY_REVERTED",
                format!(
                    "revision {target} is already reverted by revision {by}: revert {by} to restore it"
                ),
            )));
        }
        let rows = history::rows_of(conn, target).map_err(storage)?;
        if !overwrite {
            let moved = self.moved(&rows);
            if !moved.is_empty() {
                let later = history::touching(conn, target, &moved).map_err(storage)?;
                return Err(clean(conflict(target, &later)));
            }
        }
        let plan = self.plan(&rows)?;
        self.take_facts(plan.len() as i64)?;

        let mut deltas = Vec::with_capacity(plan.len());
        for r in &plan {
            let now = self.mirror.fact(r.fact_id);
            let was_live = self.mirror.is_live(r.fact_id);
            if r.live && !was_live {
                self.set_live(r.fact_id, true);
            }
            let mut values = [0; MAX_MEASURES];
            for (m, value) in values.iter_mut().enumerate() {
                if r.values[m] != now.values[m] {
                    self.mirror.set(r.fact_id, m, r.values[m]);
                    self.deltas
                        .changed(r.fact_id, m, now.values[m], r.values[m]);
                    *value = r.values[m] - now.values[m];
                }
            }
            if !r.live && was_live {
                self.set_live(r.fact_id, false);
            }
            deltas.push(FactDelta {
                keys: now.keys,
                month: now.month,
                facts: i64::from(r.live) - i64::from(was_live),
                values,
            });
        }
        self.roll_up(&deltas, changes);
        Ok(plan.len() as i64)
    }

    /// The facts that no longer hold what the target left in them, at most
    /// [`history::MAX_MOVED`]. A fact the target created goes with the
    /// revert, and every value in it: a later value in a measure the target
    /// did not write is a later change too.
    fn moved(&self, rows: &[Row]) -> Vec<i64> {
        let measures = self.model.def.measures.len();
        let mut moved = Vec::new();
        // The rows are in fact order, each fact's existence last.
        for fact in rows.chunk_by(|a, b| a.fact_id == b.fact_id) {
            let id = fact[0].fact_id;
            let holds = |row: &Row| {
                let now = if row.measure == EXISTENCE {
                    i64::from(self.mirror.is_live(id))
                } else {
                    self.mirror.value(id, row.measure as usize) as i64
                };
                now == row.after
            };
            let created = fact
                .iter()
                .any(|r| r.measure == EXISTENCE && r.before == 0 && r.after == 1);
            let written_later = || {
                (0..measures).any(|m| {
                    !fact.iter().any(|r| r.measure as usize == m) && self.mirror.value(id, m) != 0
                })
            };
            if !fact.iter().all(holds) || (created && written_later()) {
                moved.push(id);
                if moved.len() == history::MAX_MOVED {
                    break;
                }
            }
        }
        moved
    }

    /// What each fact the target changed becomes, checked against the
    /// measures' bounds before anything changes.
    fn plan(&self, rows: &[Row]) -> Result<Vec<Restore>, ApplyError> {
        let model = self.model;
        let mut plan: Vec<Restore> = Vec::new();
        for row in rows {
            if plan.last().is_none_or(|r| r.fact_id != row.fact_id) {
                plan.push(Restore {
                    fact_id: row.fact_id,
                    live: self.mirror.is_live(row.fact_id),
                    values: self.mirror.fact(row.fact_id).values,
                });
            }
            let r = plan.last_mut().expect("pushed above");
            if row.measure == EXISTENCE {
                r.live = row.before == 1;
            } else {
                r.values[row.measure as usize] = Units::from(row.before);
            }
        }
        for r in &mut plan {
            if !r.live {
                // A removed fact holds zeros (whatever later revisions
                // wrote to it, when overwriting).
                r.values = [0; MAX_MEASURES];
            }
            for (m, measure) in model.def.measures.iter().enumerate() {
                if let Some(min) = measure.min
                    && r.values[m] < min
                    && r.values[m] != self.mirror.value(r.fact_id, m)
                {
                    return Err(clean(Error::precondition(
                        "BOUND_VIOLATED",
                        format!(
                            "the revert would make a fact's {} {} (it is never below {})",
                            measure.name,
                            model.format(m, r.values[m]),
                            model.format(m, min)
                        ),
                    )));
                }
            }
        }
        Ok(plan)
    }

    fn set_live(&mut self, fact_id: i64, live: bool) {
        self.mirror.set_live(fact_id, live);
        self.deltas.existence(fact_id, live);
    }
}

/// The refusal of a revert that later revisions conflict with.
fn conflict(target: i64, later: &[i64]) -> Error {
    let listed: Vec<String> = later.iter().map(i64::to_string).collect();
    let more = if later.len() >= history::MAX_CONFLICTS {
        " (and maybe more)"
    } else {
        ""
    };
    Error::Aborted {
        reason: "REVISION_CONFLICT",
        message: format!(
            "revision {target} cannot be reverted: later revisions changed the same facts ({}{more}); \
             revert those first, or set overwrite to restore the facts anyway",
            listed.join(", ")
        ),
        metadata: vec![
            ("revision", target.to_string()),
            ("conflicting_revisions", listed.join(",")),
        ],
    }
}
