//! The reader (edges): one blocking `XREAD` loop on its own connection
//! feeds the process's live buffer, and so every local watcher. After an
//! error it reconnects with backoff and resumes from the last id it saw,
//! never from `$`.
//!
//! It starts once the edge knows its writer's database, and passes on only
//! that database's entries: a stream shared by mistake with another
//! database never reaches watchers as this one's revisions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use fred::prelude::{Client, ClientLike, StreamsInterface, Value};
use fred::types::streams::XReadResponse;
use tokio::sync::watch;

use super::entry::{decode_entry, entry_id, is_foreign};
use super::{READ_COUNT, stopped, stream_top};
use crate::feed::{EventCache, Live};
use crate::metrics::RedisMetrics;

/// How long one XREAD blocks.
pub const BLOCK_MS: u64 = 2_000;
/// How often a reader says it skips another database's entries.
const FOREIGN_LOG: Duration = Duration::from_secs(5);

/// Follows the stream with a blocking XREAD and feeds the local watchers.
pub struct Reader {
    pub client: Client,
    pub stream: String,
    pub live: Arc<Live>,
    /// The newest revision read.
    pub seen: Arc<AtomicI64>,
    /// The writer's database, once known.
    pub database_id: Arc<OnceLock<String>>,
    /// Live events are decoded once; watchers reading the same revisions
    /// from history then share them.
    pub cache: Arc<EventCache>,
    pub metrics: RedisMetrics,
}

impl Reader {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let _connection = self.client.connect();
        // Whose stream this is must be known before anything is passed on
        // (the edge asks its writer as soon as it can reach it).
        while self.database_id.get().is_none() {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
                _ = stopped(&mut shutdown) => return,
            }
        }
        // Starts at the stream's end (watchers catch up from history), then
        // always resumes from the last id seen.
        let mut last: Option<String> = None;
        let mut backoff = Duration::from_millis(50);
        let mut down_since: Option<Instant> = None;
        let mut foreign_logged: Option<Instant> = None;
        loop {
            let step = async {
                if last.is_none() {
                    let top = stream_top(&self.client, &self.stream).await?;
                    // Watchers still waiting for revisions up to `top` find
                    // them in history (see `Watches::pump`).
                    self.seen.fetch_max(top, Ordering::AcqRel);
                    last = Some(entry_id(top));
                }
                let reply: Value = self
                    .client
                    .xread(
                        Some(READ_COUNT),
                        Some(BLOCK_MS),
                        &self.stream,
                        last.clone().unwrap_or_default(),
                    )
                    .await?;
                // A block that timed out answers nil.
                let response: XReadResponse<String, String, String, Value> = if reply.is_null() {
                    HashMap::new()
                } else {
                    reply.into_xread_response()?
                };
                for (_, entries) in response {
                    for (id, fields) in entries {
                        let foreign = is_foreign(&fields, self.database_id.get());
                        match decode_entry(&id, &fields, &self.cache) {
                            Ok(event) if !foreign => {
                                self.seen.fetch_max(event.revision, Ordering::AcqRel);
                                self.live.push(event);
                            }
                            Ok(event) => {
                                if foreign_logged.is_none_or(|t| t.elapsed() >= FOREIGN_LOG) {
                                    foreign_logged = Some(Instant::now());
                                    tracing::error!(
                                        revision = event.revision,
                                        stream = %self.stream,
                                        "skipping stream entries of another database than the writer's"
                                    );
                                }
                            }
                            Err(e) => {
                                tracing::error!(error = %e, %id, "skipping an undecodable stream entry")
                            }
                        }
                        last = Some(id);
                    }
                }
                Ok::<(), fred::error::Error>(())
            };
            let outcome = tokio::select! {
                outcome = step => outcome,
                _ = stopped(&mut shutdown) => return,
            };
            match outcome {
                Ok(()) => {
                    if let Some(since) = down_since.take() {
                        self.metrics.reconnects.inc();
                        tracing::info!(
                            outage_ms = since.elapsed().as_millis() as u64,
                            resumed_after = last.as_deref().unwrap_or("0-0"),
                            "redis stream reader reconnected"
                        );
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
                    self.metrics.errors.with_label_values(&["reader"]).inc();
                    if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(error = %e, "redis stream reader disconnected; retrying");
                    }
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut shutdown) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }
}
