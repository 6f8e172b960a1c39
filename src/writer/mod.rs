//! The writer: one thread owning the only read-write DuckDB connection.
//!
//! Every write goes through its queue. The thread takes the requests waiting
//! in the queue as one group, applies them in order inside one transaction
//! (each gets its own revision and change event), commits once, then
//! publishes the events and replies ([`group`]). Group commit amortises the
//! commit over concurrent writers without weakening anything: each request
//! is still all-or-nothing (a request that fails after changing data rolls
//! the group back and the rest are re-applied without it).
//!
//! Architecture invariant: revisions are gap-free. A revision is assigned
//! only to a request that commits: its journal record (its event,
//! changelog columns and fact deltas) synced to the journal file, or in
//! the same transaction as its new facts.
//!
//! A commit appends one journal record (`store::journal`, to the file of
//! `store::journal_file`), or inserts the facts its writes created and
//! the record as a `journal` row in one transaction; nothing else. The changelog and the
//! fact history catch up with the journal behind the writes
//! (`store::catch_up`): when the writer has been idle for `catch_up_idle`,
//! under load once the oldest revision they lack is [`CATCH_UP_AGE`] old
//! or [`CATCH_UP_REVISIONS`] behind, before a request that reads them (a
//! revert, an Undo, a retried request id), when asked
//! ([`WriterHandle::catch_up`]: reads of the history do), and before it
//! stops. `facts` catches up with the fact history when idle, under load
//! every [`FACTS_AGE`] or [`FACTS_REVISIONS`], and before it stops. A
//! large catch-up (and every one of the facts) is written by the
//! [`scribe`] thread while the writer goes on. A crash in between is
//! caught up at the next start. Nothing reads `facts` for values
//! meanwhile: the mirror and the summary are the authority.

mod apply;
mod changes;
mod deltas;
mod event;
mod faults;
mod group;
mod mirror;
mod request_ids;
mod revert;
mod scribe;
mod tx;
mod upkeep;
mod writes;

pub use faults::{FaultHook, FaultPoint, Faults};
pub use mirror::Mirror;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use duckdb::Connection;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};

use crate::edit::WriteRequest;
use crate::error::{Error, Result};
use crate::feed::{EventRef, Feed};
use crate::history::Retention;
use crate::metrics::WriterMetrics;
use crate::model::Model;
use crate::store::journal::Revision;
use crate::store::journal_file::JournalFile;
use crate::store::{catch_up, history};
use crate::summary::{Published, Snapshot};

/// The most requests committed together.
const MAX_GROUP: usize = 64;
/// Requests waiting beyond this many make callers wait (backpressure).
const QUEUE_CAPACITY: usize = 1024;
/// The changelog is pruned once this many revisions have passed.
const PRUNE_EVERY: i64 = 64;
/// A write-ahead log this large is checkpointed when the writer is idle
/// (DuckDB's own threshold, moved off the commit path).
const IDLE_CHECKPOINT_BYTES: u64 = 16 << 20;
/// The log DuckDB checkpoints at in a commit regardless: only under
/// writes with no pause at all, and it bounds the replay after a crash.
const COMMIT_CHECKPOINT_THRESHOLD: &str = "128MiB";
/// Under load, the changelog and the fact history catch up with the
/// journal once the oldest revision they lack is this old (or
/// `catch_up_idle`, if longer)...
const CATCH_UP_AGE: Duration = Duration::from_secs(1);
/// ...or this many revisions behind (bounding the replay after a crash)...
const CATCH_UP_REVISIONS: i64 = 4096;
/// ...or this many fact values behind (bounding the records it keeps:
/// about 28 bytes a value).
const CATCH_UP_DELTAS: usize = 1 << 21;
/// Under load, `facts` catches up once the oldest change it lacks is this
/// old, or this many revisions behind: each time scans every fact, and
/// writes a fact changed many times once.
const FACTS_AGE: Duration = Duration::from_secs(10);
const FACTS_REVISIONS: i64 = 1 << 16;
/// Under load, a catch-up of this many revisions or fact values, or of
/// the facts, goes to the scribe; a smaller one is done between groups.
const SCRIBE_REVISIONS: usize = 2048;
const SCRIBE_DELTAS: usize = 1 << 16;

/// Writer settings.
#[derive(Debug, Clone)]
pub struct WriterConfig {
    /// The most facts one request may change or create, over all its
    /// edits; also what one commit group may touch before the requests
    /// after it wait for the next group.
    pub max_facts_per_write: i64,
    /// Revisions the changelog keeps (0: all).
    pub changelog_retention: u64,
    /// What the fact history keeps.
    pub history_retention: Retention,
    /// How long the writer waits idle before the `facts` table catches up
    /// with the committed writes.
    pub catch_up_idle: Duration,
    /// DuckDB's threads while the writer runs (`--duckdb-threads`).
    pub duckdb_threads: u32,
    /// The database's write-ahead log file, checkpointed when the writer is
    /// idle (none for an in-memory database).
    pub wal: Option<PathBuf>,
    /// Test-only failure points.
    pub faults: Faults,
    pub metrics: WriterMetrics,
}

/// The result of a write.
#[derive(Debug, Clone)]
pub struct WriteOutcome {
    /// The revision's event (the original one for a retried request id).
    pub event: EventRef,
    /// True when the request id had been seen before and nothing was applied.
    pub replayed: bool,
    /// How many facts its edits changed or created, over all of them.
    pub facts_changed: i64,
}

struct Command {
    request: WriteRequest,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

enum Message {
    Write(Command),
    /// Catch the tables (with `facts`, the facts too) up with every
    /// committed write, then answer the revision they hold.
    CatchUp {
        facts: bool,
        reply: oneshot::Sender<Result<i64>>,
    },
    /// Apply what is queued, checkpoint and stop.
    Stop,
}

/// A handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Message>,
}

impl WriterHandle {
    /// Queues a write and waits for its outcome.
    pub async fn write(&self, request: WriteRequest) -> Result<WriteOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Message::Write(Command { request, reply }))
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }

    /// Has the changelog and the fact history catch up with every write
    /// committed so far (acknowledged ones included), and with `facts` the
    /// `facts` table too (for SQL over the database while the server
    /// runs); returns the revision they then hold.
    pub async fn catch_up(&self, facts: bool) -> Result<i64> {
        let (reply, done) = oneshot::channel();
        self.queue
            .send(Message::CatchUp { facts, reply })
            .await
            .map_err(|_| stopped())?;
        done.await.map_err(|_| stopped())?
    }

    /// Asks the writer to apply what is queued, checkpoint and stop, even
    /// while other handles (of calls cut off at shutdown) still exist.
    pub async fn stop(&self) {
        let _ = self.queue.send(Message::Stop).await;
    }
}

fn stopped() -> Error {
    Error::Unavailable {
        reason: "WRITER_STOPPED",
        message: "the writer has stopped; retry on a running server".into(),
        resume_revision: None,
    }
}

/// A running writer: its handle, its thread, and whether it is alive.
pub struct Running {
    pub handle: WriterHandle,
    pub thread: JoinHandle<()>,
    /// True while the thread runs; false once it has stopped, for whatever
    /// reason (health follows it).
    pub alive: watch::Receiver<bool>,
}

impl Running {
    /// Tells the writer to apply what is queued, checkpoint and stop, and waits
    /// for it until `deadline` (explicitly: handles held by calls that were cut
    /// off must not keep it running).
    pub async fn stop_by(self, deadline: tokio::time::Instant) {
        let Running { handle, thread, .. } = self;
        if tokio::time::timeout_at(deadline, handle.stop())
            .await
            .is_err()
        {
            tracing::warn!("the writer's queue stayed full until the shutdown deadline");
        }
        drop(handle);
        // Waited for from a plain thread, not the blocking pool: the runtime
        // waits for its blocking tasks when it ends, which would make the
        // deadline a wish.
        let (joined_tx, joined) = tokio::sync::oneshot::channel();
        std::thread::spawn(move || {
            let _ = joined_tx.send(thread.join());
        });
        match tokio::time::timeout_at(deadline, joined).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(_))) => tracing::error!("the writer thread panicked"),
            Ok(Err(_)) => tracing::warn!("could not wait for the writer to stop"),
            Err(_) => tracing::warn!(
                "the writer did not stop within the shutdown deadline; its committed writes are in \
             the WAL and are replayed at the next start"
            ),
        }
    }
}

/// The oldest revision the fact history can rebuild, as the database
/// says, once `retention` is in force: with the history off, none (and no
/// rows are kept); turned on, from the head on (no revision while it was
/// off has its deltas).
fn start_history(
    conn: &Connection,
    retention: Retention,
    head: i64,
) -> duckdb::Result<Option<i64>> {
    let stored = history::history_from(conn)?;
    let from = match (retention.enabled(), stored) {
        (false, _) => None,
        (true, Some(from)) => Some(from),
        (true, None) => Some(head),
    };
    if from != stored {
        // Together: a crash between them would leave a history start with
        // no history behind it.
        let tx = conn.unchecked_transaction()?;
        if from.is_none() {
            // Only the facts' durable record stays: the rows they lack.
            conn.execute(
                "DELETE FROM fact_history WHERE revision <= ?",
                [catch_up::facts_at(conn)?],
            )?;
        }
        history::set_history_from(conn, from)?;
        tx.commit()?;
    }
    Ok(from)
}

/// Starts the writer thread. It runs until told to stop (or every
/// [`WriterHandle`] is dropped), applies what is still queued, checkpoints,
/// and exits.
///
/// `published` holds the summary at `head`; the writer replaces it after
/// every commit, before the events go out and before anyone gets a reply.
/// `mirror` is the facts as loaded from `conn` (see [`Mirror::load`]).
pub fn spawn(
    conn: Connection,
    mirror: Mirror,
    model: Arc<Model>,
    published: Arc<Published>,
    config: WriterConfig,
    feed: Arc<dyn Feed>,
    journal: Option<JournalFile>,
) -> anyhow::Result<Running> {
    // A commit that finds the log over DuckDB's threshold checkpoints
    // before it returns, adding a few hundred milliseconds to a large
    // write's reply; the writer checkpoints while idle instead.
    conn.execute_batch(&format!(
        "SET checkpoint_threshold = '{COMMIT_CHECKPOINT_THRESHOLD}'"
    ))?;
    // A checkpoint's tasks go to DuckDB's worker threads while the thread
    // that started it yields in a loop until they finish: on two cores a
    // commit that checkpointed spent three quarters of that time spinning
    // (perf, 32 clients at 1,000,000 facts). A number, nothing to quote.
    conn.execute_batch(&format!("SET threads = {}", config.duckdb_threads))?;
    // Room for every statement the writer repeats (a group's inserts alone
    // are ten: `store::rows`).
    conn.set_prepared_statement_cache_capacity(64);
    let committed = published.current();
    let history_from = start_history(&conn, config.history_retention, committed.revision)?;
    let facts_at = catch_up::facts_at(&conn)?;
    let request_ids = request_ids::RequestIds::load(&conn)?;
    let scribe =
        scribe::Scribe::spawn(crate::store::file::clone(&conn)?, model.def.measures.len())?;
    let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (alive_tx, alive) = watch::channel(true);
    let mut writer = Writer {
        conn,
        model,
        head: committed.revision,
        pruned_at: 0,
        history_from,
        facts_at,
        logged: committed.revision,
        facts_behind_since: (facts_at < committed.revision).then(Instant::now),
        pending: Vec::new(),
        pending_deltas: 0,
        journal,
        request_ids,
        scribe,
        behind_since: None,
        mirror,
        committed,
        published,
        config,
        feed,
    };
    let thread = std::thread::Builder::new()
        .name("duckgrid-writer".into())
        .spawn(move || {
            // Says the writer is gone however the thread ends.
            struct Alive(watch::Sender<bool>);
            impl Drop for Alive {
                fn drop(&mut self) {
                    self.0.send_replace(false);
                }
            }
            let _alive = Alive(alive_tx);
            writer.run(rx);
        })?;
    Ok(Running {
        handle: WriterHandle { queue },
        thread,
        alive,
    })
}

struct Writer {
    conn: Connection,
    model: Arc<Model>,
    head: i64,
    /// The head when the changelog was last pruned.
    pruned_at: i64,
    /// The oldest revision the fact history can rebuild; `None` when it
    /// is off.
    history_from: Option<i64>,
    /// The newest revision the changelog and the fact history hold (the
    /// journal has the later ones).
    logged: i64,
    /// The journal records of the revisions after `logged`, for the
    /// catch-up, and how many fact values they changed.
    pending: Vec<Revision>,
    pending_deltas: usize,
    /// Where groups that write nothing else append their records.
    journal: Option<JournalFile>,
    /// When the oldest revision the changelog lacks committed.
    behind_since: Option<Instant>,
    /// The revision `facts` holds, and since when it has been behind.
    facts_at: i64,
    facts_behind_since: Option<Instant>,
    /// The request ids the changelog holds.
    request_ids: request_ids::RequestIds,
    /// Writes the tables' catch-up under load, on a thread of its own.
    scribe: scribe::Scribe,
    /// The facts, in memory (committed state between groups).
    mirror: Mirror,
    /// The summary at `head`, as published.
    committed: Arc<Snapshot>,
    published: Arc<Published>,
    config: WriterConfig,
    feed: Arc<dyn Feed>,
}

/// What the writer has received and not yet done.
#[derive(Default)]
struct Inbox {
    backlog: VecDeque<Command>,
    catch_ups: Vec<oneshot::Sender<Result<i64>>>,
    /// Whether one of them asked for the facts too.
    facts_asked: bool,
    stopping: bool,
}

impl Inbox {
    /// Takes a message (`None`: every handle is gone).
    fn take(&mut self, message: Option<Message>) {
        match message {
            Some(Message::Write(cmd)) => self.backlog.push_back(cmd),
            Some(Message::CatchUp { facts, reply }) => {
                self.facts_asked |= facts;
                self.catch_ups.push(reply);
            }
            Some(Message::Stop) | None => self.stopping = true,
        }
    }

    fn idle(&self) -> bool {
        self.backlog.is_empty() && self.catch_ups.is_empty() && !self.stopping
    }
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Message>) {
        // Waiting for the next request with a timeout (to catch up while
        // idle) needs a clock: a runtime of the thread's own.
        let clock = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .expect("a timer for the writer thread");
        let mut inbox = Inbox::default();
        loop {
            if inbox.idle() {
                let next = match rx.try_recv() {
                    Ok(message) => Some(message),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) => self.wait(&clock, &mut rx),
                };
                inbox.take(next);
            }
            while inbox.backlog.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(message) => inbox.take(Some(message)),
                    Err(_) => break,
                }
            }
            let group = self.take_group(&mut inbox.backlog);
            if !group.is_empty() {
                // What the group's fact budget left for later goes first next.
                for cmd in self.run_group(group).into_iter().rev() {
                    inbox.backlog.push_front(cmd);
                }
                let waiting = inbox.backlog.len() + rx.len();
                self.config.metrics.queue_depth.set(waiting as i64);
            }
            // The scribe's batch first, if it is done: what it wrote is no
            // longer due. (Taken in after the check, it left the revisions
            // committed while it wrote looking due, and the writer wrote
            // them itself, 150-550 at a time, after every batch under
            // load.)
            if let Some(done) = self.scribe.poll() {
                let _ = self.caught_up(done);
            }
            let due = self.catch_up_due();
            if inbox.catch_ups.is_empty() {
                if let Some(facts) = due {
                    self.hand_over(facts);
                }
            } else {
                let facts = due.unwrap_or(false) || std::mem::take(&mut inbox.facts_asked);
                let caught_up = self.catch_up(facts);
                for reply in inbox.catch_ups.drain(..) {
                    let _ = reply.send(match &caught_up {
                        Ok(()) => Ok(self.logged),
                        Err(e) => Err(Error::Internal(format!("writing the facts failed: {e}"))),
                    });
                }
            }
            if inbox.stopping && inbox.backlog.is_empty() {
                break;
            }
        }
        // Later writes find the queue closed: WRITER_STOPPED.
        drop(rx);
        let _ = self.catch_up(true);
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        tracing::info!(head = self.head, "writer stopped");
    }
}
