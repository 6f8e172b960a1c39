//! The journal: the durable record of committed revisions that the other
//! tables do not hold yet.
//!
//! A commit group's record is one [`Group`] message holding every revision
//! of the group — what its changelog row holds (the encoded event, actor,
//! request id, session, the revision it reverts) and every fact value it
//! changed, before and after. That is all a commit writes, but for the
//! facts its writes created (rare: writes to empty cells) and a revert's
//! marks. A group that writes nothing else appends its record to the
//! journal's file ([`super::journal_file`]); one that writes into the
//! tables appends it as a row of the `journal` table (its newest revision
//! and the record) in the same transaction. The changelog, the fact
//! history and the facts are written from the records behind the commits
//! ([`super::catch_up`]), which then deletes the rows (and the writer the
//! segments) it has written.
//!
//! The record is protobuf, from the messages below (private to the
//! database, not part of the gRPC contract): a new field gets a new tag,
//! so records written before stay readable.

use duckdb::{Connection, params};
use prost::Message;

/// One commit group's revisions, in order.
#[derive(Clone, PartialEq, Message)]
pub struct Group {
    #[prost(message, repeated, tag = "1")]
    pub revisions: Vec<Revision>,
}

/// What one revision did.
#[derive(Clone, PartialEq, Message)]
pub struct Revision {
    #[prost(int64, tag = "1")]
    pub revision: i64,
    /// The commit time, in microseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub committed_at_micros: i64,
    #[prost(string, tag = "3")]
    pub actor: String,
    /// The idempotency key (`WriteRequest::dedup_key`; empty: none).
    #[prost(string, tag = "4")]
    pub request_id: String,
    /// The write's `x-duckgrid-session` (empty: none).
    #[prost(string, tag = "5")]
    pub session: String,
    /// For a revert: the revision it took back (0: none).
    #[prost(int64, tag = "6")]
    pub reverts: i64,
    /// The encoded `duckgrid.v1.ChangeEvent`.
    #[prost(bytes = "bytes", tag = "7")]
    pub event: prost::bytes::Bytes,
    /// The fact values it changed, a column each (`fact_history`'s rows).
    #[prost(int64, repeated, tag = "8")]
    pub fact_ids: Vec<i64>,
    #[prost(uint32, repeated, tag = "9")]
    pub measures: Vec<u32>,
    #[prost(sint64, repeated, tag = "10")]
    pub before: Vec<i64>,
    #[prost(sint64, repeated, tag = "11")]
    pub after: Vec<i64>,
}

impl Revision {
    /// How many fact values it changed.
    pub fn deltas(&self) -> usize {
        self.fact_ids.len()
    }
}

/// Appends a committed group's row (on the group's open transaction).
pub fn append(conn: &Connection, group: &Group, record: &[u8]) -> duckdb::Result<()> {
    let newest = group.revisions.last().map_or(0, |r| r.revision);
    conn.prepare_cached("INSERT INTO journal VALUES (?, ?)")?
        .execute(params![newest, record])?;
    Ok(())
}

/// The group's record: what `Group::encode_to_vec` makes, byte for byte, in
/// one pass over each column of deltas. Prost sizes every nested message
/// and packed field before it writes them, which walks each column three
/// more times, and writes each byte through `BufMut`: ~30 ms of a spread
/// over 1,000,000 facts, whose revision has 4,000,000 values.
pub fn encode(group: &Group) -> Vec<u8> {
    use prost::encoding::{WireType, bytes, encode_key, encode_varint, int64, string};
    let (mut out, mut body, mut column) = (Vec::new(), Vec::new(), Vec::new());
    for r in &group.revisions {
        body.clear();
        // Proto3: a field at its default value is left out.
        for (tag, value) in [(1, r.revision), (2, r.committed_at_micros)] {
            if value != 0 {
                int64::encode(tag, &value, &mut body);
            }
        }
        for (tag, value) in [(3, &r.actor), (4, &r.request_id), (5, &r.session)] {
            if !value.is_empty() {
                string::encode(tag, value, &mut body);
            }
        }
        if r.reverts != 0 {
            int64::encode(6, &r.reverts, &mut body);
        }
        if !r.event.is_empty() {
            bytes::encode(7, &r.event, &mut body);
        }
        let zigzag = |v: &i64| ((v << 1) ^ (v >> 63)) as u64;
        packed(
            8,
            r.fact_ids.iter().map(|&v| v as u64),
            &mut column,
            &mut body,
        );
        packed(
            9,
            r.measures.iter().map(|&v| u64::from(v)),
            &mut column,
            &mut body,
        );
        packed(10, r.before.iter().map(zigzag), &mut column, &mut body);
        packed(11, r.after.iter().map(zigzag), &mut column, &mut body);
        encode_key(1, WireType::LengthDelimited, &mut out);
        encode_varint(body.len() as u64, &mut out);
        out.extend_from_slice(&body);
    }
    return out;

    /// A packed repeated field of varints, encoded once into `column`
    /// (by hand: prost's `encode_varint` goes through `BufMut`, about
    /// five times slower than pushing to a `Vec` with room).
    fn packed(
        tag: u32,
        values: impl ExactSizeIterator<Item = u64>,
        column: &mut Vec<u8>,
        body: &mut Vec<u8>,
    ) {
        column.clear();
        column.reserve(values.len() * 4);
        for mut v in values {
            while v >= 0x80 {
                column.push(v as u8 | 0x80);
                v >>= 7;
            }
            column.push(v as u8);
        }
        if !column.is_empty() {
            encode_key(tag, WireType::LengthDelimited, body);
            encode_varint(column.len() as u64, body);
            body.extend_from_slice(column);
        }
    }
}

/// Every revision the `journal` table's rows hold, in the order of the
/// rows (the replay checks that they follow on, with the file's).
pub fn read(conn: &Connection) -> anyhow::Result<Vec<Revision>> {
    // Sorted here: an ORDER BY would have DuckDB sort the blobs too.
    let mut rows: Vec<(i64, Vec<u8>)> = conn
        .prepare("SELECT revision, record FROM journal")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<duckdb::Result<_>>()?;
    rows.sort_unstable_by_key(|(newest, _)| *newest);
    let mut out: Vec<Revision> = Vec::new();
    for (newest, blob) in rows {
        let group = Group::decode(blob.as_slice())
            .map_err(|e| anyhow::anyhow!("the journal row of revision {newest} is corrupt: {e}"))?;
        if group.revisions.last().map(|r| r.revision) != Some(newest) {
            anyhow::bail!("the journal row of revision {newest} holds other revisions");
        }
        out.extend(group.revisions);
    }
    Ok(out)
}

/// Deletes the rows whose revisions are all up to `through`.
pub fn delete_through(conn: &Connection, through: i64) -> duckdb::Result<usize> {
    conn.prepare_cached("DELETE FROM journal WHERE revision <= ?")?
        .execute([through])
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn revision() -> impl Strategy<Value = Revision> {
        let text = || prop_oneof![Just(String::new()), "[a-zé]{1,8}"];
        let column = || prop::collection::vec(any::<i64>(), 0..20);
        (
            (
                any::<i64>(),
                prop_oneof![Just(0i64), any::<i64>()],
                text(),
                text(),
                text(),
            ),
            (
                prop_oneof![Just(0i64), any::<i64>()],
                prop::collection::vec(any::<u8>(), 0..40),
                column(),
                prop::collection::vec(any::<u32>(), 0..20),
                column(),
                column(),
            ),
        )
            .prop_map(|((revision, at, actor, request_id, session), rest)| {
                let (reverts, event, fact_ids, measures, before, after) = rest;
                Revision {
                    revision,
                    committed_at_micros: at,
                    actor,
                    request_id,
                    session,
                    reverts,
                    event: event.into(),
                    fact_ids,
                    measures,
                    before,
                    after,
                }
            })
    }

    proptest! {
        #[test]
        fn a_row_is_what_prost_encodes_byte_for_byte(
            revisions in prop::collection::vec(revision(), 0..4)
        ) {
            let group = Group { revisions };
            let row = encode(&group);
            prop_assert_eq!(&row, &group.encode_to_vec());
            prop_assert_eq!(Group::decode(row.as_slice()).unwrap(), group);
        }
    }
}
