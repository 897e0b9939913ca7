//! A simulated OceanBase cluster for `obup dev` and the tests.
//!
//! Cluster state that matters (zone and server status, build versions,
//! parameters) lives in `cluster.json` under its directory, and each server
//! has a real home directory, so the cluster survives a restart of obup the
//! way a real one would, and every orchestrator process that opens the same
//! directory sees and changes the same cluster (each change is a
//! read-modify-write under an exclusive `flock`), as several orchestrators
//! share one real cluster. The running version of a server is whatever
//! `bin/observer -V` in its home reports, so an upgrade has to install the
//! new files to take effect. Invariants are checked as it goes: two zones
//! are never down at once.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use obup_rpm_build::{observer_standin, standin_version};
use serde::{Deserialize, Serialize};

use super::{Cluster, Host, LocalHost, Server, Topology};
use crate::domain::output::{ParameterScope, SavedParameter};
use crate::domain::template::{Edition, FreezeScope, ZoneAgents};
use crate::{Error, Result};

/// How to lay out a new simulated cluster.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub zones: usize,
    pub servers_per_zone: usize,
    /// Build it runs, e.g. `4.2.1.0-100000102023092807`.
    pub build_version: String,
    pub edition: Edition,
    pub arch: String,
    /// Delay of each simulated cluster operation.
    pub step: Duration,
    /// Most decompressed bytes one package unpack may process on a host.
    pub max_unpacked: u64,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            zones: 3,
            servers_per_zone: 1,
            build_version: "4.2.1.0-100000102023092807".into(),
            edition: Edition::Ce,
            arch: "x86_64".into(),
            step: Duration::from_millis(5),
            max_unpacked: 16 << 30,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct State {
    edition: String,
    zones: Vec<ZoneState>,
    parameters: BTreeMap<String, String>,
    minor_freezes: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ZoneState {
    name: String,
    active: bool,
    servers: Vec<ServerState>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct ServerState {
    agent: String,
    arch: String,
    running: bool,
    build_version: String,
}

/// The simulated cluster.
#[derive(Debug, Clone)]
pub struct SimCluster {
    id: String,
    dir: PathBuf,
    step: Duration,
    max_unpacked: u64,
}

impl SimCluster {
    /// Opens the cluster under `dir`, creating it from `config` if new.
    pub fn open(dir: &Path, config: &SimConfig) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let sim = Self {
            id: "sim".into(),
            dir: dir.to_owned(),
            step: config.step,
            max_unpacked: config.max_unpacked,
        };
        let lock = sim.lock_file()?;
        lock.lock()?;
        if !dir.join("cluster.json").exists() {
            sim.save(&create(dir, config)?)?;
        }
        Ok(sim)
    }

    /// Applies `f` to the current state and saves it, excluding every other
    /// reader and writer, in this process or another.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> Result<R>) -> Result<R> {
        let lock = self.lock_file()?;
        lock.lock()?;
        let mut state = self.load()?;
        let r = f(&mut state)?;
        self.save(&state)?;
        Ok(r)
    }

    /// Reads the current state.
    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> Result<R> {
        let lock = self.lock_file()?;
        lock.lock_shared()?;
        Ok(f(&self.load()?))
    }

    /// The lock file; its `flock` is released when the handle is dropped.
    fn lock_file(&self) -> Result<File> {
        Ok(File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.dir.join("cluster.lock"))?)
    }

    fn load(&self) -> Result<State> {
        let file = self.dir.join("cluster.json");
        let text = std::fs::read_to_string(&file)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("{} is invalid: {e}", file.display())))
    }

    fn save(&self, state: &State) -> Result<()> {
        let text =
            serde_json::to_string_pretty(state).map_err(|e| Error::Internal(e.to_string()))?;
        // Write-then-rename: a crash never leaves half a state file.
        let tmp = self.dir.join("cluster.json.tmp");
        std::fs::write(&tmp, text)?;
        std::fs::rename(tmp, self.dir.join("cluster.json"))?;
        Ok(())
    }

    async fn step(&self) {
        if !self.step.is_zero() {
            tokio::time::sleep(self.step).await;
        }
    }

    fn server_root(dir: &Path, agent: &str) -> PathBuf {
        dir.join("servers").join(agent.replace(':', "_"))
    }
}

fn create(dir: &Path, c: &SimConfig) -> Result<State> {
    let (version, build) = c
        .build_version
        .split_once('-')
        .unwrap_or((c.build_version.as_str(), "1"));
    let observer = observer_standin(&standin_version(c.edition, version, build));
    let mut zones = Vec::new();
    for z in 1..=c.zones {
        let mut servers = Vec::new();
        for s in 1..=c.servers_per_zone {
            let agent = format!("10.0.{z}.{s}:2886");
            let home = SimCluster::server_root(dir, &agent).join("home/admin/oceanbase");
            std::fs::create_dir_all(home.join("bin"))?;
            std::fs::create_dir_all(home.join("lib"))?;
            write_executable(&home.join("bin/observer"), &observer)?;
            write_executable(&home.join("bin/obshell"), b"#!/bin/sh\necho obshell\n")?;
            servers.push(ServerState {
                agent,
                arch: c.arch.clone(),
                running: true,
                build_version: c.build_version.clone(),
            });
        }
        zones.push(ZoneState {
            name: format!("zone{z}"),
            active: true,
            servers,
        });
    }
    Ok(State {
        edition: c.edition.word().into(),
        zones,
        parameters: BTreeMap::from([
            ("enable_rebalance".into(), "True".into()),
            ("enable_rereplication".into(), "True".into()),
            ("server_permanent_offline_time".into(), "3600s".into()),
        ]),
        minor_freezes: 0,
    })
}

fn write_executable(path: &Path, text: &[u8]) -> std::io::Result<()> {
    std::fs::write(path, text)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755))?;
    }
    Ok(())
}

fn edition(s: &str) -> Edition {
    Edition::from_word(s).unwrap_or(Edition::Ce)
}

#[async_trait]
impl Cluster for SimCluster {
    fn id(&self) -> &str {
        &self.id
    }

    async fn topology(&self) -> Result<Topology> {
        self.read(|s| Topology {
            edition: edition(&s.edition),
            zones: s
                .zones
                .iter()
                .map(|z| ZoneAgents {
                    zone: z.name.clone(),
                    agents: z.servers.iter().map(|v| v.agent.clone()).collect(),
                })
                .collect(),
            servers: s
                .zones
                .iter()
                .flat_map(|z| {
                    z.servers.iter().map(|v| Server {
                        agent: v.agent.clone(),
                        zone: z.name.clone(),
                        arch: v.arch.clone(),
                        build_version: v.build_version.clone(),
                        running: v.running,
                    })
                })
                .collect(),
        })
    }

    async fn stop_zone(&self, zone: &str) -> Result<()> {
        self.step().await;
        self.with(|s| {
            if let Some(down) = s.zones.iter().find(|z| !z.active && z.name != zone) {
                return Err(Error::Cluster(format!(
                    "cannot stop {zone}: {} is already down, and two zones down lose the majority",
                    down.name
                )));
            }
            let z = s
                .zones
                .iter_mut()
                .find(|z| z.name == zone)
                .ok_or_else(|| Error::Cluster(format!("no zone {zone}")))?;
            z.active = false;
            Ok(())
        })
    }

    async fn start_zone(&self, zone: &str) -> Result<()> {
        self.step().await;
        self.with(|s| {
            let z = s
                .zones
                .iter_mut()
                .find(|z| z.name == zone)
                .ok_or_else(|| Error::Cluster(format!("no zone {zone}")))?;
            if let Some(down) = z.servers.iter().find(|v| !v.running) {
                return Err(Error::Cluster(format!(
                    "cannot start {zone}: {} is not running",
                    down.agent
                )));
            }
            z.active = true;
            Ok(())
        })
    }

    async fn run_script(&self, script: &Path, zone: Option<&str>) -> Result<String> {
        self.step().await;
        let text = tokio::fs::read_to_string(script)
            .await
            .map_err(|e| Error::Cluster(format!("cannot read {}: {e}", script.display())))?;
        let name = script
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        Ok(match zone {
            Some(z) => format!("ran {name} ({} lines) for zone {z}", text.lines().count()),
            None => format!("ran {name} ({} lines)", text.lines().count()),
        })
    }

    async fn backup_parameters(&self) -> Result<Vec<SavedParameter>> {
        self.read(|s| {
            s.parameters
                .iter()
                .map(|(name, value)| SavedParameter {
                    svr_ip: "0.0.0.0".into(),
                    svr_port: 0,
                    zone: String::new(),
                    scope: ParameterScope::Cluster,
                    tenant_id: None,
                    name: name.clone(),
                    value: value.clone(),
                })
                .collect()
        })
    }

    async fn restore_parameter(&self, row: &SavedParameter) -> Result<()> {
        self.with(|s| {
            s.parameters.insert(row.name.clone(), row.value.clone());
            Ok(())
        })
    }

    async fn minor_freeze(&self, _scope: &FreezeScope) -> Result<()> {
        self.step().await;
        self.with(|s| {
            s.minor_freezes += 1;
            Ok(())
        })
    }

    async fn observer_stopped(&self, agent: &str) -> Result<()> {
        self.with(|s| {
            let server = server_mut(s, agent)?;
            server.running = false;
            Ok(())
        })
    }

    async fn observer_started(&self, agent: &str, build_version: &str) -> Result<()> {
        self.step().await;
        self.with(|s| {
            let server = server_mut(s, agent)?;
            server.running = true;
            server.build_version = build_version.to_owned();
            Ok(())
        })
    }

    async fn wait_healthy(&self, zone: Option<&str>) -> Result<()> {
        self.read(|s| {
            for z in s.zones.iter().filter(|z| zone.is_none_or(|n| n == z.name)) {
                if let Some(v) = z.servers.iter().find(|v| !v.running) {
                    return Err(Error::Cluster(format!(
                        "{} in {} is not running",
                        v.agent, z.name
                    )));
                }
            }
            Ok(())
        })?
    }

    fn host(&self, agent: &str) -> Result<Arc<dyn Host>> {
        let known = self.read(|s| {
            s.zones
                .iter()
                .flat_map(|z| &z.servers)
                .any(|v| v.agent == agent)
        })?;
        if !known {
            return Err(Error::Cluster(format!("no server with agent {agent}")));
        }
        Ok(Arc::new(LocalHost::new(
            Self::server_root(&self.dir, agent),
            self.max_unpacked,
        )))
    }
}

fn server_mut<'a>(s: &'a mut State, agent: &str) -> Result<&'a mut ServerState> {
    s.zones
        .iter_mut()
        .flat_map(|z| z.servers.iter_mut())
        .find(|v| v.agent == agent)
        .ok_or_else(|| Error::Cluster(format!("no server with agent {agent}")))
}
