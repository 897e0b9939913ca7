//! SQL connections shared by obup's services: one sqlx `Any` pool over
//! PostgreSQL or SQLite, migrated with the service's own migrations.
//!
//! Each service keeps a migrations directory per backend (dialects differ);
//! its queries stay in the common subset so that one implementation serves
//! both, and `Backend` picks the few statements that must differ.

use std::sync::Once;

use sqlx::AnyPool;
use sqlx::any::AnyPoolOptions;
use sqlx::migrate::Migrator;

/// Which SQL server a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn of(url: &str) -> Option<Self> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Self::Postgres)
        } else if url.starts_with("sqlite:") {
            Some(Self::Sqlite)
        } else {
            None
        }
    }
}

/// Why a database could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("database URL must start with postgres:// or sqlite:, got {0:?}")]
    BadUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] sqlx::Error),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// Connects and applies the backend's migrations.
pub async fn connect(
    url: &str,
    postgres: &Migrator,
    sqlite: &Migrator,
) -> Result<(AnyPool, Backend), DbError> {
    static DRIVERS: Once = Once::new();
    DRIVERS.call_once(sqlx::any::install_default_drivers);
    let backend = Backend::of(url).ok_or_else(|| DbError::BadUrl(url.to_owned()))?;
    let pool = AnyPoolOptions::new()
        // SQLite has one writer; a few connections serve concurrent readers.
        .max_connections(if backend == Backend::Sqlite { 4 } else { 16 })
        .connect(url)
        .await?;
    match backend {
        Backend::Postgres => postgres.run(&pool).await?,
        Backend::Sqlite => {
            // WAL lets readers proceed while a writer commits.
            sqlx::query("PRAGMA journal_mode = WAL")
                .execute(&pool)
                .await?;
            sqlite.run(&pool).await?;
        }
    }
    Ok((pool, backend))
}

/// True for failures that go away by themselves: the server restarting, a
/// connection cut, the pool briefly out of connections, a serialization
/// conflict. Worth retrying the same statement; anything else is not.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::WorkerCrashed => true,
        // SQLSTATE classes 08 (connection exception) and 57P (operator
        // intervention: shutdown, crash recovery), serialization failure
        // and deadlock.
        sqlx::Error::Database(db) => db.code().is_some_and(|c| {
            c.starts_with("08") || c.starts_with("57P") || c == "40001" || c == "40P01"
        }),
        _ => false,
    }
}
