//! The hashing reader: every digest obup records or verifies, in one pass.

use std::io::{BufRead, Read};

// md-5 0.11: measured a few per cent faster than 0.10 on every run of the
// package store's bench (`benches/upload.rs` prints both).
use md_5_011::Md5;
use sha2::{Digest, Sha256};

use crate::Error;
use crate::preamble::{Limits, Preamble, read_preamble};

/// Digests of one package file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digests {
    /// Bytes in the whole file.
    pub file_len: u64,
    /// SHA-256 of the whole file: the package's identity.
    pub sha256: [u8; 32],
    /// MD5 of main header + payload, comparable with signature tag 1004.
    pub md5: [u8; 16],
    /// Bytes of main header + payload, comparable with signature tag 1000.
    pub header_payload_len: u64,
    /// SHA-256 of the main header, comparable with signature tag 273.
    pub header_sha256: [u8; 32],
    /// SHA-256 of the compressed payload, computed only when the signature
    /// has no MD5 (then the header's payload digest is what protects the
    /// payload), so that the common case hashes each byte twice, not thrice.
    pub payload_sha256: Option<[u8; 32]>,
}

/// The digests that the signature and header vouch for: all of
/// [`Digests`] but the whole file's SHA-256, so that a caller can compute
/// that one on another thread (the two digests of every byte on two cores).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedDigests {
    /// Bytes in the whole file.
    pub file_len: u64,
    /// MD5 of main header + payload, comparable with signature tag 1004.
    pub md5: [u8; 16],
    /// Bytes of main header + payload, comparable with signature tag 1000.
    pub header_payload_len: u64,
    /// SHA-256 of the main header, comparable with signature tag 273.
    pub header_sha256: [u8; 32],
    /// SHA-256 of the compressed payload, only when the signature has no MD5.
    pub payload_sha256: Option<[u8; 32]>,
}

impl Digests {
    /// The full set, from the signed digests and the whole file's SHA-256
    /// computed beside them.
    pub fn new(signed: SignedDigests, sha256: [u8; 32]) -> Self {
        Self {
            file_len: signed.file_len,
            sha256,
            md5: signed.md5,
            header_payload_len: signed.header_payload_len,
            header_sha256: signed.header_sha256,
            payload_sha256: signed.payload_sha256,
        }
    }
}

/// Hashes a whole package from `r`, to its end, on the calling thread.
///
/// Returns the preamble too (the caller needs the signature to compare with).
pub fn digest_package(r: impl BufRead, limits: &Limits) -> Result<(Preamble, Digests), Error> {
    let mut file = Sha256::new();
    let (preamble, signed) = digest(r, limits, Some(&mut file))?;
    Ok((preamble, Digests::new(signed, file.finalize().into())))
}

/// Like [`digest_package`] without the whole file's SHA-256: parses the
/// preamble and computes what signature and header can be checked against.
pub fn digest_signed(r: impl BufRead, limits: &Limits) -> Result<(Preamble, SignedDigests), Error> {
    digest(r, limits, None)
}

fn digest(
    mut r: impl BufRead,
    limits: &Limits,
    mut file: Option<&mut Sha256>,
) -> Result<(Preamble, SignedDigests), Error> {
    let mut file_len = 0u64;
    let preamble = {
        let mut tee = Tee {
            inner: &mut r,
            sha: file.as_deref_mut(),
            len: &mut file_len,
        };
        read_preamble(&mut tee, limits)?
    };
    let mut digests = PayloadDigests::after(&preamble);
    debug_assert_eq!(digests.file_len(), file_len);
    loop {
        let buf = r.fill_buf().map_err(Error::reading("payload"))?;
        if buf.is_empty() {
            break;
        }
        if let Some(f) = file.as_deref_mut() {
            f.update(buf);
        }
        digests.update(buf);
        let n = buf.len();
        r.consume(n);
    }
    Ok((preamble, digests.finish()))
}

/// The digests of main header + payload while the payload streams past,
/// after [`read_preamble`]. Their state can be saved at any byte and
/// continued later (the package store keeps it with each staged part, so a
/// resumed upload does not hash its prefix again), except while the payload
/// has its own SHA-256 (a signature without MD5), whose state `sha2` 0.10
/// keeps opaque.
#[derive(Debug, Clone)]
pub struct PayloadDigests {
    md5: Md5,
    payload: Option<Sha256>,
    header_payload_len: u64,
    file_len: u64,
    header_sha256: [u8; 32],
}

/// Bytes of a saved [`Md5`] state (`md-5` 0.11's serialized core and
/// block buffer).
const MD5_STATE: usize = {
    use md_5_011::digest::common::hazmat::SerializableState;
    use md_5_011::digest::typenum::Unsigned;
    <<Md5 as SerializableState>::SerializedStateSize as Unsigned>::USIZE
};

impl PayloadDigests {
    /// Starts at the first payload byte: the header is hashed already.
    pub fn after(preamble: &Preamble) -> Self {
        let mut md5 = <Md5 as md_5_011::Digest>::new();
        md_5_011::Digest::update(&mut md5, &preamble.header_raw);
        Self {
            md5,
            payload: preamble.signature.md5.is_none().then(Sha256::new),
            header_payload_len: preamble.header_raw.len() as u64,
            file_len: preamble.header_offset + preamble.header_raw.len() as u64,
            header_sha256: Sha256::digest(&preamble.header_raw).into(),
        }
    }

    pub fn update(&mut self, buf: &[u8]) {
        md_5_011::Digest::update(&mut self.md5, buf);
        if let Some(p) = self.payload.as_mut() {
            p.update(buf);
        }
        self.header_payload_len += buf.len() as u64;
        self.file_len += buf.len() as u64;
    }

    /// Bytes of the file consumed so far, preamble included.
    pub fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The state to continue from, or `None` while the payload has its own
    /// SHA-256.
    pub fn save(&self) -> Option<Vec<u8>> {
        use md_5_011::digest::common::hazmat::SerializableState;
        if self.payload.is_some() {
            return None;
        }
        let mut out = self.md5.serialize().to_vec();
        out.extend_from_slice(&self.header_payload_len.to_be_bytes());
        out.extend_from_slice(&self.file_len.to_be_bytes());
        Some(out)
    }

    /// Continues from [`PayloadDigests::save`] of the same package (its
    /// preamble read again); `None` if `saved` is not such a state.
    pub fn restore(preamble: &Preamble, saved: &[u8]) -> Option<Self> {
        use md_5_011::digest::common::hazmat::SerializableState;
        if saved.len() != MD5_STATE + 16 || preamble.signature.md5.is_none() {
            return None;
        }
        let (md5, lens) = saved.split_at(MD5_STATE);
        let md5 = Md5::deserialize(md5.try_into().ok()?).ok()?;
        let header_payload_len = u64::from_be_bytes(lens[..8].try_into().ok()?);
        let file_len = u64::from_be_bytes(lens[8..].try_into().ok()?);
        let start = Self::after(preamble);
        (file_len >= start.file_len && header_payload_len >= start.header_payload_len).then_some(
            Self {
                md5,
                payload: None,
                header_payload_len,
                file_len,
                header_sha256: start.header_sha256,
            },
        )
    }

    pub fn finish(self) -> SignedDigests {
        SignedDigests {
            file_len: self.file_len,
            md5: md_5_011::Digest::finalize(self.md5).into(),
            header_payload_len: self.header_payload_len,
            header_sha256: self.header_sha256,
            payload_sha256: self.payload.map(|p| p.finalize().into()),
        }
    }
}

/// Hashes and counts what the preamble parser reads.
struct Tee<'a, R> {
    inner: &'a mut R,
    sha: Option<&'a mut Sha256>,
    len: &'a mut u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(sha) = self.sha.as_deref_mut() {
            sha.update(&buf[..n]);
        }
        *self.len += n as u64;
        Ok(n)
    }
}
