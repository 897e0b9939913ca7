//! Package bytes in object storage: the local filesystem by default, any
//! S3-compatible store when configured.
//!
//! Keys:
//! - `staging/<upload id>/...`: the parts of an upload in progress
//!   ([`staged`](super::staged)).
//! - `packages/sha256/<xx>/<sha256>`: a committed package, content-addressed,
//!   so the same bytes are never stored twice.

use std::path::PathBuf;
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, StreamExt, TryStreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt};

use crate::domain::Sha256Hex;
use crate::{Error, Result};

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
    pub(super) store: Arc<dyn ObjectStore>,
    /// Root directory of the filesystem backend. Its half-written files
    /// (`<key>#<n>`, left by a crash mid-write) are invisible to listings,
    /// so the sweeper removes them through the filesystem.
    pub(super) local_root: Option<PathBuf>,
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

    pub fn package_key(sha256: &Sha256Hex) -> String {
        let s = sha256.as_str();
        format!("packages/sha256/{}/{s}", &s[..2])
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

/// A file's bytes from `offset`, in chunks of `chunk` bytes.
pub(super) async fn read_file(
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
