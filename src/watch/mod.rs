//! WatchUpdates: etcd-style watches over the change feed.
//!
//! Guarantees (DESIGN §4): events arrive in revision order, gap-free, each
//! once; a watch resumes from any retained revision; a snapshot-first watch
//! gets the sheet at revision R and then every change after R; idle streams
//! get progress messages; a slow subscriber never slows anyone else.
//!
//! How: each watch is a task with a cursor (the next revision to send). It
//! catches up from history (the changelog, in pages), then follows the
//! process's live buffer ([`crate::feed::Live`]), looking each revision up
//! there; a revision the buffer no longer (or never) had sends it back to
//! history. The task sends into a small per-watch buffer bounded in bytes
//! ([`stream`]); if the client stops reading for longer than the stall
//! timeout, the watch ends with RESOURCE_EXHAUSTED naming the revision to
//! resume from. Nothing a watcher does can block the writer: publishing
//! never waits.

mod request;
mod route;
mod stream;

pub use request::{LocalSheets, Selection, SheetSource, WatchRequest};
pub use route::{Unrouted, WatchRoute, unrouted};
pub use stream::WatchStream;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use prometheus::{IntCounter, IntGauge};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, oneshot, watch};
use tokio::time::{Instant, MissedTickBehavior, interval_at};
use tonic::Status;

use crate::auth::{Auth, Caller};
use crate::error::{Error, Result};
use crate::feed::{EventRef, Feed, Lookup};
use crate::proto::v1 as pb;
use stream::{Outgoing, Sink, Stop};

/// History is read in pages of this many events.
const PAGE: usize = 64;
/// How often a waiting watch checks that the feed has not left it behind.
const STUCK_CHECK: Duration = Duration::from_secs(1);
/// How long a watch waits before asking history again when neither history
/// nor the live buffer had its next revision.
const RETRY: Duration = Duration::from_millis(100);

/// Watch settings.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// How often an idle stream gets a progress message.
    pub progress_interval: Duration,
    /// How long a client may leave a full buffer unread before its watch ends.
    pub stall_timeout: Duration,
    /// The most concurrent watches.
    pub max_watchers: usize,
    /// The most concurrent watches from one client address.
    pub max_watchers_per_peer: usize,
    /// The most bytes of messages one watch buffers for its client.
    pub buffer_bytes: usize,
}

/// What watches did: the server's metrics (registered in
/// [`crate::metrics::Metrics`]), also read by tests.
#[derive(Debug)]
pub struct WatchStats {
    /// Watches open now.
    pub open: IntGauge,
    /// Change events handed to watch streams.
    pub events_sent: IntCounter,
    /// Times a watch found its next revision gone from the live buffer and
    /// went back to history.
    pub catch_ups: IntCounter,
    /// Watches ended because their client stopped reading.
    pub too_slow: IntCounter,
    /// The most bytes any watch has had buffered for its client.
    pub max_buffered_bytes: AtomicUsize,
}

/// Starts watches; shared by every WatchUpdates call.
pub struct Watches {
    pub feed: Arc<dyn Feed>,
    pub sheets: Arc<dyn SheetSource>,
    pub config: WatchConfig,
    pub stats: Arc<WatchStats>,
    /// The keys, when auth is on: a reload re-checks every watch.
    auth: Option<Arc<Auth>>,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
    per_peer: PeerCounts,
}

/// Open watches per client address.
type PeerCounts = Arc<Mutex<HashMap<IpAddr, usize>>>;

/// Whose watch it is, and news of key reloads (when auth is on).
struct Who {
    caller: Caller,
    reloads: Option<watch::Receiver<u64>>,
}

/// May `caller` watch `sheet` (empty: every sheet)?
fn allowed(caller: &Caller, sheet: &str) -> Result<()> {
    if !sheet.is_empty() {
        return caller.read(sheet);
    }
    match caller.principal() {
        Some(p) if !p.reads_every_sheet() => Err(Error::denied(
            "SHEET_REQUIRED",
            format!("{} may not read every sheet: name one it may read", p.id),
        )),
        _ => Ok(()),
    }
}

/// A watch's place under the limits, given back when the watch ends.
struct Admission {
    _permit: OwnedSemaphorePermit,
    peer: Option<(IpAddr, PeerCounts)>,
    stats: Arc<WatchStats>,
}

impl Drop for Admission {
    fn drop(&mut self) {
        self.stats.open.dec();
        if let Some((ip, per_peer)) = &self.peer {
            let mut counts = per_peer.lock().expect("peer counts");
            if let Some(n) = counts.get_mut(ip) {
                *n -= 1;
                if *n == 0 {
                    counts.remove(ip);
                }
            }
        }
    }
}

fn too_many(message: String) -> Error {
    Error::ResourceExhausted {
        reason: "TOO_MANY_WATCHERS",
        message,
        resume_revision: None,
    }
}

impl Watches {
    pub fn new(
        feed: Arc<dyn Feed>,
        sheets: Arc<dyn SheetSource>,
        config: WatchConfig,
        stats: Arc<WatchStats>,
        auth: Option<Arc<Auth>>,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            auth,
            permits: Arc::new(Semaphore::new(config.max_watchers)),
            per_peer: Arc::default(),
            stats,
            feed,
            sheets,
            config,
            shutdown,
        })
    }

    /// Validates a request, checks its start against the head and starts
    /// the watch's task. `peer` is the client's address (for the per-client
    /// limit).
    pub async fn start(
        self: &Arc<Self>,
        request: &pb::WatchUpdatesRequest,
        peer: Option<IpAddr>,
        caller: Caller,
    ) -> Result<WatchStream> {
        allowed(&caller, &request.sheet)?;
        if *self.shutdown.borrow() {
            return Err(Error::Unavailable {
                reason: "SHUTTING_DOWN",
                message: "the server is shutting down".into(),
                resume_revision: None,
            });
        }
        let mut request = self.sheets.resolve(request).await?;
        let mut head = self.feed.head();
        // "From now on" is the writer's head at the time of the call (this
        // process may be behind it: an edge asks); so is a start beyond
        // what this process knows.
        if request.start > head + 1 || (request.start == 0 && request.snapshot.is_none()) {
            head = self.feed.current_head().await?;
        }
        if request.start > head + 1 {
            return Err(Error::OutOfRange {
                message: format!(
                    "start_revision {} is past the head revision {head} (at most head + 1 = {})",
                    request.start,
                    head + 1
                ),
                oldest: self.feed.oldest().await?,
                head,
                database_id: self.feed.database_id().map(str::to_owned),
            });
        }
        if request.start == 0 && request.snapshot.is_none() {
            request.start = head + 1;
        }
        // A caller who may not read every sheet sees only the edits on
        // the one it watches.
        request.selection.only_its_edits = !caller.reads_every_sheet();
        // Subscribed before the key is checked again: a reload between the
        // layer's check and this one is seen by one or the other.
        let reloads = self.auth.as_ref().map(|a| a.reloads());
        self.recheck(&caller, &request)?;
        let admission = self.admit(peer)?;
        let selection = Arc::new(request.selection.clone());
        let (sink, stream, end) = stream::channel(
            selection,
            self.config.stall_timeout,
            self.config.buffer_bytes,
        );
        let this = Arc::clone(self);
        let who = Who { caller, reloads };
        tokio::spawn(async move { this.run(request, who, sink, end, admission).await });
        Ok(stream)
    }

    /// Answers a WatchUpdates call (a writer's and an edge's alike).
    pub async fn serve(
        self: &Arc<Self>,
        request: tonic::Request<pb::WatchUpdatesRequest>,
    ) -> Result<tonic::Response<WatchStream>, Status> {
        // The client's address, for the per-client limit.
        let peer = request.remote_addr().map(|a| a.ip());
        let caller = Caller::of(&request)?;
        Ok(tonic::Response::new(
            self.start(request.get_ref(), peer, caller).await?,
        ))
    }

    fn admit(&self, peer: Option<IpAddr>) -> Result<Admission> {
        let permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            too_many(format!(
                "{} watches are open, the most this server allows (--max-watchers)",
                self.config.max_watchers
            ))
        })?;
        let peer = match peer {
            None => None,
            Some(ip) => {
                let mut counts = self.per_peer.lock().expect("peer counts");
                let n = counts.entry(ip).or_default();
                if *n >= self.config.max_watchers_per_peer {
                    return Err(too_many(format!(
                        "{n} watches are open from {ip}, the most one client may have (--max-watchers-per-peer)"
                    )));
                }
                *n += 1;
                Some((ip, Arc::clone(&self.per_peer)))
            }
        };
        self.stats.open.inc();
        Ok(Admission {
            _permit: permit,
            peer,
            stats: Arc::clone(&self.stats),
        })
    }

    async fn run(
        self: Arc<Self>,
        request: WatchRequest,
        mut who: Who,
        mut sink: Sink,
        end: oneshot::Sender<Status>,
        _admission: Admission,
    ) {
        match self.pump(&request, &mut who, &mut sink).await {
            Ok(()) | Err(Stop::ClientGone) => {}
            Err(Stop::Failed(error)) => {
                if let Error::ResourceExhausted {
                    reason: "WATCHER_TOO_SLOW",
                    ..
                } = error
                {
                    self.stats.too_slow.inc();
                }
                // Delivered after whatever is still buffered.
                let _ = end.send(error.into());
            }
        }
    }

    async fn pump(
        &self,
        request: &WatchRequest,
        who: &mut Who,
        sink: &mut Sink,
    ) -> Result<(), Stop> {
        let Who { caller, reloads } = who;
        let caller = &*caller;
        let live = self.feed.live();
        let mut news = live.subscribe();
        let mut cursor = match &request.snapshot {
            Some(q) => {
                let grid = self.sheets.snapshot(q).await?;
                let next = grid.revision + 1;
                // A client that missed the snapshot must start over: no resume point.
                sink.send(Outgoing::Snapshot(grid), None).await?;
                next
            }
            None => request.start,
        };
        let period = self.config.progress_interval;
        let mut progress = interval_at(Instant::now() + period, period);
        // After a long catch-up, one tick, not a burst of them.
        progress.set_missed_tick_behavior(MissedTickBehavior::Delay);
        // The live buffer is the fast path, not the only one: a revision
        // the feed has known of for a whole check without it arriving (a
        // Redis reader that started after it, a Redis outage while the
        // writer commits) is read from history instead.
        let every = period.min(STUCK_CHECK);
        let mut check = interval_at(Instant::now() + every, every);
        check.set_missed_tick_behavior(MissedTickBehavior::Delay);
        let mut known = self.feed.head();
        let mut shutdown = self.shutdown.clone();
        loop {
            let from = cursor;
            cursor = self.catch_up(sink, cursor).await?;
            let mut waited = false;
            loop {
                match live.get(cursor) {
                    Lookup::Ready(event) => {
                        self.send_change(sink, event).await?;
                        cursor += 1;
                        progress.reset();
                        continue;
                    }
                    Lookup::Behind if !waited && cursor == from => {
                        // History had nothing at the cursor either (an edge
                        // whose stream has a gap the writer will fill): do
                        // not ask again at once.
                        waited = true;
                    }
                    Lookup::Behind => {
                        self.stats.catch_ups.inc();
                        break;
                    }
                    Lookup::Pending => {}
                }
                let retry = async {
                    if waited {
                        tokio::time::sleep(RETRY).await;
                    } else {
                        std::future::pending::<()>().await;
                    }
                };
                tokio::select! {
                    biased;
                    // (The guard wait_for returns is not Send: drop it here.)
                    _ = async { shutdown.wait_for(|stop| *stop).await.map(|_| ()) } => {
                        return Err(Stop::Failed(Error::Unavailable {
                            reason: "SHUTTING_DOWN",
                            message: format!("the server is shutting down; resume from revision {cursor}"),
                            resume_revision: Some(cursor),
                        }));
                    }
                    () = sink.closed() => return Err(Stop::ClientGone),
                    changed = news.changed() => if changed.is_err() {
                        return Err(Stop::Failed(Error::Unavailable {
                            reason: "FEED_CLOSED",
                            message: format!("the change feed closed; resume from revision {cursor}"),
                            resume_revision: Some(cursor),
                        }));
                    },
                    () = retry => break,
                    _ = check.tick() => {
                        if cursor <= known {
                            break;
                        }
                        known = self.feed.head();
                    }
                    _ = progress.tick() => {
                        // A key that expired meanwhile ends its watches.
                        if let Some(p) = caller.principal().into_iter().chain(caller.edge())
                            .find(|p| !p.valid_at(chrono::Utc::now()))
                        {
                            return Err(Stop::Failed(crate::auth::unauthenticated(
                                "TOKEN_EXPIRED",
                                format!("the key {} expired; resume from revision {cursor} with a valid one", p.id),
                            )));
                        }
                        sink.send(Outgoing::Progress(cursor - 1), Some(cursor)).await?;
                    }
                    _ = async {
                        match reloads.as_mut() {
                            Some(r) => { let _ = r.changed().await; }
                            None => std::future::pending::<()>().await,
                        }
                    } => {
                        self.recheck(caller, request).map_err(Stop::Failed)?;
                    }
                }
            }
        }
    }

    /// Sends every event from `cursor` that history holds; returns the new cursor.
    async fn catch_up(&self, sink: &mut Sink, mut cursor: i64) -> Result<i64, Stop> {
        loop {
            let page = self.feed.history(cursor, PAGE).await?;
            let done = page.is_empty();
            for event in page {
                if event.revision != cursor {
                    return Err(Stop::Failed(Error::Internal(format!(
                        "history skipped from revision {cursor} to {}",
                        event.revision
                    ))));
                }
                self.send_change(sink, event).await?;
                cursor += 1;
            }
            if done {
                return Ok(cursor);
            }
        }
    }

    /// After the keys were reloaded: is this watch still allowed?
    fn recheck(&self, caller: &Caller, request: &WatchRequest) -> Result<()> {
        let (Some(auth), Some(principal)) = (&self.auth, caller.principal()) else {
            return Ok(());
        };
        let revoked = |key: &crate::auth::Principal| {
            Error::denied(
                "KEY_REVOKED",
                format!("the key {} is no longer valid", key.id),
            )
        };
        // A forwarded watch lives as long as the edge's key too.
        if let Some(edge) = caller.edge() {
            auth.current(edge).ok_or_else(|| revoked(edge))?;
        }
        let now = auth.current(principal).ok_or_else(|| revoked(principal))?;
        allowed(
            &Caller::Principal(now),
            request.selection.sheet.as_deref().unwrap_or_default(),
        )
    }

    async fn send_change(&self, sink: &mut Sink, event: EventRef) -> Result<(), Stop> {
        let revision = event.revision;
        let bytes = event.encoded(&sink.selection).await;
        sink.send(Outgoing::Change(bytes), Some(revision)).await?;
        self.stats.events_sent.inc();
        // Read first: a write every send would bounce the line between cores.
        let buffered = sink.buffered_bytes();
        if buffered > self.stats.max_buffered_bytes.load(Ordering::Relaxed) {
            self.stats
                .max_buffered_bytes
                .fetch_max(buffered, Ordering::Relaxed);
        }
        Ok(())
    }
}
