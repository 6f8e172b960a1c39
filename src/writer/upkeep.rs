//! What the writer does between groups: the tables' catch-up with the
//! journal, checkpoints while idle, and pruning.

use std::time::{Duration, Instant};

use super::{
    CATCH_UP_AGE, CATCH_UP_DELTAS, CATCH_UP_REVISIONS, FACTS_AGE, FACTS_REVISIONS,
    IDLE_CHECKPOINT_BYTES, PRUNE_EVERY, Writer,
};
use crate::history::Retention;
use crate::store::{catch_up, history};

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

    /// Writes the committed revisions the journal holds into the changelog
    /// and the fact history, and with `facts` into the facts too (in a
    /// transaction of its own, between groups). A failure is logged and
    /// tried again later: the revisions stay durable in the journal.
    pub(super) fn catch_up(&mut self, facts: bool) -> anyhow::Result<()> {
        let facts = facts && self.facts_at < self.head;
        if self.logged >= self.head && !facts {
            return Ok(());
        }
        let started = Instant::now();
        let measures = self.model.def.measures.len();
        let caught_up = catch_up::catch_up(&self.conn, measures, self.logged, &self.pending, facts);
        match caught_up {
            Ok(caught_up) => {
                debug_assert_eq!(caught_up.logged, self.head, "every record was pending");
                let metrics = &self.config.metrics;
                metrics
                    .catch_up_seconds
                    .observe(started.elapsed().as_secs_f64());
                tracing::debug!(
                    from = self.logged,
                    to = self.head,
                    facts,
                    values = caught_up.values,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "tables caught up"
                );
                self.logged = caught_up.logged;
                self.pending.clear();
                self.pending_deltas = 0;
                self.behind_since = None;
                if facts {
                    self.facts_at = caught_up.facts_at;
                    self.facts_behind_since = None;
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
}
