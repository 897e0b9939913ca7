//! obup's authenticated scheme, `obup-gcm1`: the v2 scheme's shape with
//! modern primitives, for clients that can choose.
//!
//! - Header `X-OBUP-Auth` (root@sys password) or `X-OBUP-Agent-Auth` (agent
//!   password): base64 of the JSON `{auth, ts, uri, keys}` encrypted with
//!   RSA-OAEP (SHA-256) in pieces of at most [`oaep_piece`] bytes, each
//!   piece one key-size block. `keys` is base64 of a 32-byte AES-256 key.
//! - Body: base64 of `nonce (12 bytes) || AES-256-GCM ciphertext and tag`,
//!   with the request target as associated data: a body cannot be moved to
//!   another request, and any change to it is detected rather than decrypted
//!   into garbage (v2's CBC has no integrity).
//!
//! The checks after decryption (URI, expiry, password, replay) are v2's.
//! Not in `/api/v1/info`'s `supportedAuth`: SDK 0.0.9 turns every entry
//! into its `AuthVersion` enum and fails on one it does not know, so the
//! scheme is listed under `obupSupportedAuth` instead.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::http::StatusCode;
use base64::Engine;

use crate::envelope::ApiError;

/// The scheme's name in `/api/v1/info` (`obupSupportedAuth`).
pub const SCHEME: &str = "obup-gcm1";
pub const HEADER: &str = "x-obup-auth";
pub const AGENT_HEADER: &str = "x-obup-agent-auth";

const NONCE: usize = 12;
const KEY: usize = 32;

/// Largest plaintext piece RSA-OAEP-SHA-256 takes with a key of `k` bytes.
pub fn oaep_piece(k: usize) -> usize {
    k - 2 * 32 - 2
}

fn invalid(message: impl Into<String>) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "Request.Body.Decrypt.Failed",
        message,
    )
}

fn cipher(key: &[u8]) -> Result<Aes256Gcm, ApiError> {
    if key.len() != KEY {
        return Err(invalid(format!(
            "the obup-gcm1 key must be {KEY} bytes, got {}",
            key.len()
        )));
    }
    Aes256Gcm::new_from_slice(key).map_err(|e| invalid(e.to_string()))
}

/// Decrypts and authenticates a whole body sent to `target`.
pub fn decrypt(body: &[u8], key: &[u8], target: &str) -> Result<Vec<u8>, ApiError> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(body.trim_ascii())
        .map_err(|e| invalid(format!("the body is not base64: {e}")))?;
    if raw.len() < NONCE + 16 {
        return Err(invalid("the body is shorter than a nonce and a tag"));
    }
    let (nonce, sealed) = raw.split_at(NONCE);
    let nonce = Nonce::try_from(nonce).expect("split at the nonce size");
    cipher(key)?
        .decrypt(
            &nonce,
            Payload {
                msg: sealed,
                aad: target.as_bytes(),
            },
        )
        .map_err(|_| {
            invalid(
                "the body failed authentication (altered, or sealed for another request or key)",
            )
        })
}

/// Encrypts `plaintext` for a request to `target` (obup's clients, tests).
pub fn encrypt(plaintext: &[u8], key: &[u8], target: &str) -> Result<String, String> {
    let nonce = Nonce::from(rand::random::<[u8; NONCE]>());
    let sealed = cipher(key)
        .map_err(|e| e.message)?
        .encrypt(
            &nonce,
            Payload {
                msg: plaintext,
                aad: target.as_bytes(),
            },
        )
        .map_err(|e| e.to_string())?;
    let mut out = nonce.to_vec();
    out.extend(sealed);
    Ok(base64::engine::general_purpose::STANDARD.encode(out))
}
