//! The three readers an upload feeds, each on its own blocking thread: the
//! whole file's SHA-256; the preamble with MD5 of header + payload (and the
//! header's SHA-256); and the scan (decompression and cpio walk). The two
//! digests of every byte thus run on two cores, and the scan beside them,
//! while the async side keeps receiving and storing.
//!
//! Chunks travel as `Bytes` (shared, not copied) through bounded channels:
//! memory is bounded by the channel depth, and a slow reader slows the
//! client down instead of buffering.

use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};
use obup_rpm::{Digests, Preamble, Scan, ScanOptions, SignedDigests};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::{Error, Result};

/// Chunks queued per reader. With 1 MiB client chunks this bounds each
/// reader's backlog to a few MiB.
const DEPTH: usize = 8;

type DigestResult = std::result::Result<(Preamble, Digests), obup_rpm::Error>;
type SignedResult = std::result::Result<(Preamble, SignedDigests), obup_rpm::Error>;
type ScanResult = std::result::Result<Scan, obup_rpm::Error>;

/// What both readers made of a complete upload.
#[derive(Debug)]
pub struct Ingested {
    pub digest: DigestResult,
    pub scan: ScanResult,
}

/// The running readers of one upload.
#[derive(Debug)]
pub struct Ingest {
    sha_tx: Option<mpsc::Sender<Bytes>>,
    digest_tx: Option<mpsc::Sender<Bytes>>,
    scan_tx: Option<mpsc::Sender<Bytes>>,
    sha: JoinHandle<[u8; 32]>,
    digest: JoinHandle<SignedResult>,
    scan: Option<JoinHandle<ScanResult>>,
    /// A scan that finished before the stream did: at the cpio trailer
    /// (trailing bytes are still covered by the digests) or on an error.
    scanned: Option<ScanResult>,
}

impl Ingest {
    pub fn start(opts: ScanOptions) -> Self {
        let (sha_tx, sha_rx) = mpsc::channel(DEPTH);
        let (digest_tx, digest_rx) = mpsc::channel(DEPTH);
        let (scan_tx, scan_rx) = mpsc::channel(DEPTH);
        let limits = opts.limits;
        let sha = tokio::task::spawn_blocking(move || file_sha256(sha_rx));
        let digest = tokio::task::spawn_blocking(move || {
            obup_rpm::digest_signed(ChannelReader::new(digest_rx), &limits)
        });
        let scan = tokio::task::spawn_blocking(move || {
            obup_rpm::scan_package(ChannelReader::new(scan_rx), &opts)
        });
        Self {
            sha_tx: Some(sha_tx),
            digest_tx: Some(digest_tx),
            scan_tx: Some(scan_tx),
            sha,
            digest,
            scan: Some(scan),
            scanned: None,
        }
    }

    /// Hands one chunk to both readers. Fails fast when the digest reader has
    /// rejected the package (not an RPM, malformed header), so such an upload
    /// is refused without receiving the rest. A scan that ends early (at the
    /// cpio trailer, or on a payload error) is kept for [`finish`], which
    /// reports errors in a fixed order whatever the timing.
    ///
    /// [`finish`]: Ingest::finish
    pub async fn feed(&mut self, chunk: Bytes) -> Result<()> {
        if let Some(tx) = &self.sha_tx
            && tx.send(chunk.clone()).await.is_err()
        {
            // The SHA-256 reader reads to the end of the stream.
            return Err(Error::Internal(
                "the SHA-256 reader stopped before the end of the stream".into(),
            ));
        }
        if let Some(tx) = &self.digest_tx
            && tx.send(chunk.clone()).await.is_err()
        {
            // The digest reader only stops early when it fails.
            self.digest_tx = None;
            return Err(match join(&mut self.digest).await? {
                Err(e) => e.into(),
                Ok(_) => {
                    Error::Internal("the digest reader stopped before the end of the stream".into())
                }
            });
        }
        if let Some(tx) = &self.scan_tx
            && tx.send(chunk).await.is_err()
        {
            self.scan_tx = None;
            if let Some(mut handle) = self.scan.take() {
                self.scanned = Some(join(&mut handle).await?);
            }
        }
        Ok(())
    }

    /// Ends the input and waits for both readers.
    pub async fn finish(mut self) -> Result<Ingested> {
        self.sha_tx = None;
        self.digest_tx = None;
        self.scan_tx = None;
        let sha256 = join(&mut self.sha).await?;
        let digest = join(&mut self.digest)
            .await?
            .map(|(preamble, signed)| (preamble, Digests::new(signed, sha256)));
        let scan = match (self.scanned.take(), self.scan.take()) {
            (Some(done), _) => done,
            (None, Some(mut handle)) => join(&mut handle).await?,
            (None, None) => return Err(Error::Internal("scan result taken twice".into())),
        };
        Ok(Ingested { digest, scan })
    }
}

async fn join<T>(h: &mut JoinHandle<T>) -> Result<T> {
    h.await
        .map_err(|e| Error::Internal(format!("reader thread failed: {e}")))
}

/// SHA-256 of every chunk, to the end of the stream.
///
/// `ring`'s. `benches/upload.rs` measures the candidates that build here
/// and prints their MB/s; on the 2-core EPYC it ran on (with SHA extensions)
/// sha2 0.10, ring and aws-lc-rs were within 1% of each other (about
/// 1.75 GB/s), sha2 0.11 6% behind. Among the tied, ring: its assembly uses
/// the SHA extensions when present and AVX2/SSSE3 code otherwise, where
/// sha2 falls back to portable Rust (the case of issue #14's Xeon; not
/// measured here, this CPU has the extensions); it is already in the tree.
fn file_sha256(mut rx: mpsc::Receiver<Bytes>) -> [u8; 32] {
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    while let Some(chunk) = rx.blocking_recv() {
        ctx.update(&chunk);
    }
    ctx.finish()
        .as_ref()
        .try_into()
        .expect("a SHA-256 digest is 32 bytes")
}

/// A blocking [`BufRead`] over the chunks of a channel.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    current: Bytes,
}

impl ChannelReader {
    fn new(rx: mpsc::Receiver<Bytes>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl BufRead for ChannelReader {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(chunk) => self.current = chunk,
                // The sender is gone: the upload ended.
                None => break,
            }
        }
        Ok(&self.current)
    }

    fn consume(&mut self, n: usize) {
        self.current.advance(n);
    }
}
