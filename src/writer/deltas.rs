//! The fact deltas of a commit group: every fact value its revisions
//! changed, before and after, and every fact they created or removed —
//! appended to `fact_history` as one columnar batch just before the group
//! commits. They are the durable record of the group's facts (the `facts`
//! table catches up from them behind the writes) and the fact history.
//!
//! One row per changed (fact, measure): a leaf write adds one row, a
//! spread over 100,000 facts 100,000, which DuckDB stores compressed
//! (revision and measure are runs, fact ids nearly consecutive).

use std::sync::Arc;

use duckdb::Connection;
use duckdb::arrow::array::{Int64Array, UInt8Array};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::Value;

use crate::decimal::Units;
use crate::store::rows;
use crate::store::schema::EXISTENCE;

#[derive(Debug, Default)]
pub struct Deltas {
    revision: Vec<i64>,
    fact: Vec<i64>,
    measure: Vec<u8>,
    before: Vec<i64>,
    after: Vec<i64>,
}

impl Deltas {
    fn push(&mut self, revision: i64, fact: i64, measure: u8, before: i64, after: i64) {
        self.revision.push(revision);
        self.fact.push(fact);
        self.measure.push(measure);
        self.before.push(before);
        self.after.push(after);
    }

    /// Records a new value of one measure of a fact. (Values fit a BIGINT:
    /// the writer refuses any fact beyond the column's range.)
    pub fn changed(
        &mut self,
        revision: i64,
        fact: i64,
        measure: usize,
        before: Units,
        after: Units,
    ) {
        self.push(revision, fact, measure as u8, before as i64, after as i64);
    }

    /// Records a fact that appeared (created, or brought back by a revert)
    /// or went (removed by a revert).
    pub fn existence(&mut self, revision: i64, fact: i64, live: bool) {
        self.push(revision, fact, EXISTENCE, i64::from(!live), i64::from(live));
    }

    /// Makes the rows of `revision` one per (fact, measure): a batch whose
    /// edits overlap (a leaf and its parent, one cell twice) changes a fact
    /// more than once, and the history keeps the first value before and the
    /// last after; a fact that came back to where it was did not change.
    /// The revision's rows are the last ones recorded.
    pub fn coalesce(&mut self, revision: i64) {
        let start = self
            .revision
            .iter()
            .rposition(|r| *r != revision)
            .map_or(0, |i| i + 1);
        if self.fact.len() - start < 2 {
            return;
        }
        // A stable sort keeps each (fact, measure)'s changes in order.
        let mut order: Vec<usize> = (start..self.fact.len()).collect();
        order.sort_by_key(|&i| (self.fact[i], self.measure[i]));
        let mut rows: Vec<(i64, u8, i64, i64)> = Vec::with_capacity(order.len());
        for i in order {
            let (fact, measure) = (self.fact[i], self.measure[i]);
            match rows.last_mut() {
                Some(last) if (last.0, last.1) == (fact, measure) => last.3 = self.after[i],
                _ => rows.push((fact, measure, self.before[i], self.after[i])),
            }
        }
        for v in [
            &mut self.revision,
            &mut self.fact,
            &mut self.before,
            &mut self.after,
        ] {
            v.truncate(start);
        }
        self.measure.truncate(start);
        for (fact, measure, before, after) in rows.into_iter().filter(|r| r.2 != r.3) {
            self.push(revision, fact, measure, before, after);
        }
    }

    /// Appends what was recorded to `fact_history` (on the group's open
    /// transaction) and forgets it.
    pub fn flush(&mut self, conn: &Connection) -> duckdb::Result<()> {
        if self.fact.is_empty() {
            return Ok(());
        }
        if self.fact.len() <= rows::INSERT_ROWS {
            let values: Vec<Value> = (0..self.fact.len())
                .flat_map(|i| {
                    [
                        Value::BigInt(self.revision[i]),
                        Value::BigInt(self.fact[i]),
                        Value::UTinyInt(self.measure[i]),
                        Value::BigInt(self.before[i]),
                        Value::BigInt(self.after[i]),
                    ]
                })
                .collect();
            rows::insert(conn, "fact_history", 5, &values)?;
            *self = Deltas::default();
            return Ok(());
        }
        let schema = Schema::new(vec![
            Field::new("revision", DataType::Int64, false),
            Field::new("fact_id", DataType::Int64, false),
            Field::new("measure", DataType::UInt8, false),
            Field::new("before", DataType::Int64, false),
            Field::new("after", DataType::Int64, false),
        ]);
        let batch = RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(std::mem::take(&mut self.revision))),
                Arc::new(Int64Array::from(std::mem::take(&mut self.fact))),
                Arc::new(UInt8Array::from(std::mem::take(&mut self.measure))),
                Arc::new(Int64Array::from(std::mem::take(&mut self.before))),
                Arc::new(Int64Array::from(std::mem::take(&mut self.after))),
            ],
        )
        .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
        let mut app = conn.appender("fact_history")?;
        app.append_record_batch(batch)?;
        app.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(d: &Deltas) -> Vec<(i64, i64, u8, i64, i64)> {
        (0..d.fact.len())
            .map(|i| {
                (
                    d.revision[i],
                    d.fact[i],
                    d.measure[i],
                    d.before[i],
                    d.after[i],
                )
            })
            .collect()
    }

    #[test]
    fn a_revision_that_changes_a_fact_twice_keeps_one_row_from_first_before_to_last_after() {
        let mut d = Deltas::default();
        d.changed(4, 9, 0, 1, 2);
        d.changed(5, 7, 0, 10, 20);
        d.existence(5, 3, true);
        d.changed(5, 3, 1, 0, 6);
        d.changed(5, 7, 0, 20, 30);
        d.changed(5, 7, 1, 5, 8);
        d.changed(5, 3, 1, 6, 9);
        d.changed(5, 7, 1, 8, 5);
        d.coalesce(5);
        assert_eq!(
            rows(&d),
            [
                (4, 9, 0, 1, 2),
                (5, 3, 1, 0, 9),
                (5, 3, EXISTENCE, 0, 1),
                (5, 7, 0, 10, 30),
            ],
            "the earlier revision untouched, fact 7's measure 1 back where it was"
        );
    }
}
