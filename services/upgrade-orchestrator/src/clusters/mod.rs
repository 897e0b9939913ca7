//! Registered clusters: many, each reached over SQL (its sys tenant) and
//! through an agent on each host.
//!
//! # Layout
//! - `record`: a registration as stored, and its checks.
//! - `secrets`: passwords sealed at rest under a key kept outside the
//!   database.
//! - [`Clusters`]: register, list, find and remove; one live connection
//!   set per cluster, shared by every DAG of it.

pub mod hosts;
mod record;
pub mod secrets;
mod topology;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tonic::transport::ClientTlsConfig;

pub use hosts::{Hosts, Op};
pub use record::{ClusterRecord, SslMode};
pub use secrets::{Password, SecretKey};
pub use topology::{Server, Topology};

use crate::driver::{ClusterView, Driver, DriverConfig, Login};
use crate::storage::DagRepository;
use crate::{Error, Result};

/// What a caller registers.
#[derive(Debug, Clone)]
pub struct Registration {
    pub name: String,
    pub sql_endpoints: Vec<String>,
    pub sys_user: String,
    pub password: Password,
    pub agents: Vec<String>,
    pub ssl_mode: SslMode,
}

/// A registered cluster and its connections.
#[derive(Debug)]
pub struct Cluster {
    pub record: ClusterRecord,
    pub driver: Driver,
    pub hosts: Hosts,
    /// The sys password, for the upgrade scripts (which log in themselves).
    pub password: Password,
}

impl Cluster {
    /// The sys tenant's view joined with the agents' reports.
    pub async fn topology(&self) -> Result<Topology> {
        let view = self.driver.view().await?;
        topology::join(&view, &self.hosts, None).await
    }

    /// The same for a sub-task: agents that cannot be reached (restarting,
    /// a network blip) are waited for until its deadline.
    pub async fn topology_until(
        &self,
        deadline_ms: i64,
        log: &dyn crate::tasks::TaskIo,
    ) -> Result<Topology> {
        let view = self.driver.view().await?;
        topology::join(&view, &self.hosts, Some((deadline_ms, log))).await
    }
}

/// Every registered cluster.
#[derive(Debug)]
pub struct Clusters {
    repo: Arc<dyn DagRepository>,
    key: SecretKey,
    driver: DriverConfig,
    /// mTLS to the agents, when configured.
    agent_tls: Option<ClientTlsConfig>,
    /// Connections are made once per cluster and shared; a new
    /// registration or a removal drops them.
    live: Mutex<HashMap<String, Arc<Cluster>>>,
}

impl Clusters {
    pub fn new(
        repo: Arc<dyn DagRepository>,
        key: SecretKey,
        driver: DriverConfig,
        agent_tls: Option<ClientTlsConfig>,
    ) -> Self {
        Self {
            repo,
            key,
            driver,
            agent_tls,
            live: Mutex::default(),
        }
    }

    fn connect(&self, record: &ClusterRecord, password: &Password) -> Driver {
        Driver::new(
            &record.sql_endpoints,
            Login {
                user: record.sys_user.clone(),
                password: password.expose().to_owned(),
                ssl_mode: record.ssl_mode.to_sqlx(),
                query_timeout_us: 0,
            },
            self.driver.clone(),
        )
    }

    /// Registers a cluster after reading its topology through the given
    /// endpoints and password (so a typo is refused now, not mid-upgrade).
    /// An existing registration is replaced only when `replace` is set.
    pub async fn register(
        &self,
        reg: Registration,
        replace: bool,
        now_ms: i64,
        audit: Option<&obup_kit::audit::AuditEvent>,
    ) -> Result<(ClusterRecord, ClusterView)> {
        let mut record = ClusterRecord {
            name: reg.name.clone(),
            sql_endpoints: reg.sql_endpoints,
            sys_user: reg.sys_user,
            password_sealed: String::new(),
            agents: reg.agents,
            ssl_mode: reg.ssl_mode,
            created_at_ms: now_ms,
        };
        record.validate()?;
        if !replace && self.repo.cluster(&record.name).await?.is_some() {
            return Err(Error::ClusterExists(record.name));
        }
        let driver = self.connect(&record, &reg.password);
        let view = driver.view().await?;
        // Every server must be matched to one of the agents given.
        if !record.agents.is_empty() {
            let hosts = Hosts::new(record.agents.clone(), self.agent_tls.clone());
            topology::join(&view, &hosts, None).await?;
        }
        record.password_sealed = self.key.seal(&record.name, &reg.password)?;
        self.repo.save_cluster(&record, audit).await?;
        self.forget(&record.name);
        tracing::info!(cluster = %record.name, servers = view.servers.len(), "cluster registered");
        Ok((record, view))
    }

    pub async fn list(&self) -> Result<Vec<ClusterRecord>> {
        self.repo.clusters().await
    }

    /// The cluster `name`, connected.
    pub async fn get(&self, name: &str) -> Result<Arc<Cluster>> {
        if let Some(c) = self.live.lock().expect("never poisoned").get(name) {
            return Ok(c.clone());
        }
        let record = self
            .repo
            .cluster(name)
            .await?
            .ok_or_else(|| Error::ClusterNotFound(name.to_owned()))?;
        let password = self.key.open(&record.name, &record.password_sealed)?;
        let cluster = Arc::new(Cluster {
            driver: self.connect(&record, &password),
            hosts: Hosts::new(record.agents.clone(), self.agent_tls.clone()),
            record,
            password,
        });
        self.live
            .lock()
            .expect("never poisoned")
            .entry(name.to_owned())
            .or_insert(cluster.clone());
        Ok(cluster)
    }

    /// The cluster a request names, or the only one when it names none.
    pub async fn resolve(&self, name: Option<&str>) -> Result<Arc<Cluster>> {
        if let Some(name) = name.filter(|n| !n.is_empty()) {
            return self.get(name).await;
        }
        let all = self.list().await?;
        match all.as_slice() {
            [one] => self.get(&one.name).await,
            [] => Err(Error::ClusterUnspecified(
                "no cluster is registered: register one first (obup cluster add)".into(),
            )),
            many => Err(Error::ClusterUnspecified(format!(
                "{} clusters are registered ({}): name the one to use",
                many.len(),
                many.iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Removes a registration; refused while one of its DAGs is unfinished.
    /// `audit`: the event of the call, committed with the removal.
    pub async fn remove(
        &self,
        name: &str,
        now_ms: i64,
        audit: Option<&obup_kit::audit::AuditEvent>,
    ) -> Result<()> {
        if !self.repo.remove_cluster(name, now_ms, audit).await? {
            return Err(Error::ClusterNotFound(name.to_owned()));
        }
        self.forget(name);
        Ok(())
    }

    fn forget(&self, name: &str) {
        self.live.lock().expect("never poisoned").remove(name);
    }
}
