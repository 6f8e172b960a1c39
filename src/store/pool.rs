//! A small pool of read connections.
//!
//! DuckDB connections are synchronous, so every read runs on the blocking
//! thread pool with a connection of its own, cloned from the writer's (same
//! database instance; MVCC means readers never wait behind the writer).
//!
//! The changelog and the fact history are written behind the commits (from
//! the journal, `super::catch_up`): a read of recent revisions first has
//! them catch up ([`ReadPool::through`], [`ReadPool::current`]), which asks
//! the writer when they may be behind.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use duckdb::Connection;
use futures::future::BoxFuture;
use tokio::sync::Semaphore;

use crate::error::{Error, Result};

/// The writer, as reads of the tables need it.
pub struct Writer {
    /// Has the tables catch up with every committed revision and answers
    /// the revision they then hold ([`crate::writer::WriterHandle::catch_up`]).
    pub catch_up: Box<dyn Fn() -> BoxFuture<'static, Result<i64>> + Send + Sync>,
    /// The newest committed revision.
    pub head: Box<dyn Fn() -> i64 + Send + Sync>,
}

/// Read connections, handed out one per blocking task.
pub struct ReadPool {
    /// The newest revision the tables are known to hold.
    tables_at: AtomicI64,
    /// How to have them catch up (none before the writer runs, when they
    /// hold every revision).
    writer: OnceLock<Writer>,
    idle: Mutex<Vec<Connection>>,
    /// Kept to replace a connection lost to a panicking read.
    root: Mutex<Connection>,
    /// One per connection: held by the blocking task until its connection
    /// is back (a caller that gave up must not free a place whose
    /// connection is still in use, or the pool would grow without bound).
    permits: Arc<Semaphore>,
}

impl ReadPool {
    /// A pool of `size` connections cloned from `conn`, whose tables hold
    /// every revision up to `tables_at`.
    pub fn new(conn: &Connection, size: usize, tables_at: i64) -> duckdb::Result<Arc<Self>> {
        let idle = (0..size)
            .map(|_| super::file::clone(conn))
            .collect::<duckdb::Result<Vec<_>>>()?;
        Ok(Arc::new(Self {
            tables_at: AtomicI64::new(tables_at),
            writer: OnceLock::new(),
            idle: Mutex::new(idle),
            root: Mutex::new(super::file::clone(conn)?),
            permits: Arc::new(Semaphore::new(size)),
        }))
    }

    /// From now on, reads of revisions the tables may lack ask the writer
    /// to catch up first (set once, when the writer runs).
    pub fn follow_writer(&self, writer: Writer) {
        let _ = self.writer.set(writer);
    }

    /// Makes sure the changelog and the fact history hold every revision
    /// up to `revision` that is committed before a read of them.
    pub async fn through(&self, revision: i64) -> Result<()> {
        let Some(writer) = self.writer.get() else {
            return Ok(());
        };
        if self.tables_at.load(Ordering::Acquire) >= revision.min((writer.head)()) {
            return Ok(());
        }
        let at = (writer.catch_up)().await?;
        self.tables_at.fetch_max(at, Ordering::AcqRel);
        Ok(())
    }

    /// Makes sure the changelog and the fact history hold every revision
    /// committed so far before a read of them.
    pub async fn current(&self) -> Result<()> {
        self.through(i64::MAX).await
    }

    /// Runs `f` with a connection on the blocking pool.
    pub async fn run<T, F>(self: &Arc<Self>, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let permit = Arc::clone(&self.permits)
            .acquire_owned()
            .await
            .map_err(|_| Error::Internal("read pool closed".into()))?;
        let mut conn = self.checkout()?;
        let pool = Arc::clone(self);
        let joined = tokio::task::spawn_blocking(move || {
            let result = f(&mut conn);
            pool.idle.lock().expect("pool lock").push(conn);
            drop(permit);
            result
        })
        .await;
        joined.map_err(|e| Error::Internal(format!("read task failed: {e}")))?
    }

    /// A new connection to the database, for tools and tests that want to
    /// look at it directly. Never use it to write: only the writer writes.
    pub fn connection(&self) -> duckdb::Result<Connection> {
        super::file::clone(&self.root.lock().expect("pool lock"))
    }

    fn checkout(&self) -> Result<Connection> {
        if let Some(conn) = self.idle.lock().expect("pool lock").pop() {
            return Ok(conn);
        }
        // A permit without an idle connection: one was lost to a panic.
        Ok(super::file::clone(&self.root.lock().expect("pool lock"))?)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    use super::*;

    /// A read whose caller gave up keeps its place until its connection is
    /// back: the next read waits for it instead of opening another.
    #[tokio::test]
    async fn an_abandoned_read_keeps_its_connection_until_done() {
        let pool = ReadPool::new(&Connection::open_in_memory().unwrap(), 1, 0).unwrap();
        let first_done = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&first_done);
        let slow = pool.run(move |_| {
            std::thread::sleep(Duration::from_millis(300));
            done.store(true, Ordering::SeqCst);
            Ok(())
        });
        assert!(
            tokio::time::timeout(Duration::from_millis(20), slow)
                .await
                .is_err()
        );
        let saw_first_done = pool
            .run(move |_| Ok(first_done.load(Ordering::SeqCst)))
            .await
            .unwrap();
        assert!(
            saw_first_done,
            "a second connection was used while the first was busy"
        );
    }
}
