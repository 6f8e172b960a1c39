//! The reader (edges): one blocking `XREAD` loop on its own connection
//! feeds the process's live buffer, and so every local watcher. After an
//! error it reconnects with backoff and resumes from the last id it saw,
//! never from `$`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{Client, ClientLike, StreamsInterface, Value};
use fred::types::streams::XReadResponse;
use tokio::sync::watch;

use super::entry::{decode_entry, entry_id};
use super::{READ_COUNT, stopped, stream_top};
use crate::feed::Live;

/// How long one XREAD blocks.
pub const BLOCK_MS: u64 = 2_000;

/// Follows the stream with a blocking XREAD and feeds the local watchers.
pub struct Reader {
    pub client: Client,
    pub stream: String,
    pub live: Arc<Live>,
    /// The newest revision read.
    pub seen: Arc<AtomicI64>,
}

impl Reader {
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        let _connection = self.client.connect();
        // Starts at the stream's end (watchers catch up from history), then
        // always resumes from the last id seen.
        let mut last: Option<String> = None;
        let mut backoff = Duration::from_millis(50);
        let mut down_since: Option<Instant> = None;
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
                        match decode_entry(&id, &fields) {
                            Ok(event) => {
                                self.seen.fetch_max(event.revision, Ordering::AcqRel);
                                self.live.push(event);
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
                        tracing::info!(
                            outage_ms = since.elapsed().as_millis() as u64,
                            resumed_after = last.as_deref().unwrap_or("0-0"),
                            "redis stream reader reconnected"
                        );
                    }
                    backoff = Duration::from_millis(50);
                }
                Err(e) => {
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
