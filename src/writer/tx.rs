//! A commit group's transaction, begun only when the group needs one, and
//! where its record goes.
//!
//! Nearly every group writes nothing but its record, which it appends to
//! the journal's file (`store::journal_file`): no DuckDB transaction at
//! all. A group that must write into the tables — new facts, a revert's
//! marks on what it took back — begins a transaction before that write
//! and appends its record as a `journal` row in it, so that both commit
//! or neither does. Reads before need none: only the writer writes.
//! (Without a file, for an in-memory database, the row commits alone: a
//! lone INSERT is a transaction of its own, 0.25 ms cheaper than one
//! between BEGIN and COMMIT.)

use duckdb::{Connection, Transaction};

use crate::error::{Error, Result};
use crate::store::journal::{self, Group};
use crate::store::journal_file::JournalFile;

pub struct GroupTx<'c> {
    conn: &'c Connection,
    open: Option<Transaction<'c>>,
}

impl<'c> GroupTx<'c> {
    pub fn new(conn: &'c Connection) -> Self {
        GroupTx { conn, open: None }
    }

    /// Begins the transaction (if it has not begun) before a write that
    /// commits with the group's record. Dropped uncommitted, it rolls back.
    pub fn begin(&mut self) -> duckdb::Result<()> {
        if self.open.is_none() {
            self.open = Some(self.conn.unchecked_transaction()?);
        }
        Ok(())
    }

    /// Makes the group durable: its record appended to `file` when it has
    /// no transaction, else as a `journal` row, and the transaction
    /// committed.
    pub fn commit(self, group: &Group, file: Option<&mut JournalFile>) -> Result<()> {
        if group.revisions.is_empty() {
            return Ok(self.open.map_or(Ok(()), |tx| tx.commit())?);
        }
        let record = journal::encode(group);
        match (self.open, file) {
            (None, Some(file)) => file
                .append(group, &record)
                .map_err(|e| Error::Internal(format!("appending to the journal file failed: {e}"))),
            (open, _) => {
                journal::append(self.conn, group, &record)?;
                Ok(open.map_or(Ok(()), |tx| tx.commit())?)
            }
        }
    }
}
