//! Registered clusters in the DAG database (the `cluster` table, whose id
//! every DAG carries and whose row holds the maintenance lock).

use sqlx::any::AnyRow;
use sqlx::{AnyConnection, AnyPool, Row};

use crate::clusters::{ClusterRecord, SslMode};
use crate::{Error, Result};

const COLUMNS: &str =
    "id, sql_endpoints, sys_user, password_sealed, agents, ssl_mode, created_at_ms";

/// Inserts a cluster, or updates it (bringing a removed one back with its
/// history).
pub(super) async fn save(conn: &mut AnyConnection, r: &ClusterRecord) -> Result<()> {
    let json =
        |v: &Vec<String>| serde_json::to_string(v).map_err(|e| Error::Internal(e.to_string()));
    sqlx::query(
        "INSERT INTO cluster (id, sql_endpoints, sys_user, password_sealed, agents, ssl_mode, created_at_ms, \
         removed_at_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, 0) \
         ON CONFLICT (id) DO UPDATE SET sql_endpoints = excluded.sql_endpoints, sys_user = excluded.sys_user, \
         password_sealed = excluded.password_sealed, agents = excluded.agents, ssl_mode = excluded.ssl_mode, \
         created_at_ms = excluded.created_at_ms, removed_at_ms = 0",
    )
    .bind(&r.name)
    .bind(json(&r.sql_endpoints)?)
    .bind(&r.sys_user)
    .bind(&r.password_sealed)
    .bind(json(&r.agents)?)
    .bind(r.ssl_mode.as_str())
    .bind(r.created_at_ms)
    .execute(conn)
    .await?;
    Ok(())
}

/// A registered (not removed) cluster.
pub(super) async fn load(pool: &AnyPool, name: &str) -> Result<Option<ClusterRecord>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cluster WHERE id = $1 AND removed_at_ms = 0 AND created_at_ms > 0"
    ));
    sqlx::query(sql)
        .bind(name)
        .fetch_optional(pool)
        .await?
        .map(|r| record(&r))
        .transpose()
}

/// Every registered cluster, by name.
pub(super) async fn list(pool: &AnyPool) -> Result<Vec<ClusterRecord>> {
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM cluster WHERE removed_at_ms = 0 AND created_at_ms > 0 ORDER BY id"
    ));
    sqlx::query(sql)
        .fetch_all(pool)
        .await?
        .iter()
        .map(record)
        .collect()
}

/// Removes a cluster unless a DAG of it is unfinished (an upgrade holding
/// the maintenance lock among them). Its finished DAGs are kept. Runs in
/// the caller's transaction (`conn`), which also records the call.
pub(super) async fn remove(conn: &mut AnyConnection, name: &str, now: i64) -> Result<bool> {
    let busy: Option<String> = sqlx::query_scalar(
        "SELECT name FROM dag WHERE cluster_id = $1 AND finished = 0 ORDER BY id LIMIT 1",
    )
    .bind(name)
    .fetch_optional(&mut *conn)
    .await?;
    if let Some(dag) = busy {
        return Err(Error::ClusterBusy {
            cluster: name.to_owned(),
            dag,
        });
    }
    let removed = sqlx::query(
        "UPDATE cluster SET removed_at_ms = $1 WHERE id = $2 AND removed_at_ms = 0 AND created_at_ms > 0",
    )
    .bind(now)
    .bind(name)
    .execute(conn)
    .await?;
    Ok(removed.rows_affected() == 1)
}

fn record(r: &AnyRow) -> Result<ClusterRecord> {
    let list = |column: &str| -> Result<Vec<String>> {
        let text: String = r.try_get(column)?;
        serde_json::from_str(&text)
            .map_err(|e| Error::Internal(format!("stored cluster {column} are invalid: {e}")))
    };
    let ssl: String = r.try_get("ssl_mode")?;
    Ok(ClusterRecord {
        name: r.try_get("id")?,
        sql_endpoints: list("sql_endpoints")?,
        sys_user: r.try_get("sys_user")?,
        password_sealed: r.try_get("password_sealed")?,
        agents: list("agents")?,
        ssl_mode: SslMode::parse(&ssl)
            .ok_or_else(|| Error::Internal(format!("stored ssl mode {ssl:?} is invalid")))?,
        created_at_ms: r.try_get("created_at_ms")?,
    })
}
