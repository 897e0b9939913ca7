//! The journal: every operation the agent holds and its log lines, in a
//! SQLite file under `--state-dir`, so that an accepted operation, its log
//! and its result survive an agent crash.
//!
//! Durability: WAL with `synchronous = FULL`, so that a commit (the
//! acceptance of an operation, its result) survives a power loss, not only
//! a process crash; log lines are committed in batches to keep that cheap.
//! An exclusive lock on `agent.lock` keeps a second agent off the same
//! state dir.

mod rows;

use std::fs::File;
use std::path::Path;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::fcntl::{Flock, FlockArg};

use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};

pub use self::rows::Record;
use crate::domain::{LogLine, OpKey, OpResult, Work};
use crate::{Error, Result};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Log lines per INSERT: 6 parameters each, far below SQLite's limit of
/// 32,766.
const LOG_ROWS_PER_INSERT: usize = 512;

/// The journal. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Journal {
    pool: SqlitePool,
    /// Held until [`Journal::close`]; the kernel drops it when the process
    /// dies, however it dies.
    lock: Arc<Mutex<Option<Flock<File>>>>,
}

impl Journal {
    /// Opens (creating) `<state_dir>/journal.db`.
    pub async fn open(state_dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(state_dir)?;
        let lock_file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(state_dir.join("agent.lock"))?;
        let lock = Flock::lock(lock_file, FlockArg::LockExclusiveNonblock)
            .map_err(|_| Error::StateDirLocked(state_dir.to_owned()))?;
        let url = format!("sqlite://{}", state_dir.join("journal.db").display());
        let options = SqliteConnectOptions::from_str(&url)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            // One writer at a time anyway; a few readers for replays.
            .max_connections(4)
            .connect_with(options)
            .await?;
        MIGRATOR.run(&pool).await?;
        Ok(Self {
            pool,
            lock: Arc::new(Mutex::new(Some(lock))),
        })
    }

    /// Closes the database and releases the state dir, so that another
    /// agent (a restart in the same process) can open it.
    pub async fn close(&self) {
        self.pool.close().await;
        if let Ok(mut lock) = self.lock.lock() {
            lock.take();
        }
    }

    /// At start-up: operations the previous process left running are
    /// interrupted. Returns their keys.
    pub async fn interrupt_running(&self) -> Result<Vec<OpKey>> {
        let keys: Vec<(String, i64)> = sqlx::query_as(
            "UPDATE ops SET state = 'interrupted' WHERE state = 'running' RETURNING op_id, attempt",
        )
        .fetch_all(&self.pool)
        .await?;
        Ok(keys
            .into_iter()
            .map(|(op_id, attempt)| OpKey {
                op_id,
                attempt: attempt as u32,
            })
            .collect())
    }

    /// Marks one running operation interrupted; whether it was running.
    pub async fn interrupt(&self, key: &OpKey) -> Result<bool> {
        let done = sqlx::query(
            "UPDATE ops SET state = 'interrupted' \
             WHERE op_id = ? AND attempt = ? AND state = 'running'",
        )
        .bind(&key.op_id)
        .bind(key.attempt as i64)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Every attempt held for `op_id`.
    pub async fn attempts(&self, op_id: &str) -> Result<Vec<Record>> {
        let rows: Vec<rows::OpRow> = sqlx::query_as(rows::SELECT_BY_OP)
            .bind(op_id)
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(Record::try_from).collect()
    }

    pub async fn get(&self, key: &OpKey) -> Result<Option<Record>> {
        let row: Option<rows::OpRow> = sqlx::query_as(rows::SELECT_BY_KEY)
            .bind(&key.op_id)
            .bind(key.attempt as i64)
            .fetch_optional(&self.pool)
            .await?;
        row.map(Record::try_from).transpose()
    }

    /// Records an accepted operation as running (its first run).
    pub async fn insert_running(
        &self,
        key: &OpKey,
        work: &Work,
        accepted_at_ms: i64,
        deadline_ms: i64,
    ) -> Result<()> {
        let work = serde_json::to_string(work).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query(
            "INSERT INTO ops (op_id, attempt, work, state, accepted_at_ms, deadline_ms, runs) \
             VALUES (?, ?, ?, 'running', ?, ?, 1)",
        )
        .bind(&key.op_id)
        .bind(key.attempt as i64)
        .bind(work)
        .bind(accepted_at_ms)
        .bind(deadline_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// An interrupted operation runs again (the continue path); returns its
    /// run count.
    pub async fn restart(&self, key: &OpKey, deadline_ms: i64) -> Result<u32> {
        let (runs,): (i64,) = sqlx::query_as(
            "UPDATE ops SET state = 'running', runs = runs + 1, deadline_ms = ? \
             WHERE op_id = ? AND attempt = ? AND state = 'interrupted' RETURNING runs",
        )
        .bind(deadline_ms)
        .bind(&key.op_id)
        .bind(key.attempt as i64)
        .fetch_one(&self.pool)
        .await?;
        Ok(runs as u32)
    }

    /// Records the result. Only an unfinished operation takes one.
    pub async fn finish(&self, key: &OpKey, result: &OpResult) -> Result<()> {
        let json = serde_json::to_string(result).map_err(|e| Error::Internal(e.to_string()))?;
        sqlx::query(
            "UPDATE ops SET state = 'finished', result = ? \
             WHERE op_id = ? AND attempt = ? AND state <> 'finished'",
        )
        .bind(json)
        .bind(&key.op_id)
        .bind(key.attempt as i64)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Drops a finished or interrupted operation and its log. Returns
    /// whether there was one; a running one is kept (`Ok(None)`).
    pub async fn forget(&self, key: &OpKey) -> Result<Option<bool>> {
        // IMMEDIATE: this transaction reads, then writes. A deferred one
        // would take its write lock only at the DELETE, and SQLite refuses
        // that upgrade at once (SQLITE_BUSY, no busy wait) when another
        // writer committed after the read: under load, forgets failed.
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let state: Option<(String,)> =
            sqlx::query_as("SELECT state FROM ops WHERE op_id = ? AND attempt = ?")
                .bind(&key.op_id)
                .bind(key.attempt as i64)
                .fetch_optional(&mut *tx)
                .await?;
        match state.as_ref().map(|(s,)| s.as_str()) {
            None => return Ok(Some(false)),
            Some("running") => return Ok(None),
            Some(_) => {}
        }
        for table in ["DELETE FROM ops", "DELETE FROM op_logs"] {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "{table} WHERE op_id = ? AND attempt = ?"
            )))
            .bind(&key.op_id)
            .bind(key.attempt as i64)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(Some(true))
    }

    /// Appends log lines (one transaction; a statement per
    /// [`LOG_ROWS_PER_INSERT`] lines: each statement is a round trip to
    /// sqlx's SQLite thread, a wake-up on each side, which cost more than
    /// the inserts when a script prints fast).
    pub async fn append_logs(&self, key: &OpKey, lines: &[LogLine]) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        for rows in lines.chunks(LOG_ROWS_PER_INSERT) {
            let sql = format!(
                "INSERT OR REPLACE INTO op_logs (op_id, attempt, seq, ts_ms, level, line) VALUES {}",
                vec!["(?, ?, ?, ?, ?, ?)"; rows.len()].join(", ")
            );
            let mut insert = sqlx::query(sqlx::AssertSqlSafe(sql));
            for l in rows {
                insert = insert
                    .bind(&key.op_id)
                    .bind(key.attempt as i64)
                    .bind(l.seq as i64)
                    .bind(l.ts_ms)
                    .bind(l.level.as_str())
                    .bind(&l.line);
            }
            insert.execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Up to `limit` log lines after `after`, in order.
    pub async fn logs_after(&self, key: &OpKey, after: u64, limit: u32) -> Result<Vec<LogLine>> {
        let rows: Vec<(i64, i64, String, String)> = sqlx::query_as(
            "SELECT seq, ts_ms, level, line FROM op_logs \
             WHERE op_id = ? AND attempt = ? AND seq > ? ORDER BY seq LIMIT ?",
        )
        .bind(&key.op_id)
        .bind(key.attempt as i64)
        .bind(after.min(i64::MAX as u64) as i64)
        .bind(limit as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|(seq, ts_ms, level, line)| LogLine {
                seq: seq as u64,
                ts_ms,
                level: crate::domain::Level::parse(&level),
                line,
            })
            .collect())
    }

    /// The last log sequence number of an operation (0: none).
    pub async fn last_seq(&self, key: &OpKey) -> Result<u64> {
        let (seq,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(seq) FROM op_logs WHERE op_id = ? AND attempt = ?")
                .bind(&key.op_id)
                .bind(key.attempt as i64)
                .fetch_one(&self.pool)
                .await?;
        Ok(seq.unwrap_or(0) as u64)
    }

    pub async fn save_checkpoint(&self, key: &OpKey, json: &str) -> Result<()> {
        sqlx::query("UPDATE ops SET checkpoint = ? WHERE op_id = ? AND attempt = ?")
            .bind(json)
            .bind(&key.op_id)
            .bind(key.attempt as i64)
            .execute(&self.pool)
            .await?;
        Ok(())
    }
}
