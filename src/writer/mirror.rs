//! The writer's in-memory copy of the facts' keys and measures.
//!
//! Finding the facts beneath a cell is the first step of every write; as a
//! DuckDB query it costs a millisecond for a leaf and a large share of a
//! spread over 100,000 facts. The writer is the only one who changes facts,
//! so it can keep a columnar copy (a few tens of bytes per fact) and look
//! them up through a per-leaf index instead. The database (its tables and
//! the journal) stays the source of truth: the copy is loaded from it at
//! start-up, every change is recorded durably with its commit (the group's
//! journal record, which `facts` catches up with), and a rolled-back group
//! is undone in the copy too.
//!
//! Fact ids (`fact_id`) are dense: the import numbers facts 0..n and
//! adjustment facts take the next id, so a fact's id is its index here. A
//! fact removed by a revert keeps its slot (and its id), holding zeros;
//! lookups and aggregations skip it.

use std::ops::Range;

use duckdb::Connection;

use crate::decimal::Units;
use crate::model::{AtomFilter, MAX_DIMENSIONS, MAX_MEASURES, Model};
use crate::store::facts::NewFact;

/// Why the facts could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Storage(#[from] duckdb::Error),
    #[error("sale ids are not dense: fact {index} has id {id}")]
    Sparse { index: usize, id: i64 },
    #[error("fact {0} is dated outside the model's months")]
    OutOfRange(i64),
}

/// The live facts beneath a cell, in id order: their ids, and their values
/// of the measure being written. (Columns, not one struct per fact: a
/// spread over 1,000,000 facts reads them all, and 12 bytes a fact is a
/// quarter of what their keys and months would add.)
#[derive(Debug, Default)]
pub struct Atoms {
    pub ids: Vec<u32>,
    pub values: Vec<i64>,
}

/// One change to undo (16 bytes: a spread over 1,000,000 facts logs
/// 1,000,000 of them).
enum Undo {
    Value { id: u32, measure: u8, old: i64 },
    Live { id: u32, old: bool },
    Appended,
}

/// One leaf's facts, by month and then id. A leaf cell is one month of a
/// leaf: its facts are one run of `ids`, found by two binary searches
/// rather than by testing the leaf's every month (at 1,000,000 facts,
/// ~10,000 candidates for ~400 facts). The searches run over the leaf's own
/// copy of the months, two bytes a fact: through the fact columns instead,
/// every step was a cache miss, and they took a tenth of the writer's time
/// (perf, 32 clients at 1,000,000 facts).
#[derive(Clone, Default)]
struct Leaf {
    months: Vec<u16>,
    ids: Vec<u32>,
}

impl Leaf {
    /// The run of `ids` dated in `months`.
    fn run(&self, months: Range<u16>) -> &[u32] {
        let from = self.months.partition_point(|&m| m < months.start);
        let to = from + self.months[from..].partition_point(|&m| m < months.end);
        &self.ids[from..to]
    }

    /// Where a fact of `month` newer than every fact here goes: the end of
    /// its month's run.
    fn end_of(&self, month: u16) -> usize {
        self.months.partition_point(|&m| m <= month)
    }

    fn clear(&mut self) {
        self.months.clear();
        self.ids.clear();
    }

    fn insert(&mut self, at: usize, id: u32, month: u16) {
        self.months.insert(at, month);
        self.ids.insert(at, id);
    }

    fn remove(&mut self, at: usize) {
        self.months.remove(at);
        self.ids.remove(at);
    }
}

/// The facts, columnar, indexed by leaf of every dimension.
pub struct Mirror {
    keys: Vec<[u32; MAX_DIMENSIONS]>,
    months: Vec<u16>,
    values: Vec<[i64; MAX_MEASURES]>,
    /// False for a removed fact.
    live: Vec<bool>,
    /// `by_leaf[dimension][leaf]`: the facts of that leaf, by month and
    /// then id.
    by_leaf: Vec<Vec<Leaf>>,
    /// Changes since the last [`Mirror::commit`], newest last.
    undo: Vec<Undo>,
}

impl Mirror {
    /// Loads every fact from the database.
    pub fn load(conn: &Connection, model: &Model) -> Result<Self, LoadError> {
        let (nd, nm) = (model.dimensions.len(), model.def.measures.len());
        let mut cols: Vec<String> = (0..nd).map(|i| format!("d{i}")).collect();
        cols.extend((0..nm).map(|i| format!("m{i}")));
        let sql = format!(
            "SELECT fact_id, month, removed_revision, {} FROM facts ORDER BY fact_id",
            cols.join(", ")
        );
        let mut mirror = Mirror::empty(model);
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            let index = mirror.keys.len();
            if id != index as i64 {
                return Err(LoadError::Sparse { index, id });
            }
            let month: i16 = r.get(1)?;
            if month < 0 || month as u16 >= model.def.months.count {
                return Err(LoadError::OutOfRange(id));
            }
            let mut fact = NewFact {
                fact_id: id,
                month: month as u16,
                keys: [0; MAX_DIMENSIONS],
                values: [0; MAX_MEASURES],
            };
            for d in 0..nd {
                fact.keys[d] = r.get::<_, i32>(3 + d)? as u32;
            }
            for m in 0..nm {
                fact.values[m] = Units::from(r.get::<_, i64>(3 + nd + m)?);
            }
            mirror.push(&fact);
            if r.get::<_, i64>(2)? != 0 {
                mirror.live[index] = false;
            }
        }
        mirror.index();
        Ok(mirror)
    }

    /// No facts yet.
    fn empty(model: &Model) -> Self {
        Mirror {
            keys: Vec::new(),
            months: Vec::new(),
            values: Vec::new(),
            live: Vec::new(),
            by_leaf: model
                .dimensions
                .iter()
                .map(|d| vec![Leaf::default(); d.leaf_count() as usize])
                .collect(),
            undo: Vec::new(),
        }
    }

    /// A copy of the given facts (for tests: ids must be dense).
    #[cfg(test)]
    pub fn from_facts(model: &Model, facts: &[NewFact]) -> Self {
        let mut mirror = Mirror::empty(model);
        for f in facts {
            mirror.push(f);
        }
        mirror.index();
        mirror
    }

    /// Calls `f` with every live fact's keys, month and values.
    pub fn for_each(&self, mut f: impl FnMut(&[u32], u16, &[Units; MAX_MEASURES])) {
        for i in (0..self.keys.len()).filter(|&i| self.live[i]) {
            f(
                &self.keys[i],
                self.months[i],
                &self.values[i].map(Units::from),
            );
        }
    }

    /// Adds a fact's columns; [`Mirror::index`] indexes them all at once.
    fn push(&mut self, fact: &NewFact) {
        self.keys.push(fact.keys);
        self.months.push(fact.month);
        self.values.push(fact.values.map(|v| v as i64));
        self.live.push(true);
    }

    /// Builds the index over every fact: visited in (month, id) order (a
    /// counting sort by month), each leaf's list comes out in that order.
    fn index(&mut self) {
        let mut starts = vec![0usize; self.months.iter().max().map_or(0, |m| *m as usize + 2)];
        for &m in &self.months {
            starts[m as usize + 1] += 1;
        }
        for i in 1..starts.len() {
            starts[i] += starts[i - 1];
        }
        let mut order = vec![0u32; self.months.len()];
        for (id, &m) in self.months.iter().enumerate() {
            order[starts[m as usize]] = id as u32;
            starts[m as usize] += 1;
        }
        for leaves in &mut self.by_leaf {
            leaves.iter_mut().for_each(Leaf::clear);
        }
        for id in order {
            let (keys, month) = (&self.keys[id as usize], self.months[id as usize]);
            for (d, leaves) in self.by_leaf.iter_mut().enumerate() {
                let leaf = &mut leaves[keys[d] as usize];
                leaf.months.push(month);
                leaf.ids.push(id);
            }
        }
    }

    /// The id the next new fact gets.
    pub fn next_id(&self) -> i64 {
        self.keys.len() as i64
    }

    /// The live facts beneath a cell, with measure `measure`. `expected`
    /// is how many there are (from the summary): for a large share of all
    /// facts a sequential pass beats the index, whose ids are scattered
    /// over memory.
    pub fn atoms(&self, filter: &AtomFilter, measure: usize, expected: usize) -> Atoms {
        let mut ids = Vec::with_capacity(expected);
        // The index of the dimension whose range is narrowest (relative to
        // its size) finds the candidates; the rest of the filter sifts them.
        let narrowest = filter.keys.iter().min_by_key(|(d, r)| {
            let size = self.by_leaf[*d].len().max(1) as u64;
            (u64::from(r.end() - r.start()) + 1) * 1_000_000 / size
        });
        match narrowest.filter(|_| expected * 16 <= self.keys.len()) {
            None => ids.extend((0..self.keys.len() as u32).filter(|&id| {
                let i = id as usize;
                self.live[i] && filter.contains(&self.keys[i], self.months[i])
            })),
            Some((d, range)) => {
                // A run holds only facts of that dimension's range and of
                // the filter's months: what is left to test is the other
                // dimensions (none, for a leaf cell) and whether each is
                // live. Testing the whole filter read every candidate's
                // keys too, a cache miss each: a third of the lookup.
                let others: Vec<_> = filter.keys.iter().filter(|(x, _)| x != d).collect();
                let sift = |&&id: &&u32| {
                    let i = id as usize;
                    self.live[i] && others.iter().all(|(x, r)| r.contains(&self.keys[i][*x]))
                };
                for leaf in &self.by_leaf[*d][*range.start() as usize..=*range.end() as usize] {
                    ids.extend(leaf.run(filter.months.clone()).iter().filter(sift));
                }
                // Leaves and months are visited in order; spreading wants
                // id order.
                ids.sort_unstable();
            }
        }
        let values = ids
            .iter()
            .map(|&id| self.values[id as usize][measure])
            .collect();
        Atoms { ids, values }
    }

    /// Where a fact is: its dimension keys and month.
    pub fn place(&self, id: u32) -> (&[u32; MAX_DIMENSIONS], u16) {
        (&self.keys[id as usize], self.months[id as usize])
    }

    /// Makes room in the undo log for `n` more changes.
    pub fn reserve(&mut self, n: usize) {
        self.undo.reserve(n);
    }

    /// A fact as it is now.
    pub fn fact(&self, id: i64) -> NewFact {
        let i = id as usize;
        NewFact {
            fact_id: id,
            month: self.months[i],
            keys: self.keys[i],
            values: self.values[i].map(Units::from),
        }
    }

    /// The current value of one measure of a fact.
    pub fn value(&self, id: i64, measure: usize) -> Units {
        Units::from(self.values[id as usize][measure])
    }

    /// Records a new value of one measure of a fact.
    pub fn set(&mut self, id: i64, measure: usize, value: Units) {
        let slot = &mut self.values[id as usize][measure];
        self.undo.push(Undo::Value {
            id: id as u32,
            measure: measure as u8,
            old: *slot,
        });
        *slot = value as i64;
    }

    /// Whether a fact is live (not removed).
    pub fn is_live(&self, id: i64) -> bool {
        self.live[id as usize]
    }

    /// Removes a fact (its values must be zero) or brings it back.
    pub fn set_live(&mut self, id: i64, live: bool) {
        let slot = &mut self.live[id as usize];
        debug_assert!(live || self.values[id as usize].iter().all(|v| *v == 0));
        self.undo.push(Undo::Live {
            id: id as u32,
            old: *slot,
        });
        *slot = live;
    }

    /// Records a new fact (its id must be [`Mirror::next_id`]).
    pub fn append(&mut self, fact: &NewFact) {
        debug_assert_eq!(fact.fact_id, self.next_id());
        let id = self.keys.len() as u32;
        self.push(fact);
        for (d, leaves) in self.by_leaf.iter_mut().enumerate() {
            let leaf = &mut leaves[fact.keys[d] as usize];
            leaf.insert(leaf.end_of(fact.month), id, fact.month);
        }
        self.undo.push(Undo::Appended);
    }

    /// The changes so far are committed.
    pub fn commit(&mut self) {
        self.undo.clear();
    }

    /// Reverts every change since the last commit.
    pub fn rollback(&mut self) {
        while let Some(u) = self.undo.pop() {
            match u {
                Undo::Value { id, measure, old } => {
                    self.values[id as usize][measure as usize] = old
                }
                Undo::Live { id, old } => self.live[id as usize] = old,
                Undo::Appended => {
                    let id = self.keys.len() as u32 - 1;
                    let (keys, month) = (self.keys[id as usize], self.months[id as usize]);
                    for (d, leaves) in self.by_leaf.iter_mut().enumerate() {
                        // The newest fact ends its month's run.
                        let leaf = &mut leaves[keys[d] as usize];
                        let at = leaf.end_of(month) - 1;
                        debug_assert_eq!(leaf.ids.get(at), Some(&id));
                        leaf.remove(at);
                    }
                    self.keys.pop();
                    self.months.pop();
                    self.values.pop();
                    self.live.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::tests::tiny_model;

    /// The facts beneath every filter the tiny model allows, by index and
    /// by scan, equal those found by testing every fact: after loading,
    /// after appending facts in earlier months, and after rolling those
    /// back.
    #[test]
    fn the_index_finds_what_testing_every_fact_finds() {
        let model = tiny_model();
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            ((seed >> 33) % n) as u32
        };
        let mut fact = |id: i64| NewFact {
            fact_id: id,
            month: next(5) as u16,
            keys: [next(4), next(3), 0, 0],
            values: [i128::from(id), 0, 0, 0],
        };
        let facts: Vec<NewFact> = (0..200).map(&mut fact).collect();
        let mut mirror = Mirror::from_facts(&model, &facts);
        mirror.set(3, 0, 0);
        mirror.set_live(3, false);
        mirror.commit();
        let check = |mirror: &Mirror| {
            for (p, c, m) in (0..4u32)
                .flat_map(|p| (0..3u32).map(move |c| (p, c)))
                .flat_map(|(p, c)| (0..5u16).map(move |m| (p, c, m)))
            {
                let filter = AtomFilter {
                    keys: vec![(0, p..=3), (1, 0..=c)],
                    months: m..(m + 2).min(5),
                };
                let all = (0..mirror.keys.len() as u32)
                    .filter(|&i| {
                        mirror.live[i as usize]
                            && filter.contains(&mirror.keys[i as usize], mirror.months[i as usize])
                    })
                    .collect::<Vec<_>>();
                let by_index = mirror.atoms(&filter, 0, 0);
                assert_eq!(by_index.ids, all, "{filter:?}");
                assert_eq!(mirror.atoms(&filter, 0, mirror.keys.len()).ids, all);
                let values: Vec<i64> = all.iter().map(|&i| i64::from(i)).collect();
                assert_eq!(by_index.values, values);
            }
        };
        check(&mirror);
        for id in 200..230 {
            mirror.append(&fact(id));
        }
        check(&mirror);
        mirror.rollback();
        assert_eq!(mirror.next_id(), 200);
        check(&mirror);
    }
}
