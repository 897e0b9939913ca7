//! Events committed by other orchestrators sharing this PostgreSQL
//! database, relayed into this one: each announced transaction is read back
//! once per process and published here, so that `WatchDag` subscribers of
//! this orchestrator follow a DAG another one runs, and READY work another
//! one created wakes this engine at once instead of at its next lease sweep.
//!
//! Notifications are transient: any sent while the listening connection is
//! down are lost. Watchers recover from that by themselves (a gap in
//! sequence numbers makes them re-read the database), at the next event.

use std::time::Duration;

use sqlx::postgres::PgListener;
use tokio::sync::watch;

use crate::Result;
use crate::engine::Engine;
use crate::storage::notify::{Announcement, CHANNEL};

/// Relays until `shutdown` turns true. `origin` is this process's own
/// repository, whose announcements are skipped.
pub async fn run(url: String, origin: String, engine: Engine, mut shutdown: watch::Receiver<bool>) {
    let mut pause = Duration::from_millis(200);
    loop {
        tokio::select! {
            r = listen(&url, &origin, &engine) => {
                if let Err(e) = r {
                    tracing::warn!(error = %e, "relay of other orchestrators' events stopped; reconnecting");
                }
            }
            _ = shutdown.changed() => return,
        }
        tokio::select! {
            () = tokio::time::sleep(pause) => pause = (pause * 2).min(Duration::from_secs(5)),
            _ = shutdown.changed() => return,
        }
    }
}

async fn listen(url: &str, origin: &str, engine: &Engine) -> Result<()> {
    let mut listener = PgListener::connect(url).await?;
    listener.listen(CHANNEL).await?;
    loop {
        // Reconnects by itself after a dropped connection.
        let notification = listener.recv().await?;
        let note: Announcement = match notification.payload().parse() {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring a malformed notification");
                continue;
            }
        };
        if note.origin == origin {
            continue;
        }
        let count = note.last_seq - note.first_seq + 1;
        let events = engine
            .repo()
            .events_after(note.dag_id, note.first_seq - 1, count)
            .await?;
        engine.publish_events(&events);
    }
}
