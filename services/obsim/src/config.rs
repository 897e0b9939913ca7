//! Everything a simulator is started with: one typed config for the CLI
//! and the in-process API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use obup_types::Edition;
use serde::{Deserialize, Serialize};

use crate::faults::FaultSpec;
use crate::sql::SqlError;
use crate::sql::matcher::SqlxRefusal;
use crate::state::Timing;

/// A simulator's configuration. `Config::new(data_dir)` gives the CLI's
/// defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// State file, `obsim.json` (control address and endpoints) and, by
    /// default, the hosts.
    pub data_dir: PathBuf,
    /// Host roots `H/<ip>`; default `<data_dir>/hosts`.
    pub hosts_dir: Option<PathBuf>,
    /// `127.A.B`: server `n` listens on `127.A.B.n`.
    pub ip_prefix: [u8; 3],
    /// Try other random prefixes when a listener cannot bind (tests).
    pub retry_prefix: bool,
    pub zones: usize,
    pub servers_per_zone: usize,
    pub sql_port: u16,
    pub rpc_port: u16,
    /// The cluster's name (`root@sys#<cluster>`).
    pub cluster_name: String,
    pub edition: Edition,
    /// `<version>-<build>` of the built-in stand-in observer.
    pub version: String,
    /// Packages to lay the homes out from (server package and CE libs);
    /// empty: the built-in stand-in of `edition`/`version`.
    pub packages: Vec<PathBuf>,
    /// Lay the last server out from a stand-in of this `<version>-<build>`
    /// instead: a mixed-version cluster.
    pub mixed_version: Option<String>,
    /// Empty on a fresh cluster.
    pub root_password: String,
    pub timing: Timing,
    /// How often the homes' pid files and processes are looked at.
    pub poll: Duration,
    /// Statements kept in the transcript.
    pub transcript_capacity: usize,
    /// The control API's address (`127.0.0.1:0`: any free port).
    pub control_listen: SocketAddr,
    /// Start the observers at bring-up (and kill them at stop).
    pub start_observers: bool,
    pub user_tenants: usize,
    pub scenario: Scenario,
    pub faults: Vec<FaultSpec>,
    pub codes: ErrorCodes,
    pub sqlx_refusal: SqlxRefusal,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            hosts_dir: None,
            ip_prefix: [127, 0, 1],
            retry_prefix: false,
            zones: 3,
            servers_per_zone: 1,
            sql_port: 2881,
            rpc_port: 2882,
            cluster_name: "obcluster".into(),
            edition: Edition::Ce,
            version: "4.2.1.0-100000102023092807".into(),
            packages: Vec::new(),
            mixed_version: None,
            root_password: String::new(),
            timing: Timing::default(),
            poll: Duration::from_millis(100),
            transcript_capacity: 10_000,
            control_listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            start_observers: true,
            user_tenants: 1,
            scenario: Scenario::default(),
            faults: Vec::new(),
            codes: ErrorCodes::default(),
            sqlx_refusal: SqlxRefusal::default(),
        }
    }

    /// For tests: a random `127.A.B` retried on bind failures, no delays,
    /// fast polling.
    pub fn for_tests(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            ip_prefix: random_prefix(),
            retry_prefix: true,
            timing: Timing::instant(),
            poll: Duration::from_millis(20),
            ..Self::new(data_dir)
        }
    }

    pub fn hosts_dir(&self) -> PathBuf {
        self.hosts_dir
            .clone()
            .unwrap_or_else(|| self.data_dir.join("hosts"))
    }

    pub fn state_file(&self) -> PathBuf {
        self.data_dir.join("state.json")
    }

    /// Where `status` finds a running simulator.
    pub fn info_file(&self) -> PathBuf {
        self.data_dir.join("obsim.json")
    }
}

/// A `127.A.B` with `A.B` drawn at random (never `127.0.x`, which the CLI
/// and the demo use).
pub fn random_prefix() -> [u8; 3] {
    use rand::Rng;
    let mut r = rand::thread_rng();
    [127, r.gen_range(1..=254), r.gen_range(0..=254)]
}

/// How the cluster starts, for negative tests of the pre-checks.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scenario {
    /// The user tenant `tenant1` starts with this status (e.g. `RESTORE`).
    pub tenant_status: Option<String>,
    /// Backup jobs running (`CDB_OB_BACKUP_JOBS`).
    pub backup_jobs: i64,
    /// A major compaction runs until cleared.
    pub major_compaction: bool,
    /// Transitions frozen from the start (`start_service`, `log_sync`, ...).
    pub frozen: Vec<String>,
}

/// Error codes obsim answers where OceanBase's were not observed
/// (real-driver.md §6.1). **Unverified**: defaults are OceanBase's usual
/// code for a refused operation (`4179 OB_OP_NOT_ALLOW`) and similar
/// guesses; change them when a real cluster shows otherwise.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorCodes {
    /// `STOP ZONE` while another zone is down.
    pub stop_zone_refused: (u16, String),
    /// `END ROLLING UPGRADE` with servers on different builds.
    pub end_rolling_refused: (u16, String),
    pub unknown_zone: (u16, String),
    pub unknown_server: (u16, String),
    pub unknown_tenant: (u16, String),
    pub unknown_job: (u16, String),
}

impl Default for ErrorCodes {
    fn default() -> Self {
        let c = |code: u16, state: &str| (code, state.to_owned());
        Self {
            stop_zone_refused: c(4179, "HY000"),
            end_rolling_refused: c(4179, "HY000"),
            unknown_zone: c(4662, "HY000"),
            unknown_server: c(4663, "HY000"),
            unknown_tenant: c(5160, "HY000"),
            unknown_job: c(1210, "HY000"),
        }
    }
}

impl ErrorCodes {
    /// The error for a refused change. `System config unknown` and
    /// `Invalid config` are the PyPI kernel's (verified); the rest are this
    /// table's.
    pub fn refusal(&self, r: &crate::state::Refusal) -> SqlError {
        use crate::state::Refusal as R;
        let (code, state) = match r {
            R::UnknownParameter(_) => return SqlError::new(5099, "42000", r.to_string()),
            R::InvalidValue(_) => return SqlError::new(4147, "HY000", r.to_string()),
            R::StopZone(_) => &self.stop_zone_refused,
            R::EndRollingUpgrade(_) => &self.end_rolling_refused,
            R::UnknownZone(_) => &self.unknown_zone,
            R::UnknownServer(_) => &self.unknown_server,
            R::UnknownTenant(_) => &self.unknown_tenant,
            R::UnknownJob(_) => &self.unknown_job,
        };
        SqlError::new(*code, state, r.to_string())
    }
}
