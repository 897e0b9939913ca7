//! A fresh PostgreSQL database per test, dropped afterwards.
//!
//! The server comes from `OBUP_TEST_PG_URL` (default: the local cluster,
//! `postgres://postgres@127.0.0.1:5432/postgres`, trust auth).

use sqlx::Connection;
use sqlx::postgres::PgConnection;

/// The admin URL tests create their databases through.
pub fn admin_url() -> String {
    std::env::var("OBUP_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database that exists for the life of this value.
#[derive(Debug)]
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    /// Creates an empty database with a unique name.
    pub async fn create() -> anyhow::Result<Self> {
        let admin = admin_url();
        let name = format!("obup_test_{}", uuid::Uuid::now_v7().simple());
        let mut conn = PgConnection::connect(&admin).await?;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await?;
        let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
        Ok(Self {
            url: format!("{base}/{name}"),
            name,
        })
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Drop runs inside the test's runtime, which cannot be blocked on;
        // a short-lived thread with its own runtime does the cleanup.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url()).await.ok()?;
                sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}
