//! Starting and stopping a simulator.
//!
//! Life of one simulator:
//! 1. **state**: `state.json` in the data dir is loaded if present (obsim
//!    survives its own restart: same servers, homes, upgrade progress);
//!    otherwise the SQL ports are bound first (on a fresh random prefix
//!    after a bind failure, in tests), the homes laid out under
//!    `H/<ip>`, each binary asked `-V`, and a new cluster made.
//! 2. **serve**: a listener task per server (open only while it serves),
//!    the observer loop, the timer loop, the persister and the control API.
//! 3. **observers**: every home without a live observer gets one started
//!    (unless `start_observers` is off); from then on they are observed,
//!    not owned: the agent kills and starts them.
//! 4. **stop** ([`Handle::stop`], SIGTERM for the CLI): the tasks end, the
//!    observer of **every** home is killed (whoever started it: they run in
//!    obsim's homes), the state is written, `obsim.json` removed. Dropping a
//!    handle without `stop` kills the observers too.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::config::{Config, random_prefix};
use crate::engine::{Core, now_ms};
use crate::faults::{FaultSpec, Faults};
use crate::hosts;
use crate::state::{Cluster, Counters, Invariant, Layout, Op, Refusal, Transition};
use crate::status::Status;
use crate::transcript::{Entry, Totals};

/// What `obsim.json` holds: how `status` and tests find a running
/// simulator.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Info {
    /// `http://127.0.0.1:<port>` of the control API.
    pub control: String,
    pub pid: u32,
    pub sql_endpoints: Vec<String>,
    pub homes: Vec<PathBuf>,
}

/// The entry point.
#[derive(Debug)]
pub struct Simulator;

impl Simulator {
    /// Brings a simulator up and returns its handle.
    pub async fn start(config: Config) -> anyhow::Result<Handle> {
        std::fs::create_dir_all(&config.data_dir)
            .with_context(|| format!("creating {}", config.data_dir.display()))?;
        let (mut config, cluster, listeners) = prepare(config).await?;
        let faults = initial_faults(&mut config)?;
        let core = Arc::new(Core::new(config.clone(), cluster, faults));
        save(&core)?;

        let (shutdown_tx, shutdown) = watch::channel(false);
        let mut tasks = JoinSet::new();
        let servers = core.cluster().servers;
        for (s, l) in servers.iter().zip(listeners) {
            let addr = SocketAddr::from((s.ip, s.sql_port));
            // A server that does not serve yet must refuse connections.
            let first = if s.serving() { Some(l) } else { None };
            tasks.spawn(crate::mysql::serve_server(
                core.clone(),
                s.id,
                addr,
                first,
                shutdown.clone(),
            ));
        }
        tasks.spawn(crate::observe::run(core.clone(), shutdown.clone()));
        tasks.spawn(timers(core.clone(), shutdown.clone()));
        tasks.spawn(persister(core.clone(), shutdown.clone()));
        let control = TcpListener::bind(config.control_listen)
            .await
            .with_context(|| format!("binding the control API at {}", config.control_listen))?;
        let control_addr = control.local_addr()?;
        tasks.spawn(crate::control::serve(
            core.clone(),
            control,
            control_addr,
            shutdown.clone(),
        ));

        if config.start_observers {
            for s in &servers {
                if hosts::live_pid(&s.home).is_none() {
                    let home = s.home.clone();
                    tokio::task::spawn_blocking(move || hosts::start_observer(&home))
                        .await
                        .context("starting an observer")??;
                }
            }
        }
        crate::observe::look_once(&core).await;
        // Return with every port as the state says: a caller that connects
        // right after start must not find a serving server's port still
        // being bound by its listener task.
        core.tick();
        tokio::time::timeout(Duration::from_secs(10), core.ports_settled())
            .await
            .context("the SQL ports did not open within 10 s of start")?;

        let info = Info {
            control: format!("http://{control_addr}"),
            pid: std::process::id(),
            sql_endpoints: servers
                .iter()
                .map(|s| format!("{}:{}", s.ip, s.sql_port))
                .collect(),
            homes: servers.iter().map(|s| s.home.clone()).collect(),
        };
        write_json(&config.info_file(), &info)?;
        Ok(Handle {
            core,
            shutdown: shutdown_tx,
            tasks,
            info,
            stopped: false,
        })
    }
}

/// Loads the state, or binds the ports and lays out a new cluster.
async fn prepare(mut config: Config) -> anyhow::Result<(Config, Cluster, Vec<TcpListener>)> {
    if let Some(cluster) = load(&config)? {
        let mut listeners = Vec::new();
        for s in &cluster.servers {
            let addr = SocketAddr::from((s.ip, s.sql_port));
            listeners.push(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr} (from the saved state)"))?,
            );
        }
        return Ok((config, cluster, listeners));
    }
    let n = config.zones * config.servers_per_zone;
    anyhow::ensure!(
        n > 0 && n < 255,
        "{n} servers do not fit in one 127.A.B.0/24"
    );
    let mut attempts = 0;
    let listeners = loop {
        match bind_all(&config, n).await {
            Ok(l) => break l,
            Err(e) if config.retry_prefix && attempts < 20 => {
                attempts += 1;
                tracing::debug!(error = %e, "prefix taken, drawing another");
                config.ip_prefix = random_prefix();
            }
            Err(e) => return Err(e),
        }
    };
    let hosts_dir = config.hosts_dir();
    let standard = if config.packages.is_empty() {
        hosts::standin_packages(config.edition, &config.version)?
    } else {
        config
            .packages
            .iter()
            .map(|p| std::fs::read(p).with_context(|| format!("reading {}", p.display())))
            .collect::<anyhow::Result<_>>()?
    };
    let mixed = config
        .mixed_version
        .as_deref()
        .map(|v| hosts::standin_packages(config.edition, v))
        .transpose()?;
    let [a, b, c] = config.ip_prefix;
    let mut homes = Vec::new();
    let mut builds = Vec::new();
    for k in 1..=n {
        let root = hosts::root_of(&hosts_dir, Ipv4Addr::new(a, b, c, k as u8));
        let packages = match &mixed {
            Some(m) if k == n => m,
            _ => &standard,
        };
        let home = hosts::lay_out(&root, packages)?;
        builds.push(hosts::read_build(&home)?);
        homes.push(home);
    }
    let layout = Layout {
        name: config.cluster_name.clone(),
        edition: config.edition,
        zones: config.zones,
        servers_per_zone: config.servers_per_zone,
        ip_prefix: config.ip_prefix,
        sql_port: config.sql_port,
        rpc_port: config.rpc_port,
        homes,
        builds,
        user_tenants: config.user_tenants,
    };
    let mut cluster = Cluster::new(&layout, now_ms());
    let sc = config.scenario.clone();
    let t = config.timing;
    let now = now_ms();
    if let Some(status) = sc.tenant_status {
        cluster
            .apply(
                Op::SetTenantStatus {
                    tenant: "tenant1".into(),
                    status,
                },
                now,
                &t,
            )
            .map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    cluster.counters.backup_jobs = sc.backup_jobs;
    if sc.major_compaction {
        let _ = cluster.apply(Op::SetMajorCompaction(true), now, &t);
    }
    for f in &sc.frozen {
        let tr = Transition::from_word(f).with_context(|| format!("no transition {f:?}"))?;
        let _ = cluster.apply(Op::Freeze(tr), now, &t);
    }
    Ok((config, cluster, listeners))
}

async fn bind_all(config: &Config, n: usize) -> anyhow::Result<Vec<TcpListener>> {
    let [a, b, c] = config.ip_prefix;
    let mut out = Vec::new();
    for k in 1..=n {
        let addr = SocketAddr::from((Ipv4Addr::new(a, b, c, k as u8), config.sql_port));
        out.push(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("binding {addr}"))?,
        );
    }
    Ok(out)
}

fn initial_faults(config: &mut Config) -> anyhow::Result<Faults> {
    let mut faults = Faults::default();
    for f in std::mem::take(&mut config.faults) {
        faults.add(f).map_err(|e| anyhow::anyhow!(e))?;
    }
    Ok(faults)
}

fn load(config: &Config) -> anyhow::Result<Option<Cluster>> {
    let path = config.state_file();
    match std::fs::read(&path) {
        Ok(bytes) => Ok(Some(
            serde_json::from_slice(&bytes)
                .with_context(|| format!("reading {}", path.display()))?,
        )),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

fn write_json(path: &std::path::Path, value: &impl Serialize) -> anyhow::Result<()> {
    let tmp = path.with_extension("json.tmp");
    std::fs::write(&tmp, serde_json::to_vec_pretty(value)?)
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

fn save(core: &Core) -> anyhow::Result<()> {
    write_json(&core.config.state_file(), &core.cluster())
}

/// Resolves once `shutdown` says stop (or its sender is gone).
pub async fn stopped(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|s| *s).await;
}

/// Fires timers when they are due, and wakes up after every change to
/// look at the next one.
async fn timers(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let changed = core.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        let due = core.lock().cluster.next_due();
        let wait = due.map_or(Duration::from_secs(3600), |d| {
            Duration::from_millis((d - now_ms()).max(0) as u64)
        });
        tokio::select! {
            _ = tokio::time::sleep(wait) => core.tick(),
            _ = &mut changed => {}
            _ = crate::sim::stopped(&mut shutdown) => return,
        }
    }
}

/// Writes the state after changes (at most every 20 ms).
async fn persister(core: Arc<Core>, mut shutdown: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = core.changed.notified() => {}
            _ = crate::sim::stopped(&mut shutdown) => return,
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Err(e) = save(&core) {
            tracing::warn!(error = %e, "cannot save the state");
        }
    }
}

/// A running simulator.
#[derive(Debug)]
pub struct Handle {
    core: Arc<Core>,
    shutdown: watch::Sender<bool>,
    tasks: JoinSet<()>,
    info: Info,
    stopped: bool,
}

impl Handle {
    /// `ip:port` of every server's SQL listener, in server order.
    pub fn sql_endpoints(&self) -> Vec<SocketAddr> {
        self.core
            .cluster()
            .servers
            .iter()
            .map(|s| SocketAddr::from((s.ip, s.sql_port)))
            .collect()
    }

    /// Every server's observer home, in server order.
    pub fn server_homes(&self) -> Vec<PathBuf> {
        self.info.homes.clone()
    }

    /// Every server's host root (`H/<ip>`), in server order.
    pub fn host_roots(&self) -> Vec<PathBuf> {
        self.core
            .cluster()
            .servers
            .iter()
            .map(|s| hosts::root_of(&self.core.config.hosts_dir(), s.ip))
            .collect()
    }

    /// `http://127.0.0.1:<port>` of the control API.
    pub fn control_url(&self) -> &str {
        &self.info.control
    }

    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// The cluster state now (after firing due timers).
    pub fn cluster(&self) -> Cluster {
        self.core.tick();
        self.core.cluster()
    }

    pub fn status(&self) -> Status {
        self.core.tick();
        self.core.status(&self.info.control)
    }

    /// Transcript entries with `seq > after`.
    pub fn transcript(&self, after: u64) -> Vec<Entry> {
        self.core.lock().transcript.since(after)
    }

    pub fn totals(&self) -> Totals {
        self.core.lock().transcript.totals().clone()
    }

    pub fn add_fault(&self, spec: FaultSpec) -> anyhow::Result<u64> {
        self.core
            .lock()
            .faults
            .add(spec)
            .map_err(|e| anyhow::anyhow!(e))
    }

    /// Removes one fault, or every fault.
    pub fn clear_faults(&self, id: Option<u64>) -> usize {
        self.core.lock().faults.clear(id)
    }

    pub fn freeze(&self, t: Transition) {
        let _ = self.core.apply(Op::Freeze(t));
    }

    pub fn thaw(&self, t: Transition) {
        let _ = self.core.apply(Op::Thaw(t));
    }

    pub fn set_counters(&self, c: Counters) {
        let _ = self.core.apply(Op::SetCounters(c));
    }

    /// Any change, as a statement would make it.
    pub fn apply(&self, op: Op) -> Result<bool, Refusal> {
        self.core.apply(op)
    }

    pub fn invariant(&self) -> Invariant {
        self.core.lock().cluster.invariant.clone()
    }

    /// Polls `pred` on the state (every 10 ms) until it holds or `timeout`
    /// passes; returns whether it held.
    pub async fn wait_for(&self, timeout: Duration, pred: impl Fn(&Cluster) -> bool) -> bool {
        let end = tokio::time::Instant::now() + timeout;
        loop {
            if pred(&self.cluster()) {
                return true;
            }
            if tokio::time::Instant::now() >= end {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the simulator and the observers in its homes.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.stopped = true;
        let _ = self.shutdown.send(true);
        while self.tasks.join_next().await.is_some() {}
        self.kill_observers();
        save(&self.core)?;
        let _ = std::fs::remove_file(self.core.config.info_file());
        Ok(())
    }

    fn kill_observers(&self) {
        for home in &self.info.homes {
            if let Some(pid) = hosts::kill_observer(home) {
                tracing::info!(pid, home = %home.display(), "observer killed");
            }
        }
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        if !self.stopped {
            let _ = self.shutdown.send(true);
            self.tasks.abort_all();
            self.kill_observers();
        }
    }
}
