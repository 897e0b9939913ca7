//! The boundary between the orchestrator and the cluster it upgrades.
//!
//! [`Cluster`] holds cluster-level operations (what obshell does with SQL on
//! the sys tenant); [`Host`] holds what happens on one server's machine
//! (what an obshell agent does locally). The engine only talks to these
//! traits: the simulated cluster of `obup dev` implements them today, a
//! real driver (SQL to the sys tenant, an agent per host) later.

mod host;
mod observer;
mod sim;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use async_trait::async_trait;

pub use host::LocalHost;
pub use sim::{SimCluster, SimConfig};

use crate::Result;
use crate::domain::output::SavedParameter;
use crate::domain::template::{Edition, FreezeScope, ZoneAgents};
use crate::packages::{PackageRef, PackageSource};

/// One observer and its agent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `ip:port` of the server's agent: the identity tasks run on.
    pub agent: String,
    pub zone: String,
    pub arch: String,
    /// `4.2.1.0-100000102023092807`
    pub build_version: String,
    pub running: bool,
}

/// What the cluster looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub edition: Edition,
    pub zones: Vec<ZoneAgents>,
    pub servers: Vec<Server>,
}

impl Topology {
    /// The build the cluster runs: its oldest server's. obshell reads the
    /// server of the agent it asks, which after a half-done rolling upgrade
    /// may already run the target and make a retried upgrade look needless.
    pub fn build_version(&self) -> Option<&str> {
        self.servers
            .iter()
            .map(|s| s.build_version.as_str())
            .min_by(|a, b| obup_types::compare_versions(a, b))
    }

    pub fn agents(&self) -> Vec<String> {
        self.servers.iter().map(|s| s.agent.clone()).collect()
    }

    /// Distinct architectures, in server order.
    pub fn architectures(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in &self.servers {
            if !out.contains(&s.arch) {
                out.push(s.arch.clone());
            }
        }
        out
    }

    pub fn server(&self, agent: &str) -> Option<&Server> {
        self.servers.iter().find(|s| s.agent == agent)
    }
}

/// Cluster-level operations.
#[async_trait]
pub trait Cluster: Send + Sync + std::fmt::Debug {
    fn id(&self) -> &str;
    async fn topology(&self) -> Result<Topology>;
    /// `ALTER SYSTEM STOP ZONE`, then wait until it is INACTIVE.
    async fn stop_zone(&self, zone: &str) -> Result<()>;
    /// `ALTER SYSTEM START ZONE`, then wait until it is ACTIVE.
    async fn start_zone(&self, zone: &str) -> Result<()>;
    /// Runs an upgrade script from an unpacked package against the cluster.
    async fn run_script(&self, script: &Path, zone: Option<&str>) -> Result<String>;
    /// Every value of the parameters the upgrade changes, to restore later.
    async fn backup_parameters(&self) -> Result<Vec<SavedParameter>>;
    /// Puts one saved value back.
    async fn restore_parameter(&self, row: &SavedParameter) -> Result<()>;
    async fn minor_freeze(&self, scope: &FreezeScope) -> Result<()>;
    /// Records that an observer stopped or started (with the build it runs).
    async fn observer_stopped(&self, agent: &str) -> Result<()>;
    async fn observer_started(&self, agent: &str, build_version: &str) -> Result<()>;
    /// Waits until every server (of `zone`) is active and in sync.
    async fn wait_healthy(&self, zone: Option<&str>) -> Result<()>;
    /// The host of an agent.
    fn host(&self, agent: &str) -> Result<Arc<dyn Host>>;
}

/// Which entries a tree copy leaves out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    Nothing,
    /// Entries whose name contains this (obshell's reinstall skips
    /// anything named like `obshell`).
    Containing(&'static str),
    /// Every entry but this name.
    AllBut(&'static str),
}

impl Skip {
    pub fn skips(self, name: &str) -> bool {
        match self {
            Self::Nothing => false,
            Self::Containing(part) => name.contains(part),
            Self::AllBut(keep) => name != keep,
        }
    }
}

/// Operations on one server's machine.
#[async_trait]
pub trait Host: Send + Sync + std::fmt::Debug {
    /// The observer's home (`.../home/admin/oceanbase`).
    fn home(&self) -> PathBuf;
    /// Where paths of this host live on the machine obup runs on (the root
    /// of the simulated host; `/` for a real one).
    fn root(&self) -> PathBuf;
    async fn create_dir(&self, dir: &Path) -> Result<()>;
    /// Whether `dir` is missing or empty.
    async fn dir_is_empty(&self, dir: &Path) -> Result<bool>;
    async fn remove_dir(&self, dir: &Path) -> Result<()>;
    /// Streams a package from the package store to `dest`, checking its
    /// SHA-256 as it arrives.
    async fn download(
        &self,
        source: &dyn PackageSource,
        package: &PackageRef,
        dest: &Path,
    ) -> Result<()>;
    /// Re-checks a downloaded package: signature size and MD5, SHA-256.
    async fn verify(&self, package: &PackageRef, path: &Path) -> Result<()>;
    /// Extracts a package's payload under `dest`.
    async fn unpack(&self, rpm: &Path, dest: &Path) -> Result<()>;
    /// Copies a tree, leaving out entries `skip` names; returns the files
    /// copied.
    async fn copy_tree(&self, from: &Path, to: &Path, skip: Skip) -> Result<u64>;
    async fn stop_observer(&self) -> Result<()>;
    /// Starts the observer and returns the build it reports (`observer -V`).
    async fn start_observer(&self) -> Result<String>;
}
