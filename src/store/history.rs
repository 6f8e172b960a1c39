//! Reading and pruning the fact history (`fact_history`, see `schema`).
//!
//! The writer reads a revision's rows to revert it and the later rows that
//! touch the same facts to find conflicts; readers sum the rows after a
//! revision to rebuild the grid as it was. `history_from` in
//! `duckgrid_meta` is the oldest revision whose state the rows can rebuild:
//! every revision after it has all its rows.

use duckdb::{Connection, params};

use super::schema::EXISTENCE;
use crate::decimal::Units;
use crate::model::{MAX_DIMENSIONS, MAX_MEASURES};
use crate::rollup::FactDelta;

/// One fact value a revision changed (`measure` [`EXISTENCE`]: whether the
/// fact was live, 0 or 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Row {
    pub fact_id: i64,
    pub measure: u8,
    pub before: i64,
    pub after: i64,
}

/// The most conflicting revisions a refused revert lists.
pub const MAX_CONFLICTS: usize = 100;

/// The oldest revision whose state the history can rebuild, or `None`
/// when the history is off.
pub fn history_from(conn: &Connection) -> duckdb::Result<Option<i64>> {
    let value: String = conn.query_row(
        "SELECT value FROM duckgrid_meta WHERE key = 'history_from'",
        [],
        |r| r.get(0),
    )?;
    Ok(value.parse().ok())
}

/// Records the oldest revision the history can rebuild (`None`: off).
pub fn set_history_from(conn: &Connection, from: Option<i64>) -> duckdb::Result<()> {
    let value = from.map_or_else(|| "off".to_owned(), |r| r.to_string());
    conn.execute(
        "UPDATE duckgrid_meta SET value = ? WHERE key = 'history_from'",
        [value],
    )?;
    Ok(())
}

/// Every fact value `revision` changed, by fact.
pub fn rows_of(conn: &Connection, revision: i64) -> duckdb::Result<Vec<Row>> {
    let mut stmt = conn.prepare_cached(
        "SELECT fact_id, measure, before, after FROM fact_history
         WHERE revision = ? ORDER BY fact_id, measure",
    )?;
    stmt.query_map([revision], |r| {
        Ok(Row {
            fact_id: r.get(0)?,
            measure: r.get(1)?,
            before: r.get(2)?,
            after: r.get(3)?,
        })
    })?
    .collect()
}

/// The most moved facts a conflict query looks for.
pub const MAX_MOVED: usize = 1_000;

/// The revisions after `revision` that changed any of `facts`, ascending,
/// at most [`MAX_CONFLICTS`].
pub fn touching(conn: &Connection, revision: i64, facts: &[i64]) -> duckdb::Result<Vec<i64>> {
    let ids = facts
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT DISTINCT revision FROM fact_history
         WHERE revision > ?
           AND fact_id IN (SELECT CAST(unnest(string_split(?, ',')) AS BIGINT))
         ORDER BY revision LIMIT {MAX_CONFLICTS}"
    ))?;
    stmt.query_map(params![revision, ids], |r| r.get(0))?
        .collect()
}

/// What the revisions after `from` up to `to` did to each fact, summed
/// per fact: its keys and month, the change of each measure, and whether
/// it appeared (1) or went (-1) on balance.
pub fn net_deltas(
    conn: &Connection,
    dimensions: usize,
    from: i64,
    to: i64,
) -> duckdb::Result<Vec<FactDelta>> {
    let keys: Vec<String> = (0..dimensions).map(|d| format!("f.d{d}")).collect();
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT h.fact_id, h.measure, sum(h.after - h.before)::BIGINT, any_value(f.month), {}
         FROM fact_history h JOIN facts f ON f.fact_id = h.fact_id
         WHERE h.revision > ? AND h.revision <= ?
         GROUP BY h.fact_id, h.measure ORDER BY h.fact_id",
        keys.iter()
            .map(|k| format!("any_value({k})"))
            .collect::<Vec<_>>()
            .join(", ")
    ))?;
    let mut rows = stmt.query(params![from, to])?;
    let mut out: Vec<(i64, FactDelta)> = Vec::new();
    while let Some(r) = rows.next()? {
        let id: i64 = r.get(0)?;
        let measure: u8 = r.get(1)?;
        let change: i64 = r.get(2)?;
        if out.last().is_none_or(|(last, _)| *last != id) {
            let mut keys = [0u32; MAX_DIMENSIONS];
            for (d, key) in keys.iter_mut().enumerate().take(dimensions) {
                *key = r.get::<_, i32>(4 + d)? as u32;
            }
            out.push((
                id,
                FactDelta {
                    keys,
                    month: r.get::<_, i16>(3)? as u16,
                    facts: 0,
                    values: [0; MAX_MEASURES],
                },
            ));
        }
        let delta = &mut out.last_mut().expect("pushed above").1;
        if measure == EXISTENCE {
            delta.facts = change;
        } else {
            delta.values[measure as usize] = Units::from(change);
        }
    }
    Ok(out.into_iter().map(|(_, d)| d).collect())
}

/// Drops the rows of revisions up to `upto` (never later than `facts_at`:
/// the facts have those changes), so the history rebuilds revisions from
/// `upto` on when `history` is on; returns how many rows went.
pub fn prune(conn: &Connection, upto: i64, history: bool) -> duckdb::Result<usize> {
    let tx = conn.unchecked_transaction()?;
    let n = conn.execute("DELETE FROM fact_history WHERE revision <= ?", [upto])?;
    if history {
        set_history_from(conn, Some(upto))?;
    }
    tx.commit()?;
    Ok(n)
}
