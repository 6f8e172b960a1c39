//! The in-process feed: the live buffer for live events and the DuckDB
//! changelog for history. One process, no Redis needed.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures::future::BoxFuture;

use super::{ChangelogHistory, EventRef, Feed, History, Live};
use crate::error::Result;

/// Live events go to the shared buffer; history is the changelog.
pub struct MemoryFeed {
    live: Arc<Live>,
    head: AtomicI64,
    history: ChangelogHistory,
    database_id: String,
}

impl MemoryFeed {
    /// A feed over `live`, starting at revision `head` of the database
    /// `database_id`.
    pub fn new(history: ChangelogHistory, head: i64, database_id: &str, live: Arc<Live>) -> Self {
        Self {
            live,
            head: AtomicI64::new(head),
            history,
            database_id: database_id.to_owned(),
        }
    }
}

impl Feed for MemoryFeed {
    fn publish(&self, event: EventRef) {
        self.head.store(event.revision, Ordering::Release);
        self.live.push(event);
    }

    fn live(&self) -> &Live {
        &self.live
    }

    fn history(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        self.history.events(from, limit)
    }

    fn oldest(&self) -> BoxFuture<'_, Result<i64>> {
        self.history.oldest()
    }

    fn head(&self) -> i64 {
        self.head.load(Ordering::Acquire)
    }

    fn database_id(&self) -> Option<&str> {
        Some(&self.database_id)
    }
}
