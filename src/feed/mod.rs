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

use std::sync::{Arc, Mutex};

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

/// One committed revision.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub revision: i64,
    pub change: pb::ChangeEvent,
    /// The event's encoded size in bytes: what a watch's send budget and
    /// history pages are bounded by (what goes over the wire).
    pub size: usize,
    /// About what the decoded event occupies in memory: what the live
    /// buffer is bounded by. Decoded cells are several times their encoded
    /// size (every name is its own allocation), so bounding memory by the
    /// encoded size would let the buffer hold many times its limit.
    pub resident: usize,
    /// The event as each watch selection sends it, encoded once per
    /// selection by the first watch that sends it.
    encodings: Encodings,
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

// A cache: not part of what the event is.
impl Clone for Encodings {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for Encodings {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl std::fmt::Debug for Encodings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Encodings")
    }
}

/// An estimate of the heap a decoded event holds: every struct, vector and
/// string, each string rounded up to the allocator's 16-byte granule.
fn resident_size(change: &pb::ChangeEvent) -> usize {
    use std::mem::size_of;
    fn text(s: &String) -> usize {
        size_of::<String>() + s.capacity().next_multiple_of(16)
    }
    let cells: usize = change
        .changes
        .iter()
        .flat_map(|sheet| &sheet.cells)
        .map(|c| {
            size_of::<pb::CellChange>()
                + c.row_path.iter().map(text).sum::<usize>()
                + text(&c.column)
                + text(&c.measure)
                + text(&c.value)
                + text(&c.previous_value)
        })
        .sum();
    // Edits and results are a few per event: a rough figure will do.
    size_of::<Event>()
        + text(&change.actor)
        + text(&change.request_id)
        + text(&change.session_id)
        + cells
        + change
            .edits
            .iter()
            .map(|e| 2 * e.encoded_len())
            .sum::<usize>()
        + change.results.len() * 64
}

/// Events are shared by every subscriber, never copied per subscriber.
pub type EventRef = Arc<Event>;

impl Event {
    pub fn new(revision: i64, change: pb::ChangeEvent) -> EventRef {
        let size = change.encoded_len();
        let resident = resident_size(&change);
        Arc::new(Event {
            revision,
            change,
            size,
            resident,
            encodings: Encodings::default(),
        })
    }

    /// The `WatchUpdatesResponse` a watch with `selection` sends for this
    /// event, encoded: the first watch with a selection encodes it, every
    /// other sends the same bytes. (Watches waiting for another's encoding
    /// yield; they do not block a worker thread.)
    pub async fn encoded(&self, selection: &Arc<Selection>) -> Bytes {
        match self.encodings.slot(selection) {
            Some(slot) => slot
                .get_or_init(|| async { selection.encode(&self.change) })
                .await
                .clone(),
            None => selection.encode(&self.change),
        }
    }

    /// Decodes an encoded `ChangeEvent` (a changelog row, a stream entry).
    pub fn decode(revision: i64, bytes: &[u8]) -> Result<EventRef> {
        let change = pb::ChangeEvent::decode(bytes)
            .map_err(|e| Error::Internal(format!("revision {revision} is corrupt: {e}")))?;
        if change.revision != revision {
            return Err(Error::Internal(format!(
                "revision {revision} holds the event of revision {}",
                change.revision
            )));
        }
        Ok(Event::new(revision, change))
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
        assert_eq!(event.encoded(&own).await, own.encode(&event.change));
    }
}
