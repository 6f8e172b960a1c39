//! Writing and finding changelog rows (the writer's side).
//!
//! A commit group's rows are inserted together just before it commits
//! ([`Rows`]), with a few multi-row statements (`store::rows`). A row holds no NULL: none is `''` or 0
//! (DuckDB's commit pays ~0.4 ms for a NULL in an appended row, a third of
//! a leaf write). Rows written before schema version 4 hold NULLs, and every
//! query here reads both as none.

use duckdb::types::{TimeUnit, Value};
use duckdb::{Connection, OptionalExt, params};

use super::rows;

/// The row of a revision.
pub struct Entry {
    pub revision: i64,
    pub committed_at_micros: i64,
    pub actor: String,
    pub request_id: Option<String>,
    pub event: Vec<u8>,
    pub session: Option<String>,
    /// For a revert: the revision it took back.
    pub reverts: Option<i64>,
}

/// The rows of a commit group: those appended so far (`appended`) and the
/// rest.
#[derive(Default)]
pub struct Rows {
    entries: Vec<Entry>,
    appended: usize,
}

impl Rows {
    /// Adds the row of a revision. A revert's row is appended at once, with
    /// the rows before it: it flips what is in effect down the chain of
    /// reverts below it (its target is reverted, by it; what the target
    /// reverted is in effect again; what that one reverted is reverted
    /// again, and so on), which the group's later requests must see.
    pub fn push(&mut self, conn: &Connection, entry: Entry) -> duckdb::Result<()> {
        let reverts = entry.reverts.map(|target| (target, entry.revision));
        self.entries.push(entry);
        if let Some((target, revision)) = reverts {
            self.flush(conn)?;
            mark_reverted(conn, target, revision)?;
        }
        Ok(())
    }

    /// The revision and encoded event of the group's row with this request
    /// id (an earlier request of the same group).
    pub fn find(&self, request_id: &str) -> Option<(i64, &[u8])> {
        self.entries
            .iter()
            .find(|e| e.request_id.as_deref() == Some(request_id))
            .map(|e| (e.revision, e.event.as_slice()))
    }

    /// The request ids of the group's rows.
    pub fn into_request_ids(self) -> impl Iterator<Item = String> {
        self.entries.into_iter().filter_map(|e| e.request_id)
    }

    /// Appends the rows not yet appended (on the group's open
    /// transaction), so that queries of the changelog see them.
    pub fn flush(&mut self, conn: &Connection) -> duckdb::Result<()> {
        let rows = &self.entries[self.appended..];
        if rows.is_empty() {
            return Ok(());
        }
        let text = |s: Option<&String>| Value::Text(s.cloned().unwrap_or_default());
        let values: Vec<Value> = rows
            .iter()
            .flat_map(|e| {
                [
                    Value::BigInt(e.revision),
                    Value::Timestamp(TimeUnit::Microsecond, e.committed_at_micros),
                    text(Some(&e.actor)),
                    text(e.request_id.as_ref()),
                    Value::Blob(e.event.clone()),
                    text(e.session.as_ref()),
                    Value::BigInt(e.reverts.unwrap_or(0)),
                    // Not reverted (yet).
                    Value::BigInt(0),
                ]
            })
            .collect();
        rows::insert(conn, "changelog", 8, &values)?;
        self.appended = self.entries.len();
        Ok(())
    }
}

/// Records that `revision` reverted `target`: each level of the chain of
/// reverts below it flips between reverted (by the revision above it) and
/// in effect.
fn mark_reverted(conn: &Connection, target: i64, revision: i64) -> duckdb::Result<()> {
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
