//! The three readers an upload feeds, each on its own blocking thread: the
//! whole file's SHA-256; the preamble with MD5 of header + payload (and the
//! header's SHA-256); and the scan (decompression and cpio walk). The two
//! digests of every byte thus run on two cores, and the scan beside them,
//! while the async side keeps receiving and storing.
//!
//! Chunks travel as `Bytes` (shared, not copied) through bounded channels:
//! memory is bounded by the channel depth, and a slow reader slows the
//! client down instead of buffering.
//!
//! At the end of each staged part the upload asks the two digest readers
//! for their states ([`Ingest::mark`]), kept with the part. A resumed
//! upload starts them from the last saved states ([`Ingest::start`]): its
//! replayed prefix still passes through them (the preamble must be parsed
//! again, and the scan needs every byte) but is skipped, not hashed.

use std::io::{self, BufRead, Read};

use bytes::{Buf, Bytes};
use obup_kit::sha256::ResumableSha256;
use obup_rpm::{Digests, Limits, PayloadDigests, Preamble, Scan, ScanOptions, SignedDigests};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::domain::DigestStates;
use crate::{Error, Result};

/// Chunks queued per reader. With 1 MiB client chunks this bounds each
/// reader's backlog to a few MiB. 8 let the store's peak RSS reach 65 MiB
/// on the 1 GiB upload bench (target 64); 4 keeps it near 41 MiB, with the
/// upload no slower (0.89-0.93 x the digest floor, against 0.94-1.15).
const DEPTH: usize = 4;

type DigestResult = std::result::Result<(Preamble, Digests), obup_rpm::Error>;
type SignedResult = std::result::Result<(Preamble, SignedDigests), obup_rpm::Error>;
type ScanResult = std::result::Result<Scan, obup_rpm::Error>;

/// What both readers made of a complete upload.
#[derive(Debug)]
pub struct Ingested {
    pub digest: DigestResult,
    pub scan: ScanResult,
}

/// What a digest reader is sent.
#[derive(Debug)]
enum Feed {
    Bytes(Bytes),
    /// Reply with the state after every byte sent before: the offset it
    /// covers and the saved state, or `None` if it cannot be saved.
    Mark(oneshot::Sender<Option<(u64, Vec<u8>)>>),
}

/// The running readers of one upload.
#[derive(Debug)]
pub struct Ingest {
    sha_tx: Option<mpsc::Sender<Feed>>,
    digest_tx: Option<mpsc::Sender<Feed>>,
    scan_tx: Option<mpsc::Sender<Bytes>>,
    /// Bytes fed so far.
    fed: u64,
    sha: JoinHandle<[u8; 32]>,
    digest: JoinHandle<SignedResult>,
    scan: Option<JoinHandle<ScanResult>>,
    /// A scan that finished before the stream did: at the cpio trailer
    /// (trailing bytes are still covered by the digests) or on an error.
    scanned: Option<ScanResult>,
}

impl Ingest {
    /// Starts the readers; `resume`: the states saved after the bytes that
    /// are about to be replayed (or a prefix of them).
    pub fn start(opts: ScanOptions, resume: Option<&DigestStates>) -> Self {
        let (sha_tx, sha_rx) = mpsc::channel(DEPTH);
        let (digest_tx, digest_rx) = mpsc::channel(DEPTH);
        let (scan_tx, scan_rx) = mpsc::channel(DEPTH);
        let limits = opts.limits;
        let decode = |hex_state: &str| hex::decode(hex_state).ok();
        let sha_resume = resume.and_then(|r| Some((r.at, decode(&r.file_sha256)?)));
        let signed_resume = resume.and_then(|r| Some((r.at, decode(&r.signed)?)));
        let sha = tokio::task::spawn_blocking(move || file_sha256(sha_rx, sha_resume));
        let digest =
            tokio::task::spawn_blocking(move || signed_digests(digest_rx, &limits, signed_resume));
        let scan = tokio::task::spawn_blocking(move || {
            obup_rpm::scan_package(ChannelReader::new(scan_rx), &opts)
        });
        Self {
            sha_tx: Some(sha_tx),
            digest_tx: Some(digest_tx),
            scan_tx: Some(scan_tx),
            fed: 0,
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
        self.fed += chunk.len() as u64;
        if let Some(tx) = &self.sha_tx
            && tx.send(Feed::Bytes(chunk.clone())).await.is_err()
        {
            // The SHA-256 reader reads to the end of the stream.
            return Err(Error::Internal(
                "the SHA-256 reader stopped before the end of the stream".into(),
            ));
        }
        if let Some(tx) = &self.digest_tx
            && tx.send(Feed::Bytes(chunk.clone())).await.is_err()
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

    /// The digest readers' states after every byte fed so far, once they
    /// have hashed them; `None` when either cannot save its state (or has
    /// stopped).
    pub async fn mark(&mut self) -> Option<DigestStates> {
        let ask = |tx: &Option<mpsc::Sender<Feed>>| {
            let tx = tx.clone();
            async move {
                let (reply, answer) = oneshot::channel();
                tx?.send(Feed::Mark(reply)).await.ok()?;
                answer.await.ok().flatten()
            }
        };
        let (sha, signed) = tokio::join!(ask(&self.sha_tx), ask(&self.digest_tx));
        let ((sha_at, sha), (signed_at, signed)) = (sha?, signed?);
        (sha_at == self.fed && signed_at == self.fed).then(|| DigestStates {
            at: self.fed,
            file_sha256: hex::encode(sha),
            signed: hex::encode(signed),
        })
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

/// SHA-256 of every chunk, to the end of the stream; from `resume`'s state
/// (skipping the bytes it covers) when it can be restored.
///
/// [`ResumableSha256`] (aws-lc's block function: SHA extensions where the
/// CPU has them, AVX2 elsewhere), so that its state can be saved at the end
/// of each part and a resumed upload hashes only what follows. On a CPU
/// without SHA extensions this thread is the upload's slowest: `sha2`'s
/// block function ran at half aws-lc's speed there. (`benches/upload.rs`
/// prints every candidate's MB/s on the CPU it runs on.)
fn file_sha256(mut rx: mpsc::Receiver<Feed>, resume: Option<(u64, Vec<u8>)>) -> [u8; 32] {
    let restored = resume.and_then(|(at, state)| {
        ResumableSha256::from_bytes(&state)
            .filter(|s| s.len() == at)
            .map(|s| (s, at))
    });
    let (mut sha, mut skip) = restored.unwrap_or_default();
    while let Some(feed) = rx.blocking_recv() {
        match feed {
            Feed::Bytes(mut chunk) => {
                let skipped = skip.min(chunk.len() as u64);
                skip -= skipped;
                chunk.advance(skipped as usize);
                sha.update(&chunk);
            }
            Feed::Mark(reply) => {
                let _ = reply.send(Some((sha.len(), sha.to_bytes())));
            }
        }
    }
    sha.digest()
}

/// The signed digests (MD5 of header + payload, the header's SHA-256):
/// the preamble is parsed from the stream, then the payload is hashed,
/// from `resume`'s state when it restores (the bytes it covers skipped).
fn signed_digests(
    rx: mpsc::Receiver<Feed>,
    limits: &Limits,
    resume: Option<(u64, Vec<u8>)>,
) -> SignedResult {
    let mut input = ChannelReader::new(rx);
    let preamble = obup_rpm::read_preamble(&mut input, limits)?;
    let start = PayloadDigests::after(&preamble).file_len();
    let restored = resume.and_then(|(at, state)| {
        PayloadDigests::restore(&preamble, &state).filter(|d| d.file_len() == at)
    });
    let mut digests = match restored {
        Some(d) => {
            input.skip(d.file_len() - start)?;
            d
        }
        None => PayloadDigests::after(&preamble),
    };
    while let Some(feed) = input.next_feed() {
        match feed {
            Feed::Bytes(chunk) => digests.update(&chunk),
            Feed::Mark(reply) => {
                let _ = reply.send(digests.save().map(|s| (digests.file_len(), s)));
            }
        }
    }
    Ok((preamble, digests.finish()))
}

/// What a reader's channel carries: bytes, or a message the reader answers
/// itself.
trait Message {
    /// The bytes, if the message is bytes.
    fn bytes(self) -> Option<Bytes>;
}

impl Message for Bytes {
    fn bytes(self) -> Option<Bytes> {
        Some(self)
    }
}

impl Message for Feed {
    /// A mark read as bytes came before the payload (a part that ends
    /// inside the preamble): nothing can be saved there.
    fn bytes(self) -> Option<Bytes> {
        match self {
            Feed::Bytes(chunk) => Some(chunk),
            Feed::Mark(reply) => {
                let _ = reply.send(None);
                None
            }
        }
    }
}

/// A blocking [`BufRead`] over the chunks of a channel: the scan's, and a
/// digest reader's while it parses the preamble.
struct ChannelReader<M> {
    rx: mpsc::Receiver<M>,
    current: Bytes,
}

impl<M: Message> ChannelReader<M> {
    fn new(rx: mpsc::Receiver<M>) -> Self {
        Self {
            rx,
            current: Bytes::new(),
        }
    }
}

impl ChannelReader<Feed> {
    /// What is left of the current chunk, then the channel's messages.
    fn next_feed(&mut self) -> Option<Feed> {
        if !self.current.is_empty() {
            return Some(Feed::Bytes(std::mem::take(&mut self.current)));
        }
        self.rx.blocking_recv()
    }

    /// Passes over `n` bytes without hashing them.
    fn skip(&mut self, mut n: u64) -> std::result::Result<(), obup_rpm::Error> {
        while n > 0 {
            // Reading a channel cannot fail; only the stream can end early.
            let buf = self
                .fill_buf()
                .map_err(|_| obup_rpm::Error::Truncated("payload"))?;
            if buf.is_empty() {
                return Err(obup_rpm::Error::Truncated("payload"));
            }
            let take = n.min(buf.len() as u64);
            self.consume(take as usize);
            n -= take;
        }
        Ok(())
    }
}

impl<M: Message> Read for ChannelReader<M> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let available = self.fill_buf()?;
        let n = available.len().min(buf.len());
        buf[..n].copy_from_slice(&available[..n]);
        self.consume(n);
        Ok(n)
    }
}

impl<M: Message> BufRead for ChannelReader<M> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(message) => {
                    if let Some(chunk) = message.bytes() {
                        self.current = chunk;
                    }
                }
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
