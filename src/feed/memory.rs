//! The in-process feed: a broadcast channel for live events and the DuckDB
//! changelog for history. One process, no Redis needed.

use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::BoxFuture;
use tokio::sync::broadcast;

use super::{ChangelogHistory, EventRef, Feed, History};
use crate::error::Result;

/// Live events fan out through a broadcast channel; history is the changelog.
pub struct MemoryFeed {
    live: broadcast::Sender<EventRef>,
    head: AtomicI64,
    history: ChangelogHistory,
}

impl MemoryFeed {
    /// A feed whose subscribers may fall `capacity` events behind before
    /// they catch up from the changelog.
    pub fn new(history: ChangelogHistory, head: i64, capacity: usize) -> Self {
        Self {
            live: broadcast::channel(capacity).0,
            head: AtomicI64::new(head),
            history,
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
        self.history.events(from, limit)
    }

    fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }
}
