//! The staged parts of uploads in progress, and publishing them as a
//! package.
//!
//! A part is a range of the upload's bytes that one stream wrote and a row
//! recorded (`upload_part`). Where its bytes sit depends on the backend:
//! - **filesystem**: every part continues the file of the part before it
//!   (`staging/<upload id>/000000`), at the offset where that part ended.
//!   A resumed upload writes after what was kept, and publishing is one
//!   rename whatever the number of parts: no byte is copied. Bytes past
//!   the last recorded part (a stream killed mid-write) are cut off before
//!   anything is written after them, and when publishing.
//! - **object store**: each part is its own object (`staging/<id>/<seq>`),
//!   since objects cannot be appended to; publishing concatenates them.
//!
//! Sessions staged before parts shared a file have one file per part; the
//! rule "a part continues the object of the part before it when their keys
//! are equal" reads both layouts.

use std::io::Write;
use std::path::{Path as FsPath, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::{BoxStream, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStoreExt, WriteMultipart};
use tokio::task::JoinHandle;

use super::blobs::{Blobs, read_file};
use crate::domain::{StagedPart, UploadId};
use crate::{Error, Result};

/// Parts written to the backend concurrently by one upload.
const MAX_INFLIGHT_PARTS: usize = 4;
/// Bytes per chunk when a resumed upload replays its staged parts.
const REPLAY_CHUNK: usize = 1 << 20;

impl Blobs {
    fn staging_key(id: &UploadId, seq: i32) -> String {
        format!("staging/{id}/{seq:06}")
    }

    /// Starts writing the part that follows `kept` (the session's recorded
    /// parts, in order). Returns its object key.
    pub async fn start_part(
        &self,
        id: &UploadId,
        kept: &[StagedPart],
    ) -> Result<(String, PartWriter)> {
        let Some(root) = &self.local_root else {
            let key = Self::staging_key(id, kept.len() as i32);
            let upload = self.store.put_multipart(&Path::from(key.as_str())).await?;
            let sink = Sink::Object(WriteMultipart::new(upload));
            return Ok((key, PartWriter { sink, written: 0 }));
        };
        // After the last object's recorded bytes (each object holds its
        // parts from byte 0).
        let (key, at) = match objects(kept).last() {
            Some(&(key, len)) => (key.to_owned(), len),
            None => (Self::staging_key(id, 0), 0),
        };
        let path = root.join(&key);
        let file = {
            let path = path.clone();
            tokio::task::spawn_blocking(move || open_at(&path, at))
                .await
                .map_err(staging_failed)?
        }
        .map_err(|e| Error::Internal(format!("cannot stage into {}: {e}", path.display())))?;
        let sink = Sink::File(FileSink {
            file: Arc::new(file),
            path,
            at,
            in_flight: None,
            unsynced: 0,
            syncing: None,
        });
        Ok((key, PartWriter { sink, written: 0 }))
    }

    /// The staged bytes of the recorded `parts` (a session's, in order):
    /// each object holding them, with the length of package bytes it holds
    /// and a stream of it from its start (in chunks of [`REPLAY_CHUNK`] from
    /// a file). A file may hold more than that (what a killed stream wrote
    /// after its last part): the caller reads the length only.
    pub async fn read_staged(
        &self,
        parts: &[StagedPart],
    ) -> Result<Vec<(String, u64, BoxStream<'static, Result<Bytes>>)>> {
        let mut streams = Vec::new();
        for (key, len) in objects(parts) {
            let stream = match &self.local_root {
                Some(root) => read_file(root.join(key), 0, REPLAY_CHUNK).await?,
                None => self.read(key, 0).await?,
            };
            streams.push((key.to_owned(), len, stream));
        }
        Ok(streams)
    }

    /// Moves the recorded `parts` of an upload to `dest`, after which they
    /// are gone. On a filesystem their file(s), cut to the recorded
    /// lengths, become `dest` (one rename for every upload staged in one
    /// file); in an object store one part is a rename, several are
    /// concatenated into a multipart upload.
    pub async fn publish(&self, parts: &[StagedPart], dest: &str) -> Result<()> {
        if let Some(root) = &self.local_root {
            let files: Vec<(PathBuf, u64)> = objects(parts)
                .into_iter()
                .map(|(key, len)| (root.join(key), len))
                .collect();
            let target = root.join(dest);
            tokio::task::spawn_blocking(move || place(&files, &target))
                .await
                .map_err(|e| Error::Internal(format!("publishing failed: {e}")))?
                .map_err(|e| Error::Internal(format!("cannot publish {dest}: {e}")))?;
            self.delete_parts(parts).await?;
            return Ok(());
        }
        let dest = Path::from(dest);
        if let [only] = parts {
            self.store
                .rename(&Path::from(only.object_key.as_str()), &dest)
                .await?;
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
        self.delete_parts(parts).await?;
        Ok(())
    }

    /// Deletes the objects of `parts` (a missing one is not an error);
    /// returns how many objects that was.
    pub async fn delete_parts(&self, parts: &[StagedPart]) -> Result<usize> {
        let objects = objects(parts);
        for (key, _) in &objects {
            self.delete(key).await?;
        }
        Ok(objects.len())
    }

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

/// The objects holding `parts`, in order, each with the length of the
/// package bytes it holds: consecutive parts with the same key share an
/// object, the later after the earlier.
fn objects(parts: &[StagedPart]) -> Vec<(&str, u64)> {
    let mut objects: Vec<(&str, u64)> = Vec::new();
    for part in parts {
        match objects.last_mut() {
            Some((key, len)) if *key == part.object_key => *len += part.len,
            _ => objects.push((&part.object_key, part.len)),
        }
    }
    objects
}

/// Opens the staging file at `path` for writing at `at`: created empty for
/// a first part, else cut to `at`, dropping what a killed stream wrote
/// after the last recorded part.
fn open_at(path: &FsPath, at: u64) -> std::io::Result<std::fs::File> {
    use std::io::{Seek, SeekFrom};
    if at == 0 {
        let dir = path.parent().expect("staging files have a directory");
        std::fs::create_dir_all(dir)?;
        let file = std::fs::File::create(path)?;
        // The part's row will say this file holds its bytes: its name must
        // survive a power cut as its bytes will (`PartWriter::finish`).
        sync_dirs(dir)?;
        return Ok(file);
    }
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    file.set_len(at)?;
    file.seek(SeekFrom::Start(at))?;
    Ok(file)
}

/// Makes `target` the concatenation of the first `len` bytes of each file:
/// the first is cut to its length (a killed stream, or a publish that
/// failed midway, may have left more), the others appended to it, and it
/// is renamed into place. One file (every upload staged on a filesystem
/// since parts share a file) copies nothing.
fn place(files: &[(PathBuf, u64)], target: &FsPath) -> std::io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let [(first, first_len), rest @ ..] = files else {
        return Err(std::io::Error::other("no staged bytes"));
    };
    let dir = target.parent().expect("object paths have a directory");
    std::fs::create_dir_all(dir)?;
    let mut out = std::fs::OpenOptions::new().write(true).open(first)?;
    out.set_len(*first_len)?;
    out.seek(SeekFrom::End(0))?;
    for (source, len) in rest {
        // copy_file_range on Linux: the bytes do not pass through us.
        std::io::copy(&mut std::fs::File::open(source)?.take(*len), &mut out)?;
    }
    // The recorded parts were synced; a cut or appended bytes were not (on
    // a file that did not change this costs nothing).
    out.sync_data()?;
    drop(out);
    std::fs::rename(first, target)?;
    // The package row is committed after this returns: the new name must
    // be on disk first, or a power cut would leave a row without bytes.
    sync_dirs(dir)?;
    // The session's directory, empty unless a publish left other files.
    if let Some(session_dir) = first.parent() {
        let _ = std::fs::remove_dir(session_dir);
    }
    Ok(())
}

/// Makes `dir`'s entries durable, and `dir`'s own entry in its parent
/// (which `create_dir_all` may just have made).
fn sync_dirs(dir: &FsPath) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()?;
    match dir.parent() {
        Some(parent) => std::fs::File::open(parent)?.sync_all(),
        None => Ok(()),
    }
}

/// A blocking task of the staging that panicked or was cancelled.
fn staging_failed(e: tokio::task::JoinError) -> Error {
    Error::Internal(format!("staging failed: {e}"))
}

/// One staged part being written.
pub struct PartWriter {
    sink: Sink,
    written: u64,
}

enum Sink {
    /// An object of its own. Dropped without `finish`, it leaves nothing.
    Object(WriteMultipart),
    /// The session's staging file. Dropped without `finish`, its bytes stay
    /// past the recorded parts, where the next writer or the publish cuts
    /// them off. (Dropped with a write in flight, that write would go on:
    /// an upload runs in a task of its own to its end, which finishes or
    /// aborts its part, so that happens only when the runtime shuts down,
    /// with the process.)
    File(FileSink),
}

struct FileSink {
    file: Arc<std::fs::File>,
    path: PathBuf,
    /// Where this part starts in the file.
    at: u64,
    /// The last chunk's write, on a blocking thread: one chunk is written
    /// while the next is received and hashed (one in flight bounds memory;
    /// the chunk is written from the received buffer, not copied).
    in_flight: Option<JoinHandle<std::io::Result<()>>>,
    /// Bytes written since the last background sync started.
    unsynced: u64,
    /// A background `fdatasync`, started every [`SYNC_EVERY`] bytes, so
    /// that the disk keeps up while the upload goes on and the sync that
    /// `finish` waits for finds little left (a 1 GiB file synced only at
    /// the end cost ~0.6 s, 10% of the upload).
    syncing: Option<JoinHandle<std::io::Result<()>>>,
}

/// How many written bytes start a background sync.
const SYNC_EVERY: u64 = 64 << 20;

impl FileSink {
    async fn write(&mut self, bytes: Bytes) -> Result<()> {
        self.settle().await?;
        self.unsynced += bytes.len() as u64;
        let file = self.file.clone();
        self.in_flight = Some(tokio::task::spawn_blocking(move || {
            (&*file).write_all(&bytes)
        }));
        let idle = self.syncing.as_ref().is_none_or(JoinHandle::is_finished);
        if self.unsynced >= SYNC_EVERY && idle {
            // Not awaited here: `sync` does, and reports its error.
            self.unsynced = 0;
            let file = self.file.clone();
            self.syncing = Some(tokio::task::spawn_blocking(move || file.sync_data()));
        }
        Ok(())
    }

    /// Settles the write in flight, then syncs every byte to the disk.
    async fn sync(&mut self) -> Result<()> {
        self.settle().await?;
        let failed = |e: std::io::Error| {
            Error::Internal(format!("cannot sync {}: {e}", self.path.display()))
        };
        // A writeback error is reported once per open file, to whichever
        // sync comes first: the background one's must not be dropped.
        if let Some(background) = self.syncing.take() {
            background.await.map_err(staging_failed)?.map_err(failed)?;
        }
        let file = self.file.clone();
        tokio::task::spawn_blocking(move || file.sync_data())
            .await
            .map_err(staging_failed)?
            .map_err(failed)
    }

    /// Waits for the write in flight.
    async fn settle(&mut self) -> Result<()> {
        let Some(write) = self.in_flight.take() else {
            return Ok(());
        };
        write
            .await
            .map_err(staging_failed)?
            .map_err(|e| Error::Internal(format!("cannot write {}: {e}", self.path.display())))
    }
}

impl std::fmt::Debug for PartWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartWriter")
            .field("written", &self.written)
            .finish()
    }
}

impl PartWriter {
    /// Queues `bytes`, waiting while too much is in flight so that memory
    /// stays bounded.
    pub async fn write(&mut self, bytes: Bytes) -> Result<()> {
        let len = bytes.len() as u64;
        match &mut self.sink {
            Sink::Object(inner) => {
                inner.wait_for_capacity(MAX_INFLIGHT_PARTS).await?;
                inner.put(bytes);
            }
            Sink::File(sink) => sink.write(bytes).await?,
        }
        self.written += len;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.written
    }

    /// Completes the part: every byte is durable when this returns (the
    /// object store's completed upload; a file's `fdatasync`), since the
    /// part's row, written next, says so and a resume or the published
    /// package relies on it. Without the sync a power cut could leave a
    /// recorded part, or a committed package, whose bytes never reached
    /// the disk.
    pub async fn finish(self) -> Result<()> {
        match self.sink {
            Sink::Object(inner) => {
                inner.finish().await?;
            }
            Sink::File(mut sink) => sink.sync().await?,
        }
        Ok(())
    }

    /// Discards the part's bytes.
    pub async fn abort(self) -> Result<()> {
        match self.sink {
            Sink::Object(inner) => inner.abort().await?,
            Sink::File(mut sink) => {
                // Its error does not matter: the bytes are going.
                let _ = sink.settle().await;
                let (file, at) = (sink.file, sink.at);
                let path = sink.path.clone();
                tokio::task::spawn_blocking(move || match at {
                    0 => std::fs::remove_file(&path),
                    _ => file.set_len(at),
                })
                .await
                .map_err(staging_failed)?
                .map_err(|e| {
                    Error::Internal(format!("cannot discard {}: {e}", sink.path.display()))
                })?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use bytes::Bytes;

    use super::{FileSink, SYNC_EVERY, objects, open_at, place};
    use crate::domain::StagedPart;

    /// The disk keeps up while a long part is written: a sync starts in the
    /// background once [`SYNC_EVERY`] bytes are written, and the final one
    /// waits for it.
    #[tokio::test]
    async fn a_long_part_is_synced_in_the_background_as_it_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("staging/u/000000");
        let mut sink = FileSink {
            file: Arc::new(open_at(&path, 0).unwrap()),
            path: path.clone(),
            at: 0,
            in_flight: None,
            unsynced: 0,
            syncing: None,
        };
        let half = Bytes::from(vec![7u8; (SYNC_EVERY / 2 + 1) as usize]);
        sink.write(half.clone()).await.unwrap();
        assert!(sink.syncing.is_none(), "not yet");
        sink.write(half.clone()).await.unwrap();
        assert!(sink.syncing.is_some(), "one started");
        assert_eq!(sink.unsynced, 0);
        sink.sync().await.unwrap();
        assert!(sink.syncing.is_none(), "and was waited for");
        assert_eq!(std::fs::metadata(&path).unwrap().len(), SYNC_EVERY + 2);
    }

    fn part(seq: i32, start: u64, len: u64, key: &str) -> StagedPart {
        StagedPart {
            seq,
            start,
            len,
            object_key: key.into(),
            digest_states: None,
        }
    }

    /// Parts sharing a file follow each other in it; a part with a key of
    /// its own (one file per part, or an object store) starts at 0.
    #[test]
    fn parts_continue_the_object_of_the_part_before() {
        let shared = [
            part(0, 0, 10, "a"),
            part(1, 10, 5, "a"),
            part(2, 15, 7, "a"),
        ];
        assert_eq!(objects(&shared), [("a", 22)]);
        let mixed = [
            part(0, 0, 10, "a"),
            part(1, 10, 5, "b"),
            part(2, 15, 7, "b"),
        ];
        assert_eq!(objects(&mixed), [("a", 10), ("b", 12)]);
    }

    /// A file longer than its recorded parts (a stream killed after
    /// writing, or a publish that failed after appending) is cut back, so
    /// the package is the recorded bytes exactly.
    #[test]
    fn files_are_cut_to_their_recorded_length_then_joined() {
        let dir = tempfile::tempdir().unwrap();
        let first = dir.path().join("staging/u/000000");
        let second = dir.path().join("staging/u/000001");
        std::fs::create_dir_all(first.parent().unwrap()).unwrap();
        std::fs::write(&first, b"hello, worl").unwrap();
        std::fs::write(&second, b"ld and more").unwrap();
        let target = dir.path().join("packages/1.rpm");
        place(&[(first.clone(), 10), (second.clone(), 2)], &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"hello, world");
        assert!(!first.exists(), "the first file became the package");
        assert!(second.exists(), "the caller deletes the others");

        let only = dir.path().join("staging/v/000000");
        std::fs::create_dir_all(only.parent().unwrap()).unwrap();
        std::fs::write(&only, b"all of it, then junk").unwrap();
        let target = dir.path().join("packages/2.rpm");
        place(&[(only.clone(), 9)], &target).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"all of it");
    }
}
