//! `obup upload`: client-streamed, resumable uploads with progress.
//!
//! The upload id is derived from the file's SHA-256, so running the same
//! command again after an interruption finds the session and continues at
//! the offset the server reports; bytes the server already has are not
//! sent at all.

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use obup_proto::pb::packagestore::v1 as pb;
use pb::package_store_client::PackageStoreClient;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tonic::Code;
use tonic::transport::Channel;

use crate::client::{self, describe};

/// Bytes per data message (the server accepts up to 4 MiB).
const CHUNK: usize = 1 << 20;
/// How often a plain (non-terminal) progress line is printed.
const PLAIN_EVERY: Duration = Duration::from_secs(2);

pub async fn run(
    server: &str,
    files: &[impl AsRef<Path>],
    json: bool,
    limit_rate: u64,
) -> anyhow::Result<()> {
    let mut client = client::packages(server).await?;
    let bars = MultiProgress::new();
    let tty = std::io::stderr().is_terminal() && !json;
    let mut stored = Vec::new();
    let mut failed = 0;
    for file in files {
        let file = file.as_ref();
        let progress = Progress::new(&bars, file, tty);
        match upload_one(&mut client, file, &progress, limit_rate).await {
            Ok(p) => {
                progress.done(&format!(
                    "stored as package {} ({})",
                    p.id,
                    client::bytes(p.file_size)
                ));
                if !json {
                    println!(
                        "{}: package {} {}-{}-{}.{} sha256 {}",
                        file.display(),
                        p.id,
                        p.name,
                        p.version,
                        p.release_distribution,
                        p.architecture,
                        p.sha256
                    );
                }
                stored.push(p);
            }
            Err(e) => {
                failed += 1;
                progress.fail();
                eprintln!("{}: {e:#}", file.display());
            }
        }
    }
    if json {
        let records: Vec<_> = stored.iter().map(package_json).collect();
        println!("{}", serde_json::to_string_pretty(&records)?);
    }
    if failed > 0 {
        bail!("{failed} of {} uploads failed", files.len());
    }
    Ok(())
}

/// A progress bar on a terminal, plain lines otherwise.
struct Progress {
    bar: Option<ProgressBar>,
    name: String,
    last_line: std::cell::Cell<Instant>,
}

impl Progress {
    fn new(bars: &MultiProgress, file: &Path, tty: bool) -> Self {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let bar = tty.then(|| {
            let bar = bars.add(ProgressBar::new(0));
            bar.set_style(
                ProgressStyle::with_template("{prefix:.bold} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} ETA {eta} {msg}")
                    .expect("the template is valid")
                    .progress_chars("=> "),
            );
            bar.set_prefix(name.clone());
            bar
        });
        Self {
            bar,
            name,
            last_line: std::cell::Cell::new(Instant::now()),
        }
    }

    fn message(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.set_message(msg.to_owned()),
            None => eprintln!("{}: {msg}", self.name),
        }
    }

    fn start(&self, total: u64, at: u64) {
        if let Some(b) = &self.bar {
            b.set_length(total);
            b.set_position(at);
        }
    }

    fn advance(&self, position: u64, total: u64) {
        match &self.bar {
            Some(b) => b.set_position(position),
            None if self.last_line.get().elapsed() >= PLAIN_EVERY => {
                self.last_line.set(Instant::now());
                eprintln!(
                    "{}: {} of {} ({}%)",
                    self.name,
                    client::bytes(position),
                    client::bytes(total),
                    position * 100 / total.max(1)
                );
            }
            None => {}
        }
    }

    fn done(&self, msg: &str) {
        match &self.bar {
            Some(b) => b.finish_with_message(msg.to_owned()),
            None => eprintln!("{}: {msg}", self.name),
        }
    }

    fn fail(&self) {
        if let Some(b) = &self.bar {
            b.abandon_with_message("failed");
        }
    }
}

async fn upload_one(
    client: &mut PackageStoreClient<Channel>,
    path: &Path,
    progress: &Progress,
    limit_rate: u64,
) -> anyhow::Result<pb::Package> {
    progress.message("hashing");
    let (sha256, size) = hash_file(path).await?;
    let upload_id = format!("cli-{}", &sha256[..32]);
    let offset = match client
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: upload_id.clone(),
        })
        .await
    {
        Ok(status) => status.into_inner().received,
        Err(s) if s.code() == Code::NotFound => 0,
        Err(s) => return Err(describe(s)),
    };
    progress.start(size, offset);
    progress.message(&if offset > 0 {
        format!("resuming at {}", client::bytes(offset))
    } else {
        "uploading".into()
    });
    let start = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Start(pb::UploadStart {
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            total_size: Some(size),
            sha256,
            upload_id,
        })),
    };
    let mut file = tokio::fs::File::open(path).await?;
    file.seek(std::io::SeekFrom::Start(offset)).await?;
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(start)
        .await
        .expect("the receiver is alive until the call ends");
    // The reader feeds the stream; progress follows what has been handed
    // to the transport.
    let reader = async move {
        let mut at = offset;
        let began = Instant::now();
        loop {
            let mut buf = vec![0u8; CHUNK];
            let n = file.read(&mut buf).await?;
            if n == 0 {
                return anyhow::Ok(());
            }
            buf.truncate(n);
            let message = pb::UploadRequest {
                kind: Some(pb::upload_request::Kind::Data(pb::UploadData {
                    offset: at,
                    data: Bytes::from(buf),
                })),
            };
            if tx.send(message).await.is_err() {
                // The server answered early (it already had these bytes,
                // or refused them): the response says which.
                return Ok(());
            }
            at += n as u64;
            progress.advance(at, size);
            if limit_rate > 0 {
                let due = Duration::from_secs_f64((at - offset) as f64 / limit_rate as f64);
                tokio::time::sleep(due.saturating_sub(began.elapsed())).await;
            }
        }
    };
    let call = client.upload(tokio_stream::wrappers::ReceiverStream::new(rx));
    let (read, response) = tokio::join!(reader, call);
    read?;
    Ok(response.map_err(describe)?.into_inner())
}

async fn hash_file(path: &Path) -> anyhow::Result<(String, u64)> {
    let mut file = tokio::fs::File::open(path)
        .await
        .with_context(|| format!("cannot open {}", path.display()))?;
    let mut sha = Sha256::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = file.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        sha.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(sha.finalize()), size))
}

/// A package record as `--json` prints it (obshell's snake_case names).
pub fn package_json(p: &pb::Package) -> serde_json::Value {
    serde_json::json!({
        "pkg_id": p.id,
        "name": p.name,
        "version": p.version,
        "release_distribution": p.release_distribution,
        "distribution": p.distribution,
        "release": p.release,
        "architecture": p.architecture,
        "size": p.size,
        "payload_size": p.payload_size,
        "chunk_count": p.chunk_count,
        "md5": p.md5,
        "sha256": p.sha256,
        "file_size": p.file_size,
        "payload_compressor": p.payload_compressor,
        "upgrade_scripts": p.upgrade_scripts,
        "has_upgrade_dep_yaml": !p.upgrade_dep_yaml.is_empty(),
    })
}
