//! The writer: one thread owning the only read-write DuckDB connection.
//!
//! Every write goes through its queue. The thread takes the requests waiting
//! in the queue as one group, applies them in order inside one transaction
//! (each gets its own revision, changelog row and change event), commits
//! once, then publishes the events and replies ([`group`]). Group commit
//! amortises the commit over concurrent writers without weakening anything:
//! each request is still all-or-nothing (a request that fails after
//! changing data rolls the group back and the rest are re-applied without
//! it).
//!
//! Architecture invariant: revisions are gap-free. A revision is assigned
//! only to a request that commits, in the same transaction as its facts, its
//! summary deltas and its changelog row.

mod apply;
mod changes;
mod deltas;
mod faults;
mod group;
mod mirror;
mod revert;
mod writes;

pub use faults::{FaultHook, FaultPoint, Faults};
pub use mirror::Mirror;

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::thread::JoinHandle;

use duckdb::Connection;
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::{mpsc, oneshot, watch};

use crate::edit::WriteRequest;
use crate::error::{Error, Result};
use crate::feed::{EventRef, Feed};
use crate::history::Retention;
use crate::metrics::WriterMetrics;
use crate::model::Model;
use crate::store::{facts, history};
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
}

struct Command {
    request: WriteRequest,
    reply: oneshot::Sender<Result<WriteOutcome>>,
}

enum Message {
    Write(Command),
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
            conn.execute_batch("DELETE FROM fact_history")?;
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
) -> anyhow::Result<Running> {
    facts::create_stage(&conn)?;
    // A commit that finds the log over DuckDB's threshold checkpoints
    // before it returns, adding a few hundred milliseconds to a large
    // write's reply; the writer checkpoints while idle instead.
    conn.execute_batch(&format!(
        "SET checkpoint_threshold = '{COMMIT_CHECKPOINT_THRESHOLD}'"
    ))?;
    let committed = published.current();
    let history_from = start_history(&conn, config.history_retention, committed.revision)?;
    let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
    let (alive_tx, alive) = watch::channel(true);
    let mut writer = Writer {
        conn,
        model,
        head: committed.revision,
        pruned_at: 0,
        history_from,
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
    /// The facts, in memory (committed state between groups).
    mirror: Mirror,
    /// The summary at `head`, as published.
    committed: Arc<Snapshot>,
    published: Arc<Published>,
    config: WriterConfig,
    feed: Arc<dyn Feed>,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Message>) {
        let mut backlog: VecDeque<Command> = VecDeque::new();
        let mut stopping = false;
        loop {
            if backlog.is_empty() && !stopping {
                let next = match rx.try_recv() {
                    Ok(message) => Some(message),
                    Err(TryRecvError::Disconnected) => None,
                    Err(TryRecvError::Empty) => {
                        self.checkpoint_if_due();
                        rx.blocking_recv()
                    }
                };
                match next {
                    Some(Message::Write(cmd)) => backlog.push_back(cmd),
                    Some(Message::Stop) | None => stopping = true,
                }
            }
            while backlog.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(Message::Write(cmd)) => backlog.push_back(cmd),
                    Ok(Message::Stop) => stopping = true,
                    Err(_) => break,
                }
            }
            if backlog.is_empty() {
                if stopping {
                    break;
                }
                continue;
            }
            let n = backlog.len().min(MAX_GROUP);
            let group: Vec<Command> = backlog.drain(..n).collect();
            // What the group's fact budget left for later goes first next.
            for cmd in self.run_group(group).into_iter().rev() {
                backlog.push_front(cmd);
            }
            let waiting = backlog.len() + rx.len();
            self.config.metrics.queue_depth.set(waiting as i64);
        }
        // Later writes find the queue closed: WRITER_STOPPED.
        drop(rx);
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        tracing::info!(head = self.head, "writer stopped");
    }

    /// Checkpoints when nothing is queued and the log has grown past
    /// [`IDLE_CHECKPOINT_BYTES`], so that commits rarely pay for it.
    fn checkpoint_if_due(&mut self) {
        let Some(wal) = &self.config.wal else { return };
        let bytes = std::fs::metadata(wal).map_or(0, |m| m.len());
        if bytes < IDLE_CHECKPOINT_BYTES {
            return;
        }
        let started = std::time::Instant::now();
        match self.conn.execute_batch("CHECKPOINT") {
            Ok(()) => tracing::debug!(
                wal_bytes = bytes,
                elapsed_ms = started.elapsed().as_millis() as u64,
                "checkpointed while idle"
            ),
            // A read still open elsewhere: the next idle moment tries again.
            Err(e) => tracing::debug!(error = %e, "idle checkpoint deferred"),
        }
    }

    /// Keeps the changelog to `changelog_retention` revisions and the fact
    /// history to `history_retention`, once every [`PRUNE_EVERY`]
    /// revisions (their own small statements after a commit).
    fn prune(&mut self) {
        if self.head - self.pruned_at < PRUNE_EVERY {
            return;
        }
        self.pruned_at = self.head;
        let keep = self.config.changelog_retention as i64;
        if keep > 0 {
            let below = self.head - keep + 1;
            match self
                .conn
                .execute("DELETE FROM changelog WHERE revision < ?", [below])
            {
                Ok(n) if n > 0 => {
                    tracing::debug!(pruned = n, oldest = below, "pruned the changelog")
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not prune the changelog"),
            }
        }
        if let Err(e) = self.prune_history() {
            tracing::warn!(error = %e, "could not prune the fact history");
        }
    }

    /// Drops the fact deltas `history_retention` no longer keeps. The
    /// history never reaches back further than the changelog: its age is
    /// read there, and a revision the changelog no longer has can be
    /// neither listed nor reverted.
    fn prune_history(&mut self) -> duckdb::Result<()> {
        let Some(from) = self.history_from else {
            return Ok(());
        };
        let keep = self.config.changelog_retention as i64;
        let changelog_floor = if keep > 0 { self.head - keep } else { 0 };
        let upto = match self.config.history_retention {
            Retention::All | Retention::Off => changelog_floor,
            Retention::Revisions(n) => self.head.saturating_sub(n as i64),
            Retention::Age(age) => {
                let age = chrono::TimeDelta::from_std(age).expect("at most 100 years");
                let cutoff = chrono::Utc::now() - age;
                self.conn
                    .query_row(
                        "SELECT max(revision) FROM changelog WHERE committed_at < ?",
                        [duckdb::types::Value::Timestamp(
                            duckdb::types::TimeUnit::Microsecond,
                            cutoff.timestamp_micros(),
                        )],
                        |r| r.get::<_, Option<i64>>(0),
                    )?
                    .unwrap_or(from)
            }
        }
        .max(changelog_floor);
        if upto > from {
            let rows = history::prune(&self.conn, upto)?;
            self.history_from = Some(upto);
            tracing::debug!(rows, history_from = upto, "pruned the fact history");
        }
        Ok(())
    }
}
