//! The change feed: how committed revisions reach watchers.
//!
//! The writer hands every committed [`Event`] to the feed, in revision order;
//! each process's watchers subscribe to it and read history from it. The
//! in-process feed ([`memory::MemoryFeed`]) is the embedded default; the Redis
//! Streams feed ([`redis::RedisFeed`]) implements the same [`Feed`] trait so
//! that any number of processes fan out one stream.
//!
//! Architecture invariant: the DuckDB changelog is the source of truth for
//! events. A feed is a bounded, replaceable fan-out copy of it.

pub mod cache;
pub mod history;
pub mod live;
pub mod memory;
pub mod redis;

use std::sync::{Arc, Mutex, OnceLock};

use futures::FutureExt;
use futures::future::BoxFuture;
use prost::Message;
use prost::bytes::Bytes;
use tokio::sync::OnceCell;

use crate::error::{Error, Result};
use crate::proto::v1 as pb;
use crate::watch::Selection;

pub use cache::EventCache;
pub use history::{ChangelogHistory, History};
pub use live::{Live, Lookup};

/// One committed revision: its `ChangeEvent` encoded, decoded on first
/// use.
///
/// The writer encodes each event once, straight from its own state
/// (`writer::event`), and the bytes are what every path that only passes
/// the event on sends: the journal, the write's reply, the Redis entry,
/// every watch that selects everything. Only a path that reads the event's
/// fields (a filtered watch, the history, an Undo) decodes it, on its own
/// thread and once for all of them.
#[derive(Debug)]
pub struct Event {
    pub revision: i64,
    /// The event's encoded size in bytes: what a watch's send budget and
    /// history pages are bounded by (what goes over the wire).
    pub size: usize,
    /// About what the event occupies in memory once decoded, with its
    /// encoding: what the live buffer is bounded by. Decoded cells are
    /// several times their encoded size (every name is its own
    /// allocation), so bounding memory by the encoded size would let the
    /// buffer hold many times its limit.
    pub resident: usize,
    encoded: Bytes,
    decoded: OnceLock<pb::ChangeEvent>,
    /// The event as each watch selection sends it, encoded once per
    /// selection by the first watch that sends it.
    encodings: Encodings,
}

impl PartialEq for Event {
    fn eq(&self, other: &Self) -> bool {
        self.revision == other.revision && self.encoded == other.encoded
    }
}

/// Selections an event keeps the encoding of: beyond these, a watch
/// encodes for itself (the live buffer's `resident` does not count them).
const ENCODINGS: usize = 16;

/// An event's encodings, one per selection (compared by value: equal
/// selections of different watches share one).
#[derive(Default)]
struct Encodings(Mutex<Vec<(Arc<Selection>, Slot)>>);

/// One selection's encoding, once the first watch has made it.
type Slot = Arc<OnceCell<Bytes>>;

impl Encodings {
    /// The slot for `selection`, made if there is room.
    fn slot(&self, selection: &Arc<Selection>) -> Option<Slot> {
        let mut slots = self.0.lock().expect("encodings");
        if let Some((_, slot)) = slots
            .iter()
            .find(|(s, _)| Arc::ptr_eq(s, selection) || **s == **selection)
        {
            return Some(Arc::clone(slot));
        }
        if slots.len() == ENCODINGS {
            return None;
        }
        let slot = Arc::new(OnceCell::new());
        slots.push((Arc::clone(selection), Arc::clone(&slot)));
        Some(slot)
    }
}

impl std::fmt::Debug for Encodings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encodings")
    }
}

/// What a decoded event holds on the heap, estimated from its parts:
/// every struct, vector and string, each string rounded up to the
/// allocator's 16-byte granule. The writer counts the same as it encodes
/// (`writer::event`) without decoding anything.
#[derive(Debug, Default, Clone, Copy)]
pub struct Resident(pub usize);

impl Resident {
    /// A string of `len` bytes.
    pub fn text(&mut self, len: usize) {
        self.0 += std::mem::size_of::<String>() + len.next_multiple_of(16);
    }

    /// A changed cell, before its strings.
    pub fn cell(&mut self) {
        self.0 += std::mem::size_of::<pb::CellChange>();
    }

    /// The event's edits and results (a few per event: a rough figure).
    pub fn edits(&mut self, edits: &[pb::CellEdit], results: usize) {
        self.0 += edits.iter().map(|e| 2 * e.encoded_len()).sum::<usize>() + results * 64;
    }

    /// All of a decoded event, and the event itself with its encoding.
    fn of(change: &pb::ChangeEvent, encoded: usize) -> usize {
        let mut r = Resident::default();
        for s in [&change.actor, &change.request_id, &change.session_id] {
            r.text(s.len());
        }
        for c in change.changes.iter().flat_map(|sheet| &sheet.cells) {
            r.cell();
            for s in c
                .row_path
                .iter()
                .chain([&c.column, &c.measure, &c.value, &c.previous_value])
            {
                r.text(s.len());
            }
        }
        r.edits(&change.edits, change.results.len());
        r.total(encoded)
    }

    /// With the event itself and its encoding of `encoded` bytes.
    pub fn total(self, encoded: usize) -> usize {
        self.0 + std::mem::size_of::<Event>() + encoded
    }
}

/// Events are shared by every subscriber, never copied per subscriber.
pub type EventRef = Arc<Event>;

impl Event {
    /// An event from its fields (encoded here).
    pub fn new(revision: i64, change: pb::ChangeEvent) -> EventRef {
        Event::with_fields(revision, Bytes::from(change.encode_to_vec()), change)
    }

    /// An event whose fields are already decoded from `encoded`.
    fn with_fields(revision: i64, encoded: Bytes, change: pb::ChangeEvent) -> EventRef {
        Arc::new(Event {
            revision,
            size: encoded.len(),
            resident: Resident::of(&change, encoded.len()),
            encoded,
            decoded: OnceLock::from(change),
            encodings: Encodings::default(),
        })
    }

    /// An event the writer encoded (`writer::event`), with what it will
    /// hold once decoded. The bytes must be a `ChangeEvent` of `revision`.
    pub fn encoded_by_writer(revision: i64, encoded: Bytes, resident: Resident) -> EventRef {
        Arc::new(Event {
            revision,
            size: encoded.len(),
            resident: resident.total(encoded.len()),
            encoded,
            decoded: OnceLock::new(),
            encodings: Encodings::default(),
        })
    }

    /// The event's fields, decoded on first use.
    pub fn change(&self) -> &pb::ChangeEvent {
        self.decoded.get_or_init(|| {
            pb::ChangeEvent::decode(&self.encoded[..])
                .expect("events are decoded when read in, or encoded by the writer")
        })
    }

    /// The `ChangeEvent`, encoded.
    pub fn bytes(&self) -> &Bytes {
        &self.encoded
    }

    /// The `WatchUpdatesResponse` a watch with `selection` sends for this
    /// event, encoded: the first watch with a selection encodes it, every
    /// other sends the same bytes. (Watches waiting for another's encoding
    /// yield; they do not block a worker thread.)
    pub async fn encoded(&self, selection: &Arc<Selection>) -> Bytes {
        match self.encodings.slot(selection) {
            Some(slot) => slot
                .get_or_init(|| async { selection.encode(self) })
                .await
                .clone(),
            None => selection.encode(self),
        }
    }

    /// Reads an encoded `ChangeEvent` in (a changelog row, a stream entry),
    /// checking it decodes as `revision`'s.
    pub fn decode(revision: i64, bytes: &[u8]) -> Result<EventRef> {
        let change = pb::ChangeEvent::decode(bytes)
            .map_err(|e| Error::Internal(format!("revision {revision} is corrupt: {e}")))?;
        if change.revision != revision {
            return Err(Error::Internal(format!(
                "revision {revision} holds the event of revision {}",
                change.revision
            )));
        }
        Ok(Event::with_fields(
            revision,
            Bytes::copy_from_slice(bytes),
            change,
        ))
    }
}

/// A source of committed events: live, and from history.
pub trait Feed: Send + Sync + 'static {
    /// Hands a committed event over. Called by the writer in revision order
    /// right after each commit; never blocks. (Edge processes never call it.)
    /// Implementations raise the head first: should anything after fail,
    /// watchers still learn of the revision and read it from history.
    fn publish(&self, event: EventRef);

    /// The newest events, shared by every watcher of this process. It is
    /// bounded: a watcher whose next revision is not there reads it from
    /// [`Feed::history`].
    fn live(&self) -> &Live;

    /// Up to `limit` events from revision `from` on, in order. Fails with
    /// `OutOfRange` when `from` is no longer retained anywhere.
    fn history(&self, from: i64, limit: usize) -> BoxFuture<'_, Result<Vec<EventRef>>>;

    /// The oldest revision history still has (head + 1 when it has none).
    fn oldest(&self) -> BoxFuture<'_, Result<i64>>;

    /// The newest revision this process knows of.
    fn head(&self) -> i64;

    /// The identity of the database whose revisions these are (the
    /// writer's process; an edge learns it from the writer).
    fn database_id(&self) -> Option<&str>;

    /// The newest committed revision, asking the writer when this process
    /// may be behind (edges). The default is [`Feed::head`].
    fn current_head(&self) -> BoxFuture<'_, Result<i64>> {
        futures::future::ready(Ok(self.head())).boxed()
    }

    /// Publishes what is still pending, within a short deadline, and stops
    /// (at shutdown, after the writer stopped). The default does nothing.
    fn close(&self) -> BoxFuture<'_, ()> {
        futures::future::ready(()).boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_decoded_event_is_weighed_by_what_it_holds_not_its_encoding() {
        let cells = (0..1000)
            .map(|i| pb::CellChange {
                row_path: vec!["North".into(), format!("Province {i}")],
                column: "2024-01".into(),
                measure: "net_amount".into(),
                value: "12.50".into(),
                previous_value: "10.00".into(),
            })
            .collect();
        let event = Event::new(
            1,
            pb::ChangeEvent {
                revision: 1,
                changes: vec![pb::SheetChanges {
                    sheet: "sheets/s".into(),
                    cells,
                }],
                ..Default::default()
            },
        );
        // Each cell is five allocations and their headers: several times
        // its ~45 encoded bytes.
        assert!(
            event.resident > 4 * event.size,
            "{} resident for {} encoded",
            event.resident,
            event.size
        );
    }

    #[tokio::test]
    async fn watches_with_equal_selections_send_the_same_bytes() {
        let event = Event::new(
            3,
            pb::ChangeEvent {
                revision: 3,
                actor: "ana".into(),
                ..Default::default()
            },
        );
        let everything = Arc::new(Selection::default());
        let first = event.encoded(&everything).await;
        // Another watch's selection, equal but its own.
        let again = event.encoded(&Arc::new(Selection::default())).await;
        assert_eq!(first.as_ptr(), again.as_ptr(), "encoded once, shared");
        // Past the slots, each watch encodes for itself: same bytes still.
        for i in 0..ENCODINGS {
            let other = Arc::new(Selection {
                sheet: Some(format!("sheets/{i}")),
                ..Default::default()
            });
            event.encoded(&other).await;
        }
        let own = Arc::new(Selection {
            sheet: Some("sheets/own".into()),
            ..Default::default()
        });
        assert_eq!(event.encoded(&own).await, own.encode(&event));
    }
}
