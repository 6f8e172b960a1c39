//! The fact deltas of one revision: every fact value it changed, before
//! and after, and every fact it created or removed — the part of its
//! journal record (`store::journal`) that becomes its `fact_history` rows
//! and brings `facts` up to date when the journal is caught up.
//!
//! One row per changed (fact, measure): a leaf write adds a few, a spread
//! over 100,000 facts 100,000.

use crate::decimal::Units;
use crate::store::journal::Revision;
use crate::store::schema::EXISTENCE;

#[derive(Debug, Default)]
pub struct Deltas {
    fact: Vec<i64>,
    measure: Vec<u8>,
    before: Vec<i64>,
    after: Vec<i64>,
}

impl Deltas {
    fn push(&mut self, fact: i64, measure: u8, before: i64, after: i64) {
        self.fact.push(fact);
        self.measure.push(measure);
        self.before.push(before);
        self.after.push(after);
    }

    /// Makes room for `n` more rows (a spread knows how many it makes).
    pub fn reserve(&mut self, n: usize) {
        self.fact.reserve(n);
        self.measure.reserve(n);
        self.before.reserve(n);
        self.after.reserve(n);
    }

    /// Records a new value of one measure of a fact. (Values fit a BIGINT:
    /// the writer refuses any fact beyond the column's range.)
    pub fn changed(&mut self, fact: i64, measure: usize, before: Units, after: Units) {
        self.push(fact, measure as u8, before as i64, after as i64);
    }

    /// Records a fact that appeared (created, or brought back by a revert)
    /// or went (removed by a revert).
    pub fn existence(&mut self, fact: i64, live: bool) {
        self.push(fact, EXISTENCE, i64::from(!live), i64::from(live));
    }

    /// Makes the rows one per (fact, measure): a batch whose edits overlap
    /// (a leaf and its parent, one cell twice) changes a fact more than
    /// once, and the history keeps the first value before and the last
    /// after; a fact that came back to where it was did not change.
    pub fn coalesce(&mut self) {
        if self.fact.len() < 2 {
            return;
        }
        // A stable sort keeps each (fact, measure)'s changes in order.
        let mut order: Vec<usize> = (0..self.fact.len()).collect();
        order.sort_by_key(|&i| (self.fact[i], self.measure[i]));
        let mut rows: Vec<(i64, u8, i64, i64)> = Vec::with_capacity(order.len());
        for i in order {
            let (fact, measure) = (self.fact[i], self.measure[i]);
            match rows.last_mut() {
                Some(last) if (last.0, last.1) == (fact, measure) => last.3 = self.after[i],
                _ => rows.push((fact, measure, self.before[i], self.after[i])),
            }
        }
        *self = Deltas::default();
        for (fact, measure, before, after) in rows.into_iter().filter(|r| r.2 != r.3) {
            self.push(fact, measure, before, after);
        }
    }

    /// Moves the rows into the revision's journal record.
    pub fn into_record(self, record: &mut Revision) {
        record.fact_ids = self.fact;
        record.measures = self.measure.into_iter().map(u32::from).collect();
        record.before = self.before;
        record.after = self.after;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(d: &Deltas) -> Vec<(i64, u8, i64, i64)> {
        (0..d.fact.len())
            .map(|i| (d.fact[i], d.measure[i], d.before[i], d.after[i]))
            .collect()
    }

    #[test]
    fn a_revision_that_changes_a_fact_twice_keeps_one_row_from_first_before_to_last_after() {
        let mut d = Deltas::default();
        d.changed(7, 0, 10, 20);
        d.existence(3, true);
        d.changed(3, 1, 0, 6);
        d.changed(7, 0, 20, 30);
        d.changed(7, 1, 5, 8);
        d.changed(3, 1, 6, 9);
        d.changed(7, 1, 8, 5);
        d.coalesce();
        assert_eq!(
            rows(&d),
            [(3, 1, 0, 9), (3, EXISTENCE, 0, 1), (7, 0, 10, 30)],
            "fact 7's measure 1 back where it was"
        );
    }
}
