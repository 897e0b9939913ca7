//! Package bytes in object storage: the local filesystem by default, any
//! S3-compatible store when configured.
//!
//! Keys:
//! - `staging/<upload id>/<seq>`: the parts of an upload in progress. A part
//!   is one object, written by one stream, so a resumed upload adds parts
//!   rather than appending (object stores cannot append).
//! - `packages/sha256/<xx>/<sha256>`: a committed package, content-addressed,
//!   so the same bytes are never stored twice.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};

use crate::domain::{Sha256Hex, StagedPart, UploadId};
use crate::{Error, Result};

/// Parts written to the backend concurrently by one upload.
const MAX_INFLIGHT_PARTS: usize = 4;
/// Bytes per chunk when a resumed upload replays its staged parts.
const REPLAY_CHUNK: usize = 1 << 20;
/// Bytes per chunk of a download from a file: each chunk is one gRPC
/// message, and a download holds a few in flight (the read, the encoded
/// message, HTTP/2's send buffer). At 256 KiB nine concurrent downloads
/// of 1 GiB keep the store near 40 MiB; at 1 MiB near 63 (of its 64 MiB
/// bound); the messages are still few enough not to cost time.
const DOWNLOAD_CHUNK: usize = 256 << 10;

/// Where package bytes go. `Debug` prints no secret key.
#[derive(Clone, PartialEq, Eq)]
pub enum ObjectStoreConfig {
    /// A directory on the local filesystem.
    Local { root: PathBuf },
    /// An S3-compatible bucket.
    S3 {
        bucket: String,
        /// e.g. `http://127.0.0.1:9000`; `None` for AWS itself.
        endpoint: Option<String>,
        region: String,
        access_key_id: Option<String>,
        secret_access_key: Option<String>,
    },
}

impl std::fmt::Debug for ObjectStoreConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local { root } => f.debug_struct("Local").field("root", root).finish(),
            Self::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => f
                .debug_struct("S3")
                .field("bucket", bucket)
                .field("endpoint", endpoint)
                .field("region", region)
                .field("access_key_id", access_key_id)
                .field(
                    "secret_access_key",
                    &secret_access_key.as_ref().map(|_| "<redacted>"),
                )
                .finish(),
        }
    }
}

impl ObjectStoreConfig {
    /// Parses `file:///abs/dir` or `s3://bucket`. For S3 the endpoint, region
    /// and credentials come from the usual `AWS_*` variables
    /// (`AWS_ENDPOINT_URL`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`).
    pub fn from_url(url: &str) -> Result<Self> {
        if let Some(path) = url.strip_prefix("file://") {
            if !path.starts_with('/') {
                return Err(Error::Config(format!(
                    "object store path must be absolute: {url:?}"
                )));
            }
            return Ok(Self::Local { root: path.into() });
        }
        if let Some(bucket) = url.strip_prefix("s3://") {
            let bucket = bucket.trim_end_matches('/');
            if bucket.is_empty() || bucket.contains('/') {
                return Err(Error::Config(format!("expected s3://bucket, got {url:?}")));
            }
            let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
            return Ok(Self::S3 {
                bucket: bucket.into(),
                endpoint: env("AWS_ENDPOINT_URL").or_else(|| env("AWS_ENDPOINT")),
                region: env("AWS_REGION")
                    .or_else(|| env("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".into()),
                access_key_id: env("AWS_ACCESS_KEY_ID"),
                secret_access_key: env("AWS_SECRET_ACCESS_KEY"),
            });
        }
        Err(Error::Config(format!(
            "object store URL must be file:///dir or s3://bucket, got {url:?}"
        )))
    }

    fn build(&self) -> Result<Arc<dyn ObjectStore>> {
        Ok(match self {
            Self::Local { root } => {
                std::fs::create_dir_all(root)
                    .map_err(|e| Error::Config(format!("cannot create {}: {e}", root.display())))?;
                Arc::new(LocalFileSystem::new_with_prefix(root)?.with_automatic_cleanup(true))
            }
            Self::S3 {
                bucket,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                }
                if let (Some(k), Some(s)) = (access_key_id, secret_access_key) {
                    b = b.with_access_key_id(k).with_secret_access_key(s);
                }
                Arc::new(b.build()?)
            }
        })
    }
}

/// The package store's view of object storage.
#[derive(Debug, Clone)]
pub struct Blobs {
    store: Arc<dyn ObjectStore>,
    /// Root directory of the filesystem backend. Its half-written files
    /// (`<key>#<n>`, left by a crash mid-write) are invisible to listings,
    /// so the sweeper removes them through the filesystem.
    local_root: Option<PathBuf>,
}

impl Blobs {
    pub fn open(config: &ObjectStoreConfig) -> Result<Self> {
        let local_root = match config {
            ObjectStoreConfig::Local { root } => Some(root.clone()),
            ObjectStoreConfig::S3 { .. } => None,
        };
        Ok(Self {
            store: config.build()?,
            local_root,
        })
    }

    pub fn staging_key(id: &UploadId, seq: i32) -> String {
        format!("staging/{id}/{seq:06}")
    }

    pub fn package_key(sha256: &Sha256Hex) -> String {
        let s = sha256.as_str();
        format!("packages/sha256/{}/{s}", &s[..2])
    }

    /// Starts writing one staged part.
    pub async fn start_part(&self, key: String) -> Result<PartWriter> {
        let upload = self.store.put_multipart(&Path::from(key.as_str())).await?;
        Ok(PartWriter {
            inner: WriteMultipart::new(upload),
            written: 0,
        })
    }

    /// Streams an object's bytes from `offset`: in chunks of
    /// [`DOWNLOAD_CHUNK`] from a file (the filesystem backend's own streams
    /// come in 8 KiB pieces: a 1 GiB download would be 131,072 gRPC
    /// messages, each a wake-up and a write on the receiving host), as the
    /// object store gives them otherwise.
    pub async fn read(&self, key: &str, offset: u64) -> Result<BoxStream<'static, Result<Bytes>>> {
        if let Some(root) = &self.local_root {
            return read_file(root.join(key), offset, DOWNLOAD_CHUNK).await;
        }
        let opts = GetOptions::new().with_range((offset > 0).then_some(GetRange::Offset(offset)));
        let stream = self
            .store
            .get_opts(&Path::from(key), opts)
            .await?
            .into_stream();
        Ok(stream.map_err(Error::from).boxed())
    }

    /// Streams a staged part, in chunks of [`REPLAY_CHUNK`] from a file (a
    /// resumed upload's readers take one channel send per chunk). The file
    /// may be longer than the part's recorded length (see `publish`): the
    /// caller reads that length only.
    pub async fn read_part(&self, key: &str) -> Result<BoxStream<'static, Result<Bytes>>> {
        match &self.local_root {
            Some(root) => read_file(root.join(key), 0, REPLAY_CHUNK).await,
            None => self.read(key, 0).await,
        }
    }

    /// Moves the staged parts of an upload to `dest`. One part (every upload
    /// that was not interrupted) is a rename, which copies no bytes on a
    /// filesystem and none through us on S3. Several parts: on a filesystem
    /// the later ones are appended to the first (by the kernel), which is
    /// then renamed into place, so a resumed upload copies only the bytes it
    /// sent after the resume; on S3 they are concatenated into a multipart
    /// upload. Either way the parts are gone afterwards.
    pub async fn publish(&self, parts: &[StagedPart], dest: &str) -> Result<()> {
        let dest = Path::from(dest);
        if let [only] = parts {
            self.store
                .rename(&Path::from(only.object_key.as_str()), &dest)
                .await?;
            return Ok(());
        }
        if let (Some(root), [first, rest @ ..]) = (&self.local_root, parts) {
            let head = (root.join(&first.object_key), first.len);
            let rest: Vec<PathBuf> = rest.iter().map(|p| root.join(&p.object_key)).collect();
            let target = root.join(dest.as_ref());
            tokio::task::spawn_blocking(move || append_and_place(head, &rest, &target))
                .await
                .map_err(|e| Error::Internal(format!("publishing failed: {e}")))?
                .map_err(|e| Error::Internal(format!("cannot publish {dest}: {e}")))?;
            for part in parts {
                self.delete(&part.object_key).await?;
            }
            return Ok(());
        }
        let mut out = WriteMultipart::new(self.store.put_multipart(&dest).await?);
        for part in parts {
            let mut stream = self.read(&part.object_key, 0).await?;
            while let Some(bytes) = stream.try_next().await? {
                out.wait_for_capacity(MAX_INFLIGHT_PARTS).await?;
                out.put(bytes);
            }
        }
        out.finish().await?;
        for part in parts {
            self.delete(&part.object_key).await?;
        }
        Ok(())
    }

    /// Deletes an object; a missing one is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// Keys under `prefix` (e.g. `packages/`), with their last-modified time
    /// in Unix milliseconds.
    pub async fn list(&self, prefix: &str) -> Result<Vec<(String, i64)>> {
        let metas: Vec<_> = self
            .store
            .list(Some(&Path::from(prefix)))
            .try_collect()
            .await?;
        Ok(metas
            .into_iter()
            .map(|m| (m.location.to_string(), m.last_modified.timestamp_millis()))
            .collect())
    }
}

/// Appends the files `rest` to the file `head.0`, cut first to its recorded
/// length `head.1` (a publish that failed midway may have appended to it
/// already: the session stays resumable, its replay reads only the recorded
/// length of each part), then renames it to `target`.
fn append_and_place(
    head: (PathBuf, u64),
    rest: &[PathBuf],
    target: &std::path::Path,
) -> std::io::Result<()> {
    use std::io::{Seek, SeekFrom};
    let (first, first_len) = head;
    let dir = target.parent().expect("object paths have a directory");
    std::fs::create_dir_all(dir)?;
    let mut out = std::fs::OpenOptions::new().write(true).open(&first)?;
    out.set_len(first_len)?;
    out.seek(SeekFrom::End(0))?;
    for source in rest {
        // copy_file_range on Linux: the bytes do not pass through us.
        std::io::copy(&mut std::fs::File::open(source)?, &mut out)?;
    }
    drop(out);
    std::fs::rename(&first, target)
}

impl Blobs {
    /// Removes half-written files under `prefix` last modified before
    /// `cutoff_ms` (filesystem backend only; S3 drops incomplete multipart
    /// uploads by its own lifecycle rules). Returns how many were removed.
    pub fn remove_abandoned_writes(&self, prefix: &str, cutoff_ms: i64) -> Result<usize> {
        let Some(root) = &self.local_root else {
            return Ok(0);
        };
        let cutoff =
            std::time::UNIX_EPOCH + std::time::Duration::from_millis(cutoff_ms.max(0) as u64);
        let mut removed = 0;
        let mut dirs = vec![root.join(prefix)];
        while let Some(dir) = dirs.pop() {
            let Ok(entries) = std::fs::read_dir(&dir) else {
                continue;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                let Ok(meta) = entry.metadata() else { continue };
                if meta.is_dir() {
                    dirs.push(path);
                    continue;
                }
                let name = entry.file_name().to_string_lossy().into_owned();
                let temp = name
                    .split_once('#')
                    .is_some_and(|(_, n)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
                if temp
                    && meta.modified().is_ok_and(|m| m < cutoff)
                    && std::fs::remove_file(&path).is_ok()
                {
                    removed += 1;
                }
            }
        }
        Ok(removed)
    }
}

/// One staged part being written. Dropping it without [`finish`] leaves no
/// object behind.
///
/// [`finish`]: PartWriter::finish
pub struct PartWriter {
    inner: WriteMultipart,
    written: u64,
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("written", &self.written)
            .finish()
    }
}

impl PartWriter {
    /// Queues `bytes`, waiting while too many parts are in flight so that
    /// memory stays bounded.
    pub async fn write(&mut self, bytes: Bytes) -> Result<()> {
        self.inner.wait_for_capacity(MAX_INFLIGHT_PARTS).await?;
        self.written += bytes.len() as u64;
        self.inner.put(bytes);
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the object.
    pub async fn finish(self) -> Result<()> {
        self.inner.finish().await?;
        Ok(())
    }

    /// Discards the object.
    pub async fn abort(self) -> Result<()> {
        self.inner.abort().await?;
        Ok(())
    }
}

/// A file's bytes from `offset`, in chunks of `chunk` bytes.
async fn read_file(
    path: std::path::PathBuf,
    offset: u64,
    chunk: usize,
) -> Result<BoxStream<'static, Result<Bytes>>> {
    use tokio::io::{AsyncReadExt, AsyncSeekExt};
    let mut file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| Error::Internal(format!("cannot open {}: {e}", path.display())))?;
    if offset > 0 {
        file.seek(std::io::SeekFrom::Start(offset))
            .await
            .map_err(|e| Error::Internal(format!("cannot seek in {}: {e}", path.display())))?;
    }
    let chunks = futures::stream::try_unfold(file, move |mut file| async move {
        let mut buf = bytes::BytesMut::with_capacity(chunk);
        while buf.len() < chunk {
            if file.read_buf(&mut buf).await? == 0 {
                break;
            }
        }
        Ok::<_, std::io::Error>((!buf.is_empty()).then(|| (buf.freeze(), file)))
    });
    Ok(chunks
        .map_err(move |e| Error::Internal(format!("cannot read {}: {e}", path.display())))
        .boxed())
}

#[cfg(test)]
mod debug_tests {
    use super::ObjectStoreConfig;

    #[test]
    fn debug_output_names_no_secret_key() {
        let c = ObjectStoreConfig::S3 {
            bucket: "b".into(),
            endpoint: None,
            region: "us-east-1".into(),
            access_key_id: Some("AKIA1".into()),
            secret_access_key: Some("very-secret-value".into()),
        };
        let text = format!("{c:?} {c:#?}");
        assert!(!text.contains("very-secret-value"), "{text}");
        assert!(text.contains("<redacted>") && text.contains("AKIA1"));
    }
}

#[cfg(test)]
mod publish_tests {
    use super::append_and_place;

    /// A publish that failed after appending part of the rest to the first
    /// part's file leaves it longer than recorded; the next publish cuts it
    /// back first, so the package is the parts exactly.
    #[test]
    fn the_first_part_is_cut_to_its_length_then_the_rest_appended() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("staging/u/000000");
        let second = dir.path().join("staging/u/000001");
        std::fs::create_dir_all(first.parent().unwrap()).unwrap();
        // Recorded as 10 bytes; the 11th was left by an interrupted publish.
        std::fs::write(&first, b"hello, worl").unwrap();
        std::fs::write(&second, b"ld").unwrap();
        let target = dir.path().join("packages/1.rpm");
        append_and_place((first.clone(), 10), std::slice::from_ref(&second), &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello, world");
        assert!(!first.exists(), "the first part became the package");
        assert!(second.exists(), "the caller deletes the others");
    }
}
