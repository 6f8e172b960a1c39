//! The writer: one thread owning the only read-write DuckDB connection.
//!
//! Every write goes through its queue. The thread takes the requests waiting
//! in the queue as one group, applies them in order inside one transaction
//! (each gets its own revision, changelog row and change event), commits
//! once, then publishes the events and replies. Group commit amortises the
//! commit over concurrent writers without weakening anything: each request
//! is still all-or-nothing (a request that fails after changing data rolls
//! the group back and the rest are re-applied without it).
//!
//! Architecture invariant: revisions are gap-free. A revision is assigned
//! only to a request that commits, in the same transaction as its facts, its
//! summary deltas and its changelog row.

mod apply;
mod mirror;

pub use mirror::Mirror;

use std::sync::Arc;
use std::thread::JoinHandle;

use chrono::Utc;
use duckdb::Connection;
use prost::Message;
use tokio::sync::{mpsc, oneshot};

use crate::edit::WriteRequest;
use crate::error::{Error, Result};
use crate::feed::{Event, EventRef, Feed};
use crate::model::Model;
use crate::proto::v1 as pb;
use crate::store::{self, changelog, facts};
use crate::summary::{Published, Snapshot, Summary};
use apply::{Applier, ApplyError, Changes, FactWrites};

/// The most requests committed together.
const MAX_GROUP: usize = 64;
/// Requests waiting beyond this many make callers wait (backpressure).
const QUEUE_CAPACITY: usize = 1024;

/// Writer settings.
#[derive(Debug, Clone, Copy)]
pub struct WriterConfig {
    /// The most facts one write may change or create.
    pub max_facts_per_write: i64,
    /// Revisions the changelog keeps (0: all).
    pub changelog_retention: u64,
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

/// A handle for submitting writes; cheap to clone.
#[derive(Clone)]
pub struct WriterHandle {
    queue: mpsc::Sender<Command>,
}

impl WriterHandle {
    /// Queues a write and waits for its outcome.
    pub async fn write(&self, request: WriteRequest) -> Result<WriteOutcome> {
        let (reply, outcome) = oneshot::channel();
        self.queue
            .send(Command { request, reply })
            .await
            .map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())?
    }
}

fn stopped() -> Error {
    Error::Unavailable {
        reason: "WRITER_STOPPED",
        message: "the writer has stopped; retry on a running server".into(),
        resume_revision: None,
    }
}

/// Starts the writer thread. It runs until every [`WriterHandle`] is dropped,
/// applies what is still queued, checkpoints, and exits.
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
) -> anyhow::Result<(WriterHandle, JoinHandle<()>)> {
    facts::create_stage(&conn)?;
    let committed = published.current();
    let (queue, rx) = mpsc::channel(QUEUE_CAPACITY);
    let mut writer = Writer {
        conn,
        model,
        head: committed.revision,
        mirror,
        committed,
        published,
        config,
        feed,
    };
    let thread = std::thread::Builder::new()
        .name("duckgrid-writer".into())
        .spawn(move || writer.run(rx))?;
    Ok((WriterHandle { queue }, thread))
}

struct Writer {
    conn: Connection,
    model: Arc<Model>,
    head: i64,
    /// The facts, in memory (committed state between groups).
    mirror: Mirror,
    /// The summary at `head`, as published.
    committed: Arc<Snapshot>,
    published: Arc<Published>,
    config: WriterConfig,
    feed: Arc<dyn Feed>,
}

impl Writer {
    fn run(&mut self, mut rx: mpsc::Receiver<Command>) {
        while let Some(first) = rx.blocking_recv() {
            let mut group = vec![first];
            while group.len() < MAX_GROUP {
                match rx.try_recv() {
                    Ok(cmd) => group.push(cmd),
                    Err(_) => break,
                }
            }
            // A bug must not take the writer down for good: the open
            // transaction rolls back as the panic unwinds, the callers get
            // UNAVAILABLE, and the writer re-reads its counters.
            let outcome =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.run_group(group)));
            if outcome.is_err() {
                tracing::error!("the writer panicked applying a group; it was rolled back");
                if let Err(e) = self.reload() {
                    tracing::error!(error = %e, "the writer cannot re-read its state; stopping");
                    return;
                }
            }
        }
        if let Err(e) = self.conn.execute_batch("CHECKPOINT") {
            tracing::warn!(error = %e, "checkpoint at shutdown failed");
        }
        tracing::info!(head = self.head, "writer stopped");
    }

    /// Re-reads the head revision, the facts and the summary from the
    /// database.
    fn reload(&mut self) -> anyhow::Result<()> {
        self.head = store::read::head_revision(&self.conn)?;
        self.mirror = Mirror::load(&self.conn, &self.model)?;
        self.committed = Arc::new(Snapshot {
            revision: self.head,
            summary: store::summary::load(&self.conn, &self.model)?,
        });
        self.published.publish(Arc::clone(&self.committed));
        Ok(())
    }

    /// Keeps the changelog to `changelog_retention` revisions (checked every
    /// 64 revisions; its own small statement after the commit).
    fn prune_changelog(&mut self) {
        let keep = self.config.changelog_retention as i64;
        if keep == 0 || self.head % 64 != 0 {
            return;
        }
        let below = self.head - keep + 1;
        match self
            .conn
            .execute("DELETE FROM changelog WHERE revision < ?", [below])
        {
            Ok(n) if n > 0 => tracing::debug!(pruned = n, oldest = below, "pruned the changelog"),
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "could not prune the changelog"),
        }
    }

    /// Applies a group of requests in one transaction, commits, publishes.
    fn run_group(&mut self, mut group: Vec<Command>) {
        let group_started = std::time::Instant::now();
        loop {
            let head = self.head;
            match self.try_group(&group) {
                Ok((results, summary)) => {
                    self.mirror.commit();
                    if self.head != self.committed.revision {
                        self.committed = Arc::new(Snapshot {
                            revision: self.head,
                            summary,
                        });
                        self.published.publish(Arc::clone(&self.committed));
                    }
                    let t_published = group_started.elapsed();
                    for (cmd, result) in group.into_iter().zip(results) {
                        if let Ok(outcome) = &result
                            && !outcome.replayed
                        {
                            self.feed.publish(Arc::clone(&outcome.event));
                        }
                        // The caller may have gone; the write stands anyway.
                        let _ = cmd.reply.send(result);
                    }
                    tracing::debug!(?t_published, total = ?group_started.elapsed(), "group done");
                    self.prune_changelog();
                    return;
                }
                Err(GroupFailure::Request(i, error)) => {
                    // Request i changed data and then failed: the whole
                    // transaction was rolled back. Answer it, retry the rest.
                    self.head = head;
                    self.mirror.rollback();
                    let _ = group.remove(i).reply.send(Err(error));
                    if group.is_empty() {
                        return;
                    }
                }
                Err(GroupFailure::Commit(error)) => {
                    self.head = head;
                    self.mirror.rollback();
                    tracing::error!(%error, "commit failed; the group was rolled back");
                    for cmd in group {
                        let _ = cmd.reply.send(Err(Error::Unavailable {
                            reason: "COMMIT_FAILED",
                            message: "the database could not commit the write; nothing was applied"
                                .into(),
                            resume_revision: None,
                        }));
                    }
                    return;
                }
            }
        }
    }

    /// Applies the group in one transaction and commits; returns each
    /// request's outcome and the summary after the group.
    fn try_group(&mut self, group: &[Command]) -> Result<GroupResult, GroupFailure> {
        let conn = &self.conn;
        let mut summary = self.committed.summary.clone();
        let tx = conn
            .unchecked_transaction()
            .map_err(|e| GroupFailure::Commit(e.into()))?;
        let mut results = Vec::with_capacity(group.len());
        let mut writes = FactWrites::default();
        for (i, cmd) in group.iter().enumerate() {
            let revision = self.head + 1;
            let mut applier = Applier {
                conn,
                model: &self.model,
                max_facts: self.config.max_facts_per_write,
                summary: &mut summary,
                mirror: &mut self.mirror,
                writes: &mut writes,
            };
            match apply_request(&mut applier, &cmd.request, revision) {
                Ok(outcome) => {
                    if !outcome.replayed {
                        self.head = revision;
                    }
                    results.push(Ok(outcome));
                }
                Err(ApplyError {
                    error,
                    dirty: false,
                }) => results.push(Err(error)),
                Err(ApplyError { error, dirty: true }) => {
                    drop(tx); // rolls back
                    return Err(GroupFailure::Request(i, error));
                }
            }
        }
        let flushing = std::time::Instant::now();
        writes
            .flush(conn, &self.model, &self.mirror)
            .map_err(GroupFailure::Commit)?;
        let committing = std::time::Instant::now();
        tx.commit().map_err(|e| GroupFailure::Commit(e.into()))?;
        tracing::debug!(
            requests = group.len(),
            facts = ?committing.duration_since(flushing),
            commit = ?committing.elapsed(),
            "group committed"
        );
        Ok((results, summary))
    }
}

type GroupResult = (Vec<Result<WriteOutcome>>, Summary);

enum GroupFailure {
    /// Request `i` failed after changing data.
    Request(usize, Error),
    Commit(Error),
}

/// Applies one request (all its edits) inside the open transaction and
/// records its changelog row.
fn apply_request(
    applier: &mut Applier<'_>,
    request: &WriteRequest,
    revision: i64,
) -> Result<WriteOutcome, ApplyError> {
    let (conn, model) = (applier.conn, applier.model);
    let clean = |error| ApplyError {
        error,
        dirty: false,
    };
    if let Some(id) = &request.request_id
        && let Some((original, bytes)) =
            changelog::find_by_request_id(conn, id).map_err(|e| clean(e.into()))?
    {
        let event = Event::decode(original, &bytes).map_err(clean)?;
        if event.change.edits != request.source {
            return Err(clean(Error::invalid(format!(
                "request_id {id:?} was already used by revision {original} for different edits"
            ))));
        }
        return Ok(WriteOutcome {
            event,
            replayed: true,
        });
    }

    let mut changes = Changes::default();
    let mut results = Vec::with_capacity(request.edits.len());
    let mut dirty = false;
    for edit in &request.edits {
        let outcome = applier
            .apply(edit, revision, &mut changes)
            .map_err(|mut e| {
                e.dirty |= dirty;
                e
            })?;
        dirty |= outcome.facts_changed > 0;
        let shown = |v: Option<_>| {
            v.map(|v| model.format(edit.cell.measure, v))
                .unwrap_or_default()
        };
        results.push(pb::EditResult {
            previous_value: shown(outcome.previous),
            new_value: shown(outcome.new),
            facts_changed: outcome.facts_changed,
        });
    }

    let t_applied = std::time::Instant::now();
    let now = Utc::now();
    let change = pb::ChangeEvent {
        revision,
        commit_time: Some(prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: now.timestamp_subsec_nanos() as i32,
        }),
        actor: request.actor.clone(),
        request_id: request.request_id.clone().unwrap_or_default(),
        edits: request.source.clone(),
        results,
        changes: changes.to_proto(model),
    };
    changelog::insert(
        conn,
        revision,
        now.timestamp_micros(),
        &request.actor,
        request.request_id.as_deref(),
        &change.encode_to_vec(),
    )?;
    tracing::debug!(record = ?t_applied.elapsed(), "changelog recorded");
    Ok(WriteOutcome {
        event: Arc::new(Event { revision, change }),
        replayed: false,
    })
}
