//! History for edges: the stream while it retains the revisions, then the
//! writer's changelog (through the writer's own WatchUpdates).

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::Client;
use futures::FutureExt;
use futures::future::BoxFuture;

use super::writer::{WriterLink, from_writer};
use crate::error::{Error, Result};
use crate::feed::history::PAGE_BYTES;
use crate::feed::{EventCache, EventRef, History, redis};
use crate::proto::v1 as pb;

/// How long the writer may take to replay one page.
const REPLAY_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a revision the writer has may be missing from the stream
/// before the writer is asked for it (a relay normally appends within
/// milliseconds).
const STREAM_GRACE: Duration = Duration::from_secs(2);

pub struct EdgeHistory {
    pub redis: Client,
    pub stream: String,
    pub writer: Arc<WriterLink>,
    /// Shared with the stream reader: one decoded copy per event.
    pub cache: Arc<EventCache>,
}

impl History for EdgeHistory {
    fn events(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>> {
        async move {
            if self.writer.database_id.get().is_none() {
                // Learn whose stream entries are the writer's (a writer that
                // cannot be reached is asked again next time).
                let _ = self.writer.position().await;
            }
            let ours = self.writer.database_id.get();
            match redis::stream_range(&self.redis, &self.stream, from, limit, ours, &self.cache)
                .await
            {
                Ok(events) if events.first().is_some_and(|e| e.revision == from) => {
                    // Stop at a gap (never skip a revision), and at the
                    // page's byte budget.
                    let mut bytes = 0;
                    let n = events
                        .iter()
                        .zip(from..)
                        .take_while(|(e, r)| {
                            let fits = bytes < PAGE_BYTES;
                            bytes += e.size;
                            fits && e.revision == *r
                        })
                        .count();
                    Ok(events.into_iter().take(n).collect())
                }
                // Nothing from `from` on: nothing yet (the relay appends what
                // the writer commits; a caught-up watcher just waits) —
                // unless the writer has had it for a while: then the relay
                // is stuck, and the writer is asked.
                Ok(events) if events.is_empty() && !self.writer.had_for(from, STREAM_GRACE) => {
                    Ok(events)
                }
                // Trimmed, lost, or Redis is down: ask the writer.
                _ => self.ask_writer(from, limit).await,
            }
        }
        .boxed()
    }

    fn oldest(&self) -> BoxFuture<'_, Result<i64>> {
        async move {
            let writer = self.writer.position().await?.oldest;
            // The stream may keep revisions the changelog no longer has.
            Ok(
                match redis::stream_range(
                    &self.redis,
                    &self.stream,
                    0,
                    1,
                    self.writer.database_id.get(),
                    &self.cache,
                )
                .await
                {
                    Ok(first) => first.first().map_or(writer, |e| e.revision.min(writer)),
                    Err(_) => writer,
                },
            )
        }
        .boxed()
    }
}

impl EdgeHistory {
    async fn ask_writer(&self, from: i64, limit: usize) -> Result<Vec<EventRef>> {
        let head = self.writer.position().await?.head;
        if from > head {
            return Ok(Vec::new());
        }
        let mut stream = self
            .writer
            .grid
            .clone()
            .watch_updates(pb::WatchUpdatesRequest {
                start_revision: from,
                ..Default::default()
            })
            .await
            .map_err(from_writer)?
            .into_inner();
        let last = head.min(from + limit as i64 - 1);
        let mut events = Vec::new();
        let read = async {
            let mut bytes = 0;
            while let Some(message) = stream.message().await.map_err(from_writer)? {
                if let Some(pb::watch_updates_response::Kind::Change(change)) = message.kind {
                    let event = self.cache.share(change);
                    let revision = event.revision;
                    bytes += event.size;
                    events.push(event);
                    if revision >= last || bytes >= PAGE_BYTES {
                        break;
                    }
                }
            }
            Ok::<_, Error>(())
        };
        // The writer has every revision up to `head`: this only waits long
        // when the writer is in trouble, and then a watch should fail, not hang.
        tokio::time::timeout(REPLAY_TIMEOUT, read)
            .await
            .map_err(|_| Error::Unavailable {
                reason: "WRITER_UNAVAILABLE",
                message: format!("the writer did not replay revisions {from}..={last} in time"),
                resume_revision: Some(from),
            })??;
        Ok(events)
    }
}
