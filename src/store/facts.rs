//! Adding facts (the adjustment facts writes create, inserted when the
//! journal is caught up). Values are integer units (the schema stores them
//! so), every identifier is a generated column name (`d<i>`, `m<i>`).

use duckdb::types::Value;
use duckdb::{Connection, params};

use crate::decimal::Units;
use crate::model::{MAX_DIMENSIONS, MAX_MEASURES};

/// A fact to insert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewFact {
    pub fact_id: i64,
    pub month: u16,
    pub keys: [u32; MAX_DIMENSIONS],
    pub values: [Units; MAX_MEASURES],
}

/// Appends new facts, each with the revision that created it, and flushes
/// them (an error appending any of them is this call's error, not one
/// dropped on the floor when the appender goes).
pub fn insert(
    conn: &Connection,
    dimensions: usize,
    measures: usize,
    facts: impl Iterator<Item = (i64, NewFact)>,
) -> duckdb::Result<()> {
    let mut app = conn.appender("facts")?;
    for (revision, f) in facts {
        let mut row = vec![Value::BigInt(f.fact_id), Value::SmallInt(f.month as i16)];
        row.extend((0..dimensions).map(|i| Value::Int(f.keys[i] as i32)));
        row.extend((0..measures).map(|i| Value::BigInt(f.values[i] as i64)));
        row.push(Value::BigInt(revision));
        row.push(Value::BigInt(0)); // live
        app.append_row(duckdb::appender_params_from_iter(row))?;
    }
    app.flush()
}

/// How many facts have ids from `lo` to `hi`.
pub fn count_ids(conn: &Connection, lo: i64, hi: i64) -> duckdb::Result<usize> {
    conn.prepare_cached("SELECT count(*) FROM facts WHERE fact_id BETWEEN ? AND ?")?
        .query_row(params![lo, hi], |r| r.get::<_, i64>(0))
        .map(|n| n as usize)
}
