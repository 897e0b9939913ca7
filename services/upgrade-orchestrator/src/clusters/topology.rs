//! A cluster as an upgrade sees it: what its sys tenant says (zones in
//! order, servers, edition, builds) joined with what its agents say (which
//! agent serves which server, each host's architecture).

use obup_ob_sql::ServerRow;

use super::hosts::Hosts;
use crate::domain::template::{Edition, ZoneAgents};
use crate::driver::ClusterView;
use crate::tasks::TaskIo;
use crate::{Error, Result};

/// One observer and the agent on its host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// `host:port` of the agent: where this server's host work runs.
    pub agent: String,
    pub zone: String,
    pub arch: String,
    pub svr_ip: String,
    pub svr_port: u16,
    pub sql_port: u16,
    /// `<version>-<build>`.
    pub build_version: String,
    pub serving: bool,
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

/// Joins the sys tenant's view with the agents' reports: each server is
/// matched to the agent whose host runs it (same `SVR_IP` and RPC port).
/// A server without an agent, or an agent that cannot be reached, is
/// obshell's `Agent.Unavailable`; with `wait` (a sub-task's deadline and
/// log), an agent that cannot be reached is waited for until the deadline.
pub async fn join(
    view: &ClusterView,
    hosts: &Hosts,
    wait: Option<(i64, &dyn TaskIo)>,
) -> Result<Topology> {
    // Every agent at once: each report costs its host a few interpreter
    // starts (the Python probes), which need not add up.
    let reports = futures::future::try_join_all(hosts.agents().iter().map(|agent| async move {
        let facts = match wait {
            Some((deadline_ms, log)) => hosts.facts_until(agent, deadline_ms, log).await?,
            None => hosts.facts(agent).await?,
        };
        Ok::<_, Error>((agent.clone(), facts))
    }))
    .await?;
    let mut servers = Vec::new();
    for s in &view.servers {
        let (agent, facts) = reports
            .iter()
            .find(|(_, f)| f.observer.svr_ip == s.svr_ip && f.observer.rpc_port == s.svr_port)
            .ok_or_else(|| Error::Precheck {
                code: "Agent.Unavailable",
                message: format!(
                    "no registered agent runs on the host of server {}:{} (zone {}): \
                     register its agent with the cluster",
                    s.svr_ip, s.svr_port, s.zone
                ),
            })?;
        servers.push(server(s, agent, &facts.architecture));
    }
    let zones = view
        .zones
        .iter()
        .map(|z| ZoneAgents {
            zone: z.zone.clone(),
            agents: servers
                .iter()
                .filter(|s| s.zone == z.zone)
                .map(|s| s.agent.clone())
                .collect(),
        })
        .collect();
    Ok(Topology {
        edition: view.edition,
        zones,
        servers,
    })
}

fn server(s: &ServerRow, agent: &str, arch: &str) -> Server {
    Server {
        agent: agent.to_owned(),
        zone: s.zone.clone(),
        arch: arch.to_owned(),
        svr_ip: s.svr_ip.clone(),
        svr_port: s.svr_port,
        sql_port: s.sql_port,
        build_version: s.version_build().unwrap_or_else(|| s.build_version.clone()),
        serving: s.serving(),
    }
}
