//! The in-process feed: a broadcast channel for live events and the DuckDB
//! changelog for history. One process, no Redis needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::FutureExt;
use futures::future::BoxFuture;
use tokio::sync::broadcast;

use super::{Event, EventRef, Feed};
use crate::error::Result;
use crate::store::{ReadPool, read};

/// Live events fan out through a broadcast channel; history is the changelog.
pub struct MemoryFeed {
    live: broadcast::Sender<EventRef>,
    head: AtomicI64,
    pool: Arc<ReadPool>,
}

impl MemoryFeed {
    /// A feed whose subscribers may fall `capacity` events behind before
    /// they catch up from the changelog.
    pub fn new(pool: Arc<ReadPool>, head: i64, capacity: usize) -> Self {
        Self {
            live: broadcast::channel(capacity).0,
            head: AtomicI64::new(head),
            pool,
        }
    }
}

impl Feed for MemoryFeed {
    fn publish(&self, event: EventRef) {
        self.head.store(event.revision, Ordering::Release);
        // No subscribers is fine: the event is in the changelog.
        let _ = self.live.send(event);
    }

    fn subscribe(&self) -> broadcast::Receiver<EventRef> {
        self.live.subscribe()
    }

    fn history(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        changelog_history(&self.pool, from, limit).boxed()
    }

    fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }
}

/// Reads events from the changelog.
pub async fn changelog_history(
    pool: &Arc<ReadPool>,
    from: i64,
    limit: usize,
) -> Result<Vec<EventRef>> {
    let rows = pool
        .run(move |conn| read::events(conn, from, limit))
        .await?;
    rows.into_iter()
        .map(|(revision, bytes)| Event::decode(revision, &bytes))
        .collect()
}
