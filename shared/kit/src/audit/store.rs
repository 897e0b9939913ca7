//! The `audit_event` table, the same in every service's database (each
//! service has its own migration for it, per backend).

use std::sync::Arc;

use async_trait::async_trait;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use super::{AuditEvent, AuditResult, AuditSink};
use crate::auth::Role;

const COLUMNS: &str =
    "id, at_ms, actor, credential, role, method, target, result, trace_id, source, on_behalf_of";

/// Records `event` in the transaction (or connection) `conn`: a change
/// calls this before it commits, so that the change and its event are
/// committed together or not at all.
pub async fn insert(conn: &mut AnyConnection, event: &AuditEvent) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO audit_event (at_ms, actor, credential, role, method, target, result, trace_id, \
         source, on_behalf_of) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(event.at_ms)
    .bind(&event.actor)
    .bind(&event.credential)
    .bind(event.role.map_or("", Role::as_str))
    .bind(&event.method)
    .bind(&event.target)
    .bind(event.result.as_str())
    .bind(&event.trace_id)
    .bind(&event.source)
    .bind(event.on_behalf_of.as_deref())
    .execute(conn)
    .await?;
    Ok(())
}

/// A service's journal: events of calls that changed nothing (failures,
/// refusals) are written here on their own, and the trail is read here.
#[derive(Debug, Clone)]
pub struct AuditStore {
    pool: AnyPool,
    /// SQLite's single-writer lock of that database, when the service
    /// serializes its writers (see the orchestrator's DAG repository):
    /// a write outside it could make a writer under it fail.
    writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl AuditStore {
    pub fn new(pool: AnyPool, writer: Option<Arc<tokio::sync::Mutex<()>>>) -> Self {
        Self { pool, writer }
    }

    /// Records `event` in a transaction of its own.
    pub async fn record(&self, event: &AuditEvent) -> Result<(), sqlx::Error> {
        let _writing = match &self.writer {
            Some(w) => Some(w.clone().lock_owned().await),
            None => None,
        };
        let mut conn = self.pool.acquire().await?;
        insert(&mut conn, event).await
    }

    /// Ends an audited call: a failure is recorded here with the code the
    /// caller gets (a success committed its event with its change).
    pub async fn settle<T>(
        &self,
        event: AuditEvent,
        result: Result<T, tonic::Status>,
    ) -> Result<T, tonic::Status> {
        if let Err(status) = &result {
            let event = event.failed(status);
            if let Err(e) = self.record(&event).await {
                tracing::error!(error = %e, method = %event.method, result = event.result.as_str(), "cannot record an audit event");
            }
        }
        result
    }

    /// Events with `id > after_id`, oldest first, at most `limit`.
    ///
    /// On PostgreSQL ids are handed out when a transaction inserts, not when
    /// it commits: two changes committing in the other order can show the
    /// later id first, and a reader polling at that instant moves its
    /// cursor past the earlier one. Readers that follow the trail re-read
    /// a little behind their cursor (see `obup audit --follow`).
    pub async fn list(&self, after_id: i64, limit: i64) -> Result<Vec<AuditEvent>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_event WHERE id > $1 ORDER BY id LIMIT $2"
        ));
        sqlx::query(sql)
            .bind(after_id)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row)
            .collect()
    }
}

impl AuditStore {
    /// The last `limit` events, oldest first.
    pub async fn tail(&self, limit: i64) -> Result<Vec<AuditEvent>, sqlx::Error> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM audit_event ORDER BY id DESC LIMIT $1"
        ));
        let mut events = sqlx::query(sql)
            .bind(limit)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row)
            .collect::<Result<Vec<_>, _>>()?;
        events.reverse();
        Ok(events)
    }
}

#[async_trait]
impl AuditSink for AuditStore {
    async fn record(&self, _path: &str, event: AuditEvent) {
        if let Err(e) = AuditStore::record(self, &event).await {
            // The call is answered anyway: refusing it again because its
            // refusal could not be written would help no one.
            tracing::error!(error = %e, method = %event.method, result = event.result.as_str(), "cannot record an audit event");
        }
    }
}

fn row(r: &AnyRow) -> Result<AuditEvent, sqlx::Error> {
    let role: String = r.try_get("role")?;
    let result: String = r.try_get("result")?;
    Ok(AuditEvent {
        id: r.try_get("id")?,
        at_ms: r.try_get("at_ms")?,
        actor: r.try_get("actor")?,
        credential: r.try_get("credential")?,
        role: Role::parse(&role),
        method: r.try_get("method")?,
        target: r.try_get("target")?,
        result: AuditResult::parse(&result),
        trace_id: r.try_get("trace_id")?,
        source: r.try_get("source")?,
        on_behalf_of: r.try_get("on_behalf_of")?,
    })
}
