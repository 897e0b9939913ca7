//! The package store as the rest of obup sees it: one cheap-clone handle
//! whose methods are the service's operations, free of transport types.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream::{BoxStream, Stream};
use obup_kit::audit::{AuditEvent, AuditStore};
use tokio::sync::watch;

use crate::config::Config;
use crate::domain::{Package, PackageFilter, PackageQuery, UploadId, UploadSession, UploadStart};
use crate::storage::{Blobs, Repository, SqlRepository};
use crate::upload::{Chunk, SweepReport, Uploader};
use crate::{Error, Result};

/// The package store.
#[derive(Debug, Clone)]
pub struct PackageStore {
    repo: Arc<dyn Repository>,
    blobs: Blobs,
    uploader: Uploader,
}

impl PackageStore {
    /// Connects to the configured database and object store, migrating the
    /// database if needed.
    pub async fn open(config: &Config) -> Result<Self> {
        let repo: Arc<dyn Repository> =
            Arc::new(SqlRepository::connect(&config.database_url).await?);
        let blobs = Blobs::open(&config.object_store)?;
        Ok(Self::new(repo, blobs, config))
    }

    pub fn new(repo: Arc<dyn Repository>, blobs: Blobs, config: &Config) -> Self {
        let uploader = Uploader::new(repo.clone(), blobs.clone(), config.upload.clone());
        Self {
            repo,
            blobs,
            uploader,
        }
    }

    /// Receives one upload (see [`Uploader::upload`]).
    pub async fn upload(
        &self,
        start: UploadStart,
        chunks: impl Stream<Item = Chunk> + Unpin,
    ) -> Result<Package> {
        self.uploader.upload(start, chunks, None).await
    }

    /// [`PackageStore::upload`] of a caller's call: `audit`, its event, is
    /// written with the package row (or on its own when the bytes were
    /// already stored and nothing is written).
    pub async fn upload_audited(
        &self,
        start: UploadStart,
        chunks: impl Stream<Item = Chunk> + Unpin,
        audit: &AuditEvent,
    ) -> Result<Package> {
        self.uploader.upload(start, chunks, Some(audit)).await
    }

    /// The store's audit journal.
    pub fn journal(&self) -> AuditStore {
        self.repo.journal()
    }

    pub async fn upload_status(&self, id: &UploadId) -> Result<UploadSession> {
        self.repo
            .session(id)
            .await?
            .ok_or_else(|| Error::UploadNotFound(id.to_string()))
    }

    pub async fn get(&self, id: i64) -> Result<Package> {
        self.repo
            .package(id)
            .await?
            .ok_or(Error::PackageNotFound(id))
    }

    pub async fn list(&self, filter: &PackageFilter) -> Result<Vec<Package>> {
        self.repo.list_packages(filter).await
    }

    pub async fn find(&self, query: &PackageQuery) -> Result<Package> {
        self.repo
            .find_package(query)
            .await?
            .ok_or_else(|| Error::NoMatchingPackage(describe(query)))
    }

    /// Deletes a package: the row first (it stops being visible), then the
    /// bytes. Returns whether it existed. `audit`: the call's event, written
    /// with the row's deletion.
    pub async fn delete(&self, id: i64, audit: Option<&AuditEvent>) -> Result<bool> {
        let Some(package) = self.repo.delete_package(id, audit).await? else {
            return Ok(false);
        };
        self.blobs.delete(&package.object_key).await?;
        tracing::info!(package = id, "package deleted");
        Ok(true)
    }

    /// The package's bytes from `offset`, and the package.
    pub async fn download(
        &self,
        id: i64,
        offset: u64,
    ) -> Result<(Package, BoxStream<'static, Result<Bytes>>)> {
        let package = self.get(id).await?;
        if offset > package.file_size {
            return Err(Error::OffsetOutOfRange {
                id,
                offset,
                size: package.file_size,
            });
        }
        if offset == package.file_size {
            return Ok((package, Box::pin(futures::stream::empty())));
        }
        let stream = self.blobs.read(&package.object_key, offset).await?;
        Ok((package, stream))
    }

    pub async fn sweep(&self) -> Result<SweepReport> {
        self.uploader.sweep().await
    }

    /// The uploader, for callers that need its finer controls (tests).
    pub fn uploader(&self) -> &Uploader {
        &self.uploader
    }

    /// Sweeps every `interval` until `shutdown` changes.
    pub fn spawn_sweeper(
        &self,
        interval: Duration,
        mut shutdown: watch::Receiver<bool>,
    ) -> tokio::task::JoinHandle<()> {
        let store = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tokio::select! {
                    _ = tick.tick() => {
                        match store.sweep().await {
                            Ok(r) if r != SweepReport::default() => tracing::info!(?r, "sweep"),
                            Ok(_) => {}
                            Err(e) => tracing::warn!(error = %e, "sweep failed"),
                        }
                    }
                    _ = shutdown.changed() => break,
                }
            }
        })
    }
}

/// The file name a query would match, as obshell names missing packages.
fn describe(q: &PackageQuery) -> String {
    use crate::domain::BuildSelector;
    match &q.build {
        BuildSelector::Exact {
            release,
            distribution,
        } => match distribution {
            Some(d) => format!(
                "{}-{}-{release}.{d}.{}.rpm",
                q.name, q.version, q.architecture
            ),
            None => format!("{}-{}-{release}.{}.rpm", q.name, q.version, q.architecture),
        },
        BuildSelector::Latest { distribution, .. } => {
            format!(
                "{}-{}-${{release}}.{distribution}.{}.rpm",
                q.name, q.version, q.architecture
            )
        }
    }
}
