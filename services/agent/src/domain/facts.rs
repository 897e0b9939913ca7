//! What a host is, for the orchestrator's pre-checks.

use super::output::{ObserverBuild, Python};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostFacts {
    pub hostname: String,
    pub ips: Vec<String>,
    /// As RPM names it: `x86_64`, `aarch64`.
    pub architecture: String,
    pub cpu_count: u32,
    pub memory_total_bytes: u64,
    pub memory_available_bytes: u64,
    pub home: DirFacts,
    pub upgrade_dir: DirFacts,
    pub observer: ObserverFacts,
    pub pythons: Vec<Python>,
    pub agent_version: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirFacts {
    /// Host path.
    pub path: String,
    pub exists: bool,
    /// Of the filesystem holding the directory (or its nearest existing
    /// ancestor).
    pub free_bytes: u64,
    pub total_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObserverFacts {
    pub home: String,
    /// The live observer of the home.
    pub pid: Option<i32>,
    pub svr_ip: String,
    pub rpc_port: u16,
    pub sql_port: u16,
    /// What `bin/observer -V` reports, or why it could not be read.
    pub build: Result<ObserverBuild, String>,
}
