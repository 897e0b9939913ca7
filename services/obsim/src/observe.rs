//! Observing the observers, not owning them: every `poll`, each home's pid
//! file and `/proc/<pid>` say whether its observer lives; a new pid's
//! binary is asked `-V` once. What is seen goes to the core as
//! `Op::Observe`; the state decides what it means (lease, start service).

use std::sync::Arc;

use tokio::sync::watch;

use crate::engine::Core;
use crate::hosts::{live_pid, read_build};
use crate::state::{Op, Seen};

/// Looks at every home once; returns whether anything changed.
pub async fn look_once(core: &Core) -> bool {
    let servers = core.cluster().servers;
    let mut changed = false;
    for s in servers {
        let home = s.home.clone();
        // A few small reads under /proc: cheap enough to do inline.
        let pid = live_pid(&home);
        let seen = match pid {
            Some(pid) if s.pid() == Some(pid) => continue,
            Some(pid) => {
                let build = tokio::task::spawn_blocking(move || read_build(&home))
                    .await
                    .ok()
                    .and_then(|r| {
                        r.map_err(
                            |e| tracing::warn!(server = s.id, error = %e, "observer -V failed"),
                        )
                        .ok()
                    });
                tracing::info!(server = s.id, pid, build = ?build.as_ref().map(|b| &b.build_version), "observer appeared");
                Seen::Alive { pid, build }
            }
            None if s.alive() => {
                tracing::info!(server = s.id, "observer gone");
                Seen::Dead
            }
            None => continue,
        };
        changed |= core
            .apply(Op::Observe { server: s.id, seen })
            .unwrap_or(false);
    }
    changed
}

/// Looks every `config.poll` until shutdown.
pub async fn run(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    let mut every = tokio::time::interval(core.config.poll);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = every.tick() => { look_once(&core).await; }
            _ = crate::sim::stopped(&mut shutdown) => return,
        }
    }
}
