//! Writing and finding changelog rows (the writer's side).

use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, OptionalExt, params};

/// The row of a revision.
pub struct Entry<'a> {
    pub revision: i64,
    pub committed_at_micros: i64,
    pub actor: &'a str,
    pub request_id: Option<&'a str>,
    pub event: &'a [u8],
    pub session: Option<&'a str>,
    /// For a revert: the revision it took back.
    pub reverts: Option<i64>,
}

/// Appends the row of a revision. A revert flips what is in effect down
/// the chain of reverts below it: its target is reverted (by it); what the
/// target reverted is in effect again; what that one reverted is reverted
/// again (by it), and so on.
pub fn insert(conn: &Connection, e: &Entry<'_>) -> duckdb::Result<()> {
    conn.prepare_cached("INSERT INTO changelog VALUES (?, ?, ?, ?, ?, ?, ?, NULL)")?
        .execute(params![
            e.revision,
            Value::Timestamp(TimeUnit::Microsecond, e.committed_at_micros),
            e.actor,
            e.request_id,
            e.event,
            e.session,
            e.reverts,
        ])?;
    let Some(target) = e.reverts else {
        return Ok(());
    };
    // Each level of the chain with the revision that reverted it.
    let chain = conn
        .prepare_cached(
            "WITH RECURSIVE chain(revision, reverter, depth) AS (
                 SELECT ?::BIGINT, ?::BIGINT, 1
                 UNION ALL
                 SELECT c.reverts, c.revision, chain.depth + 1
                 FROM changelog c JOIN chain ON c.revision = chain.revision
                 WHERE c.reverts IS NOT NULL
             )
             SELECT revision, reverter, depth FROM chain",
        )?
        .query_map([target, e.revision], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?
        .collect::<duckdb::Result<Vec<_>>>()?;
    let mut update =
        conn.prepare_cached("UPDATE changelog SET reverted_by = ? WHERE revision = ?")?;
    for (revision, reverter, depth) in chain {
        update.execute(params![(depth % 2 == 1).then_some(reverter), revision])?;
    }
    Ok(())
}

/// The revision that reverted `revision`, when it is reverted.
pub fn reverted_by(conn: &Connection, revision: i64) -> duckdb::Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT reverted_by FROM changelog WHERE revision = ?")?
        .query_row([revision], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten())
}

/// What Undo takes back for `actor`: its latest revision (in `session`,
/// when given) that is in effect — neither a revert nor reverted.
pub fn undo_target(
    conn: &Connection,
    actor: &str,
    session: Option<&str>,
) -> duckdb::Result<Option<i64>> {
    const IN_EFFECT: &str = "SELECT max(revision) FROM changelog
         WHERE reverts IS NULL AND reverted_by IS NULL AND actor = ?";
    match session {
        None => conn
            .prepare_cached(IN_EFFECT)?
            .query_row([actor], |r| r.get(0)),
        Some(session) => conn
            .prepare_cached(&format!("{IN_EFFECT} AND session = ?"))?
            .query_row([actor, session], |r| r.get(0)),
    }
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
