//! The snapshot `status --json` prints and `GET /status` answers: the
//! cluster as an operator would look at it, plus the control surface's
//! counters.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::faults::Fault;
use crate::state::{Cluster, Counters, Inspection, Invariant, LogSync, MajorCompaction};
use crate::transcript::Totals;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Status {
    pub cluster: String,
    pub edition: String,
    /// `http://ip:port` of the control API.
    pub control: String,
    pub zones: Vec<ZoneView>,
    pub servers: Vec<ServerView>,
    pub tenants: Vec<TenantView>,
    pub upgrade: UpgradeView,
    /// Each parameter's distinct values over servers (cluster scope) or
    /// tenants (tenant scope).
    pub parameters: BTreeMap<String, Vec<String>>,
    pub jobs: Vec<JobView>,
    pub counters: Counters,
    pub major_compaction: bool,
    pub inspection: String,
    pub frozen: Vec<String>,
    pub invariant: Invariant,
    pub faults: Vec<FaultView>,
    pub statements: Totals,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneView {
    pub name: String,
    pub status: String,
    /// `running` or `stopped`: what `STOP|START ZONE` asked for.
    pub admin: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerView {
    pub id: i64,
    pub zone: String,
    pub ip: String,
    pub rpc_port: u16,
    /// `ip:port` of its SQL listener.
    pub sql_endpoint: String,
    /// `ACTIVE` or `INACTIVE`, as `DBA_OB_SERVERS` shows it.
    pub status: String,
    /// The SQL port is open.
    pub serving: bool,
    pub pid: Option<i32>,
    pub build: String,
    pub version: String,
    pub start_service_time_us: Option<i64>,
    /// `YES`, `NO`, or absent (no log stream rows).
    pub in_sync: Option<String>,
    pub home: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TenantView {
    pub id: i64,
    pub name: String,
    pub status: String,
    pub compatible: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpgradeView {
    pub enable_upgrade_mode: String,
    pub stage: String,
    pub min_observer_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobView {
    pub id: i64,
    pub job_type: String,
    pub status: String,
}

/// A fault in force (as added) and what it did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultView {
    pub id: u64,
    pub spec: crate::faults::FaultSpec,
    pub seen: u64,
    pub fired: u64,
}

impl From<&Fault> for FaultView {
    fn from(f: &Fault) -> Self {
        Self {
            id: f.id,
            spec: f.spec.clone(),
            seen: f.seen,
            fired: f.fired,
        }
    }
}

impl Status {
    pub fn of(c: &Cluster, control: String, faults: &[Fault], statements: Totals) -> Self {
        let param = |n: &str| c.cluster_param(n).unwrap_or_default().to_owned();
        let mut parameters: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let values = c
            .servers
            .iter()
            .flat_map(|s| s.params.iter())
            .chain(c.tenants.iter().flat_map(|t| t.params.iter()));
        for (k, v) in values {
            let e = parameters.entry(k.clone()).or_default();
            if !e.contains(v) {
                e.push(v.clone());
            }
        }
        Self {
            cluster: c.name.clone(),
            edition: c.edition.clone(),
            control,
            zones: c
                .zones
                .iter()
                .map(|z| ZoneView {
                    name: z.name.clone(),
                    status: z.status.word().into(),
                    admin: format!("{:?}", z.admin).to_ascii_lowercase(),
                })
                .collect(),
            servers: c
                .servers
                .iter()
                .map(|s| ServerView {
                    id: s.id,
                    zone: s.zone.clone(),
                    ip: s.ip.to_string(),
                    rpc_port: s.rpc_port,
                    sql_endpoint: format!("{}:{}", s.ip, s.sql_port),
                    status: s.status.word().into(),
                    serving: s.serving(),
                    pid: s.pid(),
                    build: s.build.build_version.clone(),
                    version: s.build.version.clone(),
                    start_service_time_us: s.start_service_us,
                    in_sync: match s.log {
                        LogSync::Absent => None,
                        LogSync::CatchingUp => Some("NO".into()),
                        LogSync::InSync => Some("YES".into()),
                    },
                    home: s.home.display().to_string(),
                })
                .collect(),
            tenants: c
                .tenants
                .iter()
                .map(|t| TenantView {
                    id: t.id,
                    name: t.name.clone(),
                    status: t.status.clone(),
                    compatible: t.params.get("compatible").cloned().unwrap_or_default(),
                })
                .collect(),
            upgrade: UpgradeView {
                enable_upgrade_mode: param("enable_upgrade_mode"),
                stage: param("_upgrade_stage"),
                min_observer_version: param("min_observer_version"),
            },
            parameters,
            jobs: c
                .jobs
                .iter()
                .map(|j| JobView {
                    id: j.id,
                    job_type: j.job_type.clone(),
                    status: j.status.word().into(),
                })
                .collect(),
            counters: c.counters.clone(),
            major_compaction: !matches!(c.major_compaction, MajorCompaction::Idle),
            inspection: match &c.inspection {
                Inspection::NotRun => "not_run".into(),
                Inspection::Running => "running".into(),
                Inspection::Done { info } => info.clone(),
            },
            frozen: c.frozen.iter().map(|t| t.word().to_owned()).collect(),
            invariant: c.invariant.clone(),
            faults: faults.iter().map(FaultView::from).collect(),
            statements,
        }
    }
}
