//! The request ids the changelog holds, in memory: a write with a new id
//! (nearly every one) is known new without a query; only a retry, or the
//! rare id whose digest another shares, reads the changelog.
//!
//! Each id is kept as a 64-bit digest (about 16 bytes a revision in
//! memory, against the ~1 KB its changelog row takes on disk), so a match
//! is only a maybe: the changelog row decides. The set is loaded at start,
//! grows by each committed group's ids, and shrinks as the changelog is
//! pruned.

use std::collections::HashMap;
use std::hash::{DefaultHasher, Hash, Hasher};

use duckdb::Connection;

#[derive(Debug, Default)]
pub struct RequestIds {
    /// Digest → how many retained revisions have an id with it.
    digests: HashMap<u64, u32>,
}

/// The digest of a request id (stable within a process: `DefaultHasher::new`
/// always uses the same keys).
fn digest(id: &str) -> u64 {
    let mut h = DefaultHasher::new();
    id.hash(&mut h);
    h.finish()
}

impl RequestIds {
    /// Every id the changelog holds.
    pub fn load(conn: &Connection) -> duckdb::Result<Self> {
        let mut ids = RequestIds::default();
        ids.each_id(conn, i64::MAX, |ids, id| ids.add(id))?;
        Ok(ids)
    }

    fn each_id(
        &mut self,
        conn: &Connection,
        below: i64,
        mut f: impl FnMut(&mut Self, &str),
    ) -> duckdb::Result<()> {
        let mut stmt = conn.prepare(
            "SELECT request_id FROM changelog WHERE coalesce(request_id, '') <> '' AND revision < ?",
        )?;
        let mut rows = stmt.query([below])?;
        while let Some(row) = rows.next()? {
            f(self, row.get_ref(0)?.as_str()?);
        }
        Ok(())
    }

    /// Whether the changelog may hold `id` (false: it certainly does not).
    pub fn may_hold(&self, id: &str) -> bool {
        self.digests.contains_key(&digest(id))
    }

    /// Adds the id of a committed revision.
    pub fn add(&mut self, id: &str) {
        *self.digests.entry(digest(id)).or_default() += 1;
    }

    /// Forgets the ids of the revisions below `below`, which the changelog
    /// is about to delete (before it does: they are read from it).
    pub fn forget_below(&mut self, conn: &Connection, below: i64) -> duckdb::Result<()> {
        self.each_id(conn, below, |ids, id| {
            let d = digest(id);
            if let Some(n) = ids.digests.get_mut(&d) {
                *n -= 1;
                if *n == 0 {
                    ids.digests.remove(&d);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_held_until_their_revisions_are_pruned() {
        let conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(
            "CREATE TABLE changelog (revision BIGINT, request_id VARCHAR);
             INSERT INTO changelog VALUES (1, 'a'), (2, NULL), (3, 'b'), (4, 'a');",
        )
        .unwrap();
        let mut ids = RequestIds::load(&conn).unwrap();
        assert!(ids.may_hold("a") && ids.may_hold("b"));
        assert!(!ids.may_hold("c"));
        let prune = |ids: &mut RequestIds, below: i64| {
            ids.forget_below(&conn, below).unwrap();
            conn.execute("DELETE FROM changelog WHERE revision < ?", [below])
                .unwrap();
        };
        // Revision 1 goes: "a" is still revision 4's.
        prune(&mut ids, 2);
        assert!(ids.may_hold("a"));
        prune(&mut ids, 5);
        assert!(!ids.may_hold("a") && !ids.may_hold("b"));
        ids.add("c");
        assert!(ids.may_hold("c"));
    }
}
