//! Where DAGs live: a repository over PostgreSQL or SQLite.
//!
//! Every change goes through [`DagRepository::apply`]: load the DAG under
//! its row lock, apply one [`DagOp`] with the domain's rules, write the
//! changed rows and one event per change, commit. State and history can
//! therefore never disagree, and events are numbered without gaps.

mod clusters;
mod events;
pub mod notify;
mod sql;

use async_trait::async_trait;
use obup_kit::audit::AuditEvent;

pub use events::{Event, EventBody};
pub use sql::SqlDagRepository;

use crate::Result;
use crate::clusters::ClusterRecord;
use crate::domain::dag::{Dag, Refusal};
use crate::domain::output::TaskOutput;
use crate::domain::state::Operator;

/// One change to apply to a stored DAG.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DagOp {
    /// Move forward as far as possible (after creation or recovery).
    Advance,
    Claim {
        task_id: i64,
        owner: String,
        lease_until_ms: i64,
    },
    RenewLease {
        task_id: i64,
        owner: String,
        lease_until_ms: i64,
    },
    Finish {
        task_id: i64,
        owner: String,
        outcome: Result<Option<TaskOutput>, String>,
    },
    /// Progress of a running execution, kept in case it is resumed.
    Checkpoint {
        task_id: i64,
        owner: String,
        output: TaskOutput,
    },
    Recover {
        task_id: i64,
    },
    Operate(Operator),
    PassNode {
        node_id: i64,
    },
}

/// What applying an op did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Applied. For CANCEL: the sub-tasks that were running.
    Applied { interrupted: Vec<i64> },
    /// Not applicable any more (lost a race, stale lease): nothing changed.
    Skipped,
    /// An operator was refused.
    Refused(Refusal),
}

/// The DAG after an op, what happened, and the events written.
#[derive(Debug, Clone)]
pub struct Applied {
    pub dag: Dag,
    pub outcome: Outcome,
    pub events: Vec<Event>,
}

/// Which DAGs to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagFilter {
    All,
    Unfinished,
    /// The latest maintenance DAG, finished or not.
    Maintenance,
}

/// A log line of a sub-task execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRow {
    pub id: i64,
    pub sub_task_id: i64,
    pub execute_times: i32,
    pub content: String,
    pub created_at_ms: i64,
}

/// A sub-task to act on, with its DAG.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskRef {
    pub dag_id: i64,
    pub task_id: i64,
}

/// Persistence of DAGs. One implementation serves both backends.
#[async_trait]
pub trait DagRepository: Send + Sync + std::fmt::Debug + 'static {
    /// Records a cluster if it is new.
    async fn ensure_cluster(&self, cluster_id: &str) -> Result<()>;
    /// Registers a cluster, or updates its registration; `audit`: the
    /// event of the call, committed with it.
    async fn save_cluster(&self, record: &ClusterRecord, audit: Option<&AuditEvent>) -> Result<()>;
    async fn cluster(&self, name: &str) -> Result<Option<ClusterRecord>>;
    /// Registered clusters, by name.
    async fn clusters(&self) -> Result<Vec<ClusterRecord>>;
    /// Removes a registration (keeping its finished DAGs); refused while a
    /// DAG of the cluster is unfinished. False if there was none. `audit`:
    /// the event of the call, committed with the removal (not written when
    /// nothing was removed: the caller records that failure).
    async fn remove_cluster(
        &self,
        name: &str,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<bool>;
    /// Inserts a new DAG (taking the cluster's maintenance lock if it is a
    /// maintenance DAG) and starts it.
    async fn create(&self, dag: Dag, now: i64) -> Result<Applied> {
        self.create_audited(dag, now, None).await
    }
    /// [`DagRepository::create`], with the audit event of the call that
    /// asked for it in the same transaction, its target the new DAG's id.
    async fn create_audited(
        &self,
        dag: Dag,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<Applied>;
    async fn apply(&self, dag_id: i64, op: DagOp, now: i64) -> Result<Applied> {
        self.apply_audited(dag_id, op, now, None).await
    }
    /// [`DagRepository::apply`], with the audit event of the operator's call
    /// in the same transaction, unless the op was refused (nothing changed;
    /// the caller records the refusal).
    async fn apply_audited(
        &self,
        dag_id: i64,
        op: DagOp,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<Applied>;
    /// Stores log lines of a RUNNING sub-task held by `owner`, with their
    /// events, without loading the DAG: the cost of a log line is two row
    /// inserts. Nothing is stored (and no event returned) if the sub-task is
    /// not `owner`'s running execution any more.
    async fn append_logs(
        &self,
        dag_id: i64,
        task_id: i64,
        owner: &str,
        lines: &[String],
        now: i64,
    ) -> Result<Vec<Event>>;
    async fn get(&self, dag_id: i64) -> Result<Option<Dag>>;
    /// Newest first; of one cluster, or of all.
    async fn list(&self, cluster_id: Option<&str>, filter: DagFilter) -> Result<Vec<Dag>>;
    /// READY sub-tasks, oldest first.
    async fn ready_tasks(&self, limit: i64) -> Result<Vec<TaskRef>>;
    /// RUNNING sub-tasks whose lease ended before `now`, or held by `owner`
    /// (an engine restarted under the same name holds nothing yet).
    async fn orphaned_tasks(&self, now: i64, owner: &str) -> Result<Vec<TaskRef>>;
    async fn task_dag(&self, task_id: i64) -> Result<Option<i64>>;
    async fn node_dag(&self, node_id: i64) -> Result<Option<i64>>;
    async fn logs(&self, task_id: i64) -> Result<Vec<LogRow>>;
    /// Events of a DAG with `seq > after`, in order, at most `limit`.
    async fn events_after(&self, dag_id: i64, after: i64, limit: i64) -> Result<Vec<Event>>;
}
