//! What sub-tasks produce for later ones, typed. Stored with the sub-task,
//! in the transaction that records its outcome (or, for work done in
//! steps, each step's progress), so any orchestrator can read it back: a
//! parameter backup taken by one orchestrator is restored by another.

use serde::{Deserialize, Serialize};

use crate::driver::BeforeRestart;

/// The output of one sub-task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TaskOutput {
    /// "Backup parameters": every row of the parameters the upgrade
    /// changes, as `GV$OB_PARAMETERS` had them before.
    Parameters { rows: Vec<SavedParameter> },
    /// "Restore parameters", as far as it got: which backed-up rows are
    /// applied (their indexes), so a resumed restore applies the rest.
    Restored { applied: Vec<usize> },
    /// "Reinstall and restart observer", as far as it got.
    Restart(Restart),
}

/// One observer's restart: what the sys tenant showed before the kill
/// (recorded before anything is stopped), what the agent did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Restart {
    pub before: BeforeRestart,
    pub killed_pid: Option<i32>,
    pub kill_time_ms: i64,
    pub pid: Option<i32>,
    /// `<version>-<build>` the new binary reports.
    pub build: Option<String>,
}

impl Restart {
    pub fn before(before: BeforeRestart) -> Self {
        Self {
            before,
            killed_pid: None,
            kill_time_ms: 0,
            pid: None,
            build: None,
        }
    }
}

/// Where a parameter value applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ParameterScope {
    #[serde(rename = "CLUSTER")]
    Cluster,
    #[serde(rename = "TENANT")]
    Tenant,
}

/// One backed-up value: on one server, or (TENANT scope) for one tenant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedParameter {
    pub svr_ip: String,
    pub svr_port: u16,
    pub zone: String,
    pub scope: ParameterScope,
    pub tenant_id: Option<i64>,
    pub name: String,
    pub value: String,
}
