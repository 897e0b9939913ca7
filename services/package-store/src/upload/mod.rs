//! Uploads: a persisted session per upload, bytes staged as parts, one pass
//! of hashing and scanning, and a commit that makes bytes and row visible
//! together.
//!
//! Session life: created (row) -> parts staged (row per part; their bytes
//! as `storage::staged` lays them out) -> committed (package row, session gone) | interrupted (kept for a
//! resume until it expires) | refused (parts and row deleted).
//!
//! The client may declare the file's SHA-256 up front (`start`) or, having
//! computed it while sending, at the end (`finish`); either is checked
//! against what the readers computed before anything is committed, and a
//! mismatch refuses the upload. Identical bytes already stored are found at
//! start when the SHA-256 is declared there, else at commit: either way the
//! stored package is returned and nothing new is kept.

mod pipeline;
mod sweep;
mod verify;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::{Stream, StreamExt};
use obup_kit::audit::AuditEvent;
use obup_rpm::ScanOptions;

pub use sweep::SweepReport;

use self::pipeline::Ingest;
use self::verify::{Verified, scan_targets, verify};
use crate::domain::{
    NewPackage, Package, PackageRules, Sha256Hex, StagedPart, UploadId, UploadSession, UploadStart,
    chunk_count, now_ms,
};
use crate::storage::{Blobs, PartWriter, Repository};
use crate::{Error, Result};

/// One message after `start`, as the transport delivered it.
#[derive(Debug)]
pub enum Chunk {
    /// Bytes at `offset` of the file.
    Data { offset: u64, bytes: Bytes },
    /// The stream broke (client gone, transport error): keep what arrived.
    Broken(String),
    /// The client's SHA-256 of the whole file, computed while sending; the
    /// end of the upload.
    Finish { sha256: Sha256Hex },
    /// The client sent something other than data: refuse.
    Invalid(Error),
}

/// Tunables of the upload path.
#[derive(Debug, Clone)]
pub struct UploadSettings {
    /// How long an idle session (and its staged bytes) is kept.
    pub ttl: Duration,
    /// Largest package accepted.
    pub max_file_size: u64,
    /// Bound on decompressed bytes scanned per package.
    pub max_unpacked: u64,
    /// How often a long upload makes what it received durable and pushes its
    /// session's expiry forward: a crash loses at most this much of the
    /// transfer. (On a filesystem the parts share one file, so publishing
    /// stays a rename; in an object store, an upload shorter than this is
    /// one object, renamed rather than copied.)
    pub checkpoint: Duration,
    /// Unreferenced objects younger than this are left alone by the
    /// sweeper: their row may be about to be written, or another replica
    /// may still be writing them.
    pub orphan_grace: Duration,
}

impl Default for UploadSettings {
    fn default() -> Self {
        Self {
            ttl: Duration::from_secs(3600),
            max_file_size: 8 << 30,
            max_unpacked: 16 << 30,
            checkpoint: Duration::from_secs(30),
            orphan_grace: Duration::from_secs(3600),
        }
    }
}

/// Runs uploads. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Uploader {
    repo: Arc<dyn Repository>,
    blobs: Blobs,
    settings: UploadSettings,
    /// Sessions being written by a stream in this process: a second stream
    /// for the same id is refused, and the sweeper leaves them alone.
    busy: Arc<Mutex<HashSet<UploadId>>>,
}

impl Uploader {
    pub fn new(repo: Arc<dyn Repository>, blobs: Blobs, settings: UploadSettings) -> Self {
        Self {
            repo,
            blobs,
            settings,
            busy: Arc::default(),
        }
    }

    /// Receives one upload stream to its end.
    #[tracing::instrument(skip_all, fields(file = %start.file_name, upload_id))]
    /// `audit`: the caller's event, written with the package row.
    pub async fn upload(
        &self,
        start: UploadStart,
        mut chunks: impl Stream<Item = Chunk> + Unpin,
        audit: Option<&AuditEvent>,
    ) -> Result<Package> {
        // Checksum deploy: bytes we already hold need not travel again.
        if let Some(sha) = &start.sha256
            && let Some(existing) = self.repo.package_by_sha256(sha).await?
        {
            if let Some(id) = &start.upload_id {
                self.discard_if_idle(id).await?;
            }
            tracing::info!(package = existing.id, "already stored");
            self.record_unchanged(audit, &existing).await?;
            return Ok(existing);
        }
        let id = start.upload_id.clone().unwrap_or_else(UploadId::generate);
        tracing::Span::current().record("upload_id", id.as_str());
        let _claim = self.claim(&id)?;
        let session = self.open_session(&id, &start).await?;
        let parts = self.repo.parts(&id).await?;

        // The readers continue from the last part whose states were saved.
        let resume = parts
            .iter()
            .rev()
            .find_map(|p| p.digest_states.as_ref().filter(|s| s.at == p.end()));
        let mut ingest = Ingest::start(self.scan_options(), resume);
        let replaying = std::time::Instant::now();
        if let Err(e) = self.replay(&parts, &mut ingest).await {
            return Err(self.refuse(&id, e).await);
        }
        if !parts.is_empty() {
            tracing::info!(
                parts = parts.len(),
                bytes = session.received,
                restored_at = resume.map_or(0, |s| s.at),
                replay_ms = replaying.elapsed().as_millis() as u64,
                "resumed"
            );
        }
        let mut staging = Staging {
            id: id.clone(),
            start: session.received,
            kept: parts,
            writer: None,
        };
        let mut received = session.received;
        let mut finish = None;
        let started = tokio::time::Instant::now();
        let mut last_checkpoint = started;
        loop {
            // Checkpoints are timed, not triggered by data, so that bytes
            // are made durable even while a client pauses.
            let checkpoint_due = last_checkpoint + self.settings.checkpoint;
            let chunk = tokio::select! {
                chunk = chunks.next() => match chunk {
                    Some(chunk) => chunk,
                    None => break,
                },
                () = tokio::time::sleep_until(checkpoint_due), if staging.writer.is_some() => {
                    // Recording the part also pushes the session's expiry.
                    self.keep(&mut staging, &mut ingest).await?;
                    last_checkpoint = tokio::time::Instant::now();
                    continue;
                }
            };
            let (offset, data) = match chunk {
                Chunk::Data { offset, bytes } => (offset, bytes),
                Chunk::Finish { sha256 } => {
                    finish = Some(sha256);
                    break;
                }
                Chunk::Broken(reason) => {
                    self.keep(&mut staging, &mut ingest).await?;
                    return Err(Error::Interrupted {
                        id: id.to_string(),
                        received,
                        reason,
                    });
                }
                Chunk::Invalid(e) => {
                    self.keep(&mut staging, &mut ingest).await?;
                    return Err(e);
                }
            };
            if offset != received {
                self.keep(&mut staging, &mut ingest).await?;
                return Err(Error::OffsetMismatch {
                    expected: received,
                    got: offset,
                });
            }
            if data.is_empty() {
                continue;
            }
            let end = received + data.len() as u64;
            if let Some(e) = self.size_violation(&session, end) {
                return Err(self.refuse_staged(&mut staging, e).await);
            }
            if let Err(e) = self.stage(&mut staging, data.clone()).await {
                return Err(self.refuse_staged(&mut staging, e).await);
            }
            if let Err(e) = ingest.feed(data).await {
                return Err(self.refuse_staged(&mut staging, e).await);
            }
            received = end;
        }
        self.keep(&mut staging, &mut ingest).await?;

        if received == 0 {
            return Err(self.refuse(&id, Error::NoData).await);
        }
        if let Some(total) = session.total_size.filter(|&t| received < t) {
            return Err(Error::Incomplete {
                id: id.to_string(),
                received,
                total,
            });
        }
        let streamed = started.elapsed();
        let declared: Vec<&Sha256Hex> = session.sha256.iter().chain(finish.iter()).collect();
        let verified = match ingest
            .finish()
            .await
            .and_then(|i| verify(i, &declared, &PackageRules))
        {
            Ok(v) => v,
            Err(e) => return Err(self.refuse(&id, e).await),
        };
        let scanned = started.elapsed();
        let package = self.commit(&id, &session, verified, audit).await?;
        tracing::info!(
            package = package.id,
            bytes = received,
            streamed_ms = streamed.as_millis() as u64,
            scanned_ms = scanned.as_millis() as u64,
            committed_ms = started.elapsed().as_millis() as u64,
            "upload committed"
        );
        Ok(package)
    }

    /// The session to continue, created if new.
    async fn open_session(&self, id: &UploadId, start: &UploadStart) -> Result<UploadSession> {
        if let Some(existing) = self.repo.session(id).await? {
            if start.total_size.is_some() && start.total_size != existing.total_size {
                return Err(Error::InvalidArgument {
                    field: "total_size",
                    reason: format!(
                        "upload {id} was started with total_size {:?}, not {:?}",
                        existing.total_size, start.total_size
                    ),
                });
            }
            return Ok(existing);
        }
        if start
            .total_size
            .is_some_and(|t| t > self.settings.max_file_size)
        {
            return Err(Error::TooLarge {
                limit: self.settings.max_file_size,
                what: "the maximum package size",
            });
        }
        if start.total_size == Some(0) {
            return Err(Error::NoData);
        }
        let now = now_ms();
        let session = UploadSession {
            id: id.clone(),
            file_name: start.file_name.clone(),
            total_size: start.total_size,
            sha256: start.sha256.clone(),
            received: 0,
            created_at_ms: now,
            expires_at_ms: self.expiry(),
        };
        self.repo.create_session(&session).await?;
        Ok(session)
    }

    /// Feeds the already staged bytes of a resumed upload to the readers:
    /// the scan's state (a decompressor's) cannot outlive a stream, so it
    /// reads the prefix again; the digest readers skip what their restored
    /// states cover.
    async fn replay(&self, parts: &[StagedPart], ingest: &mut Ingest) -> Result<()> {
        for (key, len, mut stream) in self.blobs.read_staged(parts).await? {
            let mut left = len;
            while left > 0 {
                let Some(bytes) = stream.next().await else {
                    return Err(Error::Internal(format!(
                        "staged object {key} has {left} bytes fewer than recorded"
                    )));
                };
                let mut bytes = bytes?;
                bytes.truncate(left.min(bytes.len() as u64) as usize);
                left -= bytes.len() as u64;
                ingest.feed(bytes).await?;
            }
        }
        Ok(())
    }

    fn size_violation(&self, session: &UploadSession, end: u64) -> Option<Error> {
        if let Some(total) = session.total_size.filter(|&t| end > t) {
            return Some(Error::TooLarge {
                limit: total,
                what: "the declared total_size",
            });
        }
        (end > self.settings.max_file_size).then_some(Error::TooLarge {
            limit: self.settings.max_file_size,
            what: "the maximum package size",
        })
    }

    async fn stage(&self, staging: &mut Staging, data: Bytes) -> Result<()> {
        if staging.writer.is_none() {
            staging.writer = Some(self.blobs.start_part(&staging.id, &staging.kept).await?);
        }
        let (_, writer) = staging.writer.as_mut().expect("set just above");
        writer.write(data).await
    }

    /// Makes the bytes of the current part durable and records them with
    /// the digests' states at its end, so that the session can resume after
    /// them. Every staged byte has been fed by then (a chunk is staged,
    /// then fed, before the next is taken).
    async fn keep(&self, staging: &mut Staging, ingest: &mut Ingest) -> Result<()> {
        let Some((key, writer)) = staging.writer.take() else {
            return Ok(());
        };
        let len = writer.written();
        // The sync of the bytes and the digests catching up with them
        // overlap: at the end of a stream both may still take a while.
        let (finished, marked) = tokio::join!(writer.finish(), ingest.mark());
        finished?;
        let digest_states = marked.filter(|s| s.at == staging.start + len);
        let part = StagedPart {
            seq: staging.kept.len() as i32,
            start: staging.start,
            len,
            object_key: key,
            digest_states,
        };
        self.repo
            .add_part(&staging.id, &part, self.expiry())
            .await?;
        staging.start += len;
        staging.kept.push(part);
        Ok(())
    }

    /// Refuses the package: the part in flight is dropped, then everything
    /// the session staged.
    async fn refuse_staged(&self, staging: &mut Staging, error: Error) -> Error {
        if let Some((_, writer)) = staging.writer.take() {
            abort_quietly(writer).await;
        }
        self.refuse(&staging.id, error).await
    }

    /// Deletes a session and its staged bytes, then hands back `error`. A
    /// failure to clean up is logged: the sweeper will finish the job.
    async fn refuse(&self, id: &UploadId, error: Error) -> Error {
        if let Err(e) = self.discard(id).await {
            tracing::warn!(upload_id = %id, error = %e, "could not discard a refused upload; the sweeper will");
        }
        tracing::info!(upload_id = %id, %error, "upload refused");
        error
    }

    async fn discard(&self, id: &UploadId) -> Result<()> {
        self.blobs.delete_parts(&self.repo.parts(id).await?).await?;
        self.repo.delete_session(id).await
    }

    async fn discard_if_idle(&self, id: &UploadId) -> Result<()> {
        match self.claim(id) {
            Ok(_claim) => self.discard(id).await,
            Err(_) => Ok(()),
        }
    }

    /// Publishes the bytes, then records the row: a crash in between leaves an
    /// unreferenced object (swept later), never a row without bytes.
    async fn commit(
        &self,
        id: &UploadId,
        session: &UploadSession,
        v: Verified,
        audit: Option<&AuditEvent>,
    ) -> Result<Package> {
        let sha256 = Sha256Hex::from_bytes(&v.digests.sha256);
        if let Some(existing) = self.repo.package_by_sha256(&sha256).await? {
            self.discard(id).await?;
            tracing::info!(package = existing.id, "identical bytes already stored");
            self.record_unchanged(audit, &existing).await?;
            return Ok(existing);
        }
        let key = Blobs::package_key(&sha256);
        let parts = self.repo.parts(id).await?;
        self.blobs.publish(&parts, &key).await?;
        let header = v.header;
        let new = NewPackage {
            id: 0,
            name: header.name,
            version: header.version,
            release: v.release,
            architecture: header.arch,
            size: header.size.unwrap_or(0),
            payload_size: v.digests.header_payload_len,
            file_size: v.digests.file_len,
            chunk_count: chunk_count(v.digests.file_len),
            md5: hex::encode(v.digests.md5),
            sha256,
            payload_compressor: v.compressor.as_str().to_owned(),
            upgrade_dep_yaml: v.dep_yaml,
            upgrade_scripts: v.scripts,
            file_name: session.file_name.clone(),
            object_key: key,
            created_at_ms: now_ms(),
        };
        let (package, inserted) = self.repo.insert_package(&new, audit).await?;
        self.repo.delete_session(id).await?;
        tracing::debug!(package = package.id, inserted, "package recorded");
        Ok(package)
    }

    /// Records an upload that stored nothing because the package was
    /// already there: there is no change to commit it with, but the call
    /// happened and succeeded.
    async fn record_unchanged(&self, audit: Option<&AuditEvent>, existing: &Package) -> Result<()> {
        if let Some(event) = audit {
            let target = format!(
                "package {} ({} {}, already stored)",
                existing.id, existing.name, existing.version
            );
            self.repo
                .journal()
                .record(&event.clone().on(target))
                .await?;
        }
        Ok(())
    }

    fn claim(&self, id: &UploadId) -> Result<Claim> {
        let mut busy = self
            .busy
            .lock()
            .expect("the busy set is never poisoned: no code panics holding it");
        if !busy.insert(id.clone()) {
            return Err(Error::UploadBusy(id.to_string()));
        }
        Ok(Claim {
            id: id.clone(),
            busy: self.busy.clone(),
        })
    }

    fn scan_options(&self) -> ScanOptions {
        let (capture, note) = scan_targets();
        ScanOptions {
            capture,
            note,
            max_unpacked: self.settings.max_unpacked,
            ..ScanOptions::default()
        }
    }

    fn expiry(&self) -> i64 {
        now_ms() + self.settings.ttl.as_millis() as i64
    }

    pub(crate) fn is_busy(&self, id: &UploadId) -> bool {
        self.busy
            .lock()
            .expect("the busy set is never poisoned: no code panics holding it")
            .contains(id)
    }

    pub(crate) fn repo(&self) -> &dyn Repository {
        self.repo.as_ref()
    }

    pub(crate) fn blobs(&self) -> &Blobs {
        &self.blobs
    }
}

/// The part being written by this stream.
struct Staging {
    id: UploadId,
    /// Session offset where the part in flight starts.
    start: u64,
    /// The session's recorded parts, in order: the next part follows them.
    kept: Vec<StagedPart>,
    writer: Option<(String, PartWriter)>,
}

async fn abort_quietly(writer: PartWriter) {
    if let Err(e) = writer.abort().await {
        tracing::warn!(error = %e, "could not abort a staged part; the sweeper will remove it");
    }
}

/// Marks a session as written by this process until dropped.
struct Claim {
    id: UploadId,
    busy: Arc<Mutex<HashSet<UploadId>>>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        if let Ok(mut busy) = self.busy.lock() {
            busy.remove(&self.id);
        }
    }
}
