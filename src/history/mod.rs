//! Reading the history: the grid as it was at a revision (`GetSheet` with
//! `revision`), revisions one at a time (`GetRevision`) and listed with
//! filters (`ListRevisions`).
//!
//! Who changed what comes from the changelog, whose events list every
//! changed cell with its value before and after. What the facts were comes
//! from the fact history (`crate::store::history`): the grid at R is the
//! published summary at the head H minus the roll-up of the fact deltas of
//! R + 1 ..= H, which is exactly the summary a client held at R (the
//! summary always equals a fresh aggregation of the facts). Every read
//! runs on the read pool, in one DuckDB transaction, so its rows and
//! `history_from` belong together.

mod list;
mod retention;

pub use list::list;
pub use retention::Retention;

use std::sync::Arc;

use duckdb::OptionalExt;
use prost::Message;

use crate::auth::Caller;
use crate::error::{Error, Result};
use crate::grid::{self, GridQuery};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::rollup;
use crate::store::{ReadPool, changelog, history, read};
use crate::summary::Snapshot;

/// The grid of `query` at `revision` (`None`: the head of `snapshot`).
pub async fn grid_at(
    pool: &Arc<ReadPool>,
    model: &Arc<Model>,
    snapshot: Arc<Snapshot>,
    query: GridQuery,
    revision: Option<i64>,
) -> Result<pb::Grid> {
    let head = snapshot.revision;
    let revision = revision.unwrap_or(head);
    if revision < 0 {
        return Err(Error::invalid(format!(
            "revision cannot be negative (it is {revision})"
        )));
    }
    if revision == head {
        return Ok(grid::read(&snapshot, model, &query));
    }
    let model = Arc::clone(model);
    pool.through(head).await?;
    pool.run(move |conn| {
        let tx = conn.transaction()?;
        let oldest = history::history_from(&tx)?;
        if revision > head || oldest.is_none_or(|from| revision < from) {
            let shown = oldest.unwrap_or(head);
            let why = if revision > head {
                "is not committed yet"
            } else {
                "is older than the fact history keeps"
            };
            return Err(Error::OutOfRange {
                message: format!(
                    "revision {revision} {why}: the grid can be read as it was at revisions \
                     {shown} to {head} (--history-retention)"
                ),
                oldest: shown,
                head,
                database_id: None,
            });
        };
        let mut deltas = history::net_deltas(&tx, model.dimensions.len(), revision, head)?;
        tx.commit()?;
        // Back from the head: every change after `revision`, negated.
        for d in &mut deltas {
            d.facts = -d.facts;
            for v in &mut d.values {
                *v = -*v;
            }
        }
        let mut summary = snapshot.summary.one_sheet(query.sheet);
        summary.apply(&rollup::rollup_sheet(&model, query.sheet, &deltas));
        let past = Snapshot { revision, summary };
        Ok(grid::read(&past, &model, &query))
    })
    .await
}

/// What Undo would take back for `actor` now (see
/// [`changelog::undo_target`]), read on the pool.
pub async fn undo_target(
    pool: &Arc<ReadPool>,
    actor: &str,
    session: Option<&str>,
) -> Result<Option<i64>> {
    let (actor, session) = (actor.to_owned(), session.map(str::to_owned));
    pool.current().await?;
    pool.run(move |conn| Ok(changelog::undo_target(conn, &actor, session.as_deref())?))
        .await
}

/// One revision as `caller` may see it (`None`: nothing of it).
pub(crate) fn visible(caller: &Caller, mut change: pb::ChangeEvent) -> Option<pb::ChangeEvent> {
    if caller.reads_every_sheet() {
        return Some(change);
    }
    let (edits, changes) = (change.edits.len(), change.changes.len());
    change.changes.retain(|s| caller.read(&s.sheet).is_ok());
    let mut results = Vec::with_capacity(change.results.len());
    let mut kept = Vec::with_capacity(edits);
    for (i, edit) in std::mem::take(&mut change.edits).into_iter().enumerate() {
        if edit
            .cell
            .as_ref()
            .is_some_and(|c| caller.read(&c.sheet).is_ok())
        {
            kept.push(edit);
            results.extend(change.results.get(i).cloned());
        }
    }
    change.edits = kept;
    change.results = results;
    let nothing_left = change.edits.is_empty() && change.changes.is_empty();
    (!nothing_left || edits + changes == 0).then_some(change)
}

/// `GetRevision`: one revision with every changed cell before and after.
pub async fn get(pool: &Arc<ReadPool>, caller: Caller, revision: i64) -> Result<pb::Revision> {
    if revision <= 0 {
        return Err(Error::invalid(format!(
            "revision must be positive (it is {revision}); revision 0 is the import"
        )));
    }
    pool.through(revision).await?;
    let found = pool
        .run(move |conn| {
            let row = conn
                .prepare_cached("SELECT reverted_by, event FROM changelog WHERE revision = ?")?
                .query_row([revision], |r| {
                    Ok((r.get::<_, Option<i64>>(0)?, r.get::<_, Vec<u8>>(1)?))
                })
                .optional()?;
            match row {
                Some(row) => Ok(Ok(row)),
                None => Ok(Err((
                    read::oldest_revision(conn)?,
                    read::head_revision(conn)?,
                ))),
            }
        })
        .await?;
    let (reverted_by, bytes) = match found {
        Ok(row) => row,
        Err((_, head)) if revision > head => {
            return Err(Error::not_found(format!(
                "revision {revision} does not exist (the head is {head})"
            )));
        }
        Err((oldest, head)) => {
            return Err(Error::OutOfRange {
                message: format!(
                    "revision {revision} is no longer in the changelog, which keeps revisions \
                     {oldest} to {head} (--changelog-retention)"
                ),
                oldest,
                head,
                database_id: None,
            });
        }
    };
    let change = decode(&bytes)?;
    let change = visible(&caller, change).ok_or_else(|| {
        Error::denied(
            "SHEET_NOT_ALLOWED",
            format!("revision {revision} changed no sheet this key may read"),
        )
    })?;
    Ok(pb::Revision {
        change: Some(change),
        reverted_by: reverted_by.unwrap_or(0),
    })
}

fn decode(bytes: &[u8]) -> Result<pb::ChangeEvent> {
    pb::ChangeEvent::decode(bytes)
        .map_err(|e| Error::Internal(format!("a changelog event does not decode: {e}")))
}

/// The edits a revert of `revision` undoes: its own, or for a revert, those
/// of the revision it took back (and so on), for checking the caller's
/// grants. At most `MAX_HOPS` reverts deep; `None` when the changelog no
/// longer has them.
pub async fn edits_behind(
    pool: &Arc<ReadPool>,
    revision: i64,
) -> Result<Option<Vec<pb::CellEdit>>> {
    const MAX_HOPS: usize = 64;
    pool.through(revision).await?;
    pool.run(move |conn| {
        let mut at = revision;
        for _ in 0..MAX_HOPS {
            let bytes: Option<Vec<u8>> = conn
                .prepare_cached("SELECT event FROM changelog WHERE revision = ?")?
                .query_row([at], |r| r.get(0))
                .optional()?;
            let Some(bytes) = bytes else {
                return Ok(None);
            };
            let change = decode(&bytes)?;
            if change.reverts_revision == 0 {
                return Ok(Some(change.edits));
            }
            at = change.reverts_revision;
        }
        Ok(None)
    })
    .await
}
