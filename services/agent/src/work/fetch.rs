//! FetchPackage: pulls a package from the package store's `Download`
//! stream into `<dest>.partial`, hashing as bytes arrive, and renames it to
//! `dest` once size and SHA-256 match. The continue path resumes from the
//! partial file's size, its SHA-256 continued from the state the writer
//! saved beside it (`<dest>.partial.sha256`, every [`STATE_EVERY`] bytes),
//! so only the bytes after that state are read again; a fresh run starts
//! over.

use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use obup_kit::sha256::ResumableSha256;
use obup_proto::pb::packagestore::v1 as store;
use tokio::sync::mpsc;
use tonic::transport::{Channel, Endpoint};

use super::{blocking, confine};
use crate::domain::{FailureCode, FetchOutput, FetchPackage, OpFailure, OpOutput, io_failure};
use crate::host::{Area, disk};
use crate::ops::context::OpContext;

/// Chunks queued between the network and the disk writer: a few of the
/// store's 1 MiB messages, so that hashing and writing (on a blocking
/// thread) overlap with receiving while memory stays bounded.
const QUEUE: usize = 4;
/// Largest message accepted from the store (it sends 1 MiB).
const MAX_MESSAGE: usize = 8 << 20;
/// Progress is reported about this often, in bytes.
const PROGRESS_EVERY: u64 = 4 << 20;
/// The SHA-256 state is saved about this often, in bytes: a resume reads
/// at most this much again. A save is one small write and a rename.
const STATE_EVERY: u64 = 4 << 20;

pub async fn fetch(w: &FetchPackage, ctx: &OpContext) -> Result<OpOutput, OpFailure> {
    let dest = confine(ctx, &w.dest, Area::BelowUpgradeDir)?;
    let partial = partial_path(&dest);
    let shown = w.dest.to_string();
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| io_failure("create the directory of", &shown, e))?;
    }

    // A re-run after the rename: the package is there already.
    if dest.is_file() {
        let (size, hasher) = hash_from(dest.clone(), ResumableSha256::default(), None).await?;
        let sha = hasher.finish();
        if size == w.size && sha == w.sha256 {
            ctx.log
                .info(format!("{shown} is already downloaded and intact"))
                .await;
            return Ok(output(w, size));
        }
        ctx.log
            .warn(format!(
                "{shown} exists but is not this package: fetching it again"
            ))
            .await;
        std::fs::remove_file(&dest).map_err(|e| io_failure("remove", &shown, e))?;
    }

    let offset = resume_point(ctx, &partial, w.size).await?;
    let need = w.size - offset;
    if let Some((free, _)) = disk::space(&dest)
        && free < need
    {
        return Err(OpFailure::new(
            FailureCode::DiskSpaceNotEnough,
            format!(
                "The remaining disk space is insufficient, the remaining disk space is {free}, \
                 and the required disk space is {need}"
            ),
        ));
    }
    let hasher = if offset > 0 {
        let saved = saved_state(&partial).filter(|s| s.len() <= offset);
        let from = saved.as_ref().map_or(0, ResumableSha256::len);
        ctx.log
            .info(format!(
                "resuming {shown} from byte {offset} of {}; its SHA-256 {}",
                w.size,
                match from {
                    0 => "is computed from the start again".to_owned(),
                    _ => format!("continues from the state saved at byte {from}"),
                }
            ))
            .await;
        hash_from(partial.clone(), saved.unwrap_or_default(), Some(offset))
            .await?
            .1
    } else {
        ctx.log
            .info(format!(
                "fetching package {} ({} bytes) into {shown}",
                w.package_id, w.size
            ))
            .await;
        ResumableSha256::default()
    };

    let (size, sha) = download(w, ctx, &partial, offset, hasher).await?;
    let _ = std::fs::remove_file(state_path(&partial));
    if size != w.size || sha != w.sha256 {
        let _ = std::fs::remove_file(&partial);
        return Err(OpFailure::new(
            FailureCode::DownloadMismatch,
            format!(
                "the store sent {size} bytes with SHA-256 {sha}; package {} is {} bytes with {}",
                w.package_id, w.size, w.sha256
            ),
        ));
    }
    std::fs::rename(&partial, &dest).map_err(|e| io_failure("rename into", &shown, e))?;
    sync_dir(&dest);
    ctx.log
        .info(format!("{shown}: {size} bytes, SHA-256 verified"))
        .await;
    Ok(OpOutput::FetchPackage(FetchOutput {
        bytes: size,
        sha256: sha,
        resumed_from: offset,
    }))
}

fn output(w: &FetchPackage, size: u64) -> OpOutput {
    OpOutput::FetchPackage(FetchOutput {
        bytes: size,
        sha256: w.sha256.clone(),
        resumed_from: size,
    })
}

/// `<dest>.partial`
fn partial_path(dest: &Path) -> PathBuf {
    let mut name = dest.file_name().unwrap_or_default().to_owned();
    name.push(".partial");
    dest.with_file_name(name)
}

/// Where to start: the partial file's size on the continue path (if it is
/// not longer than the package), else 0 with the partial file emptied.
async fn resume_point(ctx: &OpContext, partial: &Path, size: u64) -> Result<u64, OpFailure> {
    let have = std::fs::metadata(partial).map(|m| m.len()).ok();
    // A continued run whose first run never made the partial file (it was
    // interrupted before) starts from scratch like a new one.
    if let Some(have) = have.filter(|h| ctx.continued && *h <= size) {
        return Ok(have);
    }
    let have = have.unwrap_or(0);
    if have > 0 {
        ctx.log
            .info("discarding the partial file of an earlier run")
            .await;
    }
    let _ = std::fs::remove_file(state_path(partial));
    std::fs::File::create(partial).map_err(|e| io_failure("create", partial.display(), e))?;
    Ok(0)
}

/// `<dest>.partial.sha256`: the SHA-256 state of the partial file's first
/// bytes ([`ResumableSha256::to_bytes`]).
fn state_path(partial: &Path) -> PathBuf {
    let mut name = partial.file_name().unwrap_or_default().to_owned();
    name.push(".sha256");
    partial.with_file_name(name)
}

/// The saved state, if there is one that parses. A state that does not
/// match the bytes (a power loss kept the state but not the data) makes
/// the final check fail: the download is refused, never accepted wrong.
fn saved_state(partial: &Path) -> Option<ResumableSha256> {
    ResumableSha256::from_bytes(&std::fs::read(state_path(partial)).ok()?)
}

/// Saves the state beside the partial file, replacing the last one whole.
fn save_state(partial: &Path, sha: &ResumableSha256) -> std::io::Result<()> {
    let path = state_path(partial);
    let mut temp = path.clone().into_os_string();
    temp.push(".tmp");
    std::fs::write(&temp, sha.to_bytes())?;
    std::fs::rename(&temp, &path)
}

/// Continues `hasher` over a file's bytes from `hasher.len()` up to
/// `limit` (the end, if `None`); returns the length reached and the hash.
async fn hash_from(
    path: PathBuf,
    hasher: ResumableSha256,
    limit: Option<u64>,
) -> Result<(u64, ResumableSha256), OpFailure> {
    blocking(move || {
        let mut hasher = hasher;
        let mut file =
            std::fs::File::open(&path).map_err(|e| io_failure("open", path.display(), e))?;
        file.seek(std::io::SeekFrom::Start(hasher.len()))
            .map_err(|e| io_failure("read", path.display(), e))?;
        let left = limit.map_or(u64::MAX, |l| l.saturating_sub(hasher.len()));
        let mut reader = file.take(left);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader
                .read(&mut buf)
                .map_err(|e| io_failure("read", path.display(), e))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
        }
        Ok((hasher.len(), hasher))
    })
    .await
}

/// Streams the package from `offset` into the partial file; returns the
/// bytes it then holds and their SHA-256.
async fn download(
    w: &FetchPackage,
    ctx: &OpContext,
    partial: &Path,
    offset: u64,
    hasher: ResumableSha256,
) -> Result<(u64, String), OpFailure> {
    let failed = |what: String| OpFailure::new(FailureCode::DownloadFailed, what);
    let channel = connect(&w.store_url, ctx).await?;
    let mut client = store::package_store_client::PackageStoreClient::with_interceptor(
        channel,
        obup_kit::auth::BearerInterceptor::new(ctx.settings.store_token.as_ref()),
    )
    .max_decoding_message_size(MAX_MESSAGE);
    let mut stream = client
        .download(store::DownloadRequest {
            id: w.package_id,
            offset,
        })
        .await
        .map_err(|s| failed(describe(&s, w)))?
        .into_inner();

    let (tx, rx) = mpsc::channel::<Bytes>(QUEUE);
    let writer = tokio::task::spawn_blocking({
        let partial = partial.to_owned();
        move || write(&partial, rx, hasher)
    });
    let started = tokio::time::Instant::now();
    let mut received = offset;
    let mut reported = offset;
    let outcome: Result<(), OpFailure> = loop {
        let message = tokio::select! {
            reason = ctx.stop.requested() => {
                break Err(reason.failure(&format!("the download stopped at byte {received}")));
            }
            message = stream.message() => message,
        };
        let m = match message {
            Ok(Some(m)) => m,
            Ok(None) => break Ok(()),
            Err(s) => break Err(failed(describe(&s, w))),
        };
        if m.offset != received {
            break Err(failed(format!(
                "the store sent bytes at offset {}, expected {received}",
                m.offset
            )));
        }
        received += m.data.len() as u64;
        if received > w.size {
            break Err(OpFailure::new(
                FailureCode::DownloadMismatch,
                format!(
                    "the store sent more than the {} bytes of package {}",
                    w.size, w.package_id
                ),
            ));
        }
        if tx.send(m.data).await.is_err() {
            // The writer failed; its error is reported below.
            break Ok(());
        }
        if received - reported >= PROGRESS_EVERY {
            reported = received;
            ctx.log.progress("download", received, w.size);
        }
        throttle(ctx.settings.fetch_bytes_per_sec, received - offset, started).await;
    };
    // Whatever arrived is flushed to the partial file, so that a continue
    // resumes after it.
    drop(tx);
    let written = writer
        .await
        .map_err(|e| OpFailure::unexpected(format!("the download writer failed: {e}")))?;
    outcome?;
    let (len, hasher) = written?;
    ctx.log.progress("download", len, w.size);
    Ok((len, hasher.finish()))
}

/// Appends chunks to the partial file, hashing them and saving the hash's
/// state every [`STATE_EVERY`] bytes; syncs at the end.
fn write(
    partial: &Path,
    mut rx: mpsc::Receiver<Bytes>,
    mut hasher: ResumableSha256,
) -> Result<(u64, ResumableSha256), OpFailure> {
    let shown = partial.display();
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .open(partial)
        .map_err(|e| io_failure("open", &shown, e))?;
    let mut len = file
        .metadata()
        .map_err(|e| io_failure("read", &shown, e))?
        .len();
    while let Some(chunk) = rx.blocking_recv() {
        hasher.update(&chunk);
        file.write_all(&chunk)
            .map_err(|e| io_failure("write", &shown, e))?;
        len += chunk.len() as u64;
        // Saved after the bytes it covers are written: a state never runs
        // ahead of the file it describes (but for a power loss, which the
        // final check catches).
        if len / STATE_EVERY > (len - chunk.len() as u64) / STATE_EVERY
            && let Err(e) = save_state(partial, &hasher)
        {
            tracing::warn!(error = %e, "cannot save the download's SHA-256 state");
        }
    }
    file.sync_all().map_err(|e| io_failure("sync", &shown, e))?;
    Ok((len, hasher))
}

/// Sleeps so that `sent` bytes since `started` stay under the rate.
async fn throttle(bytes_per_sec: u64, sent: u64, started: tokio::time::Instant) {
    if bytes_per_sec == 0 {
        return;
    }
    let due = started + Duration::from_secs_f64(sent as f64 / bytes_per_sec as f64);
    tokio::time::sleep_until(due).await;
}

async fn connect(url: &str, ctx: &OpContext) -> Result<Channel, OpFailure> {
    let failed = |what: String| OpFailure::new(FailureCode::DownloadFailed, what);
    let mut endpoint = Endpoint::from_shared(url.to_owned())
        .map_err(|e| failed(format!("bad store URL {url:?}: {e}")))?
        .connect_timeout(Duration::from_secs(10));
    if url.starts_with("https://") {
        let tls =
            ctx.settings.store_tls.clone().ok_or_else(|| {
                failed(format!("{url} needs TLS, and the agent has no --store-ca"))
            })?;
        endpoint = endpoint
            .tls_config(tls)
            .map_err(|e| failed(format!("TLS to {url}: {e}")))?;
    }
    endpoint
        .connect()
        .await
        .map_err(|e| failed(format!("cannot reach the package store at {url}: {e}")))
}

fn describe(s: &tonic::Status, w: &FetchPackage) -> String {
    let code = obup_kit::status::error_code(s).unwrap_or_default();
    format!(
        "the package store refused package {}: {:?} {code} {}",
        w.package_id,
        s.code(),
        s.message()
    )
}

/// Makes a rename durable: the directory entry is on disk too.
fn sync_dir(path: &Path) {
    if let Some(dir) = path.parent()
        && let Ok(d) = std::fs::File::open(dir)
    {
        let _ = d.sync_all();
    }
}
