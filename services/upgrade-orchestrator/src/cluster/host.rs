//! A host whose files are on this machine, under a root directory: the
//! simulated servers of `obup dev` (each has its own root), or, with root
//! `/`, the machine itself. Every file operation is real, and so is the
//! observer process: stopped with SIGKILL, started so that it daemonizes,
//! its build read from `bin/observer -V`.

use std::io::BufReader;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use futures::StreamExt;
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use super::{Host, Skip, observer};
use crate::packages::{PackageRef, PackageSource};
use crate::{Error, Result};

#[derive(Debug, Clone)]
pub struct LocalHost {
    root: PathBuf,
    /// Most decompressed bytes an unpack may process (a bound against
    /// decompression bombs and runaway packages).
    max_unpacked: u64,
}

impl LocalHost {
    /// A host whose filesystem is `root`, with the observer at
    /// `root/home/admin/oceanbase`.
    pub fn new(root: PathBuf, max_unpacked: u64) -> Self {
        Self { root, max_unpacked }
    }

    /// Maps a host path (`/home/admin/...`) into this host's root.
    fn real(&self, path: &Path) -> PathBuf {
        match path.strip_prefix("/") {
            Ok(rel) => self.root.join(rel),
            Err(_) => self.root.join(path),
        }
    }
}

fn failed(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Cluster(format!("{what} {}: {e}", path.display()))
}

#[async_trait]
impl Host for LocalHost {
    fn home(&self) -> PathBuf {
        PathBuf::from("/home/admin/oceanbase")
    }

    fn root(&self) -> PathBuf {
        self.root.clone()
    }

    async fn create_dir(&self, dir: &Path) -> Result<()> {
        tokio::fs::create_dir_all(self.real(dir))
            .await
            .map_err(|e| failed("cannot create", dir, e))
    }

    async fn dir_is_empty(&self, dir: &Path) -> Result<bool> {
        match tokio::fs::read_dir(self.real(dir)).await {
            Ok(mut entries) => Ok(entries.next_entry().await?.is_none()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
            Err(e) => Err(failed("cannot read", dir, e)),
        }
    }

    async fn remove_dir(&self, dir: &Path) -> Result<()> {
        match tokio::fs::remove_dir_all(self.real(dir)).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed("cannot remove", dir, e)),
        }
    }

    async fn download(
        &self,
        source: &dyn PackageSource,
        package: &PackageRef,
        dest: &Path,
    ) -> Result<()> {
        let real = self.real(dest);
        if let Some(parent) = real.parent() {
            tokio::fs::create_dir_all(parent).await?;
        }
        // Written under a temporary name and renamed once verified, so a
        // crash never leaves a truncated package that looks complete.
        let partial = real.with_extension("rpm.partial");
        let mut file = tokio::fs::File::create(&partial)
            .await
            .map_err(|e| failed("cannot create", dest, e))?;
        let mut sha = Sha256::new();
        let mut size = 0u64;
        let mut stream = source.download(package.id).await?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk?;
            sha.update(&chunk);
            size += chunk.len() as u64;
            file.write_all(&chunk).await?;
        }
        file.sync_all().await?;
        drop(file);
        let actual = hex::encode(sha.finalize());
        if actual != package.sha256 || size != package.file_size {
            let _ = tokio::fs::remove_file(&partial).await;
            return Err(Error::Cluster(format!(
                "downloaded {} is {size} bytes with SHA-256 {actual}; expected {} bytes with {}",
                package.file_name, package.file_size, package.sha256
            )));
        }
        tokio::fs::rename(&partial, &real).await?;
        Ok(())
    }

    async fn verify(&self, package: &PackageRef, path: &Path) -> Result<()> {
        let real = self.real(path);
        let package = package.clone();
        let shown = path.display().to_string();
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&real)
                .map_err(|e| Error::Cluster(format!("cannot open {shown}: {e}")))?;
            let (pre, d) = obup_rpm::digest_package(
                BufReader::with_capacity(1 << 20, file),
                &Default::default(),
            )
            .map_err(|e| Error::Cluster(format!("{shown} is not a valid package: {e}")))?;
            if pre
                .signature
                .size
                .is_some_and(|s| s != d.header_payload_len)
            {
                return Err(Error::Cluster(format!(
                    "{shown}: size does not match its signature"
                )));
            }
            if pre.signature.md5.is_some_and(|m| m != d.md5) || hex::encode(d.md5) != package.md5 {
                return Err(Error::Cluster(format!(
                    "{shown}: MD5 checksum validation failed"
                )));
            }
            if hex::encode(d.sha256) != package.sha256 {
                return Err(Error::Cluster(format!(
                    "{shown}: SHA-256 does not match the stored package"
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    async fn unpack(&self, rpm: &Path, dest: &Path) -> Result<()> {
        let (rpm_real, dest_real) = (self.real(rpm), self.real(dest));
        let shown = rpm.display().to_string();
        let max_unpacked = self.max_unpacked;
        tokio::task::spawn_blocking(move || {
            let file = std::fs::File::open(&rpm_real)
                .map_err(|e| Error::Cluster(format!("cannot open {shown}: {e}")))?;
            let opts = obup_rpm::UnpackOptions {
                max_unpacked,
                ..Default::default()
            };
            obup_rpm::unpack_package(BufReader::with_capacity(1 << 20, file), &dest_real, &opts)
                .map_err(|e| Error::Cluster(format!("cannot unpack {shown}: {e}")))?;
            Ok(())
        })
        .await
        .map_err(|e| Error::Internal(e.to_string()))?
    }

    async fn copy_tree(&self, from: &Path, to: &Path, skip: Skip) -> Result<u64> {
        let (from_real, to_real) = (self.real(from), self.real(to));
        copy_tree(&from_real, &to_real, skip).map_err(|e| failed("cannot copy", from, e))
    }

    async fn stop_observer(&self) -> Result<()> {
        observer::stop(&self.real(&self.home())).await?;
        Ok(())
    }

    async fn start_observer(&self) -> Result<String> {
        let home = self.real(&self.home());
        observer::start(&home).await?;
        Ok(observer::version(&home).await?.version_build())
    }
}

fn copy_tree(from: &Path, to: &Path, skip: Skip) -> std::io::Result<u64> {
    let mut copied = 0;
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if skip.skips(&name) {
            continue;
        }
        let (src, dst) = (entry.path(), to.join(&name));
        let kind = entry.file_type()?;
        if kind.is_dir() {
            copied += copy_tree(&src, &dst, skip)?;
        } else if kind.is_symlink() {
            let _ = std::fs::remove_file(&dst);
            #[cfg(unix)]
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            // Delete first, as obshell does: a running binary cannot be
            // overwritten in place, but it can be replaced.
            let _ = std::fs::remove_file(&dst);
            std::fs::copy(&src, &dst)?;
            copied += 1;
        }
    }
    Ok(copied)
}
