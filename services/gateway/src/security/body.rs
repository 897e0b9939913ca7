//! Request bodies of the v2 scheme: standard base64 of AES-128-CBC
//! ciphertext with PKCS#7 padding, key and IV from the header.
//!
//! [`decrypt_stream`] decrypts as the body arrives (base64 groups and cipher
//! blocks are carried over between chunks; the last block is held back to
//! strip its padding), so a 1 GiB upload never sits in memory.

use aes::cipher::consts::U16;
use aes::cipher::generic_array::GenericArray;
use aes::cipher::inout::InOutBuf;
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

/// Incremental base64 + CBC decryption, without copying the plaintext:
/// bytes are decoded into `buf`, decrypted in place and split off.
struct StreamDecryptor {
    cipher: Decryptor,
    /// base64 characters not yet forming a 4-character group.
    b64: Vec<u8>,
    /// When `held`, first the newest decrypted block, held back until we
    /// know whether it is the last (padded) one; then ciphertext bytes not
    /// yet forming a block.
    buf: BytesMut,
    held: bool,
}

impl StreamDecryptor {
    fn new(keys: &[u8]) -> Result<Self, ApiError> {
        Ok(Self {
            cipher: cipher(keys)?,
            b64: Vec::new(),
            buf: BytesMut::new(),
            held: false,
        })
    }

    fn base64_error(e: impl std::fmt::Display) -> ApiError {
        invalid(
            "Request.Body.Decrypt.Base64.Invalid",
            format!("the body is not base64: {e}"),
        )
    }

    fn push(&mut self, chunk: &[u8]) -> Result<Bytes, ApiError> {
        // Decoded straight from the chunk when no partial group is waiting
        // (the usual case: a copy of every byte saved).
        let rest = if self.b64.is_empty() {
            let used = Self::decode_groups(&mut self.buf, chunk);
            match used {
                Ok(used) => &chunk[used..],
                Err(_) => {
                    self.b64.extend_from_slice(chunk);
                    self.decode_waiting()?;
                    &[]
                }
            }
        } else {
            self.b64.extend_from_slice(chunk);
            self.decode_waiting()?;
            &[]
        };
        self.b64.extend_from_slice(rest);
        let start = if self.held { 16 } else { 0 };
        let end = start + (self.buf.len() - start) / 16 * 16;
        if end == start {
            return Ok(Bytes::new());
        }
        // All whole blocks at once: CBC decryption runs several blocks in
        // parallel through AES-NI, one at a time it cannot.
        let (blocks, _) = InOutBuf::from(&mut self.buf[start..end]).into_chunks::<U16>();
        self.cipher.decrypt_blocks_inout_mut(blocks);
        self.held = true;
        // Out goes everything decrypted but the newest block.
        Ok(self.buf.split_to(end - 16).freeze())
    }

    /// Decodes the whole 4-character groups of `input` onto `buf`;
    /// returns how many characters were used. `buf` is unchanged on error.
    /// (SIMD: the decoding is most of the gateway's work on an upload.)
    fn decode_groups(buf: &mut BytesMut, input: &[u8]) -> Result<usize, ApiError> {
        let usable = &input[..input.len() / 4 * 4];
        let b64 = base64_simd::STANDARD;
        let invalid = || Self::base64_error(why_not_base64(usable));
        let n = b64.decoded_length(usable).map_err(|_| invalid())?;
        let old = buf.len();
        buf.resize(old + n, 0);
        match b64.decode(usable, base64_simd::Out::from_slice(&mut buf[old..])) {
            Ok(_) => Ok(usable.len()),
            Err(_) => {
                buf.truncate(old);
                Err(invalid())
            }
        }
    }

    /// Decodes what waits in `b64`. The SDK sends no whitespace; anyone
    /// else's line breaks are dropped, looked for only when decoding fails
    /// (a scan of every byte costs as much as the decoding).
    fn decode_waiting(&mut self) -> Result<(), ApiError> {
        let used = match Self::decode_groups(&mut self.buf, &self.b64) {
            Ok(used) => used,
            Err(_) if self.b64.iter().any(u8::is_ascii_whitespace) => {
                self.b64.retain(|b| !b.is_ascii_whitespace());
                Self::decode_groups(&mut self.buf, &self.b64)?
            }
            Err(e) => return Err(e),
        };
        self.b64.drain(..used);
        Ok(())
    }

    fn finish(mut self) -> Result<Bytes, ApiError> {
        self.b64.retain(|b| !b.is_ascii_whitespace());
        if !self.b64.is_empty() {
            // Standard base64 is whole, padded 4-character groups.
            return Err(Self::base64_error(format!(
                "{} characters after the last whole group",
                self.b64.len()
            )));
        }
        let start = if self.held { 16 } else { 0 };
        if self.buf.len() != start {
            return Err(invalid(
                "Request.Body.Decrypt.AES.ContentLength.Invalid",
                "the ciphertext is not a multiple of 16 bytes",
            ));
        }
        if !self.held {
            return Ok(Bytes::new());
        }
        let pad = usize::from(self.buf[15]);
        if pad == 0
            || pad > 16
            || self.buf[16 - pad..16]
                .iter()
                .any(|&b| usize::from(b) != pad)
        {
            return Err(invalid(
                "Request.Body.Decrypt.AES.Padding.Invalid",
                "invalid PKCS#7 padding",
            ));
        }
        Ok(self.buf.split_to(16 - pad).freeze())
    }
}

/// What is wrong with `groups`, in the `base64` crate's words ("Invalid
/// symbol 33, offset 4."): the SIMD decoder only says that something is.
/// Called on the error path alone.
fn why_not_base64(groups: &[u8]) -> String {
    match base64::engine::general_purpose::STANDARD.decode(groups) {
        Err(e) => e.to_string(),
        Ok(_) => "misplaced padding".to_owned(),
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
    fn line_wrapped_base64_decodes_in_any_chunking() {
        let plain: Vec<u8> = (0..10_000u32).map(|i| (i * 13 % 251) as u8).collect();
        let body = encrypt(&plain, &KEYS);
        // MIME-style 76-character lines, and a trailing newline.
        let mut wrapped = Vec::new();
        for line in body.as_bytes().chunks(76) {
            wrapped.extend_from_slice(line);
            wrapped.extend_from_slice(b"\r\n");
        }
        for chunk in [1, 5, 77, 4096, wrapped.len()] {
            let mut d = StreamDecryptor::new(&KEYS).unwrap();
            let mut out = Vec::new();
            for c in wrapped.chunks(chunk) {
                out.extend_from_slice(&d.push(c).unwrap());
            }
            out.extend_from_slice(&d.finish().unwrap());
            assert_eq!(out, plain, "chunk {chunk}");
        }
    }

    #[test]
    fn refuses_bad_bodies() {
        let code = |r: Result<Vec<u8>, ApiError>| r.unwrap_err().err_code;
        assert_eq!(
            code(decrypt(b"!!!not base64!!!", &KEYS)),
            "Request.Body.Decrypt.Base64.Invalid"
        );
        // The SIMD decoder's refusal is explained, and padding is refused
        // anywhere but at the end.
        let e = decrypt(b"AAAA!AAA", &KEYS).unwrap_err();
        assert!(e.message.contains("Invalid symbol 33, offset 4"), "{e:?}");
        let mid = format!("AA==AAAA{}", encrypt(b"x", &KEYS));
        assert_eq!(
            code(decrypt(mid.as_bytes(), &KEYS)),
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
