//! The engine: runs READY sub-tasks as soon as they are READY.
//!
//! There is no scheduling tick. Every change goes through [`Engine::apply`],
//! which commits it, publishes its events and, when sub-tasks may have
//! become READY, wakes the dispatch loop. A sub-task is claimed under a
//! lease (kept alive while it runs); a lease that ends because its engine
//! died is recovered by any engine: resumed if the task can continue,
//! failed otherwise. Because claims go through the DAG's row lock, two
//! engines on one database never run the same sub-task twice.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::cluster::Cluster;
use crate::domain::dag::Dag;
use crate::domain::state::State;
use crate::events::EventHub;
use crate::packages::PackageSource;
use crate::storage::{Applied, DagOp, DagRepository, EventBody, Outcome};
use crate::tasks::{self, DagParams, NodeParams, TaskContext, TaskLog};
use crate::{Error, Result};

/// How soon a claim that was skipped (its DAG busy in another transaction)
/// is tried again.
const CLAIM_RETRY: Duration = Duration::from_millis(20);

/// Fail the N-th execution of every sub-task with this name (counted over
/// the process), for tests of RETRY, ROLLBACK, PASS and CANCEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureRule {
    pub task_name: String,
    pub nth: u32,
}

impl FailureRule {
    /// `NAME` or `NAME@N`.
    pub fn parse(s: &str) -> Option<Self> {
        let (name, nth) = match s.rsplit_once('@') {
            Some((name, n)) => (name, n.parse().ok()?),
            None => (s, 1),
        };
        (!name.is_empty() && nth > 0).then(|| Self {
            task_name: name.to_owned(),
            nth,
        })
    }
}

/// Tunables of an engine.
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Unique per engine sharing a database; stable across restarts so that
    /// a restarted engine takes its own interrupted work back at once.
    pub owner: String,
    pub lease: Duration,
    /// Sub-tasks run at once by this engine.
    pub concurrency: usize,
    /// Per sub-task execution (obshell: 3600 s).
    pub task_timeout: Duration,
    pub failures: Vec<FailureRule>,
    /// Where tasks keep per-DAG state (saved parameters).
    pub state_dir: PathBuf,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            owner: "obup".into(),
            lease: Duration::from_secs(15),
            concurrency: 64,
            task_timeout: Duration::from_secs(3600),
            failures: Vec::new(),
            state_dir: PathBuf::from("obup-data/orchestrator"),
        }
    }
}

/// Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn DagRepository>,
    hub: EventHub,
    cluster: Arc<dyn Cluster>,
    packages: Arc<dyn PackageSource>,
    config: EngineConfig,
    wake: Notify,
    running: Mutex<HashMap<i64, AbortHandle>>,
    executions: Mutex<HashMap<String, u32>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("owner", &self.inner.config.owner)
            .finish()
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Engine {
    pub fn new(
        repo: Arc<dyn DagRepository>,
        hub: EventHub,
        cluster: Arc<dyn Cluster>,
        packages: Arc<dyn PackageSource>,
        config: EngineConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                hub,
                cluster,
                packages,
                config,
                wake: Notify::new(),
                running: Mutex::default(),
                executions: Mutex::default(),
            }),
        }
    }

    pub fn repo(&self) -> &Arc<dyn DagRepository> {
        &self.inner.repo
    }

    pub fn hub(&self) -> &EventHub {
        &self.inner.hub
    }

    /// Creates a DAG and starts it.
    pub async fn create(&self, dag: Dag) -> Result<Dag> {
        let applied = self.inner.repo.create(dag, now_ms()).await?;
        self.publish(&applied);
        Ok(applied.dag)
    }

    /// Commits one change, publishes its events and wakes the dispatcher if
    /// anything may have become READY.
    pub async fn apply(&self, dag_id: i64, op: DagOp) -> Result<Applied> {
        let applied = self.inner.repo.apply(dag_id, op, now_ms()).await?;
        self.publish(&applied);
        if let Outcome::Applied { interrupted } = &applied.outcome {
            let running = self
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned");
            for id in interrupted {
                if let Some(handle) = running.get(id) {
                    handle.abort();
                }
            }
        }
        Ok(applied)
    }

    fn publish(&self, applied: &Applied) {
        self.publish_events(&applied.events);
    }

    /// Publishes events another orchestrator committed (see `relay`), as if
    /// they were this one's: watchers here see them, and work they made
    /// READY is claimed here too.
    pub fn publish_events(&self, events: &[crate::storage::Event]) {
        self.inner.hub.publish(events);
        let readied = events
            .iter()
            .any(|e| matches!(&e.body, EventBody::SubTask { state, .. } if state == State::Ready.as_str()));
        if readied {
            self.inner.wake.notify_one();
        }
    }

    /// Runs the dispatch loop until `shutdown` turns true.
    pub fn spawn(&self, mut shutdown: watch::Receiver<bool>) -> tokio::task::JoinHandle<()> {
        let engine = self.clone();
        tokio::spawn(async move {
            // Work this engine held before a restart is nobody's now.
            if let Err(e) = engine.recover(true).await {
                tracing::warn!(error = %e, "recovering interrupted sub-tasks failed");
            }
            let reap_every = engine.inner.config.lease / 2;
            loop {
                // A claim skipped because another transaction held its DAG
                // (PostgreSQL) is retried shortly rather than at the next
                // wake-up, which may never come for it.
                let retry_soon = match engine.dispatch().await {
                    Ok(skipped) => skipped,
                    Err(e) => {
                        tracing::warn!(error = %e, "dispatch failed");
                        true
                    }
                };
                tokio::select! {
                    () = engine.inner.wake.notified() => {}
                    () = tokio::time::sleep(CLAIM_RETRY), if retry_soon => {}
                    () = tokio::time::sleep(reap_every) => {
                        // Only for engines that died: progress never waits on this.
                        if let Err(e) = engine.recover(false).await {
                            tracing::warn!(error = %e, "recovering expired leases failed");
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
            let handles: Vec<AbortHandle> = engine
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned")
                .drain()
                .map(|(_, h)| h)
                .collect();
            for h in handles {
                h.abort();
            }
        })
    }

    async fn recover(&self, own: bool) -> Result<()> {
        let owner = if own {
            self.inner.config.owner.as_str()
        } else {
            ""
        };
        for t in self.inner.repo.orphaned_tasks(now_ms(), owner).await? {
            if self.is_running(t.task_id) {
                continue;
            }
            tracing::info!(
                dag = t.dag_id,
                task = t.task_id,
                "recovering an interrupted sub-task"
            );
            self.apply(t.dag_id, DagOp::Recover { task_id: t.task_id })
                .await?;
        }
        Ok(())
    }

    fn is_running(&self, task_id: i64) -> bool {
        self.inner
            .running
            .lock()
            .expect("the running map is never poisoned")
            .contains_key(&task_id)
    }

    /// Claims READY sub-tasks and starts them.
    /// Returns whether a claim was skipped (to be retried soon).
    async fn dispatch(&self) -> Result<bool> {
        let mut skipped = false;
        loop {
            let free = self.inner.config.concurrency
                - self
                    .inner
                    .running
                    .lock()
                    .expect("the running map is never poisoned")
                    .len()
                    .min(self.inner.config.concurrency);
            if free == 0 {
                return Ok(skipped);
            }
            let ready = self.inner.repo.ready_tasks(free as i64).await?;
            let mut started = 0;
            for t in ready {
                if self.is_running(t.task_id) {
                    continue;
                }
                let lease_until_ms = now_ms() + self.inner.config.lease.as_millis() as i64;
                let op = DagOp::Claim {
                    task_id: t.task_id,
                    owner: self.inner.config.owner.clone(),
                    lease_until_ms,
                };
                let applied = self.apply(t.dag_id, op).await?;
                if applied.outcome
                    == (Outcome::Applied {
                        interrupted: vec![],
                    })
                {
                    self.start(&applied.dag, t.task_id)?;
                    started += 1;
                } else {
                    skipped |= applied
                        .dag
                        .task(t.task_id)
                        .is_some_and(|task| task.state == State::Ready);
                }
            }
            if started == 0 {
                return Ok(skipped);
            }
        }
    }

    fn start(&self, dag: &Dag, task_id: i64) -> Result<()> {
        let (n, t) = dag.find_task(task_id).ok_or(Error::TaskNotFound(task_id))?;
        let (node, task) = (&dag.nodes[n], &dag.nodes[n].tasks[t]);
        let params: DagParams = serde_json::from_str(&dag.params)
            .map_err(|e| Error::Internal(format!("DAG {} has invalid params: {e}", dag.id)))?;
        let node_params: NodeParams = serde_json::from_str(&node.params)
            .map_err(|e| Error::Internal(format!("node {} has invalid params: {e}", node.id)))?;
        let ctx = TaskContext {
            kind: task.kind,
            dag_id: dag.id,
            task_id,
            params,
            node: node_params,
            agent: task.agent.clone(),
            operator: task.operator,
            resume: task.resume,
            cluster: self.inner.cluster.clone(),
            packages: self.inner.packages.clone(),
            log: Arc::new(EngineLog {
                engine: self.clone(),
                dag_id: dag.id,
                task_id,
            }),
            state_dir: self.inner.config.state_dir.clone(),
        };
        let injected = self.injected_failure(&task.name, task.operator);
        let engine = self.clone();
        let dag_id = dag.id;
        let mut running = self
            .inner
            .running
            .lock()
            .expect("the running map is never poisoned");
        let handle = tokio::spawn(async move {
            let outcome = engine.execute(&ctx, injected).await;
            let op = DagOp::Finish {
                task_id,
                owner: engine.inner.config.owner.clone(),
                outcome,
            };
            engine.record(dag_id, op).await;
            engine
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned")
                .remove(&task_id);
            engine.inner.wake.notify_one();
        });
        running.insert(task_id, handle.abort_handle());
        Ok(())
    }

    /// Records how an execution ended. The outcome lives only in memory
    /// until then, so a database outage is waited out rather than the work
    /// thrown away (which would run the sub-task again). If the outage
    /// outlasts the lease, another engine takes the sub-task over and this
    /// write is refused, as it must be.
    async fn record(&self, dag_id: i64, op: DagOp) {
        let mut pause = Duration::from_millis(100);
        loop {
            match self.apply(dag_id, op.clone()).await {
                Ok(_) => return,
                Err(e) if e.is_transient() => {
                    tracing::warn!(dag = dag_id, error = %e, "cannot record a sub-task's outcome yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    tracing::error!(dag = dag_id, error = %e, "recording a sub-task's outcome failed");
                    return;
                }
            }
        }
    }

    /// Runs one execution under its timeout, renewing the lease meanwhile.
    async fn execute(
        &self,
        ctx: &TaskContext,
        injected: Option<String>,
    ) -> std::result::Result<(), String> {
        if let Some(e) = injected {
            ctx.log.line(e.clone()).await;
            return Err(e);
        }
        let heartbeat = async {
            let every = self.inner.config.lease / 3;
            loop {
                tokio::time::sleep(every).await;
                let lease_until_ms = now_ms() + self.inner.config.lease.as_millis() as i64;
                let op = DagOp::RenewLease {
                    task_id: ctx.task_id,
                    owner: self.inner.config.owner.clone(),
                    lease_until_ms,
                };
                if let Err(e) = self.apply(ctx.dag_id, op).await {
                    tracing::warn!(error = %e, "lease renewal failed");
                }
            }
        };
        let work = tokio::time::timeout(self.inner.config.task_timeout, tasks::run(ctx));
        tokio::select! {
            r = work => match r {
                Ok(Ok(())) => Ok(()),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("sub task timeout".into()),
            },
            () = heartbeat => unreachable!("the heartbeat loops forever"),
        }
    }

    fn injected_failure(
        &self,
        name: &str,
        operator: crate::domain::state::Operator,
    ) -> Option<String> {
        if operator == crate::domain::state::Operator::Rollback {
            return None;
        }
        let nths: Vec<u32> = self
            .inner
            .config
            .failures
            .iter()
            .filter(|r| r.task_name == name)
            .map(|r| r.nth)
            .collect();
        if nths.is_empty() {
            return None;
        }
        let mut counts = self
            .inner
            .executions
            .lock()
            .expect("the execution counter is never poisoned");
        let n = counts.entry(name.to_owned()).or_default();
        *n += 1;
        nths.contains(n)
            .then(|| format!("injected failure: execution {} of '{name}'", *n))
    }
}

/// Writes a sub-task's log lines as DAG events.
struct EngineLog {
    engine: Engine,
    dag_id: i64,
    task_id: i64,
}

#[async_trait::async_trait]
impl TaskLog for EngineLog {
    async fn line(&self, line: String) {
        tracing::debug!(dag = self.dag_id, task = self.task_id, "{line}");
        let op = DagOp::Log {
            task_id: self.task_id,
            owner: self.engine.inner.config.owner.clone(),
            line,
        };
        if let Err(e) = self.engine.apply(self.dag_id, op).await {
            tracing::warn!(error = %e, "writing a task log line failed");
        }
    }
}
