//! Removing what uploads leave behind: expired sessions with their staged
//! parts, and objects that no row references (a crash between publishing
//! bytes and recording the row, or a part whose session is gone).

use std::time::Duration;

use super::Uploader;
use crate::Result;
use crate::domain::{Sha256Hex, UploadId, now_ms};

/// What one sweep removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    pub sessions: usize,
    pub objects: usize,
}

impl Uploader {
    /// Deletes expired sessions and orphaned objects.
    pub async fn sweep(&self) -> Result<SweepReport> {
        self.sweep_with_grace(self.settings.orphan_grace).await
    }

    /// [`sweep`](Self::sweep) with a custom grace period for orphans, so that
    /// tests need not wait an hour.
    pub async fn sweep_with_grace(&self, grace: Duration) -> Result<SweepReport> {
        let mut report = SweepReport::default();
        let now = now_ms();
        for id in self.repo().expired_sessions(now).await? {
            if self.is_busy(&id) {
                continue;
            }
            let parts = self.repo().parts(&id).await?;
            report.objects += self.blobs().delete_parts(&parts).await?;
            self.repo().delete_session(&id).await?;
            report.sessions += 1;
            tracing::info!(upload_id = %id, "expired upload session removed");
        }
        let cutoff = now - grace.as_millis() as i64;
        for (key, modified) in self.blobs().list("staging/").await? {
            if modified > cutoff {
                continue;
            }
            let session = key.split('/').nth(1).and_then(UploadId::parse);
            let orphan = match &session {
                Some(id) => !self.is_busy(id) && self.repo().session(id).await?.is_none(),
                None => true,
            };
            if orphan {
                self.blobs().delete(&key).await?;
                report.objects += 1;
            }
        }
        report.objects += self.blobs().remove_abandoned_writes("staging", cutoff)?;
        for (key, modified) in self.blobs().list("packages/").await? {
            if modified > cutoff {
                continue;
            }
            let referenced = match key.rsplit('/').next().and_then(Sha256Hex::parse) {
                Some(sha) => self.repo().package_by_sha256(&sha).await?.is_some(),
                None => false,
            };
            if !referenced {
                tracing::warn!(key, "removing an object no package references");
                self.blobs().delete(&key).await?;
                report.objects += 1;
            }
        }
        Ok(report)
    }
}
