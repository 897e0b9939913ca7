//! [`Repository`] over PostgreSQL or SQLite through sqlx's `Any` driver.
//!
//! The schema and queries are the common subset of both dialects, so one
//! implementation serves both and the conformance tests prove it on each.
//! Each backend has its own migrations. Times are Unix milliseconds
//! (`BIGINT`) because `Any` has no portable timestamp type.

use std::cmp::Ordering;

use async_trait::async_trait;
use obup_kit::audit::{self, AuditEvent, AuditStore};
use sqlx::any::AnyRow;
use sqlx::{AnyPool, FromRow, Row};

use super::Repository;
use crate::domain::{
    BuildSelector, NewPackage, Package, PackageFilter, PackageQuery, Release, Sha256Hex,
    StagedPart, UploadId, UploadSession, compare_versions,
};
use crate::{Error, Result};

static PG_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("./migrations/sqlite");

pub use obup_kit::db::Backend;

/// The SQL repository.
#[derive(Debug, Clone)]
pub struct SqlRepository {
    pool: AnyPool,
    backend: Backend,
}

const PACKAGE_COLUMNS: &str = "id, sha256, name, version, release, distribution, release_distribution, \
     architecture, size, payload_size, file_size, chunk_count, md5, payload_compressor, upgrade_dep_yaml, \
     upgrade_scripts, file_name, object_key, created_at_ms";

impl SqlRepository {
    /// Connects and applies this backend's migrations.
    pub async fn connect(url: &str) -> Result<Self> {
        let (pool, backend) =
            obup_kit::db::connect(url, &PG_MIGRATIONS, &SQLITE_MIGRATIONS).await?;
        Ok(Self { pool, backend })
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// The pool, for other components that share this database.
    pub fn pool(&self) -> &AnyPool {
        &self.pool
    }
}

#[async_trait]
impl Repository for SqlRepository {
    async fn create_session(&self, s: &UploadSession) -> Result<()> {
        sqlx::query(
            "INSERT INTO upload_session (id, file_name, total_size, sha256, received, created_at_ms, expires_at_ms) \
             VALUES ($1, $2, $3, $4, 0, $5, $6)",
        )
        .bind(s.id.as_str())
        .bind(&s.file_name)
        .bind(s.total_size.map(to_i64))
        .bind(s.sha256.as_ref().map_or("", |h| h.as_str()))
        .bind(s.created_at_ms)
        .bind(s.expires_at_ms)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn session(&self, id: &UploadId) -> Result<Option<UploadSession>> {
        let row = sqlx::query(
            "SELECT id, file_name, total_size, sha256, received, created_at_ms, expires_at_ms \
             FROM upload_session WHERE id = $1",
        )
        .bind(id.as_str())
        .fetch_optional(&self.pool)
        .await?;
        row.map(|r| session_from_row(&r)).transpose()
    }

    async fn parts(&self, id: &UploadId) -> Result<Vec<StagedPart>> {
        let rows = sqlx::query(
            "SELECT seq, start, len, object_key, digest_states FROM upload_part WHERE upload_id = $1 ORDER BY seq",
        )
        .bind(id.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                Ok(StagedPart {
                    seq: r.try_get::<i64, _>("seq")? as i32,
                    start: r.try_get::<i64, _>("start")? as u64,
                    len: r.try_get::<i64, _>("len")? as u64,
                    object_key: r.try_get("object_key")?,
                    // States that do not parse are not used: the prefix is
                    // hashed again, as if none had been saved.
                    digest_states: r
                        .try_get::<Option<String>, _>("digest_states")?
                        .and_then(|json| serde_json::from_str(&json).ok()),
                })
            })
            .collect()
    }

    async fn add_part(&self, id: &UploadId, part: &StagedPart, expires_at_ms: i64) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        // Compare-and-set on `received`: a part that does not continue the
        // session exactly is a bug or a race, and must not be recorded.
        let updated = sqlx::query("UPDATE upload_session SET received = $1, expires_at_ms = $2 WHERE id = $3 AND received = $4")
            .bind(to_i64(part.start + part.len))
            .bind(expires_at_ms)
            .bind(id.as_str())
            .bind(to_i64(part.start))
            .execute(&mut *tx)
            .await?;
        if updated.rows_affected() != 1 {
            return Err(Error::Internal(format!(
                "upload {id}: part at offset {} does not continue the session",
                part.start
            )));
        }
        let states = part
            .digest_states
            .as_ref()
            .map(|s| serde_json::to_string(s).expect("plain fields serialize"));
        sqlx::query("INSERT INTO upload_part (upload_id, seq, start, len, object_key, digest_states) VALUES ($1, $2, $3, $4, $5, $6)")
            .bind(id.as_str())
            .bind(i64::from(part.seq))
            .bind(to_i64(part.start))
            .bind(to_i64(part.len))
            .bind(&part.object_key)
            .bind(states)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn touch_session(&self, id: &UploadId, expires_at_ms: i64) -> Result<()> {
        sqlx::query("UPDATE upload_session SET expires_at_ms = $1 WHERE id = $2")
            .bind(expires_at_ms)
            .bind(id.as_str())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn delete_session(&self, id: &UploadId) -> Result<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("DELETE FROM upload_part WHERE upload_id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM upload_session WHERE id = $1")
            .bind(id.as_str())
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn expired_sessions(&self, now_ms: i64) -> Result<Vec<UploadId>> {
        let rows = sqlx::query("SELECT id FROM upload_session WHERE expires_at_ms <= $1")
            .bind(now_ms)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                let id: String = r.try_get("id")?;
                UploadId::parse(&id)
                    .ok_or_else(|| Error::Internal(format!("stored upload id {id:?} is invalid")))
            })
            .collect()
    }

    async fn insert_package(
        &self,
        p: &NewPackage,
        audit: Option<&AuditEvent>,
    ) -> Result<(Package, bool)> {
        let mut tx = self.pool.begin().await?;
        let id: Option<i64> = sqlx::query_scalar(
            "INSERT INTO package (sha256, name, version, release, distribution, release_distribution, \
             architecture, size, payload_size, file_size, chunk_count, md5, payload_compressor, upgrade_dep_yaml, \
             upgrade_scripts, file_name, object_key, created_at_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18) \
             ON CONFLICT (sha256) DO NOTHING RETURNING id",
        )
        .bind(p.sha256.as_str())
        .bind(&p.name)
        .bind(&p.version)
        .bind(&p.release.build)
        .bind(&p.release.distribution)
        .bind(&p.release.full)
        .bind(&p.architecture)
        .bind(to_i64(p.size))
        .bind(to_i64(p.payload_size))
        .bind(to_i64(p.file_size))
        .bind(to_i64(p.chunk_count))
        .bind(&p.md5)
        .bind(&p.payload_compressor)
        .bind(&p.upgrade_dep_yaml)
        .bind(p.upgrade_scripts.join(","))
        .bind(&p.file_name)
        .bind(&p.object_key)
        .bind(p.created_at_ms)
        .fetch_optional(&mut *tx)
        .await?;
        let inserted = id.is_some();
        if let Some(event) = audit {
            let id = match id {
                Some(id) => id,
                None => {
                    sqlx::query_scalar("SELECT id FROM package WHERE sha256 = $1")
                        .bind(p.sha256.as_str())
                        .fetch_one(&mut *tx)
                        .await?
                }
            };
            let target = package_target(id, &p.name, &p.version);
            audit::insert(&mut tx, &event.clone().on(target)).await?;
        }
        tx.commit().await?;
        let stored = self.package_by_sha256(&p.sha256).await?.ok_or_else(|| {
            Error::Internal(format!("package {} vanished after insert", p.sha256))
        })?;
        Ok((stored, inserted))
    }

    async fn package(&self, id: i64) -> Result<Option<Package>> {
        self.one_package("id = $1", Bind::Int(id)).await
    }

    async fn package_by_sha256(&self, sha256: &Sha256Hex) -> Result<Option<Package>> {
        self.one_package("sha256 = $1", Bind::Text(sha256.as_str().to_owned()))
            .await
    }

    async fn list_packages(&self, f: &PackageFilter) -> Result<Vec<Package>> {
        // `CAST(.. AS TEXT)` types the parameter on PostgreSQL and is plain
        // SQL on SQLite, so optional filters need no string building.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {PACKAGE_COLUMNS} FROM package WHERE \
             (CAST($1 AS TEXT) IS NULL OR name = $1) AND \
             (CAST($2 AS TEXT) IS NULL OR version = $2) AND \
             (CAST($3 AS TEXT) IS NULL OR release = $3 OR release_distribution = $3) AND \
             (CAST($4 AS TEXT) IS NULL OR distribution = $4) AND \
             (CAST($5 AS TEXT) IS NULL OR architecture = $5) AND \
             (CAST($6 AS TEXT) IS NULL OR sha256 = $6) \
             ORDER BY id DESC"
        )))
        .bind(f.name.as_deref())
        .bind(f.version.as_deref())
        .bind(f.release.as_deref())
        .bind(f.distribution.as_deref())
        .bind(f.architecture.as_deref())
        .bind(f.sha256.as_ref().map(Sha256Hex::as_str))
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(package_from_row).collect()
    }

    async fn find_package(&self, q: &PackageQuery) -> Result<Option<Package>> {
        let filter = PackageFilter {
            name: Some(q.name.clone()),
            version: Some(q.version.clone()),
            architecture: Some(q.architecture.clone()),
            ..Default::default()
        };
        let candidates = self.list_packages(&filter).await?;
        Ok(match &q.build {
            BuildSelector::Exact {
                release,
                distribution,
            } => candidates.into_iter().find(|p| {
                &p.release.build == release
                    && distribution
                        .as_ref()
                        .is_none_or(|d| &p.release.distribution == d)
            }),
            // The highest build wins (the newest upload among equals), so that
            // uploading an old build later does not silently downgrade a hop.
            BuildSelector::Latest {
                distribution,
                excluded,
            } => candidates
                .into_iter()
                .filter(|p| {
                    &p.release.distribution == distribution && !excluded.contains(&p.release.build)
                })
                .max_by(|a, b| {
                    compare_builds(&a.release.build, &b.release.build).then(a.id.cmp(&b.id))
                }),
        })
    }

    async fn delete_package(&self, id: i64, audit: Option<&AuditEvent>) -> Result<Option<Package>> {
        let mut tx = self.pool.begin().await?;
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PACKAGE_COLUMNS} FROM package WHERE id = $1"
        ));
        let found = sqlx::query(sql)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
            .as_ref()
            .map(package_from_row)
            .transpose()?;
        let target = match &found {
            Some(p) => {
                sqlx::query("DELETE FROM package WHERE id = $1")
                    .bind(id)
                    .execute(&mut *tx)
                    .await?;
                package_target(id, &p.name, &p.version)
            }
            None => format!("package {id} (none such)"),
        };
        if let Some(event) = audit {
            audit::insert(&mut tx, &event.clone().on(target)).await?;
        }
        tx.commit().await?;
        Ok(found)
    }

    fn journal(&self) -> AuditStore {
        AuditStore::new(self.pool.clone(), None)
    }
}

enum Bind {
    Int(i64),
    Text(String),
}

impl SqlRepository {
    async fn one_package(&self, condition: &'static str, value: Bind) -> Result<Option<Package>> {
        let sql = sqlx::AssertSqlSafe(format!(
            "SELECT {PACKAGE_COLUMNS} FROM package WHERE {condition}"
        ));
        let query = sqlx::query(sql);
        let query = match value {
            Bind::Int(v) => query.bind(v),
            Bind::Text(v) => query.bind(v),
        };
        query
            .fetch_optional(&self.pool)
            .await?
            .as_ref()
            .map(package_from_row)
            .transpose()
    }
}

/// A package as the audit trail names it: its id, and what it is (the id
/// alone says nothing once the package is deleted).
fn package_target(id: i64, name: &str, version: &str) -> String {
    format!("package {id} ({name} {version})")
}

fn compare_builds(a: &str, b: &str) -> Ordering {
    compare_versions(&format!("0-{a}"), &format!("0-{b}"))
}

fn to_i64(v: u64) -> i64 {
    // Sizes above i64::MAX (8 EiB) cannot occur; saturate rather than wrap.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn session_from_row(r: &AnyRow) -> Result<UploadSession> {
    let id: String = r.try_get("id")?;
    let sha: String = r.try_get("sha256")?;
    Ok(UploadSession {
        id: UploadId::parse(&id)
            .ok_or_else(|| Error::Internal(format!("stored upload id {id:?} is invalid")))?,
        file_name: r.try_get("file_name")?,
        total_size: r.try_get::<Option<i64>, _>("total_size")?.map(|v| v as u64),
        sha256: Sha256Hex::parse(&sha),
        received: r.try_get::<i64, _>("received")? as u64,
        created_at_ms: r.try_get("created_at_ms")?,
        expires_at_ms: r.try_get("expires_at_ms")?,
    })
}

#[derive(FromRow)]
struct PackageRow {
    id: i64,
    sha256: String,
    name: String,
    version: String,
    release: String,
    distribution: String,
    release_distribution: String,
    architecture: String,
    size: i64,
    payload_size: i64,
    file_size: i64,
    chunk_count: i64,
    md5: String,
    payload_compressor: String,
    upgrade_dep_yaml: String,
    upgrade_scripts: String,
    file_name: String,
    object_key: String,
    created_at_ms: i64,
}

fn package_from_row(r: &AnyRow) -> Result<Package> {
    let row = PackageRow::from_row(r)?;
    Ok(Package {
        id: row.id,
        sha256: Sha256Hex::parse(&row.sha256)
            .ok_or_else(|| Error::Internal(format!("stored sha256 {:?} is invalid", row.sha256)))?,
        name: row.name,
        version: row.version,
        release: Release {
            build: row.release,
            distribution: row.distribution,
            full: row.release_distribution,
        },
        architecture: row.architecture,
        size: row.size as u64,
        payload_size: row.payload_size as u64,
        file_size: row.file_size as u64,
        chunk_count: row.chunk_count as u64,
        md5: row.md5,
        payload_compressor: row.payload_compressor,
        upgrade_dep_yaml: row.upgrade_dep_yaml,
        upgrade_scripts: row
            .upgrade_scripts
            .split(',')
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        file_name: row.file_name,
        object_key: row.object_key,
        created_at_ms: row.created_at_ms,
    })
}
