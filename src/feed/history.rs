//! Where past events come from: the DuckDB changelog (the writer), or the
//! Redis stream with the writer as fallback (edges, see `crate::edge`).

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use super::{EventCache, EventRef};
use crate::error::{Error, Result};
use crate::store::{ReadPool, read};

/// The most bytes of events one page of history holds (beyond its first
/// event): a page of large events must not pin hundreds of megabytes per
/// watcher catching up.
pub const PAGE_BYTES: usize = 4 * 1024 * 1024;

/// Pages of past events.
pub trait History: Send + Sync + 'static {
    /// Up to `limit` events from revision `from` on, in order, gap-free.
    /// Fails with `OutOfRange` when `from` is no longer retained.
    fn events(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>>;

    /// The oldest revision retained (head + 1 when none is).
    fn oldest(&self) -> BoxFuture<'_, Result<i64>>;
}

/// The changelog, read on the read pool.
pub struct ChangelogHistory {
    pool: Arc<ReadPool>,
    cache: EventCache,
}

impl ChangelogHistory {
    pub fn new(pool: Arc<ReadPool>) -> Self {
        Self {
            pool,
            cache: EventCache::default(),
        }
    }
}

impl History for ChangelogHistory {
    fn events(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        async move {
            // The newest revisions may still be in the journal only.
            self.pool.through(from).await?;
            let rows = self
                .pool
                .run(move |conn| read::events(conn, from, limit, PAGE_BYTES))
                .await?;
            if let Some((first, _)) = rows.first()
                && *first != from
            {
                // The changelog was pruned past `from` (--changelog-retention).
                let head = self.pool.run(|conn| Ok(read::head_revision(conn)?)).await?;
                return Err(Error::OutOfRange {
                    message: format!(
                        "revision {from} is no longer retained; the oldest is {first}, resync with a snapshot"
                    ),
                    oldest: *first,
                    head,
                    database_id: None,
                });
            }
            rows.into_iter()
                .map(|(revision, bytes)| self.cache.decode(revision, &bytes))
                .collect()
        }
        .boxed()
    }

    fn oldest(&self) -> BoxFuture<'_, Result<i64>> {
        async move { self.pool.run(|conn| Ok(read::oldest_revision(conn)?)).await }.boxed()
    }
}
