//! Writing what the journal holds into the tables it stands for, behind
//! the commits, in two steps that cost differently:
//!
//! - **The log** ([`catch_up`] with records): the journal's oldest
//!   records become changelog rows and `fact_history` rows, and the
//!   `journal` table's rows among them are deleted, in one transaction —
//!   so together the journal and the changelog hold every revision. (The
//!   writer removes the journal file's segments once the transaction has
//!   committed; one a crash kept holds revisions the replay skips.) It
//!   costs about the same per revision however often it runs; reads of
//!   recent history need it.
//! - **The facts** (`facts: true`): each fact the revisions after
//!   `duckgrid_meta.facts_at` changed is set to the last value they left
//!   in it (from `fact_history`), and `facts_at` moves. Each run scans
//!   the facts once and writes a fact changed many times once, so it runs
//!   less often under load. Nothing reads a value from `facts` while the
//!   writer runs (its in-memory copy is the authority); it is for SQL over
//!   the file and the next start.
//!
//! A crash at any point leaves a database whose next start finishes both
//! ([`replay`]). The facts updated are confirmed: exactly those the deltas
//! name. (New facts are inserted by the commit that creates them.)
//!
//! The writer runs it between groups, or has its scribe thread run it on a
//! connection of its own ([`crate::writer`]), with the records of the
//! groups it committed since the last time, which it keeps (reading back
//! what it has just written would cost more than writing it).

use std::sync::Arc;

use duckdb::arrow::array::{
    ArrayRef, BinaryArray, Int64Array, StringArray, TimestampMicrosecondArray, UInt8Array,
};
use duckdb::arrow::datatypes::{DataType, Field, Schema};
use duckdb::arrow::record_batch::RecordBatch;
use duckdb::{Connection, params};

use super::journal::{self, Revision};
use super::read;
use super::schema::EXISTENCE;

/// Where the tables stand after a catch-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CaughtUp {
    /// The newest revision the changelog and the fact history hold.
    pub logged: i64,
    /// The revision `facts` holds.
    pub facts_at: i64,
    /// (fact, measure) values written into `facts`.
    pub values: usize,
}

/// The revision `facts` holds: `fact_history` has every later change.
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

/// Writes everything the journal holds — the `journal` table's rows and
/// `from_file`, the records of its file's segments — into the tables, and
/// the facts up to the head (at start, before anything reads them).
///
/// A database made before the journal (schema version 4) may have facts
/// behind its fact history (a crash before they caught up): those are
/// written too.
pub fn replay(
    conn: &Connection,
    measures: usize,
    from_file: Vec<Revision>,
) -> anyhow::Result<CaughtUp> {
    let logged = read::head_revision(conn)?;
    let mut pending = journal::read(conn)?;
    pending.extend(from_file);
    // What a catch-up wrote before a crash kept its segment from going.
    pending.retain(|r| r.revision > logged);
    pending.sort_by_key(|r| r.revision);
    for (expected, r) in (logged + 1..).zip(&pending) {
        if r.revision != expected {
            anyhow::bail!(
                "the journal holds revision {} where {expected} was due after the changelog's {logged}",
                r.revision
            );
        }
    }
    catch_up(conn, measures, logged, &pending, true)
}

/// Writes `pending` — the records of the journal's oldest rows, in order,
/// the first one after `logged` (the changelog's newest) — into the
/// changelog and the fact history, and with `facts` the facts too, in one
/// transaction of its own (see the module docs).
pub fn catch_up(
    conn: &Connection,
    measures: usize,
    logged: i64,
    pending: &[Revision],
    facts: bool,
) -> anyhow::Result<CaughtUp> {
    if let Some(first) = pending.first()
        && first.revision != logged + 1
    {
        anyhow::bail!(
            "revision {} follows {logged} in the catch-up",
            first.revision
        );
    }
    let logged = pending.last().map_or(logged, |r| r.revision);
    let tx = conn.unchecked_transaction()?;
    insert_changelog(conn, pending)?;
    append_history(conn, pending)?;
    journal::delete_through(conn, logged)?;
    let mut caught_up = CaughtUp {
        logged,
        facts_at: 0,
        values: 0,
    };
    if facts {
        let from = facts_at(conn)?;
        if logged > from {
            caught_up.values = write_facts(conn, measures, from, logged)?;
            conn.execute(
                "UPDATE duckgrid_meta SET value = ? WHERE key = 'facts_at'",
                [logged.to_string()],
            )?;
        }
        caught_up.facts_at = logged.max(from);
    }
    tx.commit()?;
    Ok(caught_up)
}

/// The revisions' changelog rows (see `schema` for the columns), as one
/// columnar batch.
fn insert_changelog(conn: &Connection, pending: &[Revision]) -> duckdb::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let column = |f: fn(&Revision) -> i64| Int64Array::from_iter_values(pending.iter().map(f));
    let text = |f: fn(&Revision) -> &str| StringArray::from_iter_values(pending.iter().map(f));
    let fields = vec![
        Field::new("revision", DataType::Int64, false),
        Field::new(
            "committed_at",
            DataType::Timestamp(duckdb::arrow::datatypes::TimeUnit::Microsecond, None),
            false,
        ),
        Field::new("actor", DataType::Utf8, false),
        Field::new("request_id", DataType::Utf8, false),
        Field::new("event", DataType::Binary, false),
        Field::new("session", DataType::Utf8, false),
        Field::new("reverts", DataType::Int64, false),
        Field::new("reverted_by", DataType::Int64, false),
    ];
    append(
        conn,
        "changelog",
        fields,
        vec![
            Arc::new(column(|r| r.revision)),
            Arc::new(TimestampMicrosecondArray::from_iter_values(
                pending.iter().map(|r| r.committed_at_micros),
            )),
            Arc::new(text(|r| &r.actor)),
            Arc::new(text(|r| &r.request_id)),
            Arc::new(BinaryArray::from_iter_values(
                pending.iter().map(|r| &r.event[..]),
            )),
            Arc::new(text(|r| &r.session)),
            Arc::new(column(|r| r.reverts)),
            // In effect: a revert of it is a later revision, which marks
            // this row once it is here (reverts wait for the catch-up).
            Arc::new(column(|_| 0)),
        ],
    )
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
    append(
        conn,
        "fact_history",
        vec![
            Field::new("revision", DataType::Int64, false),
            Field::new("fact_id", DataType::Int64, false),
            Field::new("measure", DataType::UInt8, false),
            Field::new("before", DataType::Int64, false),
            Field::new("after", DataType::Int64, false),
        ],
        vec![
            Arc::new(Int64Array::from(revision)),
            Arc::new(Int64Array::from(fact)),
            Arc::new(UInt8Array::from(measure)),
            Arc::new(Int64Array::from(before)),
            Arc::new(Int64Array::from(after)),
        ],
    )
}

/// Appends `columns` (named and typed by `fields`) to `table` as one
/// columnar batch: far cheaper than row-by-row appends for thousands of
/// rows.
fn append(
    conn: &Connection,
    table: &str,
    fields: Vec<Field>,
    columns: Vec<ArrayRef>,
) -> duckdb::Result<()> {
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
        .map_err(|e| duckdb::Error::ToSqlConversionFailure(Box::new(e)))?;
    let mut app = conn.appender(table)?;
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
///
/// The history's rows are aggregated once, for every measure, into a
/// temporary table the updates read: under load a run covers ~10 s of
/// writes, ~10,000,000 rows at 1,000,000 facts, and aggregating them
/// once to count the facts and again in each update cost most of the run.
fn write_facts(conn: &Connection, measures: usize, from: i64, to: i64) -> anyhow::Result<usize> {
    conn.execute(
        "CREATE OR REPLACE TEMP TABLE changed_facts AS
         SELECT measure, fact_id, arg_max(after, revision) AS after, max(revision) AS revision
         FROM fact_history WHERE revision > ? AND revision <= ?
         GROUP BY measure, fact_id",
        params![from, to],
    )?;
    // Per measure: how many facts changed, and the range of their ids (so
    // that zone maps skip the row groups outside it).
    let touched: Vec<(u8, usize, i64, i64)> = conn
        .prepare_cached(
            "SELECT measure, count(*), min(fact_id), max(fact_id) FROM changed_facts
             GROUP BY measure ORDER BY measure",
        )?
        .query_map([], |r| {
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
                "UPDATE facts SET {column} = {value} FROM changed_facts j
                 WHERE j.measure = ? AND facts.fact_id = j.fact_id
                   AND facts.fact_id BETWEEN ? AND ?"
            ))?
            .execute(params![measure, lo, hi])?;
        if updated != count {
            anyhow::bail!(
                "{updated} facts were written where {count} changed (measure {measure}, \
                 revisions {from} to {to})"
            );
        }
        written += count;
    }
    conn.execute_batch("DROP TABLE changed_facts")?;
    Ok(written)
}
