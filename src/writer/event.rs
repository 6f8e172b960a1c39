//! A revision's change event, encoded once, straight from the writer's
//! state: the bytes prost would write for the `ChangeEvent`, without
//! building it (a leaf's event at 1,000,000 facts lists ~150 cells, each
//! five strings and a path). The journal stores these bytes, the reply
//! and every watch that selects everything send them, and whoever needs
//! the fields decodes them, once and on its own thread ([`Event`]).

use prost::bytes::Bytes;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint, int64, message};

use super::changes::Changes;
use crate::feed::{Event, EventRef, Resident};
use crate::model::Model;
use crate::proto::v1 as pb;

/// Everything in a `ChangeEvent` but its changed cells.
pub struct Header<'a> {
    pub revision: i64,
    pub commit_time: prost_types::Timestamp,
    pub actor: &'a str,
    pub request_id: &'a str,
    pub edits: &'a [pb::CellEdit],
    pub results: &'a [pb::EditResult],
    pub reverts_revision: i64,
    pub session_id: &'a str,
}

/// The event of `header` and `changes`, in field order as prost writes it
/// (a proto3 scalar or string is left out when it is its default).
pub fn encode(header: &Header<'_>, changes: &Changes, model: &Model) -> EventRef {
    let mut buf = Vec::with_capacity(256 + 64 * changes.touched());
    let mut resident = Resident::default();
    if header.revision != 0 {
        int64::encode(1, &header.revision, &mut buf);
    }
    message::encode(2, &header.commit_time, &mut buf);
    put_string(3, header.actor, &mut buf);
    put_string(4, header.request_id, &mut buf);
    for edit in header.edits {
        message::encode(5, edit, &mut buf);
    }
    for result in header.results {
        message::encode(6, result, &mut buf);
    }
    changes.encode(model, &mut buf, &mut resident);
    if header.reverts_revision != 0 {
        int64::encode(8, &header.reverts_revision, &mut buf);
    }
    put_string(9, header.session_id, &mut buf);
    for s in [header.actor, header.request_id, header.session_id] {
        resident.text(s.len());
    }
    resident.edits(header.edits, header.results.len());
    Event::encoded_by_writer(header.revision, Bytes::from(buf), resident)
}

/// The encoded size of a proto3 string field (nothing when empty).
pub(super) fn string_len(s: &str) -> usize {
    if s.is_empty() { 0 } else { element_len(s) }
}

/// The encoded size of one element of a repeated string field (a key of
/// one byte: every string field written here is numbered below 16).
pub(super) fn element_len(s: &str) -> usize {
    1 + encoded_len_varint(s.len() as u64) + s.len()
}

/// A proto3 string field: left out when empty.
pub(super) fn put_string(field: u32, s: &str, buf: &mut Vec<u8>) {
    if !s.is_empty() {
        put_element(field, s, buf);
    }
}

/// One element of a repeated string field: written even when empty.
pub(super) fn put_element(field: u32, s: &str, buf: &mut Vec<u8>) {
    encode_key(field, WireType::LengthDelimited, buf);
    encode_varint(s.len() as u64, buf);
    buf.extend_from_slice(s.as_bytes());
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::model::tests::tiny_model;
    use crate::rollup::{FactDelta, rollup};
    use crate::store::facts::NewFact;
    use crate::summary::Summary;

    fn fact(product: u32, customer: u32, month: u16, q: i128, a: i128) -> FactDelta {
        FactDelta {
            keys: [product, customer, 0, 0],
            month,
            facts: 1,
            values: [q, a, 0, 0],
        }
    }

    /// Changes on every sheet of the tiny model: a value changed, a new
    /// fact (a cell that was empty), and a fact removed (a cell left
    /// empty: its value is the empty string).
    fn changes(model: &Model) -> Changes {
        let facts: Vec<NewFact> = [fact(0, 0, 0, 5, 100), fact(2, 1, 4, 7, -40)]
            .iter()
            .zip(0..)
            .map(|(f, id)| NewFact {
                fact_id: id,
                month: f.month,
                keys: f.keys,
                values: f.values,
            })
            .collect();
        let mirror = crate::writer::Mirror::from_facts(model, &facts);
        let mut summary = Summary::compute(model, &mirror);
        let mut changes = Changes::default();
        let mut step = |deltas: &[FactDelta]| {
            let cells = rollup(model, deltas);
            let rows = summary.apply(&cells);
            changes.record(&cells, &rows);
        };
        step(&[FactDelta {
            facts: 0,
            ..fact(0, 0, 0, 2, -1_234)
        }]);
        step(&[fact(1, 0, 2, 3, 250)]);
        step(&[FactDelta {
            facts: -1,
            ..fact(2, 1, 4, -7, 40)
        }]);
        changes
    }

    /// The bytes are what prost writes for the event built as a struct,
    /// with and without the optional fields, and the event weighs what
    /// the decoded one does.
    #[test]
    fn an_event_is_the_bytes_prost_writes_for_it() {
        let model = tiny_model();
        let changes = changes(&model);
        let edits = [pb::CellEdit {
            value: "1.00".into(),
            ..Default::default()
        }];
        let results = [pb::EditResult {
            previous_value: "12.34".into(),
            new_value: "1.00".into(),
            facts_changed: 3,
        }];
        for (actor, request_id, session, reverts) in [("ada", "r-1", "s", 4), ("", "", "", 0)] {
            let header = Header {
                revision: 9,
                commit_time: prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 5,
                },
                actor,
                request_id,
                edits: &edits,
                results: &results,
                reverts_revision: reverts,
                session_id: session,
            };
            let event = encode(&header, &changes, &model);
            let expected = pb::ChangeEvent {
                revision: 9,
                commit_time: Some(header.commit_time),
                actor: actor.into(),
                request_id: request_id.into(),
                edits: edits.to_vec(),
                results: results.to_vec(),
                changes: changes.to_proto(&model),
                reverts_revision: reverts,
                session_id: session.into(),
            };
            let sheets = expected.changes.len();
            assert!(sheets == 3, "every sheet changed: {sheets}");
            let emptied = expected.changes.iter().flat_map(|s| &s.cells);
            assert!(emptied.clone().any(|c| c.value.is_empty()));
            assert!(emptied.clone().any(|c| c.row_path.is_empty()));
            assert_eq!(&event.bytes()[..], expected.encode_to_vec());
            assert_eq!(event.change(), &expected);
            assert_eq!(event.resident, Event::new(9, expected).resident);
        }
    }
}
