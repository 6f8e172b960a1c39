//! Decoded past events, shared between the watchers reading them at once.
//!
//! Watchers catching up read history page by page; when many do it at the
//! same time (a reconnect storm after a restart), each would otherwise hold
//! its own decoded copy of the same, possibly large, events. The cache maps
//! a revision to the event as long as anyone still holds it (weak
//! references: it never keeps an event alive itself).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};

use super::{Event, EventRef};
use crate::error::Result;
use crate::proto::v1 as pb;

/// Entries beyond which dead ones are swept.
const SWEEP_AT: usize = 4096;

#[derive(Default)]
pub struct EventCache {
    events: Mutex<HashMap<i64, Weak<Event>>>,
}

impl EventCache {
    /// The event of `revision`, decoded from `bytes` unless someone holds it.
    pub fn decode(&self, revision: i64, bytes: &[u8]) -> Result<EventRef> {
        if let Some(event) = self.get(revision) {
            return Ok(event);
        }
        Ok(self.keep(Event::decode(revision, bytes)?))
    }

    /// The shared event of `change`'s revision (this one, if none is held).
    pub fn share(&self, change: pb::ChangeEvent) -> EventRef {
        match self.get(change.revision) {
            Some(event) => event,
            None => self.keep(Event::new(change.revision, change)),
        }
    }

    fn get(&self, revision: i64) -> Option<EventRef> {
        self.events
            .lock()
            .expect("event cache")
            .get(&revision)
            .and_then(Weak::upgrade)
    }

    fn keep(&self, event: EventRef) -> EventRef {
        let mut events = self.events.lock().expect("event cache");
        if events.len() >= SWEEP_AT {
            events.retain(|_, e| e.strong_count() > 0);
        }
        events.insert(event.revision, Arc::downgrade(&event));
        event
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;

    #[test]
    fn an_event_held_by_one_reader_is_shared_and_forgotten_when_nobody_holds_it() {
        let cache = EventCache::default();
        let bytes = pb::ChangeEvent {
            revision: 7,
            actor: "a".into(),
            ..Default::default()
        }
        .encode_to_vec();
        let first = cache.decode(7, &bytes).unwrap();
        let second = cache.decode(7, &bytes).unwrap();
        assert!(Arc::ptr_eq(&first, &second));
        drop((first, second));
        assert!(cache.get(7).is_none());
    }
}
