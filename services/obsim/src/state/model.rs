//! The cluster as the sys tenant sees it: plain data, persisted as JSON.
//! Only the functions in `transitions.rs` change it.

use std::collections::{BTreeMap, BTreeSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch: the state's clock. Pure functions take
/// it as an argument, so tests drive time by hand.
pub type Ms = i64;

/// One simulated cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cluster {
    /// The name in `root@sys#<cluster>`.
    pub name: String,
    /// `ce`, `business` or `standalone`.
    pub edition: String,
    pub created_ms: Ms,
    /// In `DBA_OB_ZONES` order (the order obshell's DAG visits them).
    pub zones: Vec<Zone>,
    /// Server `n` (1-based id) is `servers[n - 1]`.
    pub servers: Vec<Server>,
    pub tenants: Vec<Tenant>,
    pub jobs: Vec<Job>,
    pub inspection: Inspection,
    pub counters: Counters,
    pub major_compaction: MajorCompaction,
    /// Names set by `ALTER SYSTEM SET` at least once: the rows of
    /// `__all_sys_parameter` (a parameter never set has none).
    pub set_parameters: BTreeSet<String>,
    /// Transitions a test has frozen.
    pub frozen: BTreeSet<Transition>,
    /// Transitions due later, in no particular order.
    pub timers: Vec<Timer>,
    pub invariant: Invariant,
    /// Every server has served once: the invariant is watched from then on.
    pub bootstrapped: bool,
    pub next_job_id: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Zone {
    pub name: String,
    pub region: String,
    pub idc: String,
    /// What `STOP ZONE`/`START ZONE` asked for, at once.
    pub admin: ZoneAdmin,
    /// What `DBA_OB_ZONES.STATUS` shows: follows `admin` after `zone_ms`.
    pub status: ZoneStatus,
    pub modified_ms: Ms,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZoneAdmin {
    Running,
    Stopped,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ZoneStatus {
    Active,
    Inactive,
}

impl ZoneStatus {
    pub fn word(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// One observer: where it lives, what obsim last observed of its process,
/// and what the root service reports about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Server {
    /// `DBA_OB_SERVERS.ID`, 1-based, zones in order.
    pub id: i64,
    pub zone: String,
    pub ip: Ipv4Addr,
    pub rpc_port: u16,
    pub sql_port: u16,
    pub with_rootserver: bool,
    /// The observer home (`<host root>/home/admin/oceanbase`).
    pub home: PathBuf,
    pub created_ms: Ms,
    pub modified_ms: Ms,
    pub process: Process,
    /// `STATUS`: ACTIVE until the lease of a dead process runs out.
    pub status: ServerStatus,
    /// `START_SERVICE_TIME`, µs; `None` until a new process serves.
    pub start_service_us: Option<i64>,
    pub last_offline_us: Option<i64>,
    /// From the last `observer -V` (`DBA_OB_SERVERS.BUILD_VERSION`).
    pub build: Build,
    pub log: LogSync,
    /// The smallest `checkpoint_scn` of its log streams.
    pub checkpoint_scn: u64,
    /// Cluster-scope parameter values on this server.
    pub params: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Process {
    /// Alive since `since_ms` with `pid` (as its pid file said).
    Alive { pid: i32, since_ms: Ms },
    /// Not running since `since_ms` (or never seen).
    Dead { since_ms: Ms },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ServerStatus {
    Active,
    Inactive,
}

impl ServerStatus {
    /// As `DBA_OB_SERVERS` shows it; `__all_server` shows it in lower case.
    pub fn word(self) -> &'static str {
        match self {
            Self::Active => "ACTIVE",
            Self::Inactive => "INACTIVE",
        }
    }
}

/// What the observer binary says it is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Build {
    /// e.g. `4.2.1.0`.
    pub version: String,
    /// `<version>_<REVISION>(<BUILD_TIME>)`.
    pub build_version: String,
}

/// The server's log streams in `GV$OB_LOG_STAT`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum LogSync {
    /// No rows: the process is dead or not serving yet.
    Absent,
    /// Rows with `in_sync = 'NO'`.
    CatchingUp,
    InSync,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tenant {
    pub id: i64,
    pub name: String,
    /// `SYS`, `META` or `USER`.
    pub kind: String,
    /// `NORMAL` unless a scenario says otherwise.
    pub status: String,
    /// `PRIMARY` or `STANDBY`.
    pub role: String,
    pub locked: bool,
    /// 0 MySQL, 1 Oracle.
    pub compatibility_mode: i64,
    /// Tenant-scope parameters (`compatible`, `enable_rebalance`, ...).
    pub params: BTreeMap<String, String>,
    /// `target_data_version` and `current_data_version` of the core table,
    /// as OceanBase's integer form of a version.
    pub target_data_version: u64,
    pub current_data_version: u64,
}

/// A root-service job (`__all_rootservice_job`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    pub id: i64,
    pub job_type: String,
    pub status: JobStatus,
    pub tenant_id: i64,
    pub created_ms: Ms,
    pub modified_ms: Ms,
    pub rs_ip: Ipv4Addr,
    pub rs_port: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum JobStatus {
    InProgress,
    Success,
    Failed,
}

impl JobStatus {
    pub fn word(self) -> &'static str {
        match self {
            Self::InProgress => "INPROGRESS",
            Self::Success => "SUCCESS",
            Self::Failed => "FAILED",
        }
    }
}

/// `__all_virtual_upgrade_inspection`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Inspection {
    NotRun,
    Running,
    /// Every row's `info` is this (`succeed` or `failed`).
    Done {
        info: String,
    },
}

/// Work the pre-checks look for, settable for negative tests.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Counters {
    pub backup_jobs: i64,
    pub restore_jobs: i64,
    pub ddl_tasks: i64,
    pub tenant_jobs_inprogress: i64,
    pub ls_replica_tasks: i64,
    pub merging_tablets: i64,
    /// Major freezes asked for (`ALTER SYSTEM MAJOR FREEZE`).
    pub major_freezes: i64,
    /// Minor freezes asked for.
    pub minor_freezes: i64,
    pub merge_suspended: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum MajorCompaction {
    Idle,
    /// `STATUS = 'COMPACTING'` until `until_ms` (forever when `None`).
    Compacting {
        until_ms: Option<Ms>,
    },
}

/// A transition a test can freeze (it then never happens).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Transition {
    /// A new observer process never starts service (never fully ACTIVE).
    StartService,
    /// A dead server never turns INACTIVE.
    Lease,
    /// `in_sync` stays `NO`.
    LogSync,
    /// `STOP ZONE` never makes the zone INACTIVE.
    ZoneInactive,
    /// `START ZONE` never makes the zone ACTIVE.
    ZoneActive,
    /// Root-service jobs stay INPROGRESS.
    JobInProgress,
    /// Root-service jobs end FAILED.
    JobFailed,
    /// `ALTER SYSTEM SET` never reaches the servers.
    ParamSync,
    /// Minor freezes never raise `checkpoint_scn`.
    Checkpoint,
}

impl Transition {
    pub const ALL: [Transition; 9] = [
        Self::StartService,
        Self::Lease,
        Self::LogSync,
        Self::ZoneInactive,
        Self::ZoneActive,
        Self::JobInProgress,
        Self::JobFailed,
        Self::ParamSync,
        Self::Checkpoint,
    ];

    pub fn word(self) -> &'static str {
        match self {
            Self::StartService => "start_service",
            Self::Lease => "lease",
            Self::LogSync => "log_sync",
            Self::ZoneInactive => "zone_inactive",
            Self::ZoneActive => "zone_active",
            Self::JobInProgress => "job_in_progress",
            Self::JobFailed => "job_failed",
            Self::ParamSync => "param_sync",
            Self::Checkpoint => "checkpoint",
        }
    }

    pub fn from_word(w: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.word() == w)
    }
}

/// A transition due at `due_ms`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub due_ms: Ms,
    pub kind: TimerKind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum TimerKind {
    /// The server dead since `since_ms` turns INACTIVE, if still dead.
    Lease {
        server: i64,
        since_ms: Ms,
    },
    /// The process `pid` starts service.
    StartService {
        server: i64,
        pid: i32,
    },
    /// The process `pid`'s logs catch up.
    CatchUp {
        server: i64,
        pid: i32,
    },
    ZoneStatus {
        zone: String,
        status: ZoneStatus,
    },
    /// A parameter value reaches its targets.
    Param {
        name: String,
        value: String,
        target: ParamTarget,
    },
    Job {
        id: i64,
    },
    Inspection,
    /// Minor freeze: the server's checkpoint moves to `scn`.
    Checkpoint {
        server: i64,
        scn: u64,
    },
    MajorCompactionDone,
}

/// Where an `ALTER SYSTEM SET` applies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParamTarget {
    /// Every server (cluster scope).
    AllServers,
    Server(i64),
    /// Tenant scope, these tenants.
    Tenants(Vec<i64>),
}

/// "Never two zones unavailable at once", watched after every change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invariant {
    pub checks: u64,
    /// Most zones unavailable at once since bootstrap.
    pub max_unavailable: usize,
    pub violations: Vec<Violation>,
    /// Inside a violation now (recorded once on entry).
    pub violated_now: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    pub at_ms: Ms,
    /// The zones unavailable (stopped, or with a dead process) at the time.
    pub zones: Vec<String>,
}

impl Cluster {
    pub fn server(&self, id: i64) -> Option<&Server> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.servers.get(i))
    }

    pub fn server_mut(&mut self, id: i64) -> Option<&mut Server> {
        usize::try_from(id - 1)
            .ok()
            .and_then(|i| self.servers.get_mut(i))
    }

    pub fn zone(&self, name: &str) -> Option<&Zone> {
        self.zones.iter().find(|z| z.name == name)
    }

    /// The server hosting the root service.
    pub fn rootserver(&self) -> &Server {
        self.servers
            .iter()
            .find(|s| s.with_rootserver)
            .unwrap_or(&self.servers[0])
    }

    /// A cluster parameter's value as the first server holds it.
    pub fn cluster_param(&self, name: &str) -> Option<&str> {
        self.servers
            .first()
            .and_then(|s| s.params.get(name))
            .map(String::as_str)
    }

    pub fn tenant(&self, id: i64) -> Option<&Tenant> {
        self.tenants.iter().find(|t| t.id == id)
    }
}

impl Server {
    pub fn alive(&self) -> bool {
        matches!(self.process, Process::Alive { .. })
    }

    pub fn pid(&self) -> Option<i32> {
        match self.process {
            Process::Alive { pid, .. } => Some(pid),
            Process::Dead { .. } => None,
        }
    }

    /// Alive and started service: its SQL port is open and it answers for
    /// its virtual tables.
    pub fn serving(&self) -> bool {
        self.alive() && self.start_service_us.is_some()
    }

    /// `ip:rpc_port`, as statements name a server.
    pub fn addr(&self) -> String {
        format!("{}:{}", self.ip, self.rpc_port)
    }
}

/// OceanBase's integer form of a version: `(a<<32)|(b<<16)|(c<<8)|d`.
pub fn version_int(version: &str) -> u64 {
    let p: Vec<u64> = version
        .split('.')
        .map(|x| x.parse().unwrap_or(0))
        .chain(std::iter::repeat(0))
        .take(4)
        .collect();
    (p[0] << 32) | (p[1] << 16) | (p[2] << 8) | p[3]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_as_integers() {
        assert_eq!(version_int("4.2.1.0"), 17_180_000_512);
        assert_eq!(version_int("4.3.5.0"), (4 << 32) | (3 << 16) | (5 << 8));
    }
}
