//! The `api_token` table. Only hashes are stored.

use std::sync::Arc;

use async_trait::async_trait;
use obup_kit::audit::{self, AuditEvent};
use obup_kit::auth::{Role, TokenHash, TokenLookup, TokenRecord};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, Row};

use super::StoredToken;
use crate::{Error, Result};

const COLUMNS: &str = "id, name, role, cluster_id, created_by, created_at_ms, expires_at_ms, \
     revoked_at_ms, last_used_at_ms";

/// A row to insert.
#[derive(Debug)]
pub(super) struct NewToken<'a> {
    pub name: &'a str,
    pub hash: TokenHash,
    pub role: Role,
    pub cluster: Option<&'a str>,
    pub created_by: &'a str,
    pub created_at_ms: i64,
    pub expires_at_ms: Option<i64>,
}

#[derive(Debug, Clone)]
pub(super) struct TokenTable {
    pub pool: AnyPool,
    /// SQLite's single-writer lock, shared with the DAG repository.
    pub writer: Option<Arc<tokio::sync::Mutex<()>>>,
}

impl TokenTable {
    async fn write_lock(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.writer {
            Some(w) => Some(w.clone().lock_owned().await),
            None => None,
        }
    }

    /// Inserts the token and, in the same transaction, `audit`.
    pub async fn insert(&self, t: &NewToken<'_>, audit: Option<&AuditEvent>) -> Result<()> {
        let _writing = self.write_lock().await;
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO api_token (name, hash, role, cluster_id, created_by, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(t.name)
        .bind(t.hash.to_hex())
        .bind(t.role.as_str())
        .bind(t.cluster)
        .bind(t.created_by)
        .bind(t.created_at_ms)
        .bind(t.expires_at_ms)
        .execute(&mut *tx)
        .await;
        match inserted {
            Ok(_) => {}
            Err(sqlx::Error::Database(d)) if d.is_unique_violation() => {
                return Err(Error::TokenExists(t.name.to_owned()));
            }
            Err(e) => return Err(e.into()),
        }
        if let Some(event) = audit {
            audit::insert(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn by_hash(&self, hash: TokenHash) -> Result<Option<StoredToken>> {
        let sql = sqlx::AssertSqlSafe(format!("SELECT {COLUMNS} FROM api_token WHERE hash = $1"));
        sqlx::query(sql)
            .bind(hash.to_hex())
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row(&r))
            .transpose()
    }

    /// The live (not revoked) token of that name.
    pub async fn live(&self, name: &str) -> Result<Option<StoredToken>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_token WHERE name = $1 AND revoked_at_ms IS NULL"
        ));
        sqlx::query(sql)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?
            .map(|r| row(&r))
            .transpose()
    }

    pub async fn list(&self, include_revoked: bool) -> Result<Vec<StoredToken>> {
        let filter = if include_revoked {
            ""
        } else {
            "WHERE revoked_at_ms IS NULL"
        };
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {COLUMNS} FROM api_token {filter} ORDER BY id"
        ));
        sqlx::query(sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(row)
            .collect()
    }

    /// Revokes token `id` if it is still live; false if it was not.
    /// `audit` is written with the revocation (not when nothing changed).
    pub async fn revoke(&self, id: i64, now_ms: i64, audit: Option<&AuditEvent>) -> Result<bool> {
        let _writing = self.write_lock().await;
        let mut tx = self.pool.begin().await?;
        let done = sqlx::query(
            "UPDATE api_token SET revoked_at_ms = $1 WHERE id = $2 AND revoked_at_ms IS NULL",
        )
        .bind(now_ms)
        .bind(id)
        .execute(&mut *tx)
        .await?;
        let revoked = done.rows_affected() == 1;
        if let (true, Some(event)) = (revoked, audit) {
            audit::insert(&mut tx, event).await?;
        }
        tx.commit().await?;
        Ok(revoked)
    }

    pub async fn cluster_exists(&self, name: &str) -> Result<bool> {
        let found: Option<String> = sqlx::query_scalar(
            "SELECT id FROM cluster WHERE id = $1 AND removed_at_ms = 0 AND created_at_ms > 0",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        Ok(found.is_some())
    }
}

#[async_trait]
impl TokenLookup for TokenTable {
    async fn find(&self, hash: TokenHash) -> std::result::Result<Option<TokenRecord>, String> {
        let token = self.by_hash(hash).await.map_err(|e| e.to_string())?;
        Ok(token.map(|t| TokenRecord {
            id: t.id,
            name: t.name,
            role: t.role,
            cluster: t.cluster,
            expires_at_ms: t.expires_at_ms,
            revoked_at_ms: t.revoked_at_ms,
        }))
    }

    async fn touch(&self, id: i64, at_ms: i64) -> std::result::Result<(), String> {
        let _writing = self.write_lock().await;
        sqlx::query("UPDATE api_token SET last_used_at_ms = $1 WHERE id = $2")
            .bind(at_ms)
            .bind(id)
            .execute(&self.pool)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}

fn row(r: &AnyRow) -> Result<StoredToken> {
    let role: String = r.try_get("role")?;
    Ok(StoredToken {
        id: r.try_get("id")?,
        name: r.try_get("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| Error::Internal(format!("stored token role {role:?} is invalid")))?,
        cluster: r.try_get("cluster_id")?,
        created_by: r.try_get("created_by")?,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
        revoked_at_ms: r.try_get("revoked_at_ms")?,
        last_used_at_ms: r.try_get("last_used_at_ms")?,
    })
}
