//! The facts a group of requests created, inserted into DuckDB just before
//! the group commits.
//!
//! Changed values are not written here: their durable record is the
//! group's journal record (its deltas), and `facts` catches up with them
//! behind the writes (`store::catch_up`). A new fact has no row to catch
//! up in, so it is inserted by the revision that creates it, with its
//! values from the mirror (the group's final state; the catch-up writes
//! the same), and counted: a database that refuses it fails the group.

use duckdb::Connection;

use super::mirror::Mirror;
use crate::error::Error;
use crate::model::Model;
use crate::store::facts;

#[derive(Debug, Default)]
pub struct NewFacts {
    /// Facts created, as (revision, first id, count): ids are consecutive.
    created: Vec<(i64, i64, usize)>,
}

impl NewFacts {
    /// Records `count` facts created by `revision`, from id `first` on.
    pub fn record(&mut self, revision: i64, first: i64, count: usize) {
        if count > 0 {
            self.created.push((revision, first, count));
        }
    }

    /// Whether the group created none.
    pub fn is_empty(&self) -> bool {
        self.created.is_empty()
    }

    /// Inserts every new fact and checks that the database has exactly
    /// them. An error here fails the whole group.
    pub fn flush(
        &mut self,
        conn: &Connection,
        model: &Model,
        mirror: &Mirror,
    ) -> Result<(), Error> {
        let (Some(&(_, first, _)), Some(&(_, last_first, last_count))) =
            (self.created.first(), self.created.last())
        else {
            return Ok(());
        };
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
        Ok(())
    }
}
