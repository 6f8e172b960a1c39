//! Writing what the journal holds into the tables it stands for: the
//! changelog, the fact history and the facts — behind the commits.
//!
//! A commit appends one journal row (`super::journal`); this takes the
//! oldest rows, in one transaction: inserts their changelog rows, appends
//! their fact deltas to `fact_history`, sets every changed fact to the
//! last value the revisions left in it, deletes the rows, and records the
//! newest revision written as `duckgrid_meta.facts_at`. Either all of that
//! commits or none of it, so the journal and the tables never both hold a
//! revision, and a crash at any point leaves a database whose next
//! catch-up (at start, before anything reads) finishes the job. The facts
//! updated are confirmed: exactly those the deltas name. (New facts are
//! inserted by the commit that creates them.)
//!
//! The writer runs it between groups ([`crate::writer`]); `store::open`
//! runs it at start.

use std::sync::Arc;

use duckdb::arrow::array::{Int64Array, UInt8Array};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, params};

use super::journal::{self, Revision};
use super::schema::EXISTENCE;

/// What a catch-up wrote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaughtUp {
    /// The revision the tables now hold (`facts_at`).
    pub to: i64,
    /// Revisions written from the journal.
    pub revisions: usize,
    /// (fact, measure) values written into `facts`.
    pub values: usize,
}

/// The revision the tables hold: the journal holds every later one.
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

/// Writes the oldest `max_rows` journal rows (commit groups) into the
/// tables, in one transaction of its own (see the module docs).
///
/// A database made before the journal (schema version 4) may hold
/// revisions in the changelog and the fact history that `facts` lacks
/// (a crash before its facts caught up); with nothing in the journal,
/// those are written.
pub fn catch_up(conn: &Connection, measures: usize, max_rows: usize) -> anyhow::Result<CaughtUp> {
    let from = facts_at(conn)?;
    let tx = conn.unchecked_transaction()?;
    let pending = journal::read(conn, from, max_rows)?;
    let to = match (pending.first(), pending.last()) {
        (Some(first), Some(last)) => {
            if first.revision != from + 1 {
                anyhow::bail!(
                    "the journal's oldest revision is {} where {} was due",
                    first.revision,
                    from + 1
                );
            }
            last.revision
        }
        _ => super::read::head_revision(conn)?.max(from),
    };
    if to == from {
        return Ok(CaughtUp {
            to,
            revisions: 0,
            values: 0,
        });
    }
    insert_changelog(conn, &pending)?;
    append_history(conn, &pending)?;
    let values = write_facts(conn, measures, from, to)?;
    journal::delete_through(conn, to)?;
    conn.execute(
        "UPDATE duckgrid_meta SET value = ? WHERE key = 'facts_at'",
        [to.to_string()],
    )?;
    tx.commit()?;
    Ok(CaughtUp {
        to,
        revisions: pending.len(),
        values,
    })
}

/// The revisions' changelog rows (see `schema` for the columns).
fn insert_changelog(conn: &Connection, pending: &[Revision]) -> duckdb::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let mut app = conn.appender("changelog")?;
    for r in pending {
        app.append_row(duckdb::appender_params_from_iter([
            Value::BigInt(r.revision),
            Value::Timestamp(TimeUnit::Microsecond, r.committed_at_micros),
            Value::Text(r.actor.clone()),
            Value::Text(r.request_id.clone()),
            Value::Blob(r.event.clone()),
            Value::Text(r.session.clone()),
            Value::BigInt(r.reverts),
            // In effect: a revert of it would be a later revision, which
            // updates this row once it is here (reverts wait for it).
            Value::BigInt(0),
        ]))?;
    }
    app.flush()
}

/// The revisions' fact deltas, appended to `fact_history` as one columnar
/// batch.
fn append_history(conn: &Connection, pending: &[Revision]) -> duckdb::Result<()> {
    let rows: usize = pending.iter().map(Revision::deltas).sum();
    if rows == 0 {
        return Ok(());
    }
    let mut revision = Vec::with_capacity(rows);
    let (mut fact, mut measure) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    let (mut before, mut after) = (Vec::with_capacity(rows), Vec::with_capacity(rows));
    for r in pending {
        let n = r.deltas();
        if r.measures.len() != n || r.before.len() != n || r.after.len() != n {
            return Err(corrupt(r.revision));
        }
        revision.extend(std::iter::repeat_n(r.revision, n));
        fact.extend_from_slice(&r.fact_ids);
        for &m in &r.measures {
            measure.push(u8::try_from(m).map_err(|_| corrupt(r.revision))?);
        }
        before.extend_from_slice(&r.before);
        after.extend_from_slice(&r.after);
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
            Arc::new(Int64Array::from(revision)),
            Arc::new(Int64Array::from(fact)),
            Arc::new(UInt8Array::from(measure)),
            Arc::new(Int64Array::from(before)),
            Arc::new(Int64Array::from(after)),
        ],
    )
    .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut app = conn.appender("fact_history")?;
    app.append_record_batch(batch)?;
    app.flush()
}

fn corrupt(revision: i64) -> duckdb::Error {
    duckdb::Error::ToSqlConversionFailure(
        format!("the journal's deltas of revision {revision} are malformed").into(),
    )
}

/// Sets each fact the revisions after `from` up to `to` changed to the
/// last value they left in it (from `fact_history`): one statement per
/// measure, each confirmed (it must change exactly the facts the history
/// names: ids are dense, no fact is ever deleted). Returns how many values
/// were written.
fn write_facts(conn: &Connection, measures: usize, from: i64, to: i64) -> anyhow::Result<usize> {
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
    Ok(written)
}
