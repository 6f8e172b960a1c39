//! One commit group: its requests applied in one transaction, committed,
//! published and answered — and how it fails without misreporting anyone.
//!
//! - A request that fails before changing anything is answered and the
//!   group goes on; one that fails after (or panics while being applied)
//!   rolls the group back, is answered alone, and the rest are re-applied.
//! - A panic in the group's own steps (writing its facts, committing) cannot
//!   be pinned on a request: every request is re-applied in a group of its
//!   own, so only the culprit fails.
//! - Once the group has committed, every caller gets its outcome, whatever
//!   happens while publishing: a durable write is never reported failed.
//! - A group stops taking requests once it has touched the fact budget
//!   (`--max-facts-per-write`); the rest wait for the next group.
//! - What a group writes is one journal record (`store::journal`), to the
//!   journal file or, with its new facts, as a `journal` row: every
//!   revision's event, changelog columns and fact deltas. The
//!   tables catch up from it later (`store::catch_up`), so a request that
//!   reads them — a revert, an Undo, a retried request id — starts a group
//!   of its own once they have ([`Writer::take_group`]).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Arc;

use chrono::Utc;
use duckdb::Connection;

use std::collections::VecDeque;

use super::apply::{Applier, ApplyError, clean};
use super::changes::Changes;
use super::event;
use super::faults::FaultPoint;
use super::request_ids::RequestIds;
use super::tx::GroupTx;
use super::writes::NewFacts;
use super::{Command, MAX_GROUP, WriteOutcome, Writer};
use crate::edit::{RevertTarget, WriteRequest};
use crate::error::{Error, Result};
use crate::feed::Event;
use crate::proto::v1 as pb;
use crate::store::changelog;
use crate::store::journal::{Group, Revision};
use crate::summary::{Snapshot, Summary};

/// A group that committed: each applied request's outcome, and the summary
/// after them. Requests past `applied` were left for the next group.
struct Committed {
    results: Vec<Result<WriteOutcome>>,
    summary: Summary,
    applied: usize,
    /// The group's journal records, for the catch-up.
    records: Vec<Revision>,
}

enum GroupFailure {
    /// Request `i` failed after changing data.
    Request(usize, Error),
    /// Writing or committing the first `.1` requests failed (the rest
    /// were not tried).
    Commit(Error, usize),
}

fn panicked() -> Error {
    Error::Internal("the writer failed applying this request (a bug); it was rolled back".into())
}

impl Writer {
    /// The next group from `backlog`: up to [`MAX_GROUP`] requests, ending
    /// before any request that reads the tables, which starts a group of
    /// its own once they hold every earlier revision. (Empty when such a
    /// request was answered instead: the tables could not catch up.)
    pub(super) fn take_group(&mut self, backlog: &mut VecDeque<Command>) -> Vec<Command> {
        let reads_tables = |known: &RequestIds, cmd: &Command| {
            let request = &cmd.request;
            request.revert.is_some() || request.dedup_key().is_some_and(|k| known.may_hold(&k))
        };
        if backlog
            .front()
            .is_some_and(|cmd| reads_tables(&self.request_ids, cmd))
            && let Err(e) = self.catch_up(false)
        {
            let cmd = backlog.pop_front().expect("a front");
            let _ = cmd.reply.send(Err(Error::Unavailable {
                reason: "COMMIT_FAILED",
                message: format!(
                    "the database could not bring its tables up to date ({e}); nothing was applied"
                ),
                resume_revision: None,
            }));
            return Vec::new();
        }
        let mut n = 1;
        while n < backlog.len().min(MAX_GROUP) && !reads_tables(&self.request_ids, &backlog[n]) {
            n += 1;
        }
        backlog.drain(..n.min(backlog.len())).collect()
    }

    /// Applies a group of requests in one transaction, commits, publishes
    /// and answers them. Returns the requests left for the next group.
    pub(super) fn run_group(&mut self, mut group: Vec<Command>) -> Vec<Command> {
        let head = self.head;
        let attempt = catch_unwind(AssertUnwindSafe(|| self.try_group(&group)));
        match attempt {
            Ok(Ok(committed)) => {
                let later = group.split_off(committed.applied);
                self.finish(group, committed);
                later
            }
            Ok(Err(GroupFailure::Request(i, error))) => {
                // Request i changed data and then failed: the whole
                // transaction was rolled back. Answer it; the requests
                // before it (which succeeded) commit as a group of their
                // own, and the ones after it wait for the next group — so
                // no request is applied more than twice, however many fail.
                self.undo(head);
                let later = group.split_off(i + 1);
                let culprit = group.pop().expect("request i");
                let _ = culprit.reply.send(Err(error));
                let mut left = if group.is_empty() {
                    Vec::new()
                } else {
                    self.run_group(group)
                };
                left.extend(later);
                left
            }
            Ok(Err(GroupFailure::Commit(error, applied))) => {
                self.undo(head);
                tracing::error!(%error, "commit failed; the group was rolled back");
                let later = group.split_off(applied);
                for cmd in group {
                    let _ = cmd.reply.send(Err(Error::Unavailable {
                        reason: "COMMIT_FAILED",
                        message: "the database could not commit the write; nothing was applied"
                            .into(),
                        resume_revision: None,
                    }));
                }
                later
            }
            Err(_) => {
                // The transaction rolled back as the panic unwound.
                self.undo(head);
                tracing::error!(
                    requests = group.len(),
                    "the writer panicked committing a group; it was rolled back"
                );
                if group.len() == 1 {
                    let cmd = group.pop().expect("one request");
                    let _ = cmd.reply.send(Err(panicked()));
                    return Vec::new();
                }
                // Each request on its own: only the culprit fails.
                let mut later = Vec::new();
                for cmd in group {
                    later.extend(self.run_group(vec![cmd]));
                }
                later
            }
        }
    }

    /// Forgets what a rolled-back group did in memory.
    fn undo(&mut self, head: i64) {
        self.head = head;
        self.mirror.rollback();
    }

    /// After commit: publish the summary and the events, then answer.
    fn finish(&mut self, group: Vec<Command>, committed: Committed) {
        self.mirror.commit();
        let Committed {
            results,
            summary,
            records,
            ..
        } = committed;
        for r in &records {
            if !r.request_id.is_empty() {
                self.request_ids.add(&r.request_id);
            }
            self.pending_deltas += r.deltas();
        }
        self.pending.extend(records);
        // The group is durable: from here on every caller gets its outcome,
        // whatever happens while publishing (watchers that miss an event
        // read it from the changelog).
        if self.head != self.committed.revision {
            // The tables have these revisions only in the journal so far.
            let now = std::time::Instant::now();
            self.behind_since.get_or_insert(now);
            self.facts_behind_since.get_or_insert(now);
            self.config
                .metrics
                .facts_behind
                .set(self.head - self.facts_at);
            self.committed = Arc::new(Snapshot {
                revision: self.head,
                summary,
            });
            self.published.publish(Arc::clone(&self.committed));
        }
        for outcome in results.iter().flatten().filter(|o| !o.replayed) {
            let facts = outcome.facts_changed as f64;
            self.config.metrics.facts_changed.observe(facts);
        }
        for (cmd, result) in group.iter().zip(&results) {
            // Each event on its own: one that fails to go out does not keep
            // the others from going.
            let published = catch_unwind(AssertUnwindSafe(|| {
                if let Ok(outcome) = result
                    && !outcome.replayed
                {
                    self.feed.publish(Arc::clone(&outcome.event));
                }
                self.config.faults.at(FaultPoint::Committed, &cmd.request);
            }));
            if published.is_err() {
                tracing::error!(
                    head = self.head,
                    "the writer panicked publishing a committed revision; it stands (watchers read it from the changelog)"
                );
            }
        }
        for (cmd, result) in group.into_iter().zip(results) {
            // The caller may have gone; the write stands anyway.
            let _ = cmd.reply.send(result);
        }
        self.prune();
    }

    /// Applies the group and commits it as one transaction ([`GroupTx`]).
    fn try_group(&mut self, group: &[Command]) -> Result<Committed, GroupFailure> {
        let started = std::time::Instant::now();
        let conn = &self.conn;
        let mut summary = self.committed.summary.clone();
        let mut tx = GroupTx::new(conn);
        let mut results = Vec::with_capacity(group.len());
        let mut record = Group::default();
        let mut created = NewFacts::default();
        let budget = self.config.max_facts_per_write;
        let (mut applied, mut touched) = (0, 0);
        for (i, cmd) in group.iter().enumerate() {
            // A group touches at most about one full request's facts.
            if i > 0 && touched >= budget {
                break;
            }
            let revision = self.head + 1;
            let mut applier = Applier {
                model: &self.model,
                max_facts: budget,
                facts_left: budget,
                summary: &mut summary,
                mirror: &mut self.mirror,
                created: &mut created,
                deltas: Default::default(),
                history_from: self.history_from,
            };
            let faults = &self.config.faults;
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                faults.at(FaultPoint::Apply, &cmd.request);
                let known = &self.request_ids;
                apply_request(
                    &mut tx,
                    conn,
                    &mut applier,
                    &mut record,
                    known,
                    &cmd.request,
                    revision,
                )
            }));
            touched += budget - applier.facts_left;
            match outcome {
                Ok(Ok(outcome)) => {
                    if !outcome.replayed {
                        self.head = revision;
                    }
                    results.push(Ok(outcome));
                }
                Ok(Err(ApplyError {
                    error,
                    dirty: false,
                })) => results.push(Err(error)),
                Ok(Err(ApplyError { error, dirty: true })) => {
                    drop(tx); // rolls back
                    return Err(GroupFailure::Request(i, error));
                }
                Err(_) => {
                    tracing::error!(
                        actor = %cmd.request.actor,
                        "the writer panicked applying a request; the group was rolled back"
                    );
                    drop(tx);
                    return Err(GroupFailure::Request(i, panicked()));
                }
            }
            applied += 1;
        }
        for cmd in &group[..applied] {
            self.config.faults.at(FaultPoint::Flush, &cmd.request);
        }
        let committing = std::time::Instant::now();
        if !created.is_empty() {
            tx.begin()
                .map_err(|e| GroupFailure::Commit(e.into(), applied))?;
            created
                .flush(conn, &self.model, &self.mirror)
                .map_err(|e| GroupFailure::Commit(e, applied))?;
        }
        tx.commit(&record, self.journal.as_mut())
            .map_err(|e| GroupFailure::Commit(e, applied))?;
        let metrics = &self.config.metrics;
        metrics
            .commit_seconds
            .observe(started.elapsed().as_secs_f64());
        metrics.group_requests.observe(applied as f64);
        tracing::debug!(
            requests = applied,
            commit = ?committing.elapsed(),
            "group committed"
        );
        Ok(Committed {
            results,
            summary,
            applied,
            records: record.revisions,
        })
    }
}

/// Applies one request (all its edits) inside the open transaction and
/// adds its record to the group's.
fn apply_request(
    tx: &mut GroupTx<'_>,
    conn: &Connection,
    applier: &mut Applier<'_>,
    group: &mut Group,
    known: &RequestIds,
    request: &WriteRequest,
    revision: i64,
) -> Result<WriteOutcome, ApplyError> {
    let model = applier.model;
    let storage = |e: duckdb::Error| ApplyError {
        error: e.into(),
        dirty: true,
    };
    if let Some(key) = request.dedup_key() {
        // The group's own revisions, then the changelog when it may hold
        // the id (it holds every earlier group's: see `take_group`).
        let earlier = match group.revisions.iter().find(|r| r.request_id == key) {
            Some(r) => Some((r.revision, r.event.to_vec())),
            None if known.may_hold(&key) => {
                changelog::find_by_request_id(conn, &key).map_err(|e| clean(e.into()))?
            }
            None => None,
        };
        if let Some((original, bytes)) = earlier {
            return replay(request, original, &bytes);
        }
    }
    if let Some(expected) = request.expected_head
        && expected != revision - 1
    {
        return Err(clean(Error::head_moved(expected, revision - 1)));
    }
    let mut changes = Changes::default();
    let mut results = Vec::with_capacity(request.edits.len());
    let mut reverts = None;
    if let Some(revert) = &request.revert {
        let target = match &revert.target {
            RevertTarget::Revision(r) => *r,
            RevertTarget::LatestOf {
                session,
                authorized,
            } => {
                let latest = changelog::undo_target(conn, &request.actor, session.as_deref())
                    .map_err(|e| clean(e.into()))?;
                if latest != *authorized {
                    return Err(clean(Error::Aborted {
                        reason: crate::edit::UNDO_TARGET_MOVED,
                        message: "the latest revision to undo changed while undoing: try again"
                            .to_owned(),
                        metadata: Vec::new(),
                    }));
                }
                latest.ok_or_else(|| clean(nothing_to_undo(&request.actor, session.as_deref())))?
            }
        };
        applier.revert(conn, target, revert.overwrite, revision, &mut changes)?;
        reverts = Some(target);
    }
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

    let mut deltas = std::mem::take(&mut applier.deltas);
    if request.edits.len() > 1 {
        deltas.coalesce();
    }
    let now = Utc::now();
    let facts_changed = results.iter().map(|r| r.facts_changed).sum();
    let request_id = request.request_id.as_deref().unwrap_or_default();
    let session = request.session.as_deref().unwrap_or_default();
    let header = event::Header {
        revision,
        commit_time: prost_types::Timestamp {
            seconds: now.timestamp(),
            nanos: now.timestamp_subsec_nanos() as i32,
        },
        actor: &request.actor,
        request_id,
        edits: &request.source,
        results: &results,
        reverts_revision: reverts.unwrap_or(0),
        session_id: session,
    };
    let event = event::encode(&header, &changes, model);
    if let Some(target) = reverts {
        // Later reverts and Undo see what is in effect.
        tx.begin().map_err(storage)?;
        changelog::mark_reverted(conn, target, revision).map_err(storage)?;
    }
    let mut record = Revision {
        revision,
        committed_at_micros: now.timestamp_micros(),
        actor: request.actor.clone(),
        request_id: request.dedup_key().unwrap_or_default(),
        session: session.to_owned(),
        reverts: reverts.unwrap_or(0),
        event: event.bytes().clone(),
        ..Default::default()
    };
    deltas.into_record(&mut record);
    group.revisions.push(record);
    Ok(WriteOutcome {
        event,
        replayed: false,
        facts_changed,
    })
}

/// The answer to a request whose id revision `original` already used: its
/// event again, if it asked for the same.
fn replay(request: &WriteRequest, original: i64, bytes: &[u8]) -> Result<WriteOutcome, ApplyError> {
    let id = request.request_id.as_deref().unwrap_or_default();
    let event = Event::decode(original, bytes).map_err(clean)?;
    let change = event.change();
    let same_target = match request.revert.as_ref().map(|r| &r.target) {
        None => change.reverts_revision == 0,
        Some(RevertTarget::Revision(r)) => change.reverts_revision == *r,
        Some(RevertTarget::LatestOf { .. }) => change.reverts_revision != 0,
    };
    if change.edits != request.source || !same_target {
        return Err(clean(Error::invalid(format!(
            "request_id {} was already used by revision {original} for different edits",
            crate::error::quoted(id)
        ))));
    }
    let facts_changed = change.results.iter().map(|r| r.facts_changed).sum();
    Ok(WriteOutcome {
        event,
        replayed: true,
        facts_changed,
    })
}

/// Undo with nothing left to take back.
fn nothing_to_undo(actor: &str, session: Option<&str>) -> Error {
    let scope = session.map_or_else(String::new, |s| {
        format!(" in session {}", crate::error::quoted(s))
    });
    Error::precondition(
        "NOTHING_TO_UNDO",
        format!(
            "{} has no revision{scope} in effect to undo",
            crate::error::quoted(actor)
        ),
    )
}
