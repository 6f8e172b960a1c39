//! Writing and finding changelog rows (the writer's side).

use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, OptionalExt, params};

/// Appends the row of a revision.
pub fn insert(
    conn: &Connection,
    revision: i64,
    committed_at_micros: i64,
    actor: &str,
    request_id: Option<&str>,
    event: &[u8],
) -> duckdb::Result<()> {
    conn.prepare_cached("INSERT INTO changelog VALUES (?, ?, ?, ?, ?)")?
        .execute(params![
            revision,
            Value::Timestamp(TimeUnit::Microsecond, committed_at_micros),
            actor,
            request_id,
            event
        ])?;
    Ok(())
}

/// The revision and encoded event of an earlier write with this request id.
pub fn find_by_request_id(
    conn: &Connection,
    request_id: &str,
) -> duckdb::Result<Option<(i64, Vec<u8>)>> {
    conn.prepare_cached("SELECT revision, event FROM changelog WHERE request_id = ?")?
        .query_row(params![request_id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
}
