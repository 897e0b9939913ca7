//! The orchestrator as the rest of obup sees it: planning, DAG control and
//! watching, free of transport types.

use std::sync::Arc;

use obup_kit::audit::{AuditEvent, AuditStore};
use tokio::sync::{broadcast, mpsc};

use crate::clusters::Clusters;
use crate::domain::dag::{Dag, SubTask};
use crate::domain::state::Operator;
use crate::engine::Engine;
use crate::packages::PackageSource;
use crate::plan::{Plan, UpgradeRequest, plan};
use crate::storage::{DagFilter, DagOp, Event, EventBody, LogRow, Outcome};
use crate::{Error, Result};

/// Events read from the database per query when catching up.
const CATCH_UP_BATCH: i64 = 1000;

/// What a watcher receives.
#[derive(Debug, Clone)]
pub enum WatchItem {
    /// The whole DAG as of its `last_seq` (sent first on a fresh watch).
    Snapshot(Box<Dag>),
    Event(Arc<Event>),
}

/// The upgrade orchestrator.
#[derive(Debug, Clone)]
pub struct Orchestrator {
    engine: Engine,
    packages: Arc<dyn PackageSource>,
    clusters: Arc<Clusters>,
    /// The journal, for calls that fail (a change records its event in its
    /// own transaction).
    audit: AuditStore,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Orchestrator {
    pub fn new(
        engine: Engine,
        packages: Arc<dyn PackageSource>,
        clusters: Arc<Clusters>,
        audit: AuditStore,
    ) -> Self {
        Self {
            engine,
            packages,
            clusters,
            audit,
        }
    }

    /// The orchestrator's audit journal.
    pub fn audit(&self) -> &AuditStore {
        &self.audit
    }

    /// The registered clusters.
    pub fn clusters(&self) -> &Clusters {
        &self.clusters
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// The route and stages an upgrade of the request's cluster would have.
    pub async fn plan(&self, req: &UpgradeRequest) -> Result<Plan> {
        let cluster = self.clusters.resolve(Some(&req.cluster)).await?;
        plan(&cluster, self.packages.as_ref(), req, false, now_ms()).await
    }

    /// Creates and starts the check DAG. `audit`: the call's event, written
    /// with the DAG (a check DAG is a change too: it is stored and runs).
    pub async fn check(&self, req: &UpgradeRequest, audit: Option<&AuditEvent>) -> Result<Dag> {
        let cluster = self.clusters.resolve(Some(&req.cluster)).await?;
        let p = plan(&cluster, self.packages.as_ref(), req, true, now_ms()).await?;
        self.create(&cluster.record.name, p, audit).await
    }

    /// Creates and starts the upgrade DAG (taking the cluster's
    /// maintenance lock). `audit`: the call's event, written with the DAG.
    pub async fn start(&self, req: &UpgradeRequest, audit: Option<&AuditEvent>) -> Result<Dag> {
        let cluster = self.clusters.resolve(Some(&req.cluster)).await?;
        let p = plan(&cluster, self.packages.as_ref(), req, false, now_ms()).await?;
        self.create(&cluster.record.name, p, audit).await
    }

    async fn create(&self, cluster: &str, p: Plan, audit: Option<&AuditEvent>) -> Result<Dag> {
        let dag = Dag::from_spec(cluster, &p.spec, p.params);
        let dag = self.engine.create(dag, audit).await?;
        tracing::info!(dag = dag.id, name = %dag.name, stages = dag.max_stage(), "DAG created");
        Ok(dag)
    }

    pub async fn get(&self, id: i64) -> Result<Dag> {
        self.engine
            .repo()
            .get(id)
            .await?
            .ok_or(Error::DagNotFound(id))
    }

    /// DAGs of the cluster `cluster` (empty: of every cluster).
    pub async fn list(&self, filter: DagFilter, cluster: &str) -> Result<Vec<Dag>> {
        let cluster = (!cluster.is_empty()).then_some(cluster);
        let dags = self.engine.repo().list(cluster, filter).await?;
        if filter == DagFilter::Maintenance && dags.is_empty() {
            return Err(Error::NoMaintenanceDag);
        }
        Ok(dags)
    }

    /// RETRY, ROLLBACK, CANCEL or PASS (any case). `audit`: the call's
    /// event, written with the change.
    pub async fn operate(
        &self,
        id: i64,
        operator: &str,
        audit: Option<&AuditEvent>,
    ) -> Result<Dag> {
        let op = Operator::parse(operator)
            .filter(|o| *o != Operator::Run)
            .ok_or_else(|| {
                Error::Refused(crate::domain::dag::Refusal {
                    code: "Task.Dag.Operator.NotSupport",
                    message: format!("Operator '{operator}' is not supported"),
                })
            })?;
        let applied = self
            .engine
            .apply_audited(id, DagOp::Operate(op), audit)
            .await?;
        match applied.outcome {
            Outcome::Refused(r) => Err(r.into()),
            Outcome::Applied { .. } | Outcome::Skipped => Ok(applied.dag),
        }
    }

    /// PASS a failed node. `audit`: the call's event, written with the
    /// change, naming the node's DAG.
    pub async fn pass_node(&self, node_id: i64, audit: Option<&AuditEvent>) -> Result<Dag> {
        let dag_id = self
            .engine
            .repo()
            .node_dag(node_id)
            .await?
            .ok_or(Error::NodeNotFound(node_id))?;
        let audit = audit.map(|e| e.clone().on(format!("node {node_id} of dag {dag_id}")));
        let applied = self
            .engine
            .apply_audited(dag_id, DagOp::PassNode { node_id }, audit.as_ref())
            .await?;
        match applied.outcome {
            Outcome::Refused(r) => Err(r.into()),
            Outcome::Applied { .. } | Outcome::Skipped => Ok(applied.dag),
        }
    }

    /// A node and its DAG.
    pub async fn node(&self, id: i64) -> Result<(Dag, usize)> {
        let dag_id = self
            .engine
            .repo()
            .node_dag(id)
            .await?
            .ok_or(Error::NodeNotFound(id))?;
        let dag = self.get(dag_id).await?;
        let index = dag
            .nodes
            .iter()
            .position(|n| n.id == id)
            .ok_or(Error::NodeNotFound(id))?;
        Ok((dag, index))
    }

    /// A sub-task and its DAG.
    pub async fn task(&self, id: i64) -> Result<(Dag, SubTask)> {
        let dag_id = self
            .engine
            .repo()
            .task_dag(id)
            .await?
            .ok_or(Error::TaskNotFound(id))?;
        let dag = self.get(dag_id).await?;
        let task = dag.task(id).cloned().ok_or(Error::TaskNotFound(id))?;
        Ok((dag, task))
    }

    pub async fn logs(&self, task_id: i64) -> Result<Vec<LogRow>> {
        self.engine
            .repo()
            .task_dag(task_id)
            .await?
            .ok_or(Error::TaskNotFound(task_id))?;
        self.engine.repo().logs(task_id).await
    }

    /// Streams a DAG's changes: a snapshot (when `after_seq` is 0), then
    /// every event with a higher seq, in order and without gaps, ending
    /// after the DAG reaches SUCCEED or FAILED unless `follow`.
    pub async fn watch(
        &self,
        dag_id: i64,
        after_seq: i64,
        follow: bool,
    ) -> Result<mpsc::Receiver<Result<WatchItem>>> {
        // Subscribe before reading, so that nothing committed in between is
        // missed; duplicates are dropped by seq below.
        let live = self.engine.hub().subscribe();
        let snapshot = self.get(dag_id).await?;
        let (tx, rx) = mpsc::channel(64);
        let repo = self.engine.repo().clone();
        tokio::spawn(async move {
            if let Err(e) = stream_dag(repo, live, snapshot, after_seq, follow, &tx).await {
                let _ = tx.send(Err(e)).await;
            }
        });
        Ok(rx)
    }

    /// Every event of every DAG from now on.
    pub fn watch_all(&self) -> broadcast::Receiver<Arc<Event>> {
        self.engine.hub().subscribe()
    }
}

fn terminal(body: &EventBody) -> bool {
    matches!(body, EventBody::Dag { state, .. } if state.is_done())
}

async fn stream_dag(
    repo: Arc<dyn crate::storage::DagRepository>,
    mut live: broadcast::Receiver<Arc<Event>>,
    snapshot: Dag,
    after_seq: i64,
    follow: bool,
    tx: &mpsc::Sender<Result<WatchItem>>,
) -> Result<()> {
    let dag_id = snapshot.id;
    let mut cursor = after_seq;
    if after_seq == 0 {
        cursor = snapshot.last_seq;
        if tx
            .send(Ok(WatchItem::Snapshot(Box::new(snapshot))))
            .await
            .is_err()
        {
            return Ok(());
        }
    }
    // Catch up from the database, then follow the hub; re-read the database
    // whenever the hub skipped something (lag, or a gap in seq).
    let mut ended = catch_up(&repo, dag_id, &mut cursor, tx).await?;
    if !follow && (ended || already_over(&repo, dag_id, cursor).await?) {
        return Ok(());
    }
    loop {
        let event = match live.recv().await {
            Ok(e) => e,
            Err(broadcast::error::RecvError::Lagged(_)) => {
                ended = catch_up(&repo, dag_id, &mut cursor, tx).await?;
                if ended && !follow {
                    return Ok(());
                }
                continue;
            }
            Err(broadcast::error::RecvError::Closed) => return Ok(()),
        };
        if event.dag_id != dag_id || event.seq <= cursor {
            continue;
        }
        if event.seq > cursor + 1 {
            ended = catch_up(&repo, dag_id, &mut cursor, tx).await?;
        } else {
            cursor = event.seq;
            ended = terminal(&event.body);
            if tx.send(Ok(WatchItem::Event(event))).await.is_err() {
                return Ok(());
            }
        }
        if ended && !follow {
            return Ok(());
        }
    }
}

/// Whether the DAG already stands in a terminal state and the watcher has
/// seen everything (a watch of a finished DAG, or a reconnect after its end).
async fn already_over(
    repo: &Arc<dyn crate::storage::DagRepository>,
    dag_id: i64,
    cursor: i64,
) -> Result<bool> {
    Ok(repo
        .get(dag_id)
        .await?
        .is_some_and(|d| d.state.is_done() && d.last_seq <= cursor))
}

/// Sends every stored event after `cursor`; true if the last one sent ends
/// the DAG.
async fn catch_up(
    repo: &Arc<dyn crate::storage::DagRepository>,
    dag_id: i64,
    cursor: &mut i64,
    tx: &mpsc::Sender<Result<WatchItem>>,
) -> Result<bool> {
    let mut ended = false;
    loop {
        let batch = repo.events_after(dag_id, *cursor, CATCH_UP_BATCH).await?;
        if batch.is_empty() {
            return Ok(ended);
        }
        for e in batch {
            *cursor = e.seq;
            ended = terminal(&e.body);
            if tx.send(Ok(WatchItem::Event(Arc::new(e)))).await.is_err() {
                return Ok(true);
            }
        }
    }
}
