//! The facts a group of requests created and changed, written to DuckDB
//! once, just before the group commits.
//!
//! One UPDATE costs about as much for one fact as for a few thousand (a
//! join over the changed ids), so a statement per edit would cap a busy
//! writer at a few hundred leaf writes a second; one per group keeps the
//! cost per write falling as the load grows. The values come from the
//! mirror, which every edit changed first: what DuckDB gets is the group's
//! final state, whatever the order of its edits. Both kinds of write are
//! confirmed: new facts are flushed and counted, updates row-counted.

use duckdb::Connection;

use super::mirror::Mirror;
use crate::decimal::Units;
use crate::error::Error;
use crate::model::{AtomFilter, MAX_MEASURES, Model};
use crate::store::facts;

#[derive(Debug, Default)]
pub struct FactWrites {
    /// Per measure, the cells written (none for a revert, whose facts lie
    /// anywhere) and the ids of the facts changed.
    changed: [Vec<(Option<AtomFilter>, Vec<i64>)>; MAX_MEASURES],
    /// Facts created, as (revision, first id, count): ids are consecutive.
    created: Vec<(i64, i64, usize)>,
    /// Facts removed or brought back by a revert: (id, `removed_revision`).
    removed: Vec<(i64, Units)>,
}

impl FactWrites {
    /// Records changed facts of one measure, all beneath `cell`.
    pub fn record(&mut self, measure: usize, cell: AtomFilter, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.changed[measure].push((Some(cell), ids));
        }
    }

    /// Records changed facts of one measure, anywhere.
    pub fn record_anywhere(&mut self, measure: usize, ids: Vec<i64>) {
        if !ids.is_empty() {
            self.changed[measure].push((None, ids));
        }
    }

    /// Records a fact removed by `revision` (or brought back: 0).
    pub fn record_removed(&mut self, id: i64, revision: i64) {
        self.removed.push((id, Units::from(revision)));
    }

    /// Records `count` facts created by `revision`, from id `first` on.
    pub fn record_created(&mut self, revision: i64, first: i64, count: usize) {
        if count > 0 {
            self.created.push((revision, first, count));
        }
    }

    /// Writes every new fact and every changed fact value to DuckDB, and
    /// checks that the database has exactly what it was asked to. An error
    /// here fails the whole group.
    pub fn flush(
        &mut self,
        conn: &Connection,
        model: &Model,
        mirror: &Mirror,
    ) -> Result<(), Error> {
        if let (Some(&(_, first, _)), Some(&(_, last_first, last_count))) =
            (self.created.first(), self.created.last())
        {
            let last = last_first + last_count as i64 - 1;
            let rows = self.created.iter().flat_map(|&(revision, first, count)| {
                (first..first + count as i64).map(move |id| (revision, mirror.fact(id)))
            });
            facts::insert(conn, model.dimensions.len(), model.def.measures.len(), rows)?;
            let expected = (last - first + 1) as usize;
            let inserted = facts::count_ids(conn, first, last)?;
            if inserted != expected {
                return Err(Error::Internal(format!(
                    "{inserted} facts were inserted where {expected} were created"
                )));
            }
            self.created.clear();
        }
        for (measure, cells) in self.changed.iter_mut().enumerate() {
            // A single cell keeps its filter: the statement then skips every
            // row group outside it (the common case: one leaf edit).
            let (filter, mut ids) = match cells.len() {
                0 => continue,
                1 => cells.pop().expect("one cell"),
                _ => (None, cells.drain(..).flat_map(|(_, ids)| ids).collect()),
            };
            ids.sort_unstable();
            ids.dedup();
            let values: Vec<(i64, Units)> = ids
                .iter()
                .map(|&id| (id, mirror.value(id, measure)))
                .collect();
            let updated = facts::update(conn, filter.as_ref(), &format!("m{measure}"), &values)?;
            if updated != values.len() {
                return Err(Error::Internal(format!(
                    "{updated} facts were updated where {} changed",
                    values.len()
                )));
            }
        }
        if !self.removed.is_empty() {
            // The last word on each fact (a group may remove one and bring
            // it back), in id order.
            let mut last = std::collections::BTreeMap::new();
            last.extend(self.removed.drain(..));
            let values: Vec<(i64, Units)> = last.into_iter().collect();
            let updated = facts::update(conn, None, "removed_revision", &values)?;
            if updated != values.len() {
                return Err(Error::Internal(format!(
                    "{updated} facts were marked where {} were removed or restored",
                    values.len()
                )));
            }
        }
        Ok(())
    }
}
