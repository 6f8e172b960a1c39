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

/// The oldest revision the changelog holds (head + 1 when it holds none).
pub fn oldest_revision(conn: &Connection) -> duckdb::Result<i64> {
    conn.query_row(
        "SELECT coalesce(min(revision), (SELECT coalesce(max(revision), 0) + 1 FROM changelog)) FROM changelog",
        [],
        |r| r.get(0),
    )
}

/// Up to `limit` changelog entries from revision `from` on, in order:
/// (revision, encoded ChangeEvent). The page stops early once it holds
/// `max_bytes` (it always holds the first entry).
pub fn events(
    conn: &Connection,
    from: i64,
    limit: usize,
    max_bytes: usize,
) -> Result<Vec<(i64, Vec<u8>)>> {
    let mut stmt = conn.prepare_cached(
        "SELECT revision, event FROM changelog WHERE revision >= ? ORDER BY revision LIMIT ?",
    )?;
    let mut rows = stmt.query(params![from, limit as i64])?;
    let (mut out, mut bytes) = (Vec::new(), 0);
    while bytes < max_bytes
        && let Some(r) = rows.next()?
    {
        let event: Vec<u8> = r.get(1)?;
        bytes += event.len();
        out.push((r.get(0)?, event));
    }
    Ok(out)
}
