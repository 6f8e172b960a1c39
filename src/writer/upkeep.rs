//! What the writer does between groups: the tables' catch-up with the
//! journal (handed to the scribe, or done before going on), waiting while
//! idle, checkpoints, and pruning.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::scribe::{self, Batch, Done};
use super::{
    CATCH_UP_AGE, CATCH_UP_DELTAS, CATCH_UP_REVISIONS, FACTS_AGE, FACTS_REVISIONS,
    IDLE_CHECKPOINT_BYTES, Message, PRUNE_EVERY, SCRIBE_DELTAS, SCRIBE_REVISIONS, Writer,
};
use crate::history::Retention;
use crate::store::history;

impl Writer {
    /// Whether the tables must catch up now, under load: `None` when not
    /// yet, `Some(true)` when the facts too.
    pub(super) fn catch_up_due(&self) -> Option<bool> {
        let age = |since: Option<Instant>, at_least: Duration| {
            since.is_some_and(|t| t.elapsed() >= at_least.max(self.config.catch_up_idle))
        };
        let facts =
            self.head - self.facts_at >= FACTS_REVISIONS || age(self.facts_behind_since, FACTS_AGE);
        let log = self.head - self.logged >= CATCH_UP_REVISIONS
            || self.pending_deltas >= CATCH_UP_DELTAS
            || age(self.behind_since, CATCH_UP_AGE);
        (log || facts).then_some(facts)
    }

    /// Has the scribe write what the tables lack (with `facts`, into the
    /// facts too) while the writer goes on, unless it is still busy with
    /// the last batch (then this waits for the next call).
    pub(super) fn hand_over(&mut self, facts: bool) {
        if self.scribe.busy() {
            return;
        }
        let deltas = self.pending_deltas;
        let Some(batch) = self.batch(facts) else {
            return;
        };
        // A small batch is written here: the next write waits for it
        // (5-45 ms for 240-1,600 revisions, measured), where a concurrent
        // one slows every write it overlaps (its commit holds DuckDB's
        // log): one slow write a second rather than dozens, which shows
        // in a single client's p99 (2.09 ms with every batch here, 2.72
        // ms with every batch on the scribe, in one run).
        let small =
            !batch.facts && batch.records.len() < SCRIBE_REVISIONS && deltas < SCRIBE_DELTAS;
        let batch = if small {
            batch
        } else {
            match self.scribe.hand(batch) {
                Ok(()) => return,
                // The scribe is gone (it never should be): the writer does it.
                Err(batch) => batch,
            }
        };
        let done = batch.write(&self.conn, self.model.def.measures.len());
        let _ = self.caught_up(done);
    }

    /// Writes every committed revision the journal holds into the
    /// changelog and the fact history, and with `facts` into the facts
    /// too, before the writer goes on: after the scribe's batch in flight,
    /// the rest on the writer's own connection. A failure is logged and
    /// tried again later: the revisions stay durable in the journal.
    pub(super) fn catch_up(&mut self, facts: bool) -> anyhow::Result<()> {
        if let Some(done) = self.scribe.wait() {
            self.caught_up(done)?;
        }
        match self.batch(facts) {
            Some(batch) => {
                let done = batch.write(&self.conn, self.model.def.measures.len());
                self.caught_up(done)
            }
            None => Ok(()),
        }
    }

    /// What the tables lack, taken from the writer's pending records:
    /// `None` when nothing.
    fn batch(&mut self, facts: bool) -> Option<Batch> {
        let facts = facts && self.facts_at < self.head;
        if self.pending.is_empty() && !facts {
            return None;
        }
        self.pending_deltas = 0;
        self.behind_since = None;
        if !self.pending.is_empty()
            && let Some(journal) = &mut self.journal
        {
            // Its segment goes once these records are in the tables.
            journal.seal();
        }
        Some(Batch {
            logged: self.logged,
            records: std::mem::take(&mut self.pending),
            facts,
        })
    }

    /// Takes in a written batch: where the tables stand now, or (when it
    /// failed) its records back, to be tried again after
    /// [`CATCH_UP_AGE`].
    pub(super) fn caught_up(&mut self, done: Done) -> anyhow::Result<()> {
        let Done {
            batch,
            result,
            elapsed,
        } = done;
        let metrics = &self.config.metrics;
        match result {
            Ok(caught_up) => {
                metrics.catch_up_seconds.observe(elapsed.as_secs_f64());
                tracing::debug!(
                    from = batch.logged,
                    to = caught_up.logged,
                    facts = batch.facts,
                    values = caught_up.values,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "tables caught up"
                );
                self.logged = caught_up.logged;
                if let Some(journal) = &mut self.journal {
                    journal.written_through(self.logged);
                }
                if batch.facts {
                    self.facts_at = caught_up.facts_at;
                    // Revisions committed meanwhile are still behind.
                    self.facts_behind_since = (self.facts_at < self.head).then(Instant::now);
                    metrics.facts_behind.set(self.head - self.facts_at);
                    if self.history_from.is_none() {
                        // With the history off, the rows were only on their
                        // way into the facts.
                        if let Err(e) = history::prune(&self.conn, self.facts_at, false) {
                            tracing::warn!(error = %e, "could not drop the written fact changes");
                        }
                    }
                }
                Ok(())
            }
            Err(e) => {
                tracing::error!(error = %e, logged = self.logged, facts_at = self.facts_at, head = self.head,
                    "could not write the committed revisions into the tables; they stay in the journal and are tried again");
                let mut records = batch.records;
                records.append(&mut self.pending);
                self.pending_deltas = records.iter().map(|r| r.deltas()).sum();
                self.pending = records;
                // Not again before another CATCH_UP_AGE.
                self.behind_since = Some(Instant::now());
                Err(e)
            }
        }
    }

    /// Checkpoints when nothing is queued and the log has grown past
    /// [`IDLE_CHECKPOINT_BYTES`], so that commits rarely pay for it.
    pub(super) fn checkpoint_if_due(&mut self) {
        let Some(wal) = &self.config.wal else { return };
        if self.scribe.busy() {
            // Its transaction would defer the checkpoint anyway.
            return;
        }
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
    pub(super) fn prune(&mut self) {
        if self.head - self.pruned_at < PRUNE_EVERY {
            return;
        }
        self.pruned_at = self.head;
        let keep = self.config.changelog_retention as i64;
        if keep > 0 {
            let below = self.head - keep + 1;
            // The changelog must hold what goes (the journal has the rest).
            if below > self.logged + 1 {
                let _ = self.catch_up(false);
            }
            let below = below.min(self.logged + 1);
            // (Should the DELETE fail, the ids of revisions about to go are
            // forgotten a little early: a retry of one would apply again.)
            if let Err(e) = self.request_ids.forget_below(&self.conn, below) {
                tracing::warn!(error = %e, "could not read the request ids to prune");
            }
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
    pub(super) fn prune_history(&mut self) -> duckdb::Result<()> {
        let Some(from) = self.history_from else {
            // Off: what the facts have taken goes as they take it.
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
        // Whatever the retention, never the changes the facts still lack.
        if upto > from && upto > self.facts_at {
            let _ = self.catch_up(true);
        }
        let upto = upto.min(self.facts_at);
        if upto > from {
            let rows = history::prune(&self.conn, upto, true)?;
            self.history_from = Some(upto);
            tracing::debug!(rows, history_from = upto, "pruned the fact history");
        }
        Ok(())
    }

    /// Waits for the next message with nothing queued: first (when the
    /// tables are behind) for `catch_up_idle`, then has them catch up and
    /// checkpoints if due before waiting for as long as it takes.
    pub(super) fn wait(
        &mut self,
        clock: &tokio::runtime::Runtime,
        rx: &mut mpsc::Receiver<Message>,
    ) -> Option<Message> {
        enum Wake {
            Message(Option<Message>),
            Written(Option<scribe::Done>),
            Idle,
        }
        while self.facts_at < self.head || self.scribe.busy() {
            let idle = self.config.catch_up_idle;
            let scribe = &mut self.scribe;
            let busy = scribe.busy();
            // The timer is made inside the runtime (it needs its clock).
            let wake = clock.block_on(async {
                tokio::select! {
                    message = rx.recv() => Wake::Message(message),
                    done = scribe.finished(), if busy => Wake::Written(done),
                    _ = tokio::time::sleep(idle), if !busy => Wake::Idle,
                }
            });
            match wake {
                Wake::Message(message) => return message,
                Wake::Written(Some(done)) => {
                    if self.caught_up(done).is_err() {
                        // Tried again under load, or before the stop.
                        break;
                    }
                }
                Wake::Written(None) => break,
                Wake::Idle => {
                    self.hand_over(true);
                    if !self.scribe.busy() && self.facts_at < self.head {
                        break; // written here, and failed: tried again later
                    }
                }
            }
        }
        self.checkpoint_if_due();
        rx.blocking_recv()
    }
}
