//! WatchUpdates: etcd-style watches over the change feed.
//!
//! Guarantees (DESIGN §4): events arrive in revision order, gap-free, each
//! once; a watch resumes from any retained revision; a snapshot-first watch
//! gets the sheet at revision R and then every change after R; idle streams
//! get progress messages; a slow subscriber never slows anyone else.
//!
//! How: each watch is a task that subscribes to the feed *before* reading
//! anything, then catches up from history (the changelog, in pages) and
//! switches to live events, skipping the ones it already sent. A subscriber
//! that falls behind the feed's bounded buffer simply catches up from
//! history again. The task sends into a small per-watch channel; if the
//! client stops reading for longer than the stall timeout, the watch ends
//! with RESOURCE_EXHAUSTED naming the revision to resume from. Nothing a
//! watcher does can block the writer: publishing never waits.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use futures::Stream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, broadcast, mpsc, oneshot, watch};
use tokio::time::{Instant, interval_at};
use tonic::Status;

use crate::error::{Error, Result};
use crate::feed::{EventRef, Feed};
use crate::grid::{self, GridQuery};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::summary::Published;
use futures::FutureExt;
use futures::future::BoxFuture;

/// History is read in pages of this many events.
const PAGE: usize = 64;
/// Messages buffered per watch before the task waits for the client.
const BUFFER: usize = 32;
/// How often a waiting watch checks that the feed has not left it behind.
const STUCK_CHECK: Duration = Duration::from_secs(1);

/// Watch settings.
#[derive(Debug, Clone, Copy)]
pub struct WatchConfig {
    /// How often an idle stream gets a progress message.
    pub progress_interval: Duration,
    /// How long a client may leave a full buffer unread before its watch ends.
    pub stall_timeout: Duration,
    /// The most concurrent watches.
    pub max_watchers: usize,
}

/// What a watch selects: a sheet, a subtree of it, some measures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    /// `sheets/{id}`; `None` selects every sheet.
    pub sheet: Option<String>,
    /// Only rows whose path starts with this one.
    pub row_prefix: Vec<String>,
    /// Only these measures; empty selects all.
    pub measures: Vec<String>,
}

impl Selection {
    fn selects_everything(&self) -> bool {
        self.sheet.is_none() && self.row_prefix.is_empty() && self.measures.is_empty()
    }

    /// The event with only the selected cells.
    pub fn filter(&self, event: &pb::ChangeEvent) -> pb::ChangeEvent {
        if self.selects_everything() {
            return event.clone();
        }
        let changes = event
            .changes
            .iter()
            .filter(|s| self.sheet.as_ref().is_none_or(|name| *name == s.sheet))
            .map(|s| pb::SheetChanges {
                sheet: s.sheet.clone(),
                cells: s
                    .cells
                    .iter()
                    .filter(|c| c.row_path.starts_with(&self.row_prefix))
                    .filter(|c| self.measures.is_empty() || self.measures.contains(&c.measure))
                    .cloned()
                    .collect(),
            })
            .filter(|s| !s.cells.is_empty())
            .collect();
        pb::ChangeEvent {
            revision: event.revision,
            commit_time: event.commit_time,
            actor: event.actor.clone(),
            request_id: event.request_id.clone(),
            edits: event.edits.clone(),
            results: event.results.clone(),
            changes,
        }
    }
}

/// A validated watch request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchRequest {
    pub selection: Selection,
    /// The first revision to deliver; 0 means "from now on".
    pub start: i64,
    /// Send this grid first (snapshot-then-changes).
    pub snapshot: Option<pb::GetSheetRequest>,
}

impl WatchRequest {
    /// Checks what needs no model, and builds the request from names.
    pub fn from_proto(r: &pb::WatchUpdatesRequest) -> Result<Self> {
        if r.start_revision < 0 {
            return Err(Error::invalid("start_revision cannot be negative"));
        }
        if r.sheet.is_empty() && (!r.row_path.is_empty() || r.send_snapshot) {
            return Err(Error::invalid("row_path and send_snapshot need a sheet"));
        }
        if r.send_snapshot && r.start_revision != 0 {
            return Err(Error::invalid(
                "send_snapshot and start_revision exclude each other: the snapshot decides where changes start",
            ));
        }
        let sheet = Some(r.sheet.clone()).filter(|s| !s.is_empty());
        Ok(Self {
            snapshot: r.send_snapshot.then(|| pb::GetSheetRequest {
                name: r.sheet.clone(),
                row_path: r.row_path.clone(),
                columns: Vec::new(),
                measures: r.measures.clone(),
            }),
            selection: Selection {
                sheet,
                row_prefix: r.row_path.clone(),
                measures: r.measures.clone(),
            },
            start: r.start_revision,
        })
    }
}

/// Where watches are validated and snapshots read: this process's summary
/// (the writer) or the writer over gRPC (edges, see `crate::edge`).
pub trait SheetSource: Send + Sync + 'static {
    /// Validates a watch request: names exist, with the right error codes.
    fn resolve<'a>(
        &'a self,
        request: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>>;
    /// The grid a snapshot-first watch starts with.
    fn snapshot<'a>(&'a self, query: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>>;
}

/// The writer's own summary.
pub struct LocalSheets {
    pub model: Arc<Model>,
    pub published: Arc<Published>,
}

impl SheetSource for LocalSheets {
    fn resolve<'a>(
        &'a self,
        r: &'a pb::WatchUpdatesRequest,
    ) -> BoxFuture<'a, Result<WatchRequest>> {
        let resolved = WatchRequest::from_proto(r).and_then(|request| {
            if !r.sheet.is_empty() {
                GridQuery::resolve(&self.model, &r.sheet, &r.row_path, &[], &r.measures)?;
            }
            for m in &r.measures {
                self.model.resolve_measure(m)?;
            }
            Ok(request)
        });
        futures::future::ready(resolved).boxed()
    }

    fn snapshot<'a>(&'a self, q: &'a pb::GetSheetRequest) -> BoxFuture<'a, Result<pb::Grid>> {
        let grid = GridQuery::resolve(&self.model, &q.name, &q.row_path, &q.columns, &q.measures)
            .map(|query| grid::read(&self.published.current(), &self.model, &query));
        futures::future::ready(grid).boxed()
    }
}

/// Starts watches; shared by every WatchUpdates call.
pub struct Watches {
    pub feed: Arc<dyn Feed>,
    pub sheets: Arc<dyn SheetSource>,
    pub config: WatchConfig,
    /// Flips to true when the server shuts down.
    pub shutdown: watch::Receiver<bool>,
    permits: Arc<Semaphore>,
}

impl Watches {
    pub fn new(
        feed: Arc<dyn Feed>,
        sheets: Arc<dyn SheetSource>,
        config: WatchConfig,
        shutdown: watch::Receiver<bool>,
    ) -> Arc<Self> {
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(config.max_watchers)),
            feed,
            sheets,
            config,
            shutdown,
        })
    }

    /// Validates a request, checks its start against the head and starts
    /// the watch's task.
    pub async fn start(self: &Arc<Self>, request: &pb::WatchUpdatesRequest) -> Result<WatchStream> {
        if *self.shutdown.borrow() {
            return Err(Error::Unavailable {
                reason: "SHUTTING_DOWN",
                message: "the server is shutting down".into(),
                resume_revision: None,
            });
        }
        let mut request = self.sheets.resolve(request).await?;
        let mut head = self.feed.head();
        if request.start > head + 1 {
            // This process may be behind the writer (an edge): ask.
            head = self.feed.current_head().await?;
        }
        if request.start > head + 1 {
            return Err(Error::OutOfRange {
                message: format!(
                    "start_revision {} is past the head revision {head} (at most head + 1 = {})",
                    request.start,
                    head + 1
                ),
                oldest: 1,
                head,
            });
        }
        if request.start == 0 && request.snapshot.is_none() {
            // "From now on" means from the head at the time of the call, not
            // whenever the task first runs.
            request.start = head + 1;
        }
        let permit = Arc::clone(&self.permits).try_acquire_owned().map_err(|_| {
            Error::ResourceExhausted {
                reason: "TOO_MANY_WATCHERS",
                message: format!(
                    "{} watches are open, the most this server allows (--max-watchers)",
                    self.config.max_watchers
                ),
                resume_revision: None,
            }
        })?;
        let (tx, data) = mpsc::channel(BUFFER);
        let (end_tx, end) = oneshot::channel();
        let this = Arc::clone(self);
        tokio::spawn(async move { this.run(request, tx, end_tx, permit).await });
        Ok(WatchStream {
            data,
            end: Some(end),
        })
    }

    async fn run(
        self: Arc<Self>,
        request: WatchRequest,
        tx: mpsc::Sender<pb::WatchUpdatesResponse>,
        end: oneshot::Sender<Status>,
        _permit: OwnedSemaphorePermit,
    ) {
        let mut sink = Sink {
            tx,
            stall: self.config.stall_timeout,
        };
        match self.pump(&request, &mut sink).await {
            Ok(()) | Err(Stop::ClientGone) => {}
            Err(Stop::Failed(error)) => {
                // Delivered after whatever is still buffered.
                let _ = end.send(error.into());
            }
        }
    }

    async fn pump(&self, request: &WatchRequest, sink: &mut Sink) -> Result<(), Stop> {
        // Subscribe first: nothing published from here on can be missed.
        let mut live = self.feed.subscribe();
        let mut cursor = match &request.snapshot {
            Some(q) => {
                let grid = self.sheets.snapshot(q).await?;
                let next = grid.revision + 1;
                // A client that missed the snapshot must start over: no resume point.
                sink.send(pb::watch_updates_response::Kind::Snapshot(grid), None)
                    .await?;
                next
            }
            None => request.start,
        };
        let period = self.config.progress_interval;
        let mut progress = interval_at(Instant::now() + period, period);
        // Live events are the fast path, not the only one: a revision the
        // feed has known of for a whole check without it arriving live (a
        // Redis reader that started after it, a Redis outage while the
        // writer commits) is read from history instead.
        let every = period.min(STUCK_CHECK);
        let mut check = interval_at(Instant::now() + every, every);
        let mut known = self.feed.head();
        let mut shutdown = self.shutdown.clone();
        loop {
            cursor = self.catch_up(request, sink, cursor).await?;
            loop {
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
                    _ = sink.tx.closed() => return Err(Stop::ClientGone),
                    received = live.recv() => match received {
                        Ok(event) if event.revision < cursor => {}
                        Ok(event) if event.revision == cursor => {
                            self.send_change(request, sink, &event).await?;
                            cursor += 1;
                            progress.reset();
                        }
                        // Ahead of us (a gap) or dropped from the buffer:
                        // catch up from history.
                        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => break,
                        Err(broadcast::error::RecvError::Closed) => {
                            return Err(Stop::Failed(Error::Unavailable {
                                reason: "FEED_CLOSED",
                                message: format!("the change feed closed; resume from revision {cursor}"),
                                resume_revision: Some(cursor),
                            }));
                        }
                    },
                    _ = check.tick() => {
                        if cursor <= known {
                            break;
                        }
                        known = self.feed.head();
                    }
                    _ = progress.tick() => {
                        let p = pb::Progress { head_revision: cursor - 1 };
                        sink.send(pb::watch_updates_response::Kind::Progress(p), Some(cursor)).await?;
                    }
                }
            }
        }
    }

    /// Sends every event from `cursor` that history holds; returns the new cursor.
    async fn catch_up(
        &self,
        request: &WatchRequest,
        sink: &mut Sink,
        mut cursor: i64,
    ) -> Result<i64, Stop> {
        loop {
            let page = self.feed.history(cursor, PAGE).await?;
            let full = page.len() == PAGE;
            for event in page {
                if event.revision != cursor {
                    return Err(Stop::Failed(Error::Internal(format!(
                        "history skipped from revision {cursor} to {}",
                        event.revision
                    ))));
                }
                self.send_change(request, sink, &event).await?;
                cursor += 1;
            }
            if !full {
                return Ok(cursor);
            }
        }
    }

    async fn send_change(
        &self,
        request: &WatchRequest,
        sink: &mut Sink,
        event: &EventRef,
    ) -> Result<(), Stop> {
        let change = request.selection.filter(&event.change);
        sink.send(
            pb::watch_updates_response::Kind::Change(change),
            Some(event.revision),
        )
        .await
    }
}

/// Why a watch's task stopped.
enum Stop {
    ClientGone,
    Failed(Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Failed(e)
    }
}

/// The sending side of a watch, with the stall timeout.
struct Sink {
    tx: mpsc::Sender<pb::WatchUpdatesResponse>,
    stall: Duration,
}

impl Sink {
    /// Sends a message; `resume` is the revision a client should resume from
    /// if this message cannot be delivered.
    async fn send(
        &mut self,
        kind: pb::watch_updates_response::Kind,
        resume: Option<i64>,
    ) -> Result<(), Stop> {
        let message = pb::WatchUpdatesResponse { kind: Some(kind) };
        // The common case, a buffer with room, needs no timer.
        let message = match self.tx.try_send(message) {
            Ok(()) => return Ok(()),
            Err(mpsc::error::TrySendError::Closed(_)) => return Err(Stop::ClientGone),
            Err(mpsc::error::TrySendError::Full(message)) => message,
        };
        match self.tx.send_timeout(message, self.stall).await {
            Ok(()) => Ok(()),
            Err(mpsc::error::SendTimeoutError::Closed(_)) => Err(Stop::ClientGone),
            Err(mpsc::error::SendTimeoutError::Timeout(_)) => {
                Err(Stop::Failed(Error::ResourceExhausted {
                    reason: "WATCHER_TOO_SLOW",
                    message: match resume {
                        Some(r) => format!(
                            "the client did not read for {:?}; resume from revision {r}",
                            self.stall
                        ),
                        None => format!(
                            "the client did not read for {:?}; start the watch again",
                            self.stall
                        ),
                    },
                    resume_revision: resume,
                }))
            }
        }
    }
}

/// The response stream of a watch: the buffered messages, then (if the
/// watch ended with an error) its status.
pub struct WatchStream {
    data: mpsc::Receiver<pb::WatchUpdatesResponse>,
    end: Option<oneshot::Receiver<Status>>,
}

impl Stream for WatchStream {
    type Item = Result<pb::WatchUpdatesResponse, Status>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.data.poll_recv(cx) {
            Poll::Ready(Some(message)) => Poll::Ready(Some(Ok(message))),
            Poll::Pending => Poll::Pending,
            // The task is done and everything it sent has been read.
            Poll::Ready(None) => match self.end.take() {
                Some(mut end) => match end.try_recv() {
                    Ok(status) => Poll::Ready(Some(Err(status))),
                    Err(_) => Poll::Ready(None),
                },
                None => Poll::Ready(None),
            },
        }
    }
}
