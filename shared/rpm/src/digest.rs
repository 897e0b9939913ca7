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
    let mut md5 = <Md5 as md_5_011::Digest>::new();
    md_5_011::Digest::update(&mut md5, &preamble.header_raw);
    let header_sha256: [u8; 32] = Sha256::digest(&preamble.header_raw).into();
    let mut payload = preamble.signature.md5.is_none().then(Sha256::new);
    let mut header_payload_len = preamble.header_raw.len() as u64;
    loop {
        let buf = r.fill_buf().map_err(Error::reading("payload"))?;
        if buf.is_empty() {
            break;
        }
        if let Some(f) = file.as_deref_mut() {
            f.update(buf);
        }
        md_5_011::Digest::update(&mut md5, buf);
        if let Some(p) = payload.as_mut() {
            p.update(buf);
        }
        let n = buf.len();
        header_payload_len += n as u64;
        file_len += n as u64;
        r.consume(n);
    }
    let digests = SignedDigests {
        file_len,
        md5: md_5_011::Digest::finalize(md5).into(),
        header_payload_len,
        header_sha256,
        payload_sha256: payload.map(|p| p.finalize().into()),
    };
    Ok((preamble, digests))
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
