//! The engine: runs READY sub-tasks as soon as they are READY.
//!
//! There is no scheduling tick. Every change goes through [`Engine::apply`],
//! which commits it, publishes its events and, when sub-tasks may have
//! become READY, wakes the dispatch loop. A sub-task is claimed under a
//! lease (kept alive while it runs); a lease that ends because its engine
//! died is recovered by any engine: resumed if the task can continue,
//! failed otherwise. Because claims go through the DAG's row lock, two
//! engines on one database never run the same sub-task twice.

mod log;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Notify, watch};
use tokio::task::AbortHandle;

use crate::clusters::{Cluster, Clusters};
use crate::domain::dag::Dag;
use crate::domain::output::TaskOutput;
use crate::domain::state::State;
use crate::events::EventHub;
use crate::storage::{Applied, DagOp, DagRepository, EventBody, Outcome};
use crate::tasks::{self, AgentOps, TaskContext, TaskIo};
use crate::{Error, Result};
use log::{LogSender, LogWriter};

/// How soon a claim that was skipped (its DAG busy in another transaction)
/// is tried again.
const CLAIM_RETRY: Duration = Duration::from_millis(20);

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
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            owner: "obup".into(),
            lease: Duration::from_secs(15),
            concurrency: 64,
            task_timeout: Duration::from_secs(3600),
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
    clusters: Arc<Clusters>,
    /// The package store's URL, handed to agents to pull packages from.
    store_url: String,
    config: EngineConfig,
    wake: Notify,
    running: Mutex<HashMap<i64, Running>>,
}

/// A sub-task this engine is executing.
struct Running {
    abort: AbortHandle,
    /// Its agent operations, to cancel them with it.
    ops: Arc<AgentOps>,
    dag_id: i64,
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
        clusters: Arc<Clusters>,
        store_url: String,
        config: EngineConfig,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                hub,
                clusters,
                store_url,
                config,
                wake: Notify::new(),
                running: Mutex::default(),
            }),
        }
    }

    pub fn repo(&self) -> &Arc<dyn DagRepository> {
        &self.inner.repo
    }

    pub fn hub(&self) -> &EventHub {
        &self.inner.hub
    }

    /// Creates a DAG and starts it; `audit`: the event of the call that
    /// asked for it, committed with it.
    pub async fn create(
        &self,
        dag: Dag,
        audit: Option<&obup_kit::audit::AuditEvent>,
    ) -> Result<Dag> {
        let applied = self.inner.repo.create_audited(dag, now_ms(), audit).await?;
        self.publish(&applied);
        Ok(applied.dag)
    }

    /// Commits one change, publishes its events and wakes the dispatcher if
    /// anything may have become READY.
    pub async fn apply(&self, dag_id: i64, op: DagOp) -> Result<Applied> {
        self.apply_audited(dag_id, op, None).await
    }

    /// [`Engine::apply`] of an operator's call, its audit event committed
    /// with the change.
    pub async fn apply_audited(
        &self,
        dag_id: i64,
        op: DagOp,
        audit: Option<&obup_kit::audit::AuditEvent>,
    ) -> Result<Applied> {
        let applied = self
            .inner
            .repo
            .apply_audited(dag_id, op, now_ms(), audit)
            .await?;
        self.publish(&applied);
        if let Outcome::Applied { interrupted } = &applied.outcome {
            self.cancel_running(interrupted).await;
        }
        Ok(applied)
    }

    /// Stops sub-tasks a CANCEL failed: their executions here, and the
    /// agent operations they were waiting on.
    async fn cancel_running(&self, ids: &[i64]) {
        let stopped: Vec<(i64, Arc<AgentOps>)> = {
            let running = self
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned");
            ids.iter()
                .filter_map(|id| {
                    running.get(id).map(|r| {
                        r.abort.abort();
                        (r.dag_id, r.ops.clone())
                    })
                })
                .collect()
        };
        for (dag_id, ops) in stopped {
            let Some((agent, key)) = ops.last() else {
                continue;
            };
            if let Ok(cluster) = self.cluster_of(dag_id).await {
                cluster.hosts.cancel(&agent, &key).await;
            }
        }
    }

    async fn cluster_of(&self, dag_id: i64) -> Result<Arc<Cluster>> {
        let dag = self
            .inner
            .repo
            .get(dag_id)
            .await?
            .ok_or(Error::DagNotFound(dag_id))?;
        self.inner.clusters.get(&dag.cluster_id).await
    }

    fn publish(&self, applied: &Applied) {
        self.publish_events(&applied.events);
    }

    /// Publishes events another orchestrator committed (see `relay`), as if
    /// they were this one's: watchers here see them, and work they made
    /// READY is claimed here too.
    pub fn publish_events(&self, events: &[crate::storage::Event]) {
        self.inner.hub.publish(events);
        let readied = events.iter().any(|e| {
            matches!(
                &e.body,
                EventBody::SubTask {
                    state: State::Ready,
                    ..
                }
            )
        });
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
            // Work on agents goes on; whoever takes these sub-tasks over
            // re-attaches to it.
            let handles: Vec<AbortHandle> = engine
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned")
                .drain()
                .map(|(_, r)| r.abort)
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
        let ops = Arc::new(AgentOps::default());
        let dag_arc = Arc::new(dag.clone());
        let spec = Spec {
            kind: task.kind,
            attempt: u32::try_from(task.execute_times).unwrap_or(1),
            agent: task.agent.clone(),
            operator: task.operator,
            resume: task.resume,
            params: dag.params.clone(),
            node: node.params.clone(),
        };
        let engine = self.clone();
        let dag_id = dag.id;
        let task_ops = ops.clone();
        let mut running = self
            .inner
            .running
            .lock()
            .expect("the running map is never poisoned");
        let handle = tokio::spawn(async move {
            let (lines, writer) = LogWriter::start(engine.clone(), dag_id, task_id);
            let io: Arc<dyn TaskIo> = Arc::new(EngineIo {
                engine: engine.clone(),
                dag_id,
                task_id,
                lines,
            });
            let cluster = engine.inner.clusters.get(&dag_arc.cluster_id).await;
            let outcome = match cluster {
                Ok(cluster) => {
                    let ctx = spec.context(
                        &engine,
                        dag_arc,
                        task_id,
                        cluster.clone(),
                        io,
                        task_ops.clone(),
                    );
                    let outcome = engine.execute(&ctx).await;
                    drop(ctx);
                    outcome
                }
                Err(e) => {
                    io.line(format!("cannot reach the cluster: {e}")).await;
                    drop(io);
                    Err(e.to_string())
                }
            };
            // Every line the execution printed is stored before its end.
            writer.finish().await;
            let op = DagOp::Finish {
                task_id,
                owner: engine.inner.config.owner.clone(),
                outcome,
            };
            engine.record(dag_id, op).await;
            engine.forget(dag_id, &task_ops).await;
            engine
                .inner
                .running
                .lock()
                .expect("the running map is never poisoned")
                .remove(&task_id);
            engine.inner.wake.notify_one();
        });
        running.insert(
            task_id,
            Running {
                abort: handle.abort_handle(),
                ops,
                dag_id,
            },
        );
        Ok(())
    }

    /// Lets the agents drop the operations of an execution whose outcome
    /// is recorded.
    async fn forget(&self, dag_id: i64, ops: &AgentOps) {
        let all = ops.all();
        if all.is_empty() {
            return;
        }
        if let Ok(cluster) = self.cluster_of(dag_id).await {
            for (agent, key) in all {
                cluster.hosts.forget(&agent, &key).await;
            }
        }
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
    async fn execute(&self, ctx: &TaskContext) -> std::result::Result<Option<TaskOutput>, String> {
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
                Ok(Ok(output)) => Ok(output),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err("sub task timeout".into()),
            },
            () = heartbeat => unreachable!("the heartbeat loops forever"),
        }
    }
}

/// What an execution is, taken from its DAG when it is claimed.
struct Spec {
    kind: crate::domain::template::TaskKind,
    attempt: u32,
    agent: Option<String>,
    operator: crate::domain::state::Operator,
    resume: bool,
    params: crate::domain::params::DagParams,
    node: crate::domain::params::NodeParams,
}

impl Spec {
    fn context(
        self,
        engine: &Engine,
        dag: Arc<Dag>,
        task_id: i64,
        cluster: Arc<Cluster>,
        log: Arc<dyn TaskIo>,
        ops: Arc<AgentOps>,
    ) -> TaskContext {
        TaskContext {
            kind: self.kind,
            dag_id: dag.id,
            task_id,
            attempt: self.attempt,
            params: self.params,
            node: self.node,
            dag,
            agent: self.agent,
            operator: self.operator,
            resume: self.resume,
            cluster,
            store_url: engine.inner.store_url.clone(),
            deadline_ms: now_ms() + engine.inner.config.task_timeout.as_millis() as i64,
            log,
            ops,
        }
    }
}

/// A running sub-task's reports: lines through its log writer, progress
/// straight into its DAG.
struct EngineIo {
    engine: Engine,
    dag_id: i64,
    task_id: i64,
    lines: LogSender,
}

#[async_trait::async_trait]
impl TaskIo for EngineIo {
    async fn line(&self, line: String) {
        tracing::debug!(dag = self.dag_id, task = self.task_id, "{line}");
        self.lines.send(line).await;
    }

    async fn checkpoint(&self, output: TaskOutput) -> Result<()> {
        let op = DagOp::Checkpoint {
            task_id: self.task_id,
            owner: self.engine.inner.config.owner.clone(),
            output,
        };
        match self.engine.apply(self.dag_id, op).await?.outcome {
            Outcome::Applied { .. } => Ok(()),
            Outcome::Skipped | Outcome::Refused(_) => Err(Error::Internal(format!(
                "sub-task {} is no longer this engine's: progress not recorded",
                self.task_id
            ))),
        }
    }
}

impl Engine {
    /// Stores a batch of a running sub-task's log lines and publishes their
    /// events. Lines of an execution this engine no longer holds are
    /// dropped, as obshell drops logs of a stale execution.
    async fn write_logs(&self, dag_id: i64, task_id: i64, lines: Vec<String>) {
        let owner = &self.inner.config.owner;
        let mut pause = Duration::from_millis(100);
        loop {
            match self
                .inner
                .repo
                .append_logs(dag_id, task_id, owner, &lines, now_ms())
                .await
            {
                Ok(events) => return self.inner.hub.publish(&events),
                Err(e) if e.is_transient() => {
                    tracing::warn!(dag = dag_id, error = %e, "cannot store log lines yet; retrying");
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                }
                Err(e) => {
                    return tracing::warn!(dag = dag_id, error = %e, "storing log lines failed");
                }
            }
        }
    }
}
