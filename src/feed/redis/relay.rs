//! The relay (the writer's process only): publishes committed events to
//! the stream, in order, exactly once each, catching up after any outage.
//!
//! After each commit the writer hands the event over; the relay appends it
//! with the explicit id `<revision>-0`, so republishing is idempotent. When
//! Redis is down the writer keeps committing and the relay keeps a cursor;
//! when Redis is back (or after it lost data) it asks the stream for its
//! last id and republishes everything the stream is missing, in order, from
//! the changelog — from what the changelog still has, when it was pruned
//! past that. Every append is checked atomically in a Lua script
//! (`append.lua`) against the stream's last entry: it must be the previous
//! revision, of this database.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, Instant};

use fred::prelude::{Client, ClientLike, LuaInterface, Value};
use tokio::sync::{mpsc, watch};

use super::entry::entry_fields;
use super::{READ_COUNT, RedisSettings, ahead_message, stopped, stream_top};
use crate::error::Error;
use crate::feed::{EventRef, History};
use crate::metrics::RedisMetrics;

/// Events buffered between the writer and the relay; beyond this the relay
/// reads what it missed from the changelog.
pub const RELAY_BUFFER: usize = 8192;
/// How often an idle relay checks that Redis still has what it published.
const IDLE_CHECK: Duration = Duration::from_secs(5);
/// Revisions a connected relay may trail the writer by before it says so.
const LAG_WARN: i64 = 1_000;
/// How often a lagging relay says so.
const LAG_LOG: Duration = Duration::from_secs(5);
/// How long a stopping relay tries to publish what is pending.
pub const FLUSH_DEADLINE: Duration = Duration::from_secs(2);
/// Revisions appended per script call.
const APPEND_BATCH: usize = 64;
/// How the append script and the relay say a stream is another database's.
const FOREIGN: &str = "FOREIGN";
/// The append script: see the file for its arguments.
const APPEND_SCRIPT: &str = include_str!("append.lua");

fn relay_error(message: String) -> fred::error::Error {
    fred::error::Error::new(fred::error::ErrorKind::Unknown, message)
}

/// Publishes committed events to the stream (see the module docs).
pub struct Relay {
    pub client: Client,
    pub settings: RedisSettings,
    pub inbox: mpsc::Receiver<EventRef>,
    pub history: Arc<dyn History>,
    /// The newest committed revision (the writer's own counter: never
    /// raised by what the stream holds).
    pub committed: Arc<AtomicI64>,
    /// This database's identity, recorded in every entry.
    pub database_id: String,
    pub metrics: RedisMetrics,
}

impl Relay {
    pub async fn run(mut self, mut shutdown: watch::Receiver<bool>) {
        let _connection = self.client.connect();
        // The next revision to publish; `None` until checked against the
        // stream (at start, and after every failure: Redis may have lost data).
        let mut next: Option<i64> = None;
        let mut pending: VecDeque<EventRef> = VecDeque::new();
        let mut backoff = Duration::from_millis(50);
        let mut down_since: Option<Instant> = None;
        let mut last_lag_log = Instant::now();
        // The newest revision known to be in the stream (for the lag logs).
        let mut published = 0;
        loop {
            while let Ok(event) = self.inbox.try_recv() {
                pending.push_back(event);
            }
            // Bounded through any outage: what is dropped here is read back
            // from the changelog when it is its turn.
            while pending.len() > RELAY_BUFFER {
                pending.pop_front();
            }
            let head = self.committed.load(Ordering::Acquire);
            match self.publish_up_to(head, &mut next, &mut pending).await {
                Ok(()) => {
                    published = head;
                    if let Some(since) = down_since.take() {
                        tracing::info!(
                            head,
                            outage_ms = since.elapsed().as_millis() as u64,
                            "redis feed reconnected and caught up"
                        );
                    }
                    backoff = Duration::from_millis(50);
                    // Connected but slower than the writer.
                    let lag = self.committed.load(Ordering::Acquire) - published;
                    self.metrics.relay_lag.set(lag);
                    if lag >= LAG_WARN && last_lag_log.elapsed() >= LAG_LOG {
                        last_lag_log = Instant::now();
                        tracing::warn!(lag, published, "redis feed behind the writer");
                    }
                    tokio::select! {
                        event = self.inbox.recv() => match event {
                            Some(event) => pending.push_back(event),
                            None => return,
                        },
                        _ = tokio::time::sleep(IDLE_CHECK) => next = None,
                        _ = stopped(&mut shutdown) => {
                            // Publish what the writer committed while draining.
                            while let Ok(event) = self.inbox.try_recv() {
                                pending.push_back(event);
                            }
                            let head = self.committed.load(Ordering::Acquire);
                            let flush = self.publish_up_to(head, &mut next, &mut pending);
                            if !matches!(tokio::time::timeout(FLUSH_DEADLINE, flush).await, Ok(Ok(()))) {
                                tracing::warn!(head, "the relay stopped before publishing everything; the next start republishes");
                            }
                            return;
                        }
                    }
                }
                Err(e) => {
                    if let Some(n) = next {
                        published = n - 1;
                    }
                    self.metrics.errors.with_label_values(&["relay"]).inc();
                    self.metrics.relay_lag.set(head - published);
                    if e.details().contains(FOREIGN) {
                        // Not an outage: appending would mix two databases'
                        // revisions. Say so loudly, keep checking.
                        if last_lag_log.elapsed() >= LAG_LOG || down_since.is_none() {
                            last_lag_log = Instant::now();
                            tracing::error!(error = %e, head, "the relay refuses to append to another database's stream");
                        }
                        down_since.get_or_insert_with(Instant::now);
                    } else if down_since.is_none() {
                        down_since = Some(Instant::now());
                        tracing::warn!(
                            error = %e, head, published,
                            "redis feed disconnected; writes still commit and the relay will catch up"
                        );
                    } else if last_lag_log.elapsed() >= LAG_LOG {
                        last_lag_log = Instant::now();
                        tracing::warn!(
                            lag = head - published,
                            head,
                            published,
                            "redis feed behind"
                        );
                    }
                    next = None;
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stopped(&mut shutdown) => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                }
            }
        }
    }

    /// Appends every revision up to `head` that the stream lacks, up to
    /// [`APPEND_BATCH`] consecutive revisions per script call (one round
    /// trip each would cap the relay at a few thousand revisions a second,
    /// and a busy writer's feed would trail it).
    async fn publish_up_to(
        &self,
        head: i64,
        next: &mut Option<i64>,
        pending: &mut VecDeque<EventRef>,
    ) -> Result<(), fred::error::Error> {
        let stream = &self.settings.stream;
        let first = match *next {
            Some(n) => n,
            None => {
                let top = stream_top(&self.client, stream).await?;
                if top > head {
                    return Err(relay_error(format!(
                        "{FOREIGN} {}",
                        ahead_message(stream, top, head)
                    )));
                }
                // Nothing older than the retention is worth republishing.
                let oldest_kept = head - self.settings.maxlen as i64 + 1;
                let n = (top + 1).max(oldest_kept).max(1);
                if n <= head {
                    tracing::info!(
                        from = n,
                        to = head,
                        "republishing revisions the stream is missing"
                    );
                }
                n
            }
        };
        // The next append may follow an older entry right after a resync
        // (and after revisions the changelog no longer has); otherwise every
        // append must follow its predecessor exactly.
        let mut gap_allowed = next.is_none();
        *next = Some(first);
        let mut page: VecDeque<EventRef> = VecDeque::new();
        let mut batch: Vec<EventRef> = Vec::new();
        let mut batch_after_gap = false;
        let mut n = first;
        while n <= head {
            while pending.front().is_some_and(|e| e.revision < n) {
                pending.pop_front();
            }
            let event = match pending.front() {
                Some(e) if e.revision == n => pending.pop_front().expect("front exists"),
                _ => {
                    while page.front().is_some_and(|e| e.revision < n) {
                        page.pop_front();
                    }
                    if page.front().is_none_or(|e| e.revision != n) {
                        match self.history.events(n, READ_COUNT as usize).await {
                            Ok(events) => page = events.into(),
                            // The changelog no longer has it (pruned past
                            // what the stream lacks): start from its oldest.
                            Err(Error::OutOfRange { oldest, .. }) if oldest > n => {
                                tracing::warn!(
                                    from = n,
                                    oldest,
                                    "the changelog no longer has revisions the stream lacks; \
                                     publishing from the oldest it has"
                                );
                                n = oldest;
                                gap_allowed = true;
                                continue;
                            }
                            Err(e) => return Err(relay_error(e.to_string())),
                        }
                    }
                    match page.pop_front() {
                        Some(e) if e.revision == n => e,
                        Some(e) => {
                            return Err(relay_error(format!(
                                "the changelog skipped from revision {n} to {}",
                                e.revision
                            )));
                        }
                        None => break,
                    }
                }
            };
            // A batch holds consecutive revisions only.
            if gap_allowed && !batch.is_empty() {
                self.append(&batch, batch_after_gap).await?;
                batch.clear();
                *next = Some(n);
            }
            if batch.is_empty() {
                batch_after_gap = gap_allowed;
            }
            gap_allowed = false;
            batch.push(event);
            n += 1;
            if batch.len() == APPEND_BATCH {
                self.append(&batch, batch_after_gap).await?;
                batch.clear();
                *next = Some(n);
            }
        }
        if !batch.is_empty() {
            self.append(&batch, batch_after_gap).await?;
            *next = Some(n);
        }
        // Said only after real catching up: a busy writer's feed always
        // has a few revisions to publish.
        if head - first >= APPEND_BATCH as i64 {
            tracing::info!(head, "redis feed caught up");
        }
        Ok(())
    }

    /// Appends consecutive revisions, atomically checked against the
    /// stream's last entry: it must be this database's, and the first
    /// revision must follow it (or, with `after_gap`, anything older). Revisions already there are
    /// skipped; a gap means Redis lost entries since we last looked, and the
    /// relay resyncs before appending anything newer (stream ids only grow,
    /// so a newer entry would make the lost ones impossible to restore).
    async fn append(&self, events: &[EventRef], after_gap: bool) -> Result<(), fred::error::Error> {
        let mut args: Vec<Value> = vec![
            (self.settings.maxlen as i64).into(),
            i64::from(after_gap).into(),
            self.database_id.as_str().into(),
        ];
        for event in events {
            let fields = entry_fields(event, &self.database_id);
            args.push(event.revision.into());
            args.push((fields.len() as i64 * 2).into());
            for (name, value) in fields {
                args.push(name.into());
                args.push(value);
            }
        }
        let appended: i64 = self
            .client
            .eval(APPEND_SCRIPT, &self.settings.stream, args)
            .await?;
        if appended < 0 {
            return Err(relay_error(format!(
                "the stream lost entries before revision {}",
                -appended
            )));
        }
        Ok(())
    }
}
