//! What each kind of sub-task does, and how it is undone.
//!
//! Cluster work goes through the cluster's SQL driver; host work through
//! the agent on the host, as typed operations keyed by (sub-task, step,
//! attempt), so that an execution resumed by any orchestrator re-attaches
//! to what an agent is still doing instead of doing it twice. Every task is
//! written to be run again after an interruption without harm.
//!
//! # Layout
//! - `layout`: where a DAG's files live on a host.
//! - `prelude`: the python check, directories, packages, the obshell
//!   binary.
//! - `cluster`: parameters, zones, the minor freeze.
//! - `scripts`: the four upgrade scripts, run on a host.
//! - `reinstall`: "Reinstall and restart observer".

mod cluster;
mod layout;
mod prelude;
mod reinstall;
mod scripts;

use std::sync::{Arc, Mutex};

use obup_agent::domain::{OpKey, OpOutput, Secret, Work};

use crate::clusters::{Cluster, Op};
use crate::domain::dag::Dag;
use crate::domain::output::TaskOutput;
use crate::domain::params::{DagParams, NodeParams, PlannedHop};
use crate::domain::state::Operator;
use crate::domain::template::TaskKind;
use crate::{Error, Result};

/// What a running sub-task reports: log lines (to its log and watchers)
/// and progress (kept with it in case it is resumed).
#[async_trait::async_trait]
pub trait TaskIo: Send + Sync {
    async fn line(&self, line: String);
    /// Records how far the execution got; durable when this returns.
    async fn checkpoint(&self, output: TaskOutput) -> Result<()>;
}

/// The agent operations an execution has run, newest last: cancelled when
/// the sub-task is cancelled, forgotten on their agents once its outcome is
/// recorded.
#[derive(Debug, Default)]
pub struct AgentOps(Mutex<Vec<(String, OpKey)>>);

impl AgentOps {
    fn push(&self, agent: &str, key: OpKey) {
        self.0
            .lock()
            .expect("never poisoned")
            .push((agent.to_owned(), key));
    }

    pub fn all(&self) -> Vec<(String, OpKey)> {
        self.0.lock().expect("never poisoned").clone()
    }

    pub fn last(&self) -> Option<(String, OpKey)> {
        self.0.lock().expect("never poisoned").last().cloned()
    }
}

/// Everything one execution needs.
pub struct TaskContext {
    pub kind: TaskKind,
    pub dag_id: i64,
    pub task_id: i64,
    /// obshell's execute_times: the attempt of every agent operation.
    pub attempt: u32,
    pub params: DagParams,
    pub node: NodeParams,
    /// The DAG as it stood when this execution was claimed: outputs of
    /// earlier sub-tasks, and this one's own progress when resuming.
    pub dag: Arc<Dag>,
    /// The agent a parallel sub-task runs on; `None` for serial ones.
    pub agent: Option<String>,
    pub operator: Operator,
    pub resume: bool,
    pub cluster: Arc<Cluster>,
    /// The package store's URL, for agents to pull packages from.
    pub store_url: String,
    /// Unix ms by which the execution must end.
    pub deadline_ms: i64,
    pub log: Arc<dyn TaskIo>,
    pub ops: Arc<AgentOps>,
}

impl std::fmt::Debug for TaskContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TaskContext")
            .field("kind", &self.kind)
            .field("dag_id", &self.dag_id)
            .field("task_id", &self.task_id)
            .field("attempt", &self.attempt)
            .field("agent", &self.agent)
            .field("operator", &self.operator)
            .finish()
    }
}

impl TaskContext {
    async fn line(&self, line: impl Into<String>) {
        self.log.line(line.into()).await;
    }

    /// The agent of a parallel sub-task.
    fn my_agent(&self) -> Result<&str> {
        self.agent
            .as_deref()
            .ok_or_else(|| Error::Internal(format!("{} runs on an agent", self.kind.key())))
    }

    fn zone(&self) -> Result<&str> {
        self.node
            .zone
            .as_deref()
            .ok_or_else(|| Error::Internal(format!("{} needs a zone", self.kind.key())))
    }

    fn hop(&self) -> Result<(usize, &PlannedHop)> {
        let i = self
            .node
            .hop
            .ok_or_else(|| Error::Internal(format!("{} needs a hop", self.kind.key())))?;
        let hop = self
            .params
            .hops
            .get(i)
            .ok_or_else(|| Error::Internal(format!("hop {i} is not in the plan")))?;
        Ok((i, hop))
    }

    /// Runs one operation on `agent` as step `step` of this execution.
    async fn host_op(&self, agent: &str, step: &str, work: Work) -> Result<OpOutput> {
        self.host_op_with(agent, step, work, Secret::default())
            .await
    }

    async fn host_op_with(
        &self,
        agent: &str,
        step: &str,
        work: Work,
        password: Secret,
    ) -> Result<OpOutput> {
        let key = OpKey::new(
            &format!("dag{}/task{}/{step}", self.dag_id, self.task_id),
            self.attempt,
        )
        .map_err(Error::Internal)?;
        self.ops.push(agent, key.clone());
        let op = Op {
            agent,
            key,
            work,
            password,
            deadline_ms: self.deadline_ms,
        };
        self.cluster
            .hosts
            .run(op, self.resume, self.log.as_ref())
            .await
    }
}

/// Runs the execution the context describes (RUN, or ROLLBACK); returns
/// what it produced for later sub-tasks, if anything.
pub async fn run(ctx: &TaskContext) -> Result<Option<TaskOutput>> {
    if ctx.resume {
        ctx.line("resuming an interrupted execution").await;
    }
    match ctx.operator {
        Operator::Rollback => rollback(ctx).await.map(|()| None),
        Operator::Run | Operator::Retry | Operator::Cancel | Operator::Pass => execute(ctx).await,
    }
}

async fn execute(ctx: &TaskContext) -> Result<Option<TaskOutput>> {
    match ctx.kind {
        TaskKind::CheckPythonEnv => prelude::check_python(ctx).await,
        TaskKind::CreateUpgradeDir => prelude::create_dir(ctx).await,
        TaskKind::DownloadPackages => prelude::download(ctx).await,
        TaskKind::CheckPackages => prelude::verify(ctx).await,
        TaskKind::UnpackPackages => prelude::unpack(ctx).await,
        TaskKind::BackupForUpgrade => prelude::backup_agent(ctx).await,
        TaskKind::InstallAgent => prelude::install_agent(ctx).await,
        TaskKind::RemoveUpgradeDir => prelude::remove_dir(ctx).await,
        TaskKind::BackupParameters => return cluster::backup_parameters(ctx).await.map(Some),
        TaskKind::RestoreParameters => cluster::restore_parameters(ctx, true).await,
        TaskKind::StopZone => cluster::stop_zone(ctx).await,
        TaskKind::StartZone => cluster::start_zone(ctx).await,
        TaskKind::MinorFreeze => cluster::minor_freeze(ctx).await,
        TaskKind::ExecuteScript(script) => scripts::run(ctx, script).await,
        TaskKind::ReinstallObserver => return reinstall::run(ctx).await.map(Some),
    }
    .map(|()| None)
}

async fn rollback(ctx: &TaskContext) -> Result<()> {
    match ctx.kind {
        TaskKind::CreateUpgradeDir | TaskKind::DownloadPackages => prelude::remove_dir(ctx).await?,
        TaskKind::UnpackPackages => prelude::remove_unpacked(ctx).await?,
        TaskKind::BackupForUpgrade => prelude::remove_agent_backup(ctx).await?,
        TaskKind::InstallAgent => prelude::restore_agent(ctx).await?,
        TaskKind::BackupParameters => cluster::restore_parameters(ctx, false).await?,
        TaskKind::CheckPythonEnv | TaskKind::CheckPackages | TaskKind::MinorFreeze => {}
        kind @ (TaskKind::RemoveUpgradeDir
        | TaskKind::RestoreParameters
        | TaskKind::StopZone
        | TaskKind::StartZone
        | TaskKind::ExecuteScript(_)
        | TaskKind::ReinstallObserver) => {
            return Err(Error::Internal(format!(
                "{} cannot be rolled back",
                kind.key()
            )));
        }
    }
    ctx.line("rolled back").await;
    Ok(())
}
