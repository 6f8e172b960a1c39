//! The changelog rows the writer reads and marks: finding a retried
//! request, the revision to undo, and what reverts are in effect.
//!
//! The rows themselves are written from the journal, behind the commits
//! (`super::catch_up`); the writer catches up before anything here reads
//! them (see `crate::writer`). Rows written before schema version 4 hold
//! NULL where later ones hold '' or 0, and every query reads both as none.

use duckdb::{Connection, OptionalExt, params};

/// Records that `revision` reverted `target`: each level of the chain of
/// reverts below it flips between reverted (by the revision above it) and
/// in effect.
pub fn mark_reverted(conn: &Connection, target: i64, revision: i64) -> duckdb::Result<()> {
    // Each level of the chain with the revision that reverted it.
    let chain = conn
        .prepare_cached(
            "WITH RECURSIVE chain(revision, reverter, depth) AS (
                 SELECT ?::BIGINT, ?::BIGINT, 1
                 UNION ALL
                 SELECT c.reverts, c.revision, chain.depth + 1
                 FROM changelog c JOIN chain ON c.revision = chain.revision
                 WHERE coalesce(c.reverts, 0) <> 0
             )
             SELECT revision, reverter, depth FROM chain",
        )?
        .query_map([target, revision], |r| {
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
        let by = if depth % 2 == 1 { reverter } else { 0 };
        update.execute(params![by, revision])?;
    }
    Ok(())
}

/// The revision that reverted `revision`, when it is reverted.
pub fn reverted_by(conn: &Connection, revision: i64) -> duckdb::Result<Option<i64>> {
    Ok(conn
        .prepare_cached("SELECT reverted_by FROM changelog WHERE revision = ?")?
        .query_row([revision], |r| r.get::<_, Option<i64>>(0))
        .optional()?
        .flatten()
        .filter(|by| *by != 0))
}

/// What Undo takes back for `actor`: its latest revision (in `session`,
/// when given) that is in effect — neither a revert nor reverted.
pub fn undo_target(
    conn: &Connection,
    actor: &str,
    session: Option<&str>,
) -> duckdb::Result<Option<i64>> {
    const IN_EFFECT: &str = "SELECT max(revision) FROM changelog
         WHERE coalesce(reverts, 0) = 0 AND coalesce(reverted_by, 0) = 0 AND actor = ?";
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
