//! Waiting for the cluster: pure predicates over decoded rows, and one poll
//! loop that asks, judges and logs every round to the sub-task's log.
//!
//! Each predicate answers `Ok(())` when the wait is over, or `Err(why not)`
//! with what the last round saw, which is what the log and the final
//! timeout error say.

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use chrono::NaiveDateTime;
use obup_ob_sql::{ServerRow, ZoneRow, ZoneStatus};

use crate::tasks::TaskIo;
use crate::{Error, Result};

/// How often to ask and how many times. The limits are obshell's (zones
/// 60 x 5 s, restart 60 x 5 s, freeze 120 x 10 s); how often obup asks
/// within them is its own (`DriverConfig::default`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitPolicy {
    pub interval: Duration,
    pub rounds: u32,
}

impl WaitPolicy {
    pub const fn new(interval_ms: u64, rounds: u32) -> Self {
        Self {
            interval: Duration::from_millis(interval_ms),
            rounds,
        }
    }

    /// Asks every `interval_ms` for as long as `limit_secs` allows.
    pub const fn within(interval_ms: u64, limit_secs: u64) -> Self {
        let interval_ms = if interval_ms == 0 { 1 } else { interval_ms };
        Self::new(interval_ms, (limit_secs * 1000 / interval_ms) as u32)
    }
}

/// A round that saw the same as the last logged one is logged again only
/// after this long: polls are frequent (the cluster's change is seen
/// within an interval), the sub-task log keeps obshell's cadence.
pub const QUIET_LOG: Duration = Duration::from_secs(5);

/// Asks `probe` until `done` accepts its answer, at most `policy.rounds`
/// times. A round that is not done yet is logged when what it saw differs
/// from the last logged round, or [`QUIET_LOG`] after it. A probe error
/// counts as "not yet" when `errors_wait` (obshell ignores errors in some
/// waits: a server restarting may refuse connections) and ends the wait
/// otherwise.
pub async fn poll<T, F, Fut>(
    what: &str,
    policy: WaitPolicy,
    errors_wait: bool,
    log: &dyn TaskIo,
    mut probe: F,
    done: impl Fn(&T) -> std::result::Result<(), String>,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let started = Instant::now();
    let mut last = String::new();
    let mut logged: Option<(String, Instant)> = None;
    for round in 1..=policy.rounds.max(1) {
        match probe().await {
            Ok(answer) => match done(&answer) {
                Ok(()) => {
                    if round > 1 {
                        log.line(format!(
                            "{what}: done after {round} rounds ({:.1} s)",
                            started.elapsed().as_secs_f64()
                        ))
                        .await;
                    }
                    return Ok(answer);
                }
                Err(why) => last = why,
            },
            Err(e) if errors_wait => last = format!("asking failed: {e}"),
            Err(e) => return Err(e),
        }
        let quiet = logged
            .as_ref()
            .is_some_and(|(seen, at)| *seen == last && at.elapsed() < QUIET_LOG);
        if !quiet {
            log.line(format!(
                "waiting for {what} ({round}/{}): {last}",
                policy.rounds
            ))
            .await;
            logged = Some((last.clone(), Instant::now()));
        }
        tokio::time::sleep(policy.interval).await;
    }
    Err(Error::WaitTimedOut {
        what: what.to_owned(),
        last,
    })
}

// ---- predicates ----

/// The zone has `status` (obshell's stop and start waits).
pub fn zone_is(
    zones: &[ZoneRow],
    zone: &str,
    status: &ZoneStatus,
) -> std::result::Result<(), String> {
    match zones.iter().find(|z| z.zone == zone) {
        Some(z) if &z.status == status => Ok(()),
        Some(z) => Err(format!("{zone} is {}", z.status)),
        None => Err(format!("{zone} is not in DBA_OB_ZONES")),
    }
}

/// What a restarted server showed before it was stopped.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct BeforeRestart {
    /// `svr_ip:svr_port`.
    pub server: String,
    pub start_service_time: Option<NaiveDateTime>,
}

/// Every server is up (obshell's check: ACTIVE, not stopped, serving), and
/// each restarted one is the new process: it reports `target` (obup's
/// `<version>-<build>`) and a `START_SERVICE_TIME` later than before it was
/// stopped. Right after a kill the view still shows the old process ACTIVE
/// until the root service notices (real-driver.md §1.4); obshell's check
/// passes in that window, this one does not.
pub fn servers_back(
    servers: &[ServerRow],
    restarted: &[BeforeRestart],
    target: &str,
) -> std::result::Result<(), String> {
    let by_addr: HashMap<String, &ServerRow> = servers
        .iter()
        .map(|s| (format!("{}:{}", s.svr_ip, s.svr_port), s))
        .collect();
    for s in servers {
        if !s.serving() {
            return Err(format!(
                "{}:{} is {:?}, stop time {:?}, start service time {:?}",
                s.svr_ip, s.svr_port, s.status, s.stop_time, s.start_service_time
            ));
        }
    }
    for r in restarted {
        let Some(s) = by_addr.get(&r.server) else {
            return Err(format!("{} is not in DBA_OB_SERVERS", r.server));
        };
        let build = s.version_build().unwrap_or_else(|| s.build_version.clone());
        if build != target && !build.starts_with(&format!("{target}-")) {
            return Err(format!("{} still reports {build}, not {target}", r.server));
        }
        let newer = match (s.start_service_time, r.start_service_time) {
            (Some(now), Some(before)) => now > before,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if !newer {
            return Err(format!(
                "{} shows the service start of the process before the restart ({:?})",
                r.server, s.start_service_time
            ));
        }
    }
    Ok(())
}

/// obshell's restart predicate alone: every server ACTIVE, not stopped and
/// serving. Kept to show, in a test, that it passes in the restart race.
pub fn servers_serving(servers: &[ServerRow]) -> std::result::Result<(), String> {
    servers_back(servers, &[], "")
}

/// No log stream is out of sync.
pub fn logs_in_sync(unsynced: &i64) -> std::result::Result<(), String> {
    if *unsynced == 0 {
        Ok(())
    } else {
        Err(format!("{unsynced} log streams have in_sync = 'NO'"))
    }
}

/// Every frozen server's smallest checkpoint moved past its baseline (0:
/// the server has no log stream, done).
pub fn freeze_done(
    baseline: &HashMap<String, u64>,
    now: &HashMap<String, u64>,
) -> std::result::Result<(), String> {
    for (server, before) in baseline {
        let after = now.get(server).copied().unwrap_or(0);
        if *before != 0 && after <= *before {
            return Err(format!("{server}: checkpoint {after} not past {before}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
