//! The simulated cluster's state: a plain model ([`model`]), the
//! parameters it knows ([`params`]), and every change it can make
//! ([`transitions`], pure functions of the state and the time).

pub mod model;
pub mod params;
pub mod transitions;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub use model::*;
pub use transitions::{Op, Refusal, Seen, SetScope, Timing};

use params::{PARAMS, ParamScope};

/// What a new cluster looks like: its topology and where its servers live.
#[derive(Debug, Clone)]
pub struct Layout {
    pub name: String,
    pub edition: obup_types::Edition,
    pub zones: usize,
    pub servers_per_zone: usize,
    /// `127.A.B`: server `n` is `127.A.B.n`.
    pub ip_prefix: [u8; 3],
    pub sql_port: u16,
    pub rpc_port: u16,
    /// The home of server `n` at index `n - 1`.
    pub homes: Vec<PathBuf>,
    /// The build each server's binary reports at bring-up, same indexing.
    pub builds: Vec<Build>,
    /// User tenants besides sys (each with its meta tenant).
    pub user_tenants: usize,
}

impl Layout {
    pub fn server_count(&self) -> usize {
        self.zones * self.servers_per_zone
    }

    pub fn ip(&self, n: usize) -> Ipv4Addr {
        let [a, b, c] = self.ip_prefix;
        Ipv4Addr::new(a, b, c, u8::try_from(n).unwrap_or(u8::MAX))
    }
}

impl Cluster {
    /// A new cluster at `now`: every zone ACTIVE, every server ACTIVE with
    /// no process seen yet (the observers are started after), one sys
    /// tenant and the user tenants, parameters at their defaults, and the
    /// data version and `min_observer_version` of the oldest build.
    pub fn new(layout: &Layout, now: Ms) -> Self {
        let oldest = layout
            .builds
            .iter()
            .map(|b| b.version.as_str())
            .min_by(|a, b| obup_types::compare_versions(a, b))
            .unwrap_or("4.2.1.0")
            .to_owned();
        let zones: Vec<Zone> = (1..=layout.zones)
            .map(|i| Zone {
                name: format!("zone{i}"),
                region: "sys_region".into(),
                idc: String::new(),
                admin: ZoneAdmin::Running,
                status: ZoneStatus::Active,
                modified_ms: now,
            })
            .collect();
        let cluster_params: BTreeMap<String, String> = PARAMS
            .iter()
            .filter(|p| p.scope == ParamScope::Cluster)
            .map(|p| {
                let v = p.default.map_or_else(|| oldest.clone(), str::to_owned);
                (p.name.to_owned(), v)
            })
            .collect();
        let mut servers = Vec::new();
        for (zi, zone) in zones.iter().enumerate() {
            for k in 0..layout.servers_per_zone {
                let n = zi * layout.servers_per_zone + k + 1;
                servers.push(Server {
                    id: n as i64,
                    zone: zone.name.clone(),
                    ip: layout.ip(n),
                    rpc_port: layout.rpc_port,
                    sql_port: layout.sql_port,
                    with_rootserver: n == 1,
                    home: layout.homes.get(n - 1).cloned().unwrap_or_default(),
                    created_ms: now,
                    modified_ms: now,
                    process: Process::Dead { since_ms: now },
                    status: ServerStatus::Active,
                    start_service_us: None,
                    last_offline_us: None,
                    build: layout.builds.get(n - 1).cloned().unwrap_or(Build {
                        version: oldest.clone(),
                        build_version: String::new(),
                    }),
                    log: LogSync::Absent,
                    checkpoint_scn: u64::try_from(now).unwrap_or(0) * 1_000_000,
                    params: cluster_params.clone(),
                });
            }
        }
        let tenant = |id: i64, name: String, kind: &str| {
            let params = PARAMS
                .iter()
                .filter(|p| p.scope == ParamScope::Tenant)
                .map(|p| {
                    let v = p.default.map_or_else(|| oldest.clone(), str::to_owned);
                    (p.name.to_owned(), v)
                })
                .collect();
            Tenant {
                id,
                name,
                kind: kind.into(),
                status: "NORMAL".into(),
                role: "PRIMARY".into(),
                locked: false,
                compatibility_mode: 0,
                params,
                target_data_version: version_int(&oldest),
                current_data_version: version_int(&oldest),
            }
        };
        let mut tenants = vec![tenant(1, "sys".into(), "SYS")];
        for i in 0..layout.user_tenants {
            let user = 1002 + 2 * i as i64;
            tenants.push(tenant(user - 1, format!("META${user}"), "META"));
            tenants.push(tenant(user, format!("tenant{}", i + 1), "USER"));
        }
        Self {
            name: layout.name.clone(),
            edition: layout.edition.word().into(),
            created_ms: now,
            zones,
            servers,
            tenants,
            jobs: Vec::new(),
            inspection: Inspection::NotRun,
            counters: Counters::default(),
            major_compaction: MajorCompaction::Idle,
            set_parameters: Default::default(),
            frozen: Default::default(),
            timers: Vec::new(),
            invariant: Invariant::default(),
            bootstrapped: false,
            next_job_id: 1,
        }
    }
}
