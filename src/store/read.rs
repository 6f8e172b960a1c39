//! Reads: the head revision and pages of the changelog.

use duckdb::{Connection, params};

use crate::error::Result;

/// The revision of the last committed write (0 for a freshly seeded model).
pub fn head_revision(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row(
        "SELECT coalesce(max(revision), 0) FROM changelog",
        [],
        |r| r.get(0),
    )
}

/// Up to `limit` changelog entries from revision `from` on, in order:
/// (revision, encoded ChangeEvent).
pub fn events(conn: &Connection, from: i64, limit: usize) -> Result<Vec<(i64, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT revision, event FROM changelog WHERE revision >= ? ORDER BY revision LIMIT ?",
    )?;
    let rows = stmt.query_map(params![from, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))?;
    Ok(rows.collect::<duckdb::Result<_>>()?)
}
