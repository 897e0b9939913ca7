//! What `obup upload` remembers between runs, under the user's cache dir
//! (`$XDG_CACHE_HOME/obup`, else `~/.cache/obup`):
//!
//! - `uploads.json`: file fingerprint -> SHA-256 of files uploaded before,
//!   so that a re-upload of the same file asks the server for that SHA-256
//!   and sends nothing when it is stored. At most [`KNOWN_MAX`] entries.
//! - `partial/<upload id>.jsonl`: SHA-256 states of an upload in progress
//!   every [`CHECKPOINT`] bytes, one JSON object a line, so that a resumed
//!   upload continues hashing at the server's offset instead of reading the
//!   file's prefix again. Removed when the upload ends.
//!
//! The cache only saves work: a file that cannot be read or written is
//! ignored (with a warning), and a SHA-256 it yields is confirmed with the
//! server, which verifies every upload's SHA-256 itself.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use obup_kit::sha256::ResumableSha256;

/// Bytes between two saved SHA-256 states of an upload.
pub const CHECKPOINT: u64 = 4 << 20;
/// Files remembered in `uploads.json`; the least recently used go first.
const KNOWN_MAX: usize = 512;
/// Bytes at each end of a file that its fingerprint covers.
const EDGE: u64 = 1 << 20;

/// Identifies a file without reading it whole: its path, size and mtime
/// and a SHA-256 of its first and last MiB.
pub fn fingerprint(path: &Path) -> anyhow::Result<(String, u64)> {
    use anyhow::Context;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let meta = file.metadata()?;
    let size = meta.len();
    let mtime = meta
        .modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_owned());
    let mut h = Sha256::new();
    h.update(b"obup upload fingerprint v1\0");
    h.update(canonical.as_os_str().as_encoded_bytes());
    h.update([0]);
    h.update(size.to_le_bytes());
    h.update(mtime.to_le_bytes());
    let mut buf = vec![0u8; EDGE.min(size) as usize];
    file.read_exact(&mut buf)?;
    h.update(&buf);
    file.seek(SeekFrom::Start(size.saturating_sub(EDGE)))?;
    file.read_exact(&mut buf)?;
    h.update(&buf);
    Ok((hex::encode(h.finalize()), size))
}

/// The cache directory, if the environment names one.
pub fn dir() -> Option<PathBuf> {
    let base = match std::env::var_os("XDG_CACHE_HOME").filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => PathBuf::from(std::env::var_os("HOME")?).join(".cache"),
    };
    Some(base.join("obup"))
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Known {
    files: BTreeMap<String, KnownFile>,
}

#[derive(Debug, Serialize, Deserialize)]
struct KnownFile {
    sha256: String,
    used_ms: i64,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// The SHA-256 recorded for a fingerprint.
pub fn known_sha256(dir: &Path, fingerprint: &str) -> Option<String> {
    let known: Known =
        serde_json::from_slice(&std::fs::read(dir.join("uploads.json")).ok()?).ok()?;
    known.files.get(fingerprint).map(|f| f.sha256.clone())
}

/// Records the SHA-256 of a fingerprinted file.
pub fn remember(dir: &Path, fingerprint: &str, sha256: &str) {
    let path = dir.join("uploads.json");
    let mut known: Known = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    known.files.insert(
        fingerprint.to_owned(),
        KnownFile {
            sha256: sha256.to_owned(),
            used_ms: now_ms(),
        },
    );
    while known.files.len() > KNOWN_MAX {
        let oldest = known
            .files
            .iter()
            .min_by_key(|(_, f)| f.used_ms)
            .map(|(k, _)| k.clone())
            .expect("the map is not empty");
        known.files.remove(&oldest);
    }
    let result = serde_json::to_vec(&known)
        .map_err(std::io::Error::other)
        .and_then(|bytes| write_atomically(&path, &bytes));
    warn_on_error(result, &path);
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    std::fs::create_dir_all(path.parent().expect("cache files are in a directory"))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}

fn warn_on_error(result: std::io::Result<()>, path: &Path) {
    if let Err(e) = result {
        eprintln!("warning: cannot write {}: {e}", path.display());
    }
}

/// One saved state of an upload's SHA-256.
#[derive(Debug, Serialize, Deserialize)]
struct Checkpoint {
    offset: u64,
    state: String,
}

fn partial_path(dir: &Path, upload_id: &str) -> PathBuf {
    dir.join("partial").join(format!("{upload_id}.jsonl"))
}

/// The SHA-256 state saved at the largest offset not above `offset`.
pub fn checkpoint_before(dir: &Path, upload_id: &str, offset: u64) -> Option<ResumableSha256> {
    let text = std::fs::read_to_string(partial_path(dir, upload_id)).ok()?;
    text.lines()
        // A process killed while appending leaves a torn last line.
        .filter_map(|l| serde_json::from_str::<Checkpoint>(l).ok())
        .filter(|c| c.offset <= offset)
        .max_by_key(|c| c.offset)
        .and_then(|c| ResumableSha256::restore(c.offset, &c.state))
}

/// Appends SHA-256 states of one upload as it goes.
#[derive(Debug)]
pub struct Checkpoints {
    path: PathBuf,
    file: Option<std::fs::File>,
    /// Set after a failed write: the upload goes on without checkpoints.
    failed: bool,
}

impl Checkpoints {
    pub fn new(dir: &Path, upload_id: &str) -> Self {
        Self {
            path: partial_path(dir, upload_id),
            file: None,
            failed: false,
        }
    }

    /// Saves `sha`'s state if it is at a checkpoint.
    pub fn offer(&mut self, sha: &ResumableSha256) {
        if self.failed || sha.is_empty() || !sha.len().is_multiple_of(CHECKPOINT) {
            return;
        }
        let Some(state) = sha.saved() else { return };
        let line = serde_json::json!({ "offset": sha.len(), "state": state }).to_string() + "\n";
        let result = (|| {
            if self.file.is_none() {
                std::fs::create_dir_all(self.path.parent().expect("in partial/"))?;
                self.file = Some(
                    std::fs::OpenOptions::new()
                        .create(true)
                        .append(true)
                        .open(&self.path)?,
                );
            }
            self.file
                .as_mut()
                .expect("opened just above")
                .write_all(line.as_bytes())
        })();
        if result.is_err() {
            // Once is enough.
            self.failed = true;
            warn_on_error(result, &self.path);
        }
    }
}

/// Forgets the checkpoints of an upload that ended.
pub fn forget_partial(dir: &Path, upload_id: &str) {
    let _ = std::fs::remove_file(partial_path(dir, upload_id));
}
