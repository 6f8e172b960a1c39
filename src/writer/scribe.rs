//! The catch-up under load, off the writer thread.
//!
//! A thread of its own, on a connection of its own to the same database,
//! writes a batch of journal records into the changelog and the fact
//! history (and, when asked, the facts: `store::catch_up`) while the
//! writer goes on committing. Under 32 concurrent clients that work took
//! a sixth of the writer thread; after a spread over 1,000,000 facts the
//! next write waited ~500 ms for it.
//!
//! One batch at a time: the writer hands over what it has pending only
//! when the scribe has finished the last batch, so the tables always catch
//! up in revision order. Their transactions never touch the same rows as
//! the writer's commits (journal records are appended by one and deleted
//! by the other only once caught up; the facts a catch-up updates were
//! inserted by commits before it). Whatever must read the tables (a
//! revert, an Undo, a retried request id, a history read, a prune, the
//! stop) first waits for the batch in flight, then catches up the rest on
//! the writer's own connection, with the scribe idle.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use duckdb::Connection;
use tokio::sync::mpsc as async_mpsc;

use crate::store::catch_up::{self, CaughtUp};
use crate::store::journal::Revision;

/// What the tables lack, handed over in one piece.
pub struct Batch {
    /// The newest revision the changelog holds; `records` follow it.
    pub logged: i64,
    pub records: Vec<Revision>,
    /// Whether the facts catch up too.
    pub facts: bool,
}

/// A batch written (or not: its records are returned for another try).
pub struct Done {
    pub batch: Batch,
    pub result: anyhow::Result<CaughtUp>,
    pub elapsed: Duration,
}

impl Batch {
    /// Writes the batch on `conn` (the scribe's, or the writer's own).
    pub fn write(self, conn: &Connection, measures: usize) -> Done {
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| {
            catch_up::catch_up(conn, measures, self.logged, &self.records, self.facts)
        }))
        .unwrap_or_else(|_| Err(anyhow::anyhow!("the catch-up panicked")));
        Done {
            batch: self,
            result,
            elapsed: started.elapsed(),
        }
    }
}

pub struct Scribe {
    batches: Option<mpsc::Sender<Batch>>,
    /// Async, so that the idle writer can wait for a message or this.
    done: async_mpsc::UnboundedReceiver<Done>,
    thread: Option<JoinHandle<()>>,
    busy: bool,
}

impl Scribe {
    /// Starts the scribe on `conn` (a connection of its own).
    pub fn spawn(conn: Connection, measures: usize) -> std::io::Result<Scribe> {
        let (batches, inbox) = mpsc::channel::<Batch>();
        let (done_tx, done) = async_mpsc::unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("duckgrid-scribe".into())
            .spawn(move || {
                for batch in inbox {
                    if done_tx.send(batch.write(&conn, measures)).is_err() {
                        break;
                    }
                }
            })?;
        Ok(Scribe {
            batches: Some(batches),
            done,
            thread: Some(thread),
            busy: false,
        })
    }

    /// Whether a batch is in flight.
    pub fn busy(&self) -> bool {
        self.busy
    }

    /// Hands a batch over (only while not busy). `Err` gives it back if the
    /// scribe is gone.
    pub fn hand(&mut self, batch: Batch) -> Result<(), Batch> {
        debug_assert!(!self.busy, "one batch at a time");
        let sender = self.batches.as_ref().expect("running until dropped");
        sender.send(batch).map_err(|e| e.0)?;
        self.busy = true;
        Ok(())
    }

    /// The batch in flight, if it is done.
    pub fn poll(&mut self) -> Option<Done> {
        if !self.busy {
            return None;
        }
        let done = self.done.try_recv().ok()?;
        self.busy = false;
        Some(done)
    }

    /// The batch in flight, once it is done (`None`: nothing in flight).
    pub fn wait(&mut self) -> Option<Done> {
        if !self.busy {
            return None;
        }
        self.busy = false;
        // The thread answers every batch it takes (a panic included).
        self.done.blocking_recv()
    }

    /// The same, awaited (the idle writer waits for this or a message).
    pub async fn finished(&mut self) -> Option<Done> {
        if !self.busy {
            return std::future::pending().await;
        }
        let done = self.done.recv().await;
        self.busy = false;
        done
    }
}

impl Drop for Scribe {
    fn drop(&mut self) {
        // Closing the channel ends the thread after the batch in flight.
        self.batches = None;
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
