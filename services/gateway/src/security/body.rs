//! Request bodies of the v2 scheme: standard base64 of AES-128-CBC
//! ciphertext with PKCS#7 padding, key and IV from the header.
//!
//! [`decrypt_stream`] decrypts as the body arrives (base64 groups and cipher
//! blocks are carried over between chunks; the last block is held back to
//! strip its padding), so a 1 GiB upload never sits in memory.

use aes::cipher::generic_array::GenericArray;
use aes::cipher::{BlockDecryptMut, KeyIvInit};
use axum::http::StatusCode;
use base64::Engine;
use bytes::{Bytes, BytesMut};
use futures::{Stream, StreamExt};

use crate::envelope::ApiError;

type Decryptor = cbc::Decryptor<aes::Aes128>;

fn invalid(err_code: &str, message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, err_code, message)
}

fn cipher(keys: &[u8]) -> Result<Decryptor, ApiError> {
    if keys.len() < 32 {
        return Err(invalid(
            "Request.Body.Decrypt.AES.KeyAndIv.Invalid",
            format!("AES key and IV must be 32 bytes, got {}", keys.len()),
        ));
    }
    Ok(Decryptor::new(
        GenericArray::from_slice(&keys[..16]),
        GenericArray::from_slice(&keys[16..32]),
    ))
}

/// Decrypts a whole body (small JSON bodies).
pub fn decrypt(body: &[u8], keys: &[u8]) -> Result<Vec<u8>, ApiError> {
    let mut d = StreamDecryptor::new(keys)?;
    let mut out = d.push(body)?.to_vec();
    out.extend_from_slice(&d.finish()?);
    Ok(out)
}

/// Incremental base64 + CBC decryption.
struct StreamDecryptor {
    cipher: Decryptor,
    /// base64 characters not yet forming a 4-character group.
    b64: Vec<u8>,
    /// Ciphertext bytes not yet forming a block.
    pending: BytesMut,
    /// The last decrypted block, held back until we know it is the last.
    held: Option<[u8; 16]>,
}

impl StreamDecryptor {
    fn new(keys: &[u8]) -> Result<Self, ApiError> {
        Ok(Self {
            cipher: cipher(keys)?,
            b64: Vec::new(),
            pending: BytesMut::new(),
            held: None,
        })
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Bytes, ApiError> {
        self.b64
            .extend(chunk.iter().copied().filter(|b| !b.is_ascii_whitespace()));
        // Only whole 4-character groups decode; the rest waits for more.
        let usable = self.b64.len() / 4 * 4;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(&self.b64[..usable])
            .map_err(|e| {
                invalid(
                    "Request.Body.Decrypt.Base64.Invalid",
                    format!("the body is not base64: {e}"),
                )
            })?;
        self.b64.drain(..usable);
        self.pending.extend_from_slice(&decoded);
        let blocks = self.pending.len() / 16;
        let mut out = BytesMut::with_capacity(blocks * 16);
        for block in self.pending.split_to(blocks * 16).chunks_exact(16) {
            let mut b = GenericArray::clone_from_slice(block);
            self.cipher.decrypt_block_mut(&mut b);
            if let Some(prev) = self.held.replace(b.into()) {
                out.extend_from_slice(&prev);
            }
        }
        Ok(out.freeze())
    }

    fn finish(mut self) -> Result<Bytes, ApiError> {
        if !self.b64.is_empty() {
            let tail = std::mem::take(&mut self.b64);
            self.b64 = Vec::new();
            let decoded = base64::engine::general_purpose::STANDARD
                .decode(&tail)
                .map_err(|e| {
                    invalid(
                        "Request.Body.Decrypt.Base64.Invalid",
                        format!("the body is not base64: {e}"),
                    )
                })?;
            self.pending.extend_from_slice(&decoded);
            let rest = self.push(&[])?;
            if !rest.is_empty() {
                return Err(invalid(
                    "Request.Body.Decrypt.AES.ContentLength.Invalid",
                    "trailing data",
                ));
            }
        }
        if !self.pending.is_empty() {
            return Err(invalid(
                "Request.Body.Decrypt.AES.ContentLength.Invalid",
                "the ciphertext is not a multiple of 16 bytes",
            ));
        }
        let Some(last) = self.held else {
            return Ok(Bytes::new());
        };
        let pad = usize::from(last[15]);
        if pad == 0 || pad > 16 || last[16 - pad..].iter().any(|&b| usize::from(b) != pad) {
            return Err(invalid(
                "Request.Body.Decrypt.AES.Padding.Invalid",
                "invalid PKCS#7 padding",
            ));
        }
        Ok(Bytes::copy_from_slice(&last[..16 - pad]))
    }
}

/// Decrypts a body stream as it arrives.
pub fn decrypt_stream<S, E>(
    body: S,
    keys: &[u8],
) -> Result<impl Stream<Item = Result<Bytes, ApiError>> + Send + use<S, E>, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin + 'static,
    E: std::fmt::Display,
{
    let d = StreamDecryptor::new(keys)?;
    Ok(futures::stream::unfold(
        (body, Some(d)),
        |(mut body, d)| async move {
            let mut d = d?;
            loop {
                match body.next().await {
                    Some(Ok(chunk)) => match d.push(&chunk) {
                        Ok(out) if out.is_empty() => continue,
                        Ok(out) => return Some((Ok(out), (body, Some(d)))),
                        Err(e) => return Some((Err(e), (body, None))),
                    },
                    Some(Err(e)) => {
                        let e = invalid(
                            "Request.Body.Read.Failed",
                            format!("reading the request body failed: {e}"),
                        );
                        return Some((Err(e), (body, None)));
                    }
                    None => return Some((d.finish(), (body, None))),
                }
            }
        },
    ))
}

/// For tests and obup's clients: encrypts like the SDK.
pub fn encrypt(plaintext: &[u8], keys: &[u8]) -> String {
    use aes::cipher::BlockEncryptMut;
    let mut enc = cbc::Encryptor::<aes::Aes128>::new(
        GenericArray::from_slice(&keys[..16]),
        GenericArray::from_slice(&keys[16..32]),
    );
    let pad = 16 - plaintext.len() % 16;
    let mut data = plaintext.to_vec();
    data.extend(std::iter::repeat_n(pad as u8, pad));
    for block in data.chunks_exact_mut(16) {
        enc.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    base64::engine::general_purpose::STANDARD.encode(data)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEYS: [u8; 32] = *b"0123456789abcdefFEDCBA9876543210";

    #[test]
    fn round_trips_in_one_piece_and_in_any_chunking() {
        for len in [0, 1, 15, 16, 17, 1000, 100_003] {
            let plain: Vec<u8> = (0..len).map(|i| (i * 7 % 251) as u8).collect();
            let body = encrypt(&plain, &KEYS);
            assert_eq!(decrypt(body.as_bytes(), &KEYS).unwrap(), plain, "len {len}");
            for chunk in [1, 3, 7, 64, 4096] {
                let mut d = StreamDecryptor::new(&KEYS).unwrap();
                let mut out = Vec::new();
                for c in body.as_bytes().chunks(chunk) {
                    out.extend_from_slice(&d.push(c).unwrap());
                }
                out.extend_from_slice(&d.finish().unwrap());
                assert_eq!(out, plain, "len {len} chunk {chunk}");
            }
        }
    }

    #[test]
    fn refuses_bad_bodies() {
        let code = |r: Result<Vec<u8>, ApiError>| r.unwrap_err().err_code;
        assert_eq!(
            code(decrypt(b"!!!not base64!!!", &KEYS)),
            "Request.Body.Decrypt.Base64.Invalid"
        );
        let short = base64::engine::general_purpose::STANDARD.encode([1u8; 20]);
        assert_eq!(
            code(decrypt(short.as_bytes(), &KEYS)),
            "Request.Body.Decrypt.AES.ContentLength.Invalid"
        );
        let wrong = encrypt(b"hello", b"ffffffffffffffffffffffffffffffff");
        assert_eq!(
            code(decrypt(wrong.as_bytes(), &KEYS)),
            "Request.Body.Decrypt.AES.Padding.Invalid"
        );
        assert_eq!(
            code(decrypt(b"", &KEYS[..8])),
            "Request.Body.Decrypt.AES.KeyAndIv.Invalid"
        );
    }
}
