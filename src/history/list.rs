//! `ListRevisions`: the changelog newest first (or oldest first), filtered
//! by actor and time in SQL and by what changed from the events.
//!
//! A call scans at most [`MAX_SCAN`] revisions, so a filter that matches
//! rarely costs each call a bounded amount: the page may then hold fewer
//! entries than asked (even none) with a token to go on from.

use std::sync::Arc;

use duckdb::params_from_iter;
use duckdb::types::{TimeUnit, Value};

use super::{decode, visible};
use crate::auth::Caller;
use crate::edit;
use crate::error::{Error, Result, quoted};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::store::ReadPool;

/// Entries per page when the request names no size.
const DEFAULT_PAGE: usize = 50;
/// The most entries per page.
const MAX_PAGE: usize = 1_000;
/// The most revisions one call scans.
const MAX_SCAN: usize = 10_000;
/// Revisions read per query while scanning.
const CHUNK: usize = 500;

/// What the changed cells must match (names as events spell them).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevisionFilter {
    sheet: Option<String>,
    row_path: Vec<String>,
    /// The row itself only, not the rows beneath it (a cell filter).
    exact_row: bool,
    column: Option<String>,
    measure: Option<String>,
    actor: Option<String>,
    start_micros: Option<i64>,
    end_micros: Option<i64>,
}

impl RevisionFilter {
    /// Validates a request's filter against the model.
    pub fn resolve(model: &Model, r: &pb::ListRevisionsRequest) -> Result<Self> {
        let mut f = RevisionFilter::default();
        if let Some(cell) = &r.cell {
            if !r.sheet.is_empty()
                || !r.row_path.is_empty()
                || !r.column.is_empty()
                || !r.measure.is_empty()
            {
                return Err(Error::invalid(
                    "cell excludes sheet, row_path, column and measure",
                ));
            }
            let addr = edit::resolve(model, Some(cell), "cell")?;
            f.sheet = Some(model.sheet_name(addr.sheet));
            f.row_path = model.row_path(addr.sheet, addr.row);
            f.exact_row = true;
            f.column = Some(
                model.sheets[addr.sheet].columns[addr.col as usize]
                    .key
                    .clone(),
            );
            f.measure = Some(model.def.measures[addr.measure].name.clone());
        } else if !r.sheet.is_empty() {
            let sheet = model.resolve_sheet(&r.sheet)?;
            f.sheet = Some(model.sheet_name(sheet));
            let row = model.resolve_row(sheet, &r.row_path)?;
            f.row_path = model.row_path(sheet, row);
            if !r.column.is_empty() {
                let col = model.resolve_column(sheet, &r.column)?;
                f.column = Some(model.sheets[sheet].columns[col as usize].key.clone());
            }
            if !r.measure.is_empty() {
                let m = model.resolve_measure(sheet, &r.measure)?;
                f.measure = Some(model.def.measures[m].name.clone());
            }
        } else if !r.row_path.is_empty() || !r.column.is_empty() || !r.measure.is_empty() {
            return Err(Error::invalid("row_path, column and measure need sheet"));
        }
        if !r.actor.is_empty() {
            edit::check_id_length("actor", &r.actor)?;
            f.actor = Some(r.actor.clone());
        }
        let micros = |t: &Option<prost_types::Timestamp>, what: &str| -> Result<Option<i64>> {
            t.as_ref()
                .map(|t| {
                    chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
                        .map(|t| t.timestamp_micros())
                        .ok_or_else(|| Error::invalid(format!("{what} is out of range")))
                })
                .transpose()
        };
        f.start_micros = micros(&r.start_time, "start_time")?;
        f.end_micros = micros(&r.end_time, "end_time")?;
        Ok(f)
    }

    /// Whether the filter narrows the changed cells (then entries carry
    /// the cells it selects).
    fn narrows_cells(&self) -> bool {
        self.exact_row
            || !self.row_path.is_empty()
            || self.column.is_some()
            || self.measure.is_some()
    }

    /// Whether the revision changed anything the filter selects; its
    /// changes become the cells selected (none when the filter does not
    /// narrow the cells: GetRevision has them).
    fn select(&self, change: &mut pb::ChangeEvent) -> bool {
        let Some(sheet) = &self.sheet else {
            change.changes.clear();
            return true;
        };
        let cell_matches = |c: &pb::CellChange| {
            let row = if self.exact_row {
                c.row_path == self.row_path
            } else {
                c.row_path.starts_with(&self.row_path)
            };
            row && self.column.as_ref().is_none_or(|k| *k == c.column)
                && self.measure.as_ref().is_none_or(|m| *m == c.measure)
        };
        let mut selected: Vec<pb::SheetChanges> = Vec::new();
        for s in change.changes.iter_mut().filter(|s| s.sheet == *sheet) {
            s.cells.retain(cell_matches);
            if !s.cells.is_empty() {
                selected.push(std::mem::take(s));
            }
        }
        if selected.is_empty() {
            return false;
        }
        change.changes = if self.narrows_cells() {
            selected
        } else {
            Vec::new()
        };
        true
    }
}

/// Where a page starts: the revision to scan from, from the token or the
/// request. A token is `<revision>.<listing>`: the listing it continues
/// (filters and direction) is part of it, so a token handed back with other
/// filters is refused rather than silently meaning something else
/// (AIP-158).
fn start(r: &pb::ListRevisionsRequest) -> Result<Option<i64>> {
    if !r.page_token.is_empty() {
        let refused = || {
            Error::invalid(format!(
                "page_token {} is not one this server issued for this listing (same filters \
                 and order as the request that returned it)",
                quoted(&r.page_token)
            ))
        };
        let (at, listing) = r.page_token.split_once('.').ok_or_else(refused)?;
        if listing != self::listing(r) {
            return Err(refused());
        }
        return at
            .parse::<i64>()
            .ok()
            .filter(|v| *v > 0)
            .map(Some)
            .ok_or_else(refused);
    }
    match r.start_revision {
        0 => Ok(None),
        v if v > 0 => Ok(Some(v)),
        v => Err(Error::invalid(format!(
            "start_revision cannot be negative (it is {v})"
        ))),
    }
}

/// What a listing is, apart from where a page starts and its size: a
/// digest of the request's filters and order (prost encodes a message's
/// fields in a fixed order).
fn listing(r: &pb::ListRevisionsRequest) -> String {
    use sha2::{Digest, Sha256};
    let filters = pb::ListRevisionsRequest {
        page_size: 0,
        page_token: String::new(),
        start_revision: 0,
        ..r.clone()
    };
    let digest = Sha256::digest(prost::Message::encode_to_vec(&filters));
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// `ListRevisions`.
pub async fn list(
    pool: &Arc<ReadPool>,
    model: &Model,
    caller: Caller,
    r: pb::ListRevisionsRequest,
) -> Result<pb::ListRevisionsResponse> {
    if r.page_size < 0 {
        return Err(Error::invalid("page_size cannot be negative"));
    }
    let size = match r.page_size as usize {
        0 => DEFAULT_PAGE,
        n => n.min(MAX_PAGE),
    };
    if let Some(sheet) = r
        .cell
        .as_ref()
        .map(|c| &c.sheet)
        .or(Some(&r.sheet))
        .filter(|s| !s.is_empty())
    {
        caller.read(sheet)?;
    }
    let filter = RevisionFilter::resolve(model, &r)?;
    let from = start(&r)?;
    let ascending = r.oldest_first;
    let listing = listing(&r);
    pool.current().await?;
    pool.run(move |conn| {
        let mut sql = "SELECT revision, reverted_by, event FROM changelog WHERE true".to_owned();
        let mut args: Vec<Value> = Vec::new();
        if let Some(actor) = &filter.actor {
            sql.push_str(" AND actor = ?");
            args.push(Value::Text(actor.clone()));
        }
        for (bound, op) in [(filter.start_micros, ">="), (filter.end_micros, "<")] {
            if let Some(t) = bound {
                sql.push_str(&format!(" AND committed_at {op} ?"));
                args.push(Value::Timestamp(TimeUnit::Microsecond, t));
            }
        }
        // Revisions are dense: each query reads one range of them, so it
        // touches only the row groups of that range (an open-ended ORDER BY
        // ... LIMIT would read the whole changelog every time).
        let order = if ascending { "ASC" } else { "DESC" };
        sql.push_str(&format!(
            " AND revision BETWEEN ? AND ? ORDER BY revision {order}"
        ));
        let (oldest, newest): (i64, i64) = conn.query_row(
            "SELECT coalesce(min(revision), 1), coalesce(max(revision), 0) FROM changelog",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        let mut at = match from {
            Some(r) if ascending => r.max(oldest),
            Some(r) => r.min(newest),
            None if ascending => oldest,
            None => newest,
        };
        let (mut out, mut scanned) = (Vec::new(), 0);
        let mut stmt = conn.prepare(&sql)?;
        loop {
            if at < oldest || at > newest {
                return Ok(pb::ListRevisionsResponse {
                    revisions: out,
                    next_page_token: String::new(),
                });
            }
            if out.len() == size || scanned >= MAX_SCAN {
                return Ok(pb::ListRevisionsResponse {
                    revisions: out,
                    next_page_token: format!("{at}.{listing}"),
                });
            }
            let span = CHUNK.min(MAX_SCAN - scanned) as i64;
            let (lo, hi) = if ascending {
                (at, at + span - 1)
            } else {
                (at - span + 1, at)
            };
            let mut page_args = args.clone();
            page_args.extend([Value::BigInt(lo), Value::BigInt(hi)]);
            let mut rows = stmt.query(params_from_iter(page_args))?;
            // Where the next query starts, unless the page fills first.
            let mut next = if ascending { hi + 1 } else { lo - 1 };
            while let Some(row) = rows.next()? {
                let revision: i64 = row.get(0)?;
                // What the caller may see first: the filter then selects
                // among the sheets it may read.
                let change = decode(&row.get::<_, Vec<u8>>(2)?)?;
                if let Some(mut change) = visible(&caller, change)
                    && filter.select(&mut change)
                {
                    out.push(pb::Revision {
                        change: Some(change),
                        reverted_by: row.get::<_, Option<i64>>(1)?.unwrap_or(0),
                    });
                    if out.len() == size {
                        next = if ascending {
                            revision + 1
                        } else {
                            revision - 1
                        };
                        break;
                    }
                }
            }
            scanned += (next - at).unsigned_abs() as usize;
            at = next;
        }
    })
    .await
}
