//! The hashing reader: every digest obup records or verifies, in one pass.

use std::io::{BufRead, Read};

use md5::{Digest, Md5};
use sha2::Sha256;

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

/// Hashes a whole package from `r`, to its end.
///
/// Returns the preamble too (the caller needs the signature to compare with).
pub fn digest_package(mut r: impl BufRead, limits: &Limits) -> Result<(Preamble, Digests), Error> {
    let mut file = Sha256::new();
    let mut file_len = 0u64;
    let preamble = {
        let mut tee = Tee {
            inner: &mut r,
            sha: &mut file,
            len: &mut file_len,
        };
        read_preamble(&mut tee, limits)?
    };
    let mut md5 = Md5::new();
    md5.update(&preamble.header_raw);
    let header_sha256: [u8; 32] = Sha256::digest(&preamble.header_raw).into();
    let mut payload = preamble.signature.md5.is_none().then(Sha256::new);
    let mut header_payload_len = preamble.header_raw.len() as u64;
    loop {
        let buf = r.fill_buf().map_err(Error::reading("payload"))?;
        if buf.is_empty() {
            break;
        }
        file.update(buf);
        md5.update(buf);
        if let Some(p) = payload.as_mut() {
            p.update(buf);
        }
        let n = buf.len();
        header_payload_len += n as u64;
        file_len += n as u64;
        r.consume(n);
    }
    let digests = Digests {
        file_len,
        sha256: file.finalize().into(),
        md5: md5.finalize().into(),
        header_payload_len,
        header_sha256,
        payload_sha256: payload.map(|p| p.finalize().into()),
    };
    Ok((preamble, digests))
}

/// Hashes and counts what the preamble parser reads.
struct Tee<'a, R> {
    inner: &'a mut R,
    sha: &'a mut Sha256,
    len: &'a mut u64,
}

impl<R: Read> Read for Tee<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.sha.update(&buf[..n]);
        *self.len += n as u64;
        Ok(n)
    }
}
