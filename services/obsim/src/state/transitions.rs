//! Every change the cluster can make, in one place: [`Cluster::apply`]
//! takes an [`Op`] and the time, changes the state, fires the timers that
//! are due and checks the invariant. Pure: no I/O, no clock of its own.
//!
//! ```text
//! process dies ───► log rows vanish; STATUS stays ACTIVE ──lease_ms──► INACTIVE
//! process appears ► ACTIVE, START_SERVICE_TIME NULL ──start_ms──► serving, in_sync NO ──catchup_ms──► YES
//! STOP ZONE ──(guard)──► admin Stopped ──zone_ms──► INACTIVE      START ZONE ► Running ──zone_ms──► ACTIVE
//! ALTER SYSTEM SET ──param_ms──► values on the targets
//! begin upgrade / begin rolling / end rolling / end upgrade ► parameter sets (param_ms)
//! RUN UPGRADE JOB ► INPROGRESS ──job_ms──► SUCCESS (UPGRADE_ALL moves every tenant's data version)
//! MINOR FREEZE ──freeze_ms──► checkpoint_scn raised
//! ```
//!
//! A frozen [`Transition`] holds its timers until it is thawed.

use super::model::*;
use super::params::{self, ParamScope};

/// Delays of the transitions, in milliseconds. OceanBase's real reaction
/// times were not observed (real-driver.md §6.1): these are parameters,
/// `0` everywhere for fast tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Timing {
    /// A dead server stays ACTIVE this long (real OceanBase: ~10 s
    /// [inferred]).
    pub lease_ms: i64,
    /// From a new process to `START_SERVICE_TIME` and an open SQL port.
    pub start_service_ms: i64,
    /// From service start to `in_sync = 'YES'`.
    pub catchup_ms: i64,
    /// From `STOP|START ZONE` to the zone's new status.
    pub zone_ms: i64,
    /// From `RUN UPGRADE JOB` to the job's end.
    pub job_ms: i64,
    /// From `ALTER SYSTEM SET` to the value on every target.
    pub param_ms: i64,
    /// From `MINOR FREEZE` to the raised checkpoint.
    pub freeze_ms: i64,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lease_ms: 1000,
            start_service_ms: 200,
            catchup_ms: 200,
            zone_ms: 100,
            job_ms: 200,
            param_ms: 0,
            freeze_ms: 100,
        }
    }
}

impl Timing {
    /// Everything at once.
    pub fn instant() -> Self {
        Self {
            lease_ms: 0,
            start_service_ms: 0,
            catchup_ms: 0,
            zone_ms: 0,
            job_ms: 0,
            param_ms: 0,
            freeze_ms: 0,
        }
    }
}

/// What obsim saw of a server's process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seen {
    /// The pid file names a live process in the home; `build` is what its
    /// binary's `-V` says (run once per new pid; `None` if it failed).
    Alive {
        pid: i32,
        build: Option<Build>,
    },
    Dead,
}

/// Where `ALTER SYSTEM SET` applies, as the statement says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetScope {
    Default,
    /// `SERVER [=] 'ip:port'`.
    Server(String),
    /// `TENANT [=] name|'sys'|'all_user'|'all_meta'|'all'`.
    Tenant(String),
}

/// One change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Only let time pass.
    Tick,
    Observe {
        server: i64,
        seen: Seen,
    },
    StopZone(String),
    StartZone(String),
    SetParam {
        name: String,
        value: String,
        scope: SetScope,
    },
    BeginUpgrade,
    BeginRollingUpgrade,
    EndRollingUpgrade,
    EndUpgrade,
    RunUpgradeJob(String),
    RunRootInspection,
    /// `ip:port` of each server.
    MinorFreezeServers(Vec<String>),
    MinorFreezeAll,
    MajorFreeze,
    MergeControl {
        suspend: bool,
    },
    Freeze(Transition),
    Thaw(Transition),
    SetCounters(Counters),
    /// A major compaction that runs until cleared (`true`), or none.
    SetMajorCompaction(bool),
    SetTenantStatus {
        tenant: String,
        status: String,
    },
}

/// Why a statement was refused. The SQL layer chooses the error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("zone '{0}' not exist")]
    UnknownZone(String),
    #[error("server '{0}' not exist")]
    UnknownServer(String),
    #[error("tenant '{0}' not exist")]
    UnknownTenant(String),
    #[error("System config unknown")]
    UnknownParameter(String),
    /// A value the parameter's type refuses (the name is kept for logs).
    #[error("Invalid config")]
    InvalidValue(String),
    #[error("{0}")]
    StopZone(String),
    #[error("{0}")]
    EndRollingUpgrade(String),
    #[error("unknown upgrade job '{0}'")]
    UnknownJob(String),
}

/// Job types `RUN UPGRADE JOB` accepts: the upgrade jobs of
/// `DBA_OB_TENANT_JOBS` (OceanBase's view definition).
pub const UPGRADE_JOBS: &[&str] = &[
    "UPGRADE_BEGIN",
    "UPGRADE_SYSTEM_VARIABLE",
    "UPGRADE_SYSTEM_TABLE",
    "UPGRADE_VIRTUAL_SCHEMA",
    "UPGRADE_SYSTEM_PACKAGE",
    "UPGRADE_POST_ACTION",
    "UPGRADE_ALL_POST_ACTION",
    "UPGRADE_INSPECTION",
    "UPGRADE_END",
    "UPGRADE_ALL",
];

impl Cluster {
    /// Applies `op` at `now`, then fires due timers and checks the
    /// invariant. Returns whether anything changed.
    pub fn apply(&mut self, op: Op, now: Ms, t: &Timing) -> Result<bool, Refusal> {
        let before = self.clone();
        self.dispatch(op, now, t)?;
        self.tick(now, t);
        self.bootstrap_check();
        let changed = *self != before;
        if changed {
            self.check_invariant(now);
        }
        Ok(changed)
    }

    fn dispatch(&mut self, op: Op, now: Ms, t: &Timing) -> Result<(), Refusal> {
        match op {
            Op::Tick => {}
            Op::Observe { server, seen } => self.observe(server, seen, now, t),
            Op::StopZone(z) => self.stop_zone(&z, now, t)?,
            Op::StartZone(z) => self.start_zone(&z, now, t)?,
            Op::SetParam { name, value, scope } => self.set_param(&name, &value, &scope, now, t)?,
            Op::BeginUpgrade => {
                self.set_param("enable_upgrade_mode", "True", &SetScope::Default, now, t)?
            }
            Op::BeginRollingUpgrade => {
                self.set_param("_upgrade_stage", "DBUPGRADE", &SetScope::Default, now, t)?
            }
            Op::EndRollingUpgrade => self.end_rolling_upgrade(now, t)?,
            Op::EndUpgrade => {
                self.set_param("enable_upgrade_mode", "False", &SetScope::Default, now, t)?;
                self.set_param("_upgrade_stage", "NONE", &SetScope::Default, now, t)?;
            }
            Op::RunUpgradeJob(job) => self.run_upgrade_job(&job, now, t)?,
            Op::RunRootInspection => {
                self.inspection = Inspection::Running;
                self.schedule(now + t.job_ms, TimerKind::Inspection);
            }
            Op::MinorFreezeServers(addrs) => {
                let mut ids = Vec::new();
                for a in &addrs {
                    let s = self.servers.iter().find(|s| s.addr() == *a);
                    ids.push(s.ok_or_else(|| Refusal::UnknownServer(a.clone()))?.id);
                }
                self.minor_freeze(&ids, now, t);
            }
            Op::MinorFreezeAll => {
                let ids: Vec<i64> = self.servers.iter().map(|s| s.id).collect();
                self.minor_freeze(&ids, now, t);
            }
            Op::MajorFreeze => {
                self.counters.major_freezes += 1;
                if self.major_compaction == MajorCompaction::Idle {
                    self.major_compaction = MajorCompaction::Compacting {
                        until_ms: Some(now + t.freeze_ms),
                    };
                    self.schedule(now + t.freeze_ms, TimerKind::MajorCompactionDone);
                }
            }
            Op::MergeControl { suspend } => self.counters.merge_suspended = suspend,
            Op::Freeze(tr) => {
                self.frozen.insert(tr);
            }
            Op::Thaw(tr) => {
                self.frozen.remove(&tr);
            }
            Op::SetCounters(c) => self.counters = c,
            Op::SetMajorCompaction(on) => {
                self.major_compaction = if on {
                    MajorCompaction::Compacting { until_ms: None }
                } else {
                    MajorCompaction::Idle
                }
            }
            Op::SetTenantStatus { tenant, status } => {
                let tn = self
                    .tenants
                    .iter_mut()
                    .find(|x| x.name.eq_ignore_ascii_case(&tenant))
                    .ok_or_else(|| Refusal::UnknownTenant(tenant.clone()))?;
                tn.status = status;
            }
        }
        Ok(())
    }

    fn schedule(&mut self, due_ms: Ms, kind: TimerKind) {
        self.timers.push(Timer { due_ms, kind });
    }

    // ---- processes ----

    fn observe(&mut self, id: i64, seen: Seen, now: Ms, t: &Timing) {
        let Some(s) = self.server_mut(id) else {
            return;
        };
        match (seen, s.process.clone()) {
            (Seen::Alive { pid, .. }, Process::Alive { pid: old, .. }) if pid == old => {}
            (Seen::Alive { pid, build }, _) => {
                s.process = Process::Alive { pid, since_ms: now };
                s.status = ServerStatus::Active;
                s.start_service_us = None;
                s.log = LogSync::Absent;
                if let Some(b) = build {
                    s.build = b;
                }
                s.modified_ms = now;
                self.timers.retain(|x| {
                    !matches!(x.kind, TimerKind::StartService { server, .. }
                        | TimerKind::CatchUp { server, .. } if server == id)
                });
                self.schedule(
                    now + t.start_service_ms,
                    TimerKind::StartService { server: id, pid },
                );
            }
            (Seen::Dead, Process::Dead { .. }) => {}
            (Seen::Dead, Process::Alive { .. }) => {
                s.process = Process::Dead { since_ms: now };
                s.log = LogSync::Absent;
                self.schedule(
                    now + t.lease_ms,
                    TimerKind::Lease {
                        server: id,
                        since_ms: now,
                    },
                );
            }
        }
    }

    // ---- zones ----

    /// Refused while another zone is stopped (or stopping) or has a server
    /// that is down, which keeps a majority of zones up.
    fn stop_zone(&mut self, zone: &str, now: Ms, t: &Timing) -> Result<(), Refusal> {
        if self.zone(zone).is_none() {
            return Err(Refusal::UnknownZone(zone.to_owned()));
        }
        for z in self.zones.iter().filter(|z| z.name != zone) {
            if z.admin == ZoneAdmin::Stopped || z.status == ZoneStatus::Inactive {
                return Err(Refusal::StopZone(format!(
                    "stop zone '{zone}' while zone '{}' is stopped not allowed",
                    z.name
                )));
            }
        }
        let down = self
            .servers
            .iter()
            .find(|s| s.zone != zone && (!s.alive() || s.status == ServerStatus::Inactive));
        if let Some(s) = down {
            return Err(Refusal::StopZone(format!(
                "stop zone '{zone}' while server {} of zone '{}' is down not allowed",
                s.addr(),
                s.zone
            )));
        }
        self.set_zone_admin(zone, ZoneAdmin::Stopped, now, t);
        Ok(())
    }

    fn start_zone(&mut self, zone: &str, now: Ms, t: &Timing) -> Result<(), Refusal> {
        if self.zone(zone).is_none() {
            return Err(Refusal::UnknownZone(zone.to_owned()));
        }
        self.set_zone_admin(zone, ZoneAdmin::Running, now, t);
        Ok(())
    }

    fn set_zone_admin(&mut self, zone: &str, admin: ZoneAdmin, now: Ms, t: &Timing) {
        if let Some(z) = self.zones.iter_mut().find(|z| z.name == zone) {
            z.admin = admin;
        }
        let status = match admin {
            ZoneAdmin::Running => ZoneStatus::Active,
            ZoneAdmin::Stopped => ZoneStatus::Inactive,
        };
        self.schedule(
            now + t.zone_ms,
            TimerKind::ZoneStatus {
                zone: zone.to_owned(),
                status,
            },
        );
    }

    // ---- parameters ----

    fn set_param(
        &mut self,
        name: &str,
        value: &str,
        scope: &SetScope,
        now: Ms,
        t: &Timing,
    ) -> Result<(), Refusal> {
        let spec = params::spec(name).ok_or_else(|| Refusal::UnknownParameter(name.into()))?;
        if !params::accepts(spec, value) {
            return Err(Refusal::InvalidValue(name.into()));
        }
        let target = match (spec.scope, scope) {
            (ParamScope::Cluster, SetScope::Server(addr)) => {
                let s = self.servers.iter().find(|s| s.addr() == *addr);
                ParamTarget::Server(s.ok_or_else(|| Refusal::UnknownServer(addr.clone()))?.id)
            }
            // A TENANT clause on a cluster parameter is accepted and
            // applies cluster-wide [inferred].
            (ParamScope::Cluster, _) => ParamTarget::AllServers,
            (ParamScope::Tenant, SetScope::Tenant(name)) => {
                ParamTarget::Tenants(self.tenant_ids(name)?)
            }
            // Without a TENANT clause (or with OBD's `SERVER`), a tenant
            // parameter set in the sys tenant is the sys tenant's.
            (ParamScope::Tenant, _) => ParamTarget::Tenants(vec![1]),
        };
        self.set_parameters.insert(spec.name.to_owned());
        self.schedule(
            now + t.param_ms,
            TimerKind::Param {
                name: spec.name.to_owned(),
                value: value.to_owned(),
                target,
            },
        );
        Ok(())
    }

    /// The tenants `TENANT = <name>` names: `all`, `all_user`, `all_meta`
    /// or one tenant.
    fn tenant_ids(&self, name: &str) -> Result<Vec<i64>, Refusal> {
        let of_kind = |kind: &str| -> Vec<i64> {
            self.tenants
                .iter()
                .filter(|x| x.kind == kind)
                .map(|x| x.id)
                .collect()
        };
        Ok(match name.to_ascii_lowercase().as_str() {
            "all" => self.tenants.iter().map(|x| x.id).collect(),
            "all_user" => of_kind("USER"),
            "all_meta" => of_kind("META"),
            _ => vec![
                self.tenants
                    .iter()
                    .find(|x| x.name.eq_ignore_ascii_case(name))
                    .ok_or_else(|| Refusal::UnknownTenant(name.to_owned()))?
                    .id,
            ],
        })
    }

    fn apply_param(&mut self, name: &str, value: &str, target: &ParamTarget) {
        match target {
            ParamTarget::AllServers => {
                for s in &mut self.servers {
                    s.params.insert(name.into(), value.into());
                }
            }
            ParamTarget::Server(id) => {
                if let Some(s) = self.server_mut(*id) {
                    s.params.insert(name.into(), value.into());
                }
            }
            ParamTarget::Tenants(ids) => {
                for tn in self.tenants.iter_mut().filter(|x| ids.contains(&x.id)) {
                    tn.params.insert(name.into(), value.into());
                }
            }
        }
    }

    // ---- upgrade ----

    /// Refused unless every server runs the same build, at least the
    /// cluster's `min_observer_version`; then moves `min_observer_version`
    /// to that version and `_upgrade_stage` to `POSTUPGRADE`.
    fn end_rolling_upgrade(&mut self, now: Ms, t: &Timing) -> Result<(), Refusal> {
        let first = &self.servers[0].build;
        if let Some(other) = self.servers.iter().find(|s| s.build != *first) {
            return Err(Refusal::EndRollingUpgrade(format!(
                "server {} runs {}, server {} runs {}",
                self.servers[0].addr(),
                first.build_version,
                other.addr(),
                other.build.build_version
            )));
        }
        let current = self.cluster_param("min_observer_version").unwrap_or("");
        let version = first.version.clone();
        if obup_types::compare_versions(&version, current).is_lt() {
            return Err(Refusal::EndRollingUpgrade(format!(
                "servers run {version}, older than min_observer_version {current}"
            )));
        }
        self.set_param("min_observer_version", &version, &SetScope::Default, now, t)?;
        self.set_param("_upgrade_stage", "POSTUPGRADE", &SetScope::Default, now, t)
    }

    fn run_upgrade_job(&mut self, job: &str, now: Ms, t: &Timing) -> Result<(), Refusal> {
        let job_type = UPGRADE_JOBS
            .iter()
            .find(|j| j.eq_ignore_ascii_case(job))
            .ok_or_else(|| Refusal::UnknownJob(job.to_owned()))?;
        let rs = self.rootserver();
        let j = Job {
            id: self.next_job_id,
            job_type: (*job_type).to_owned(),
            status: JobStatus::InProgress,
            tenant_id: 1,
            created_ms: now,
            modified_ms: now,
            rs_ip: rs.ip,
            rs_port: rs.rpc_port,
        };
        self.next_job_id += 1;
        self.schedule(now + t.job_ms, TimerKind::Job { id: j.id });
        self.jobs.push(j);
        Ok(())
    }

    fn minor_freeze(&mut self, ids: &[i64], now: Ms, t: &Timing) {
        self.counters.minor_freezes += 1;
        let due = now + t.freeze_ms;
        let scn = u64::try_from(due).unwrap_or(0) * 1_000_000;
        for &server in ids {
            self.schedule(due, TimerKind::Checkpoint { server, scn });
        }
    }

    // ---- time ----

    /// Which frozen transition holds this timer, if any.
    fn held_by(&self, kind: &TimerKind) -> bool {
        let tr = match kind {
            TimerKind::Lease { .. } => Transition::Lease,
            TimerKind::StartService { .. } => Transition::StartService,
            TimerKind::CatchUp { .. } => Transition::LogSync,
            TimerKind::ZoneStatus {
                status: ZoneStatus::Inactive,
                ..
            } => Transition::ZoneInactive,
            TimerKind::ZoneStatus {
                status: ZoneStatus::Active,
                ..
            } => Transition::ZoneActive,
            TimerKind::Param { .. } => Transition::ParamSync,
            TimerKind::Job { .. } | TimerKind::Inspection => Transition::JobInProgress,
            TimerKind::Checkpoint { .. } => Transition::Checkpoint,
            TimerKind::MajorCompactionDone => return false,
        };
        self.frozen.contains(&tr)
    }

    /// When the next timer that is not held is due.
    pub fn next_due(&self) -> Option<Ms> {
        self.timers
            .iter()
            .filter(|x| !self.held_by(&x.kind))
            .map(|x| x.due_ms)
            .min()
    }

    /// Fires every timer due by `now`, earliest first; each fires at its
    /// own due time, so chains (start service, then catch-up) land where
    /// their delays put them.
    fn tick(&mut self, now: Ms, t: &Timing) {
        loop {
            let next = self
                .timers
                .iter()
                .enumerate()
                .filter(|(_, x)| x.due_ms <= now && !self.held_by(&x.kind))
                .min_by_key(|(_, x)| x.due_ms)
                .map(|(i, _)| i);
            let Some(i) = next else { break };
            let timer = self.timers.remove(i);
            self.fire(timer, t);
        }
    }

    fn fire(&mut self, timer: Timer, t: &Timing) {
        let at = timer.due_ms;
        match timer.kind {
            TimerKind::Lease { server, since_ms } => {
                if let Some(s) = self.server_mut(server)
                    && s.process == (Process::Dead { since_ms })
                {
                    s.status = ServerStatus::Inactive;
                    s.last_offline_us = Some(at * 1000);
                    s.modified_ms = at;
                }
            }
            TimerKind::StartService { server, pid } => {
                if let Some(s) = self.server_mut(server)
                    && s.pid() == Some(pid)
                {
                    s.start_service_us = Some(at * 1000);
                    s.status = ServerStatus::Active;
                    s.log = LogSync::CatchingUp;
                    s.modified_ms = at;
                    self.schedule(at + t.catchup_ms, TimerKind::CatchUp { server, pid });
                }
            }
            TimerKind::CatchUp { server, pid } => {
                if let Some(s) = self.server_mut(server)
                    && s.pid() == Some(pid)
                {
                    s.log = LogSync::InSync;
                }
            }
            TimerKind::ZoneStatus { zone, status } => {
                if let Some(z) = self.zones.iter_mut().find(|z| z.name == zone) {
                    let wanted = match z.admin {
                        ZoneAdmin::Running => ZoneStatus::Active,
                        ZoneAdmin::Stopped => ZoneStatus::Inactive,
                    };
                    if wanted == status {
                        z.status = status;
                        z.modified_ms = at;
                    }
                }
            }
            TimerKind::Param {
                name,
                value,
                target,
            } => self.apply_param(&name, &value, &target),
            TimerKind::Job { id } => self.finish_job(id, at),
            TimerKind::Inspection => {
                let info = if self.frozen.contains(&Transition::JobFailed) {
                    "failed"
                } else {
                    "succeed"
                };
                self.inspection = Inspection::Done { info: info.into() };
            }
            TimerKind::Checkpoint { server, scn } => {
                if let Some(s) = self.server_mut(server) {
                    s.checkpoint_scn = s.checkpoint_scn.max(scn);
                }
            }
            TimerKind::MajorCompactionDone => {
                if matches!(
                    self.major_compaction,
                    MajorCompaction::Compacting { until_ms: Some(_) }
                ) {
                    self.major_compaction = MajorCompaction::Idle;
                }
            }
        }
    }

    fn finish_job(&mut self, id: i64, at: Ms) {
        let failed = self.frozen.contains(&Transition::JobFailed);
        let Some(job) = self.jobs.iter_mut().find(|j| j.id == id) else {
            return;
        };
        job.status = if failed {
            JobStatus::Failed
        } else {
            JobStatus::Success
        };
        job.modified_ms = at;
        if job.job_type == "UPGRADE_ALL" && !failed {
            let dv = self
                .cluster_param("min_observer_version")
                .unwrap_or_default()
                .to_owned();
            for tn in &mut self.tenants {
                tn.params.insert("compatible".into(), dv.clone());
                tn.target_data_version = version_int(&dv);
                tn.current_data_version = version_int(&dv);
            }
        }
    }

    // ---- the invariant ----

    fn bootstrap_check(&mut self) {
        if !self.bootstrapped && self.servers.iter().all(Server::serving) {
            self.bootstrapped = true;
        }
    }

    /// The zones that are stopped, or have a dead process, now.
    pub fn unavailable_zones(&self) -> Vec<String> {
        self.zones
            .iter()
            .filter(|z| {
                z.admin == ZoneAdmin::Stopped
                    || z.status == ZoneStatus::Inactive
                    || self.servers.iter().any(|s| s.zone == z.name && !s.alive())
            })
            .map(|z| z.name.clone())
            .collect()
    }

    fn check_invariant(&mut self, now: Ms) {
        if !self.bootstrapped {
            return;
        }
        let down = self.unavailable_zones();
        let inv = &mut self.invariant;
        inv.checks += 1;
        inv.max_unavailable = inv.max_unavailable.max(down.len());
        if down.len() >= 2 {
            if !inv.violated_now {
                inv.violations.push(Violation {
                    at_ms: now,
                    zones: down,
                });
            }
            inv.violated_now = true;
        } else {
            inv.violated_now = false;
        }
    }
}

#[cfg(test)]
mod tests;
