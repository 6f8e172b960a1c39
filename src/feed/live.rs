//! The live buffer: the most recent events of a process, shared by all of
//! its watchers.
//!
//! One buffer per process holds the newest events, bounded both in count
//! (`--feed-buffer`) and in the memory the decoded events hold
//! (`--feed-buffer-bytes`): a single event
//! can be megabytes (a write to a grand total changes every cell), so a
//! count alone would let a few large events pin gigabytes. Watchers never
//! get copies: they look events up by revision and hold `Arc`s. A watcher
//! whose next revision has left the buffer (or never reached it: a gap)
//! is *behind* and reads it from history instead — that is what keeps a
//! slow watcher from pinning memory or slowing anyone else.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;

use super::EventRef;

/// What the buffer holds for a revision.
#[derive(Debug, Clone, PartialEq)]
pub enum Lookup {
    /// The event of that revision.
    Ready(EventRef),
    /// The revision is older than anything buffered, or missing from it:
    /// read it from history.
    Behind,
    /// Nothing that new has arrived yet.
    Pending,
}

/// The newest events, bounded in count and bytes.
pub struct Live {
    ring: Mutex<Ring>,
    /// The newest revision pushed; watchers wait on it for news.
    newest: watch::Sender<i64>,
}

struct Ring {
    events: VecDeque<EventRef>,
    bytes: usize,
    max_events: usize,
    max_bytes: usize,
}

impl Live {
    /// A buffer keeping at most `max_events` events and, beyond the newest
    /// one, at most `max_bytes` of them.
    pub fn new(max_events: usize, max_bytes: usize) -> Arc<Self> {
        Arc::new(Self {
            ring: Mutex::new(Ring {
                events: VecDeque::new(),
                bytes: 0,
                max_events: max_events.max(1),
                max_bytes,
            }),
            newest: watch::channel(0).0,
        })
    }

    /// Adds an event (revisions must increase); the oldest go when the
    /// buffer is over either bound. The newest event is always kept.
    pub fn push(&self, event: EventRef) {
        let revision = event.revision;
        {
            let mut ring = self.ring.lock().expect("live buffer lock");
            if ring.events.back().is_some_and(|e| e.revision >= revision) {
                return; // Already here (a republished revision).
            }
            ring.bytes += event.resident;
            ring.events.push_back(event);
            while ring.events.len() > 1
                && (ring.events.len() > ring.max_events || ring.bytes > ring.max_bytes)
            {
                let old = ring.events.pop_front().expect("non-empty");
                ring.bytes -= old.resident;
            }
        }
        self.newest.send_replace(revision);
    }

    /// The event of `revision`, if buffered.
    pub fn get(&self, revision: i64) -> Lookup {
        let ring = self.ring.lock().expect("live buffer lock");
        let Some(newest) = ring.events.back() else {
            return Lookup::Pending;
        };
        if revision > newest.revision {
            return Lookup::Pending;
        }
        // Revisions increase but may have gaps (a stream the relay
        // republished after Redis lost data): search, don't index.
        match ring.events.binary_search_by_key(&revision, |e| e.revision) {
            Ok(i) => Lookup::Ready(Arc::clone(&ring.events[i])),
            Err(_) => Lookup::Behind,
        }
    }

    /// A handle that wakes when newer events arrive.
    pub fn subscribe(&self) -> watch::Receiver<i64> {
        self.newest.subscribe()
    }

    /// How many events and bytes are buffered.
    pub fn usage(&self) -> (usize, usize) {
        let ring = self.ring.lock().expect("live buffer lock");
        (ring.events.len(), ring.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::feed::Event;
    use crate::proto::v1 as pb;

    fn event(revision: i64, actor_bytes: usize) -> EventRef {
        Event::new(
            revision,
            pb::ChangeEvent {
                revision,
                actor: "a".repeat(actor_bytes),
                ..Default::default()
            },
        )
    }

    #[test]
    fn lookups_by_revision_see_gaps_and_what_fell_out() {
        let live = Live::new(3, usize::MAX);
        assert_eq!(live.get(1), Lookup::Pending);
        for r in [1, 2, 3, 5] {
            live.push(event(r, 10));
        }
        assert_eq!(live.get(1), Lookup::Behind, "only 3 are kept");
        assert!(matches!(live.get(2), Lookup::Ready(e) if e.revision == 2));
        assert_eq!(live.get(4), Lookup::Behind, "a gap");
        assert!(matches!(live.get(5), Lookup::Ready(_)));
        assert_eq!(live.get(6), Lookup::Pending);
    }

    #[test]
    fn bytes_bound_the_buffer_but_the_newest_event_stays() {
        let each = event(0, 1_000).resident;
        assert!(each > 1_000, "what the event holds counts, {each}");
        let live = Live::new(1000, 2 * each + each / 2);
        for r in 1..=10 {
            live.push(event(r, 1_000));
        }
        let (events, bytes) = live.usage();
        assert_eq!(events, 2);
        assert!(bytes <= 2 * each + each / 2);
        let huge = Live::new(1000, 10);
        huge.push(event(1, 1_000));
        assert!(matches!(huge.get(1), Lookup::Ready(_)));
    }
}
