//! The package store's vocabulary, free of I/O and of protobuf types.

mod rules;

use std::fmt;

pub use obup_types::{Release, compare_versions};
pub use rules::{DEP_YAML, PackageRules, REQUIRED_FILES, UPGRADE_SCRIPTS, required_files};

/// Bytes per chunk in obshell's chunked storage (8 MiB - 1). obup stores
/// whole objects, but reports the count obshell clients expect.
pub const CHUNK_SIZE: u64 = 8 * 1024 * 1024 - 1;

/// Chunks needed to hold a whole file of `file_size` bytes. obshell derives the
/// count from the payload size while chunking from file offset 0, which can
/// drop the last few KiB; counting the real file never drops a byte.
pub fn chunk_count(file_size: u64) -> u64 {
    file_size.div_ceil(CHUNK_SIZE)
}

/// A stored package, as every API reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    pub id: i64,
    pub name: String,
    pub version: String,
    pub release: Release,
    pub architecture: String,
    /// Installed size (header tag 1009).
    pub size: u64,
    /// Header + compressed payload (signature tag 1000).
    pub payload_size: u64,
    pub file_size: u64,
    pub chunk_count: u64,
    pub md5: String,
    pub sha256: Sha256Hex,
    pub payload_compressor: String,
    /// Empty when the package has no dep YAML.
    pub upgrade_dep_yaml: String,
    /// Base names of the upgrade scripts found in the payload.
    pub upgrade_scripts: Vec<String>,
    pub file_name: String,
    pub object_key: String,
    pub created_at_ms: i64,
}

/// A package about to be recorded: everything but the id.
pub type NewPackage = Package;

/// A lower-case hex SHA-256, checked on construction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Sha256Hex(String);

impl Sha256Hex {
    pub fn parse(s: &str) -> Option<Self> {
        (s.len() == 64
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        .then(|| Self(s.to_owned()))
    }

    pub fn from_bytes(b: &[u8; 32]) -> Self {
        Self(hex::encode(b))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Sha256Hex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A client-chosen upload session id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UploadId(String);

impl UploadId {
    /// 1-64 characters of `[A-Za-z0-9_.-]`: safe in object keys and logs.
    pub fn parse(s: &str) -> Option<Self> {
        let ok = !s.is_empty()
            && s.len() <= 64
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
            && !s.starts_with('.');
        ok.then(|| Self(s.to_owned()))
    }

    /// A fresh server-chosen id.
    pub fn generate() -> Self {
        Self(format!("u-{}", uuid::Uuid::now_v7().simple()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for UploadId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What a client says about an upload before sending bytes.
#[derive(Debug, Clone)]
pub struct UploadStart {
    pub file_name: String,
    pub total_size: Option<u64>,
    pub sha256: Option<Sha256Hex>,
    /// `None`: a one-shot upload under a generated id.
    pub upload_id: Option<UploadId>,
}

/// An upload session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadSession {
    pub id: UploadId,
    pub file_name: String,
    pub total_size: Option<u64>,
    pub sha256: Option<Sha256Hex>,
    /// Bytes durably staged in `parts`.
    pub received: u64,
    pub created_at_ms: i64,
    pub expires_at_ms: i64,
}

/// One staged object of a session, covering `start..start + len`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedPart {
    pub seq: i32,
    pub start: u64,
    pub len: u64,
    pub object_key: String,
    /// The digests' states at `start + len`, when they could be saved.
    pub digest_states: Option<DigestStates>,
}

impl StagedPart {
    pub fn end(&self) -> u64 {
        self.start + self.len
    }
}

/// What the upload's digest readers had computed after the first `at`
/// bytes: a resumed upload restores them and hashes only what follows.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DigestStates {
    pub at: u64,
    /// `obup_kit::sha256::ResumableSha256::to_bytes`, hex.
    pub file_sha256: String,
    /// `obup_rpm::PayloadDigests::save`, hex.
    pub signed: String,
}

/// Filters of a package listing; `None` matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFilter {
    pub name: Option<String>,
    pub version: Option<String>,
    /// Matches the build number or the full release tag.
    pub release: Option<String>,
    pub distribution: Option<String>,
    pub architecture: Option<String>,
    /// The whole file's SHA-256: whether these exact bytes are stored (the
    /// CLI asks before sending a file it has uploaded before).
    pub sha256: Option<Sha256Hex>,
}

/// The orchestrator's lookup: one package for a planned hop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageQuery {
    pub name: String,
    pub version: String,
    pub architecture: String,
    pub build: BuildSelector,
}

/// Which build of a version a query wants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildSelector {
    /// Exactly this build, optionally of this distribution.
    Exact {
        release: String,
        distribution: Option<String>,
    },
    /// The newest build for `distribution` that is not deprecated.
    Latest {
        distribution: String,
        excluded: Vec<String>,
    },
}

/// Current time in Unix milliseconds.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_count_covers_every_byte() {
        assert_eq!(chunk_count(0), 0);
        assert_eq!(chunk_count(1), 1);
        assert_eq!(chunk_count(CHUNK_SIZE), 1);
        assert_eq!(chunk_count(CHUNK_SIZE + 1), 2);
        // The upstream formula (from PayloadSize) under-counts a file whose
        // lead + signature push it over a chunk boundary: it would say 1 here
        // and drop the last 4 KiB of the file.
        let payload_size = CHUNK_SIZE - 100;
        let file_size = payload_size + 4096;
        assert_eq!(payload_size.div_ceil(CHUNK_SIZE), 1);
        assert_eq!(chunk_count(file_size), 2);
    }

    #[test]
    fn ids_and_digests_are_checked() {
        assert!(UploadId::parse("cli-abc_1.2").is_some());
        for bad in ["", "../x", "a/b", ".hidden", &"x".repeat(65)] {
            assert!(UploadId::parse(bad).is_none(), "{bad:?}");
        }
        assert!(Sha256Hex::parse(&"a".repeat(64)).is_some());
        assert!(Sha256Hex::parse(&"A".repeat(64)).is_none());
        assert!(Sha256Hex::parse("abc").is_none());
    }
}
