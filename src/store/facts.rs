//! The writer's statements on facts: add adjustment facts, and write the
//! changes of committed revisions behind them. Values are integer units
//! (the schema stores them so), every identifier is a generated column name
//! (`d<i>`, `m<i>`).

use duckdb::types::Value;
use duckdb::{Connection, params};

use super::schema::EXISTENCE;
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

/// The revision the `facts` table holds the values of.
pub fn facts_at(conn: &Connection) -> duckdb::Result<i64> {
    let value: String = conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = 'facts_at'",
        [],
        |r| r.get(0),
    )?;
    value.parse().map_err(|e| {
        duckdb::Error::FromSqlConversionFailure(0, duckdb::types::Type::Text, Box::new(e))
    })
}

/// Writes the fact changes of the revisions after `facts_at` up to `to`
/// from their durable record (`fact_history`) into `facts`, in one
/// transaction of its own, and records `to` as `facts_at`; returns how many
/// (fact, measure) values were written.
///
/// This is both the writer's write-behind (a commit appends its changes to
/// `fact_history` and nothing more; this runs when the writer is idle or
/// far enough behind) and the replay at start after a crash: one statement
/// per measure sets each fact to the last value the revisions left in it.
/// Each statement is confirmed: it must change exactly the facts the
/// record names (ids are dense, no fact is ever deleted).
pub fn catch_up(conn: &Connection, measures: usize, to: i64) -> anyhow::Result<usize> {
    let from = facts_at(conn)?;
    if to <= from {
        return Ok(0);
    }
    let tx = conn.unchecked_transaction()?;
    // Per measure: how many facts changed, and the range of their ids (so
    // that zone maps skip the row groups outside it).
    let touched: Vec<(u8, usize, i64, i64)> = conn
        .prepare_cached(
            "SELECT measure, count(DISTINCT fact_id), min(fact_id), max(fact_id)
             FROM fact_history WHERE revision > ? AND revision <= ? GROUP BY measure",
        )?
        .query_map(params![from, to], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as usize,
                r.get(2)?,
                r.get(3)?,
            ))
        })?
        .collect::<duckdb::Result<_>>()?;
    let mut written = 0;
    for (measure, count, lo, hi) in touched {
        let (column, value) = if measure == EXISTENCE {
            // Live again: 0; removed: the revision that removed it.
            (
                "removed_revision".to_owned(),
                "CASE WHEN j.after = 1 THEN 0 ELSE j.revision END",
            )
        } else if (measure as usize) < measures {
            (format!("m{measure}"), "j.after")
        } else {
            anyhow::bail!("fact_history names measure {measure}, which the model does not have");
        };
        let updated = conn
            .prepare_cached(&format!(
                "UPDATE facts SET {column} = {value}
                 FROM (SELECT fact_id, arg_max(after, revision) AS after, max(revision) AS revision
                       FROM fact_history
                       WHERE revision > ? AND revision <= ? AND measure = ?
                       GROUP BY fact_id) j
                 WHERE facts.fact_id = j.fact_id AND facts.fact_id BETWEEN ? AND ?"
            ))?
            .execute(params![from, to, measure, lo, hi])?;
        if updated != count {
            anyhow::bail!(
                "{updated} facts were written where {count} changed (measure {measure}, \
                 revisions {from} to {to})"
            );
        }
        written += count;
    }
    conn.execute(
        "UPDATE duckgrid_meta SET value = ? WHERE key = 'facts_at'",
        [to.to_string()],
    )?;
    tx.commit()?;
    Ok(written)
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
