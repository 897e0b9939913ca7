//! Fan-out of DAG events to watchers in this process.
//!
//! Events are durable in the database first; the hub only carries them to
//! watchers quickly. A watcher that falls behind (the channel lagged) or
//! sees a gap re-reads the missing events from the database, so delivery
//! is complete and in order either way.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::storage::Event;

/// Events buffered per watcher before it counts as lagging.
const CAPACITY: usize = 4096;

/// Cheap to clone; every clone publishes to the same watchers.
#[derive(Debug, Clone)]
pub struct EventHub {
    tx: broadcast::Sender<Arc<Event>>,
}

impl Default for EventHub {
    fn default() -> Self {
        Self {
            tx: broadcast::channel(CAPACITY).0,
        }
    }
}

impl EventHub {
    /// Publishes committed events.
    pub fn publish(&self, events: &[Event]) {
        for e in events {
            // No watcher is not an error.
            let _ = self.tx.send(Arc::new(e.clone()));
        }
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Event>> {
        self.tx.subscribe()
    }
}
