//! A simulated OceanBase cluster on this machine, reached exactly as a real
//! one is: its sys tenant over the MySQL protocol (obsim, one listener per
//! server on `127.A.B.n`) and one obup-agent per simulated host, whose root
//! directory stands for the host's filesystem. `obup dev --demo` and the
//! tests start one; the orchestrator is then told about it like about any
//! cluster (its SQL endpoints and agents), and runs the real driver.
//!
//! # Layout
//! - [`LocalCluster`]: start and stop obsim and the agents.
//! - `python`: a virtualenv with the upgrade scripts' `mysql.connector`.

pub mod python;

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::Context;
use obup_agent::{Agent, AgentHandle};
use obup_kit::tls::DevPkiFiles;
use obup_obsim::Simulator;

/// How to start a local cluster.
#[derive(Debug, Clone)]
pub struct LocalConfig {
    /// The simulator's configuration (data dir, layout, timing, faults).
    pub obsim: obup_obsim::Config,
    /// Where each agent keeps its journal: `<agents_dir>/<ip>`.
    pub agents_dir: PathBuf,
    /// The port the agents listen on, on their server's address (the
    /// demo's: obshell's 2886; tests: 0, any free port).
    pub agent_port: u16,
    /// The interpreter the agents run the upgrade scripts with (one with
    /// `mysql.connector`); `None`: each agent looks for one.
    pub python: Option<PathBuf>,
    /// Each agent's download rate limit (0: none).
    pub fetch_bytes_per_sec: u64,
    /// Mutual TLS between the orchestrator and the agents: a CA, one server
    /// certificate for every agent's address and the orchestrator's client
    /// certificate are made under `<tls_dir>/<127.A.B>` (kept across
    /// restarts). `None`: plaintext.
    pub tls_dir: Option<PathBuf>,
    /// The token file the agents download packages with, for a package
    /// store that checks tokens (`obup dev`'s); `None`: none sent.
    pub store_token_file: Option<PathBuf>,
    /// The CA the agents trust for an `https://` package store (`obup dev
    /// --tls`); `None`: the store serves plaintext.
    pub store_ca: Option<PathBuf>,
}

/// obsim and its agents, running.
#[derive(Debug)]
pub struct LocalCluster {
    sim: obup_obsim::Handle,
    agents: Vec<LocalAgent>,
    pki: Option<DevPkiFiles>,
}

/// One simulated host's agent: its configuration (to start it again on the
/// same address and journal) and, while it runs, its handle.
#[derive(Debug)]
struct LocalAgent {
    config: obup_agent::Config,
    addr: SocketAddr,
    running: Option<AgentHandle>,
}

impl LocalCluster {
    /// Starts obsim (which lays the hosts out and starts the observers),
    /// then one agent per server, rooted at the server's host directory.
    pub async fn start(config: LocalConfig) -> anyhow::Result<Self> {
        let sim = Simulator::start(config.obsim.clone())
            .await
            .context("starting obsim")?;
        let mut agents = Vec::new();
        let endpoints = sim.sql_endpoints();
        let roots = sim.host_roots();
        let pki = match &config.tls_dir {
            Some(dir) => Some(pki(dir, &endpoints)?),
            None => None,
        };
        for (endpoint, root) in endpoints.iter().zip(roots) {
            let ip = endpoint.ip().to_string();
            let mut c = obup_agent::Config::local(root, config.agents_dir.join(&ip));
            c.listen = format!("{ip}:{}", config.agent_port);
            c.svr_ip = ip.clone();
            c.sql_port = endpoint.port();
            c.rpc_port = sim.config().rpc_port;
            c.python = config.python.clone();
            c.fetch_bytes_per_sec = config.fetch_bytes_per_sec;
            c.store_token_file = config.store_token_file.clone();
            c.store_ca = config.store_ca.clone();
            if let Some(files) = &pki {
                c.tls_cert = Some(files.server_cert.clone());
                c.tls_key = Some(files.server_key.clone());
                c.tls_client_ca = Some(files.ca_cert.clone());
                c.plaintext = false;
            }
            let agent = serve(&c).await?;
            // Later starts bind the port the first one got.
            let addr = agent.addr();
            c.listen = addr.to_string();
            agents.push(LocalAgent {
                config: c,
                addr,
                running: Some(agent),
            });
        }
        Ok(Self { sim, agents, pki })
    }

    /// `host:port` of every server's SQL port, zones in order.
    pub fn sql_endpoints(&self) -> Vec<String> {
        self.sim
            .sql_endpoints()
            .iter()
            .map(SocketAddr::to_string)
            .collect()
    }

    /// `host:port` of every agent, in the order of the servers.
    pub fn agents(&self) -> Vec<String> {
        self.agents.iter().map(|a| a.addr.to_string()).collect()
    }

    /// Stops the agent of server `i` as a host's agent stops: its running
    /// operations stay running in its journal, to be found interrupted at
    /// its next start. Its address refuses connections until then.
    pub async fn stop_agent(&mut self, i: usize) -> anyhow::Result<()> {
        if let Some(agent) = self.agents[i].running.take() {
            agent.stop().await?;
        }
        Ok(())
    }

    /// Starts the agent of server `i` again, on the same address, root and
    /// journal.
    pub async fn start_agent(&mut self, i: usize) -> anyhow::Result<()> {
        let agent = &mut self.agents[i];
        if agent.running.is_none() {
            agent.running = Some(serve(&agent.config).await?);
        }
        Ok(())
    }

    /// The files of the agents' mutual TLS, when it is on: the CA the
    /// orchestrator trusts and its client certificate and key.
    pub fn tls(&self) -> Option<&DevPkiFiles> {
        self.pki.as_ref()
    }

    /// The simulator, for tests: status, transcript, faults.
    pub fn sim(&self) -> &obup_obsim::Handle {
        &self.sim
    }

    /// Stops the agents (their operations stay in their journals) and
    /// obsim (which kills the observers it watches).
    pub async fn stop(self) -> anyhow::Result<()> {
        for a in self.agents.into_iter().filter_map(|a| a.running) {
            a.stop().await?;
        }
        self.sim.stop().await
    }
}

/// The demo PKI for agents on `endpoints`' addresses, under a directory of
/// their `127.A.B` (a different prefix gets certificates of its own).
fn pki(dir: &std::path::Path, endpoints: &[SocketAddr]) -> anyhow::Result<DevPkiFiles> {
    let mut names: Vec<String> = endpoints.iter().map(|e| e.ip().to_string()).collect();
    let prefix = names
        .first()
        .and_then(|ip| ip.rsplit_once('.'))
        .map(|(p, _)| p.to_owned())
        .unwrap_or_default();
    names.push("localhost".into());
    obup_kit::tls::write_dev_pki(&dir.join(prefix), &names)
        .context("making the demo agents' certificates")
}

/// Starts an agent on `c.listen`.
async fn serve(c: &obup_agent::Config) -> anyhow::Result<AgentHandle> {
    let listener = tokio::net::TcpListener::bind(&c.listen)
        .await
        .with_context(|| format!("the agent of {} cannot listen on {}", c.svr_ip, c.listen))?;
    Ok(Agent::with_listener(c, listener)
        .await
        .with_context(|| format!("starting the agent of {}", c.svr_ip))?
        .spawn())
}
