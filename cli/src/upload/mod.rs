//! `obup upload`: client-streamed, resumable uploads with progress.
//!
//! The file is read once: sending starts at once, and its SHA-256 is
//! computed (on a thread of its own) from the bytes as they are sent, then
//! sent last for the server to check. The upload id comes from the file's
//! fingerprint (path, size, mtime, first and last MiB), so running the same
//! command again after an interruption finds the session and continues at
//! the offset the server reports, hashing from the SHA-256 state saved when
//! those bytes were read ([`cache`]); bytes the server has are not sent. A
//! file uploaded before is looked up by the SHA-256 recorded for its
//! fingerprint, and not sent at all when the server holds it.
//!
//! # Layout
//! - `cache`: fingerprints, the fingerprint -> SHA-256 record, checkpoints.

mod cache;

use std::io::IsTerminal;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use obup_kit::sha256::ResumableSha256;
use obup_proto::pb::packagestore::v1 as pb;
use pb::package_store_client::PackageStoreClient;
use tonic::Code;

use crate::client::{self, describe};

/// Bytes per data message (the server accepts up to 4 MiB); a divisor of
/// [`cache::CHECKPOINT`].
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

/// Error codes of an upload run right after the previous one was killed,
/// before the server noticed: its stream still holds the session, or its
/// status did not yet count the bytes that stream kept. Asking again helps.
const RACING_A_KILLED_RUN: [&str; 2] = ["Package.Upload.Busy", "Package.Upload.OffsetMismatch"];

async fn upload_one(
    client: &mut PackageStoreClient<client::Conn>,
    path: &Path,
    progress: &Progress,
    limit_rate: u64,
) -> anyhow::Result<pb::Package> {
    let mut pause = Duration::from_millis(100);
    loop {
        let e = match send_file(client, path, progress, limit_rate).await {
            Ok(p) => return Ok(p),
            Err(e) => e,
        };
        let Some(status) = e.downcast_ref::<tonic::Status>() else {
            return Err(e);
        };
        let racing = obup_kit::status::error_code(status)
            .is_some_and(|c| RACING_A_KILLED_RUN.contains(&c.as_str()));
        if !racing || pause > Duration::from_secs(3) {
            return Err(describe(status.clone()));
        }
        tokio::time::sleep(pause).await;
        pause *= 2;
    }
}

/// One attempt at [`upload_one`]; the upload's own error is a
/// `tonic::Status` in the result.
async fn send_file(
    client: &mut PackageStoreClient<client::Conn>,
    path: &Path,
    progress: &Progress,
    limit_rate: u64,
) -> anyhow::Result<pb::Package> {
    let (fingerprint, size) = {
        let path = path.to_owned();
        tokio::task::spawn_blocking(move || cache::fingerprint(&path)).await??
    };
    let cache_dir = cache::dir();
    // A file uploaded before: if the server holds its bytes, send nothing.
    if let Some(sha256) = cache_dir
        .as_deref()
        .and_then(|d| cache::known_sha256(d, &fingerprint))
        && let Some(p) = stored(client, &sha256).await?
    {
        progress.message("already stored, nothing sent");
        return Ok(p);
    }
    let upload_id = format!("cli-f-{}", &fingerprint[..40]);
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
    // The SHA-256 of the bytes the server has, from the state saved when
    // they were read; without one, those bytes are read again.
    let sha = cache_dir
        .as_deref()
        .and_then(|d| cache::checkpoint_before(d, &upload_id, offset))
        .unwrap_or_default();
    progress.start(size, offset);
    progress.message(&match offset {
        0 => "uploading".to_owned(),
        _ if sha.is_empty() => format!(
            "resuming at {}: no saved SHA-256 state, reading the first {} again",
            client::bytes(offset),
            client::bytes(offset)
        ),
        _ => format!("resuming at {}", client::bytes(offset)),
    });
    let start = pb::UploadRequest {
        kind: Some(pb::upload_request::Kind::Start(pb::UploadStart {
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            total_size: Some(size),
            // Not known yet: it is computed while sending and ends the stream.
            sha256: String::new(),
            upload_id: upload_id.clone(),
        })),
    };
    let (tx, rx) = tokio::sync::mpsc::channel(4);
    tx.send(start)
        .await
        .expect("the receiver is alive until the call ends");
    let (data_tx, mut data_rx) = tokio::sync::mpsc::channel(4);
    let reader = {
        let path = path.to_owned();
        let checkpoints = cache_dir
            .as_deref()
            .map(|d| cache::Checkpoints::new(d, &upload_id));
        tokio::task::spawn_blocking(move || read_and_hash(&path, sha, offset, checkpoints, data_tx))
    };
    // Forwards what the reader read; progress follows what has been handed
    // to the transport. The reader's SHA-256 ends the stream.
    let sender = async move {
        let began = Instant::now();
        while let Some((at, data)) = data_rx.recv().await {
            let end = at + Bytes::len(&data) as u64;
            let message = pb::UploadRequest {
                kind: Some(pb::upload_request::Kind::Data(pb::UploadData {
                    offset: at,
                    data,
                })),
            };
            if tx.send(message).await.is_err() {
                // The server answered early (it refused the bytes): the
                // response says why. Dropping `data_rx` stops the reader.
                return anyhow::Ok(());
            }
            progress.advance(end, size);
            if limit_rate > 0 {
                let due = Duration::from_secs_f64((end - offset) as f64 / limit_rate as f64);
                tokio::time::sleep(due.saturating_sub(began.elapsed())).await;
            }
        }
        if let Some(sha256) = reader.await?? {
            let finish = pb::UploadRequest {
                kind: Some(pb::upload_request::Kind::Finish(pb::UploadFinish {
                    sha256,
                })),
            };
            // An error means the server answered already.
            let _ = tx.send(finish).await;
        }
        Ok(())
    };
    let call = client.upload(tokio_stream::wrappers::ReceiverStream::new(rx));
    let (sent, response) = tokio::join!(sender, call);
    let package = response.map_err(anyhow::Error::new)?.into_inner();
    sent?;
    if let Some(dir) = &cache_dir {
        cache::remember(dir, &fingerprint, &package.sha256);
        cache::forget_partial(dir, &upload_id);
    }
    Ok(package)
}

/// The stored package with these bytes, if any.
async fn stored(
    client: &mut PackageStoreClient<client::Conn>,
    sha256: &str,
) -> anyhow::Result<Option<pb::Package>> {
    let packages = client
        .list_packages(pb::ListPackagesRequest {
            sha256: sha256.to_owned(),
            ..Default::default()
        })
        .await
        .map_err(describe)?
        .into_inner()
        .packages;
    // A server that predates the filter would list every package.
    Ok(packages.into_iter().find(|p| p.sha256 == sha256))
}

/// Reads the file once from `sha.len()`: bytes before `offset` (those the
/// server has and no saved state covers) are only hashed, the rest are
/// hashed and handed to `out` in [`CHUNK`]s. Returns the whole file's
/// SHA-256, or `None` if `out` closed first (the server answered early).
fn read_and_hash(
    path: &Path,
    mut sha: ResumableSha256,
    offset: u64,
    mut checkpoints: Option<cache::Checkpoints>,
    out: tokio::sync::mpsc::Sender<(u64, Bytes)>,
) -> anyhow::Result<Option<String>> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file =
        std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    file.seek(SeekFrom::Start(sha.len()))?;
    loop {
        let at = sha.len();
        // Up to the next chunk boundary, so that states are saved at
        // multiples of the chunk size, and never across `offset`.
        let mut want = CHUNK - (at % CHUNK as u64) as usize;
        if at < offset {
            want = want.min((offset - at) as usize);
        }
        let mut buf = vec![0u8; want];
        let mut filled = 0;
        while filled < want {
            match file.read(&mut buf[filled..])? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            return Ok(Some(sha.finish()));
        }
        buf.truncate(filled);
        sha.update(&buf);
        if let Some(c) = checkpoints.as_mut() {
            c.offer(&sha);
        }
        if at >= offset && out.blocking_send((at, Bytes::from(buf))).is_err() {
            return Ok(None);
        }
    }
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
