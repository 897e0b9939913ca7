//! Where the package store keeps things: metadata in SQL ([`Repository`]),
//! bytes in object storage ([`Blobs`]).

mod blobs;
mod sql;
mod staged;

use async_trait::async_trait;
use obup_kit::audit::{AuditEvent, AuditStore};

pub use blobs::{Blobs, ObjectStoreConfig};
pub use sql::SqlRepository;
pub use staged::PartWriter;

use crate::Result;
use crate::domain::{
    NewPackage, Package, PackageFilter, PackageQuery, Sha256Hex, StagedPart, UploadId,
    UploadSession,
};

/// Metadata storage. One implementation serves PostgreSQL and SQLite; the
/// trait is the seam the service and the conformance tests use.
#[async_trait]
pub trait Repository: Send + Sync + std::fmt::Debug + 'static {
    // ---- upload sessions ----
    /// Records a new session. Fails if the id exists.
    async fn create_session(&self, session: &UploadSession) -> Result<()>;
    async fn session(&self, id: &UploadId) -> Result<Option<UploadSession>>;
    /// The session's staged parts in order.
    async fn parts(&self, id: &UploadId) -> Result<Vec<StagedPart>>;
    /// Appends a part and advances `received` to its end, in one
    /// transaction; refuses a part that does not start at `received`.
    async fn add_part(&self, id: &UploadId, part: &StagedPart, expires_at_ms: i64) -> Result<()>;
    /// Pushes the expiry of a session that is still in use.
    async fn touch_session(&self, id: &UploadId, expires_at_ms: i64) -> Result<()>;
    /// Removes a session and its part records.
    async fn delete_session(&self, id: &UploadId) -> Result<()>;
    /// Sessions whose expiry time has come (`expires_at_ms <= now_ms`).
    async fn expired_sessions(&self, now_ms: i64) -> Result<Vec<UploadId>>;

    // ---- packages ----
    /// Inserts a package unless one with the same SHA-256 exists; returns the
    /// stored row and whether this call created it. `audit`, the upload's
    /// event, is written in the same transaction, naming the package.
    async fn insert_package(
        &self,
        package: &NewPackage,
        audit: Option<&AuditEvent>,
    ) -> Result<(Package, bool)>;
    async fn package(&self, id: i64) -> Result<Option<Package>>;
    async fn package_by_sha256(&self, sha256: &Sha256Hex) -> Result<Option<Package>>;
    /// Matching packages, newest first.
    async fn list_packages(&self, filter: &PackageFilter) -> Result<Vec<Package>>;
    /// The package a query selects (see [`PackageQuery`]).
    async fn find_package(&self, query: &PackageQuery) -> Result<Option<Package>>;
    /// Deletes a package row, returning it. `audit`, the call's event, is
    /// written in the same transaction (also when there was no such
    /// package: the call is answered `deleted: false`, not an error).
    async fn delete_package(&self, id: i64, audit: Option<&AuditEvent>) -> Result<Option<Package>>;

    // ---- audit ----
    /// The audit journal in this database.
    fn journal(&self) -> AuditStore;
}
