//! [`DagRepository`] over PostgreSQL or SQLite through sqlx's `Any` driver.
//!
//! Integers (booleans included) are `BIGINT`/`INTEGER` and times Unix
//! milliseconds, so that both backends decode the same types.

use std::collections::BTreeSet;

use async_trait::async_trait;
use obup_kit::audit::{self, AuditEvent};
use obup_kit::db::Backend;
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, Row, Transaction};

use super::notify::{Announcement, CHANNEL};
use super::{Applied, DagFilter, DagOp, DagRepository, Event, EventBody, LogRow, Outcome, TaskRef};
use crate::clusters::ClusterRecord;
use crate::domain::dag::{Change, Dag, Node, SubTask};
use crate::domain::state::{Operator, State};
use crate::domain::template::TaskKind;
use crate::{Error, Result};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

/// The SQL DAG repository.
#[derive(Debug, Clone)]
pub struct SqlDagRepository {
    pool: AnyPool,
    backend: Backend,
    /// SQLite has a single writer: transactions that read, then write would
    /// fail with "database is locked" when they interleave, so this process
    /// serializes its DAG transactions. PostgreSQL uses the DAG row lock.
    writer: std::sync::Arc<tokio::sync::Mutex<()>>,
    /// This repository's name in change notifications (PostgreSQL), so that
    /// the relay of this process skips the changes it made itself.
    origin: String,
}

const DAG_COLUMNS: &str = "id, cluster_id, name, maintenance, state, operator, stage, finished, params, \
     last_seq, start_ms, end_ms";
const NODE_COLUMNS: &str =
    "id, stage, name, kind, parallel, params, state, operator, start_ms, end_ms";
const TASK_COLUMNS: &str = "id, node_id, name, kind, agent, state, operator, execute_times, lease_owner, \
     lease_until_ms, resume, start_ms, end_ms, output";

impl SqlDagRepository {
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, backend) =
            obup_kit::db::connect(url, &PG_MIGRATIONS, &SQLITE_MIGRATIONS).await?;
        Ok(Self {
            pool,
            backend,
            writer: Default::default(),
            origin: uuid::Uuid::now_v7().simple().to_string(),
        })
    }

    /// The pool, for the other tables of the same database (tokens).
    pub fn pool(&self) -> sqlx::AnyPool {
        self.pool.clone()
    }

    /// On SQLite, the lock every writer of this database must hold (see
    /// `writer`): a write outside it could make a DAG transaction fail with
    /// "database is locked".
    pub fn sqlite_writer(&self) -> Option<std::sync::Arc<tokio::sync::Mutex<()>>> {
        (self.backend == Backend::Sqlite).then(|| self.writer.clone())
    }

    /// Whose changes notifications from this repository announce.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// On PostgreSQL, announces `events` to the other orchestrators sharing
    /// the database (delivered at commit, not at all on rollback).
    async fn announce(&self, tx: &mut Transaction<'static, Any>, events: &[Event]) -> Result<()> {
        let (Backend::Postgres, Some(first), Some(last)) =
            (self.backend, events.first(), events.last())
        else {
            return Ok(());
        };
        let note = Announcement {
            origin: self.origin.clone(),
            dag_id: first.dag_id,
            first_seq: first.seq,
            last_seq: last.seq,
        };
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(note.to_string())
            .execute(&mut **tx)
            .await?;
        Ok(())
    }

    async fn begin(
        &self,
    ) -> Result<(
        Transaction<'static, Any>,
        Option<tokio::sync::OwnedMutexGuard<()>>,
    )> {
        let guard = match self.backend {
            Backend::Sqlite => Some(self.writer.clone().lock_owned().await),
            Backend::Postgres => None,
        };
        Ok((self.pool.begin().await?, guard))
    }
}

#[async_trait]
impl DagRepository for SqlDagRepository {
    async fn ensure_cluster(&self, cluster_id: &str) -> Result<()> {
        sqlx::query("INSERT INTO cluster (id) VALUES ($1) ON CONFLICT (id) DO NOTHING")
            .bind(cluster_id)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn save_cluster(&self, record: &ClusterRecord, audit: Option<&AuditEvent>) -> Result<()> {
        let (mut tx, _guard) = self.begin().await?;
        super::clusters::save(&mut tx, record).await?;
        if let Some(event) = audit {
            audit::insert(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn cluster(&self, name: &str) -> Result<Option<ClusterRecord>> {
        super::clusters::load(&self.pool, name).await
    }

    async fn clusters(&self) -> Result<Vec<ClusterRecord>> {
        super::clusters::list(&self.pool).await
    }

    async fn remove_cluster(
        &self,
        name: &str,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<bool> {
        let (mut tx, _guard) = self.begin().await?;
        let removed = super::clusters::remove(&mut tx, name, now).await?;
        if let (true, Some(event)) = (removed, audit) {
            audit::insert(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(removed)
    }

    async fn create_audited(
        &self,
        mut dag: Dag,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<Applied> {
        let (mut tx, _guard) = self.begin().await?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO dag (cluster_id, name, maintenance, state, operator, stage, finished, params, last_seq, \
             start_ms, end_ms, created_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0, 0, $9) RETURNING id",
        )
        .bind(&dag.cluster_id)
        .bind(&dag.name)
        .bind(i64::from(dag.maintenance))
        .bind(dag.state.as_str())
        .bind(dag.operator.as_str())
        .bind(i64::from(dag.stage))
        .bind(i64::from(dag.finished))
        .bind(to_json(&dag.params)?)
        .bind(now)
        .fetch_one(&mut *tx)
        .await?;
        dag.id = id;
        if dag.maintenance {
            // obshell's global maintenance lock: one upgrade at a time.
            let taken = sqlx::query(
                "UPDATE cluster SET maintenance_dag_id = $1 WHERE id = $2 AND maintenance_dag_id IS NULL",
            )
            .bind(id)
            .bind(&dag.cluster_id)
            .execute(&mut *tx)
            .await?;
            if taken.rows_affected() != 1 {
                let holder: Option<String> = sqlx::query_scalar(
                    "SELECT d.name FROM cluster c JOIN dag d ON d.id = c.maintenance_dag_id WHERE c.id = $1",
                )
                .bind(&dag.cluster_id)
                .fetch_optional(&mut *tx)
                .await?;
                return Err(Error::UnderMaintenance {
                    dag: dag.name.clone(),
                    holder,
                });
            }
        }
        for node in &mut dag.nodes {
            node.id = sqlx::query_scalar(
                "INSERT INTO dag_node (dag_id, stage, name, kind, parallel, params, state, operator, start_ms, end_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, 0) RETURNING id",
            )
            .bind(id)
            .bind(i64::from(node.stage))
            .bind(&node.name)
            .bind(node.kind.key())
            .bind(i64::from(node.parallel))
            .bind(to_json(&node.params)?)
            .bind(node.state.as_str())
            .bind(node.operator.as_str())
            .fetch_one(&mut *tx)
            .await?;
            for task in &mut node.tasks {
                task.node_id = node.id;
                task.id = sqlx::query_scalar(
                    "INSERT INTO sub_task (node_id, dag_id, name, kind, agent, state, operator, execute_times, \
                     lease_owner, lease_until_ms, resume, start_ms, end_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, 0, NULL, 0, 0, 0, 0) RETURNING id",
                )
                .bind(node.id)
                .bind(id)
                .bind(&task.name)
                .bind(task.kind.key())
                .bind(task.agent.as_deref())
                .bind(task.state.as_str())
                .bind(task.operator.as_str())
                .fetch_one(&mut *tx)
                .await?;
            }
        }
        dag.advance(now);
        let events = write_changes(&mut tx, &mut dag, now).await?;
        if let Some(event) = audit {
            // The id the caller is answered with, so that the event and
            // the DAG name each other.
            audit::insert(&mut tx, &event.clone().on(format!("dag {id}"))).await?;
        }
        self.announce(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(Applied {
            dag,
            outcome: Outcome::Applied {
                interrupted: vec![],
            },
            events,
        })
    }

    async fn apply_audited(
        &self,
        dag_id: i64,
        op: DagOp,
        now: i64,
        audit: Option<&AuditEvent>,
    ) -> Result<Applied> {
        let (mut tx, _guard) = self.begin().await?;
        // A claim on PostgreSQL skips a DAG another engine is changing right
        // now (FOR UPDATE SKIP LOCKED): that engine is alive and will run the
        // task itself, so waiting for its lock would only slow both down.
        if self.backend == Backend::Postgres && matches!(op, DagOp::Claim { .. }) {
            let free: Option<i64> =
                sqlx::query_scalar("SELECT id FROM dag WHERE id = $1 FOR UPDATE SKIP LOCKED")
                    .bind(dag_id)
                    .fetch_optional(&mut *tx)
                    .await?;
            if free.is_none() {
                let dag = load(&mut tx, dag_id)
                    .await?
                    .ok_or(Error::DagNotFound(dag_id))?;
                return Ok(Applied {
                    dag,
                    outcome: Outcome::Skipped,
                    events: Vec::new(),
                });
            }
        } else {
            // Every other change takes the DAG's row lock first: changes of
            // one DAG are serialized, and its events numbered in commit order.
            let locked = sqlx::query("UPDATE dag SET last_seq = last_seq WHERE id = $1")
                .bind(dag_id)
                .execute(&mut *tx)
                .await?;
            if locked.rows_affected() == 0 {
                return Err(Error::DagNotFound(dag_id));
            }
        }
        let mut dag = load(&mut tx, dag_id)
            .await?
            .ok_or(Error::DagNotFound(dag_id))?;
        let outcome = run_op(&mut dag, op, now);
        let events = write_changes(&mut tx, &mut dag, now).await?;
        if let Some(event) = audit.filter(|_| !matches!(outcome, Outcome::Refused(_))) {
            audit::insert(&mut tx, event).await?;
        }
        self.announce(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(Applied {
            dag,
            outcome,
            events,
        })
    }

    async fn append_logs(
        &self,
        dag_id: i64,
        task_id: i64,
        owner: &str,
        lines: &[String],
        now: i64,
    ) -> Result<Vec<Event>> {
        if lines.is_empty() {
            return Ok(Vec::new());
        }
        let (mut tx, _guard) = self.begin().await?;
        // The DAG row lock first, as every change takes it: events are
        // numbered in commit order.
        let last: Option<i64> = sqlx::query_scalar(
            "UPDATE dag SET last_seq = last_seq + $1 WHERE id = $2 AND EXISTS \
             (SELECT 1 FROM sub_task WHERE id = $3 AND dag_id = $2 AND state = 'RUNNING' AND lease_owner = $4) \
             RETURNING last_seq",
        )
        .bind(lines.len() as i64)
        .bind(dag_id)
        .bind(task_id)
        .bind(owner)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(last) = last else {
            return Ok(Vec::new());
        };
        let execute_times: i64 =
            sqlx::query_scalar("SELECT execute_times FROM sub_task WHERE id = $1")
                .bind(task_id)
                .fetch_one(&mut *tx)
                .await?;
        let first = last - lines.len() as i64 + 1;
        let mut events = Vec::with_capacity(lines.len());
        let sql = sqlx::AssertSqlSafe(insert_rows(
            self.backend,
            "INSERT INTO sub_task_log (sub_task_id, execute_times, content, created_at_ms)",
            lines.len(),
            4,
        ));
        let mut logs = sqlx::query(sql);
        for line in lines {
            logs = logs
                .bind(task_id)
                .bind(execute_times)
                .bind(line.as_str())
                .bind(now);
        }
        logs.execute(&mut *tx).await?;
        for (i, line) in lines.iter().enumerate() {
            events.push(Event {
                dag_id,
                seq: first + i as i64,
                at_ms: now,
                body: EventBody::Log {
                    sub_task_id: task_id,
                    execute_times: execute_times as i32,
                    content: line.clone(),
                },
            });
        }
        let bodies = events
            .iter()
            .map(|e| to_json(&e.body))
            .collect::<Result<Vec<_>>>()?;
        let sql = sqlx::AssertSqlSafe(insert_rows(
            self.backend,
            "INSERT INTO dag_event (dag_id, seq, body, created_at_ms)",
            events.len(),
            4,
        ));
        let mut rows = sqlx::query(sql);
        for (e, body) in events.iter().zip(bodies) {
            rows = rows.bind(dag_id).bind(e.seq).bind(body).bind(now);
        }
        rows.execute(&mut *tx).await?;
        self.announce(&mut tx, &events).await?;
        tx.commit().await?;
        Ok(events)
    }

    async fn get(&self, dag_id: i64) -> Result<Option<Dag>> {
        let mut conn = self.pool.acquire().await?;
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        let dag = load(&mut tx, dag_id).await?;
        tx.commit().await?;
        Ok(dag)
    }

    async fn list(&self, cluster_id: Option<&str>, filter: DagFilter) -> Result<Vec<Dag>> {
        // `$1 IS NULL` selects every cluster.
        let sql: &'static str = match filter {
            DagFilter::All => {
                "SELECT id FROM dag WHERE ($1 IS NULL OR cluster_id = $1) ORDER BY id DESC"
            }
            DagFilter::Unfinished => {
                "SELECT id FROM dag WHERE ($1 IS NULL OR cluster_id = $1) AND finished = 0 ORDER BY id DESC"
            }
            DagFilter::Maintenance => {
                "SELECT id FROM dag WHERE ($1 IS NULL OR cluster_id = $1) AND maintenance = 1 \
                 ORDER BY id DESC LIMIT 1"
            }
        };
        let ids: Vec<i64> = sqlx::query_scalar(sql)
            .bind(cluster_id)
            .fetch_all(&self.pool)
            .await?;
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(d) = self.get(id).await? {
                out.push(d);
            }
        }
        Ok(out)
    }

    async fn ready_tasks(&self, limit: i64) -> Result<Vec<TaskRef>> {
        let rows = sqlx::query(
            "SELECT dag_id, id FROM sub_task WHERE state = 'READY' ORDER BY id LIMIT $1",
        )
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        task_refs(&rows)
    }

    async fn orphaned_tasks(&self, now: i64, owner: &str) -> Result<Vec<TaskRef>> {
        let rows = sqlx::query(
            "SELECT dag_id, id FROM sub_task WHERE state = 'RUNNING' AND (lease_until_ms < $1 OR lease_owner = $2) \
             ORDER BY id",
        )
        .bind(now)
        .bind(owner)
        .fetch_all(&self.pool)
        .await?;
        task_refs(&rows)
    }

    async fn task_dag(&self, task_id: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT dag_id FROM sub_task WHERE id = $1")
                .bind(task_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn node_dag(&self, node_id: i64) -> Result<Option<i64>> {
        Ok(
            sqlx::query_scalar("SELECT dag_id FROM dag_node WHERE id = $1")
                .bind(node_id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn logs(&self, task_id: i64) -> Result<Vec<LogRow>> {
        let rows = sqlx::query(
            "SELECT id, sub_task_id, execute_times, content, created_at_ms FROM sub_task_log \
             WHERE sub_task_id = $1 ORDER BY id",
        )
        .bind(task_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(LogRow {
                    id: r.try_get("id")?,
                    sub_task_id: r.try_get("sub_task_id")?,
                    execute_times: r.try_get::<i64, _>("execute_times")? as i32,
                    content: r.try_get("content")?,
                    created_at_ms: r.try_get("created_at_ms")?,
                })
            })
            .collect()
    }

    async fn events_after(&self, dag_id: i64, after: i64, limit: i64) -> Result<Vec<Event>> {
        let rows = sqlx::query(
            "SELECT seq, body, created_at_ms FROM dag_event WHERE dag_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
        )
        .bind(dag_id)
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let body: String = r.try_get("body")?;
                Ok(Event {
                    dag_id,
                    seq: r.try_get("seq")?,
                    at_ms: r.try_get("created_at_ms")?,
                    body: serde_json::from_str(&body).map_err(|e| {
                        Error::Internal(format!("stored event of DAG {dag_id} is invalid: {e}"))
                    })?,
                })
            })
            .collect()
    }
}

/// Applies one op with the domain's rules.
fn run_op(dag: &mut Dag, op: DagOp, now: i64) -> Outcome {
    let applied = |ok: bool| {
        if ok {
            Outcome::Applied {
                interrupted: vec![],
            }
        } else {
            Outcome::Skipped
        }
    };
    let refused = |r: std::result::Result<(), crate::domain::dag::Refusal>| match r {
        Ok(()) => Outcome::Applied {
            interrupted: vec![],
        },
        Err(r) => Outcome::Refused(r),
    };
    match op {
        DagOp::Advance => {
            dag.advance(now);
            applied(true)
        }
        DagOp::Claim {
            task_id,
            owner,
            lease_until_ms,
        } => applied(dag.claim(task_id, &owner, lease_until_ms, now)),
        DagOp::RenewLease {
            task_id,
            owner,
            lease_until_ms,
        } => applied(dag.renew(task_id, &owner, lease_until_ms)),
        DagOp::Finish {
            task_id,
            owner,
            outcome,
        } => applied(dag.finish(task_id, &owner, outcome, now)),
        DagOp::Checkpoint {
            task_id,
            owner,
            output,
        } => applied(dag.checkpoint(task_id, &owner, output)),
        DagOp::Recover { task_id } => {
            dag.recover(task_id, now);
            applied(true)
        }
        DagOp::Operate(op) => match op {
            Operator::Retry => refused(dag.retry(now)),
            Operator::Rollback => refused(dag.rollback(now)),
            Operator::Pass => refused(dag.pass(now)),
            Operator::Cancel => match dag.cancel(now) {
                Ok(interrupted) => Outcome::Applied { interrupted },
                Err(r) => Outcome::Refused(r),
            },
            Operator::Run => Outcome::Refused(crate::domain::dag::Refusal {
                code: "Task.Dag.Operator.NotSupport",
                message: "operator RUN cannot be applied to a DAG".into(),
            }),
        },
        DagOp::PassNode { node_id } => refused(dag.pass_node(node_id, now)),
    }
}

/// Writes the rows the changes touched and one event per visible change.
async fn write_changes(
    tx: &mut Transaction<'static, Any>,
    dag: &mut Dag,
    now: i64,
) -> Result<Vec<Event>> {
    let changes = std::mem::take(&mut dag.changes);
    if changes.is_empty() {
        return Ok(Vec::new());
    }
    let mut nodes = BTreeSet::new();
    let mut tasks = BTreeSet::new();
    let mut release = false;
    let mut events = Vec::new();
    for change in &changes {
        match change {
            Change::Node { node, .. } => {
                nodes.insert(*node);
            }
            Change::Task { node, task, .. }
            | Change::Lease { node, task }
            | Change::Output { node, task } => {
                tasks.insert((*node, *task));
            }
            Change::Log {
                task_id,
                execute_times,
                content,
            } => {
                sqlx::query(
                    "INSERT INTO sub_task_log (sub_task_id, execute_times, content, created_at_ms) VALUES ($1, $2, $3, $4)",
                )
                .bind(task_id)
                .bind(i64::from(*execute_times))
                .bind(content)
                .bind(now)
                .execute(&mut **tx)
                .await?;
            }
            Change::MaintenanceReleased => release = true,
            Change::Dag { .. } => {}
        }
        if let Some(body) = EventBody::of(dag, change) {
            dag.last_seq += 1;
            let json = serde_json::to_string(&body).map_err(|e| Error::Internal(e.to_string()))?;
            sqlx::query(
                "INSERT INTO dag_event (dag_id, seq, body, created_at_ms) VALUES ($1, $2, $3, $4)",
            )
            .bind(dag.id)
            .bind(dag.last_seq)
            .bind(json)
            .bind(now)
            .execute(&mut **tx)
            .await?;
            events.push(Event {
                dag_id: dag.id,
                seq: dag.last_seq,
                at_ms: now,
                body,
            });
        }
    }
    for n in nodes {
        let node = &dag.nodes[n];
        sqlx::query("UPDATE dag_node SET state = $1, operator = $2, start_ms = $3, end_ms = $4 WHERE id = $5")
            .bind(node.state.as_str())
            .bind(node.operator.as_str())
            .bind(node.start_ms)
            .bind(node.end_ms)
            .bind(node.id)
            .execute(&mut **tx)
            .await?;
    }
    for (n, t) in tasks {
        let task = &dag.nodes[n].tasks[t];
        sqlx::query(
            "UPDATE sub_task SET state = $1, operator = $2, execute_times = $3, lease_owner = $4, \
             lease_until_ms = $5, resume = $6, start_ms = $7, end_ms = $8, output = $9 WHERE id = $10",
        )
        .bind(task.state.as_str())
        .bind(task.operator.as_str())
        .bind(i64::from(task.execute_times))
        .bind(task.lease_owner.as_deref())
        .bind(task.lease_until_ms)
        .bind(i64::from(task.resume))
        .bind(task.start_ms)
        .bind(task.end_ms)
        .bind(task.output.as_ref().map(to_json).transpose()?)
        .bind(task.id)
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query(
        "UPDATE dag SET state = $1, operator = $2, stage = $3, finished = $4, last_seq = $5, start_ms = $6, \
         end_ms = $7 WHERE id = $8",
    )
    .bind(dag.state.as_str())
    .bind(dag.operator.as_str())
    .bind(i64::from(dag.stage))
    .bind(i64::from(dag.finished))
    .bind(dag.last_seq)
    .bind(dag.start_ms)
    .bind(dag.end_ms)
    .bind(dag.id)
    .execute(&mut **tx)
    .await?;
    if release {
        sqlx::query("UPDATE cluster SET maintenance_dag_id = NULL WHERE id = $1 AND maintenance_dag_id = $2")
            .bind(&dag.cluster_id)
            .bind(dag.id)
            .execute(&mut **tx)
            .await?;
    }
    Ok(events)
}

async fn load(tx: &mut Transaction<'_, Any>, dag_id: i64) -> Result<Option<Dag>> {
    let sql = sqlx::AssertSqlSafe(format!("SELECT {DAG_COLUMNS} FROM dag WHERE id = $1"));
    let Some(row) = sqlx::query(sql)
        .bind(dag_id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(None);
    };
    let mut dag = Dag {
        id: row.try_get("id")?,
        cluster_id: row.try_get("cluster_id")?,
        name: row.try_get("name")?,
        maintenance: row.try_get::<i64, _>("maintenance")? != 0,
        state: state(&row)?,
        operator: operator(&row)?,
        stage: row.try_get::<i64, _>("stage")? as i32,
        finished: row.try_get::<i64, _>("finished")? != 0,
        params: from_json(&row, "params", "DAG")?,
        last_seq: row.try_get("last_seq")?,
        start_ms: row.try_get("start_ms")?,
        end_ms: row.try_get("end_ms")?,
        nodes: Vec::new(),
        changes: Vec::new(),
    };
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {NODE_COLUMNS} FROM dag_node WHERE dag_id = $1 ORDER BY stage"
    ));
    for r in sqlx::query(sql).bind(dag_id).fetch_all(&mut **tx).await? {
        dag.nodes.push(Node {
            id: r.try_get("id")?,
            stage: r.try_get::<i64, _>("stage")? as i32,
            name: r.try_get("name")?,
            kind: kind(&r)?,
            parallel: r.try_get::<i64, _>("parallel")? != 0,
            params: from_json(&r, "params", "node")?,
            state: state(&r)?,
            operator: operator(&r)?,
            start_ms: r.try_get("start_ms")?,
            end_ms: r.try_get("end_ms")?,
            tasks: Vec::new(),
        });
    }
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM sub_task WHERE dag_id = $1 ORDER BY id"
    ));
    for r in sqlx::query(sql).bind(dag_id).fetch_all(&mut **tx).await? {
        let node_id: i64 = r.try_get("node_id")?;
        let kind = kind(&r)?;
        let task = SubTask {
            id: r.try_get("id")?,
            node_id,
            name: r.try_get("name")?,
            kind,
            agent: r.try_get("agent")?,
            state: state(&r)?,
            operator: operator(&r)?,
            execute_times: r.try_get::<i64, _>("execute_times")? as i32,
            caps: kind.capabilities(),
            lease_owner: r.try_get("lease_owner")?,
            lease_until_ms: r.try_get("lease_until_ms")?,
            resume: r.try_get::<i64, _>("resume")? != 0,
            start_ms: r.try_get("start_ms")?,
            end_ms: r.try_get("end_ms")?,
            output: r
                .try_get::<Option<String>, _>("output")?
                .map(|j| {
                    serde_json::from_str(&j).map_err(|e| {
                        Error::Internal(format!("stored output of sub-task is invalid: {e}"))
                    })
                })
                .transpose()?,
        };
        let node = dag
            .nodes
            .iter_mut()
            .find(|n| n.id == node_id)
            .ok_or_else(|| Error::Internal(format!("sub-task {} has no node", task.id)))?;
        node.tasks.push(task);
    }
    Ok(Some(dag))
}

/// `<head> VALUES ($1, $2), ($3, $4)...` for `rows` rows of `columns`
/// placeholders each, numbered as both backends take them (sqlx's
/// `QueryBuilder` writes `?` for the `Any` driver, which PostgreSQL refuses).
/// `head VALUES (...), (...)` for `rows` rows of `columns` parameters.
/// SQLite gets anonymous `?`s: sqlx binds each parameter after asking
/// SQLite its name, a linear search through the statement's named
/// parameters, so `$1..$n` cost O(n²) — with a thousand log lines a batch,
/// that search was a quarter of all CPU time. PostgreSQL needs `$n`.
fn insert_rows(backend: Backend, head: &str, rows: usize, columns: usize) -> String {
    let mut sql = format!("{head} VALUES ");
    for r in 0..rows {
        if r > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for c in 0..columns {
            if c > 0 {
                sql.push_str(", ");
            }
            match backend {
                Backend::Postgres => sql.push_str(&format!("${}", r * columns + c + 1)),
                Backend::Sqlite => sql.push('?'),
            }
        }
        sql.push(')');
    }
    sql
}

fn to_json(value: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(value).map_err(|e| Error::Internal(e.to_string()))
}

/// A JSON column of `what` (a DAG's or node's params), parsed once here.
fn from_json<T: serde::de::DeserializeOwned>(r: &AnyRow, column: &str, what: &str) -> Result<T> {
    let text: String = r.try_get(column)?;
    serde_json::from_str(&text)
        .map_err(|e| Error::Internal(format!("stored {what} {column} are invalid: {e}")))
}

fn state(r: &AnyRow) -> Result<State> {
    let s: String = r.try_get("state")?;
    State::parse(&s).ok_or_else(|| Error::Internal(format!("stored state {s:?} is invalid")))
}

fn operator(r: &AnyRow) -> Result<Operator> {
    let s: String = r.try_get("operator")?;
    Operator::parse(&s).ok_or_else(|| Error::Internal(format!("stored operator {s:?} is invalid")))
}

fn kind(r: &AnyRow) -> Result<TaskKind> {
    let s: String = r.try_get("kind")?;
    TaskKind::from_key(&s)
        .ok_or_else(|| Error::Internal(format!("stored task kind {s:?} is unknown")))
}

fn task_refs(rows: &[AnyRow]) -> Result<Vec<TaskRef>> {
    rows.iter()
        .map(|r| {
            Ok(TaskRef {
                dag_id: r.try_get("dag_id")?,
                task_id: r.try_get("id")?,
            })
        })
        .collect()
}
