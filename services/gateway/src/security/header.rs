//! The `X-OCS-Header` / `X-OCS-Agent-Header` of obshell's "v2" scheme:
//! base64 of RSA-PKCS#1-v1.5-encrypted JSON `{auth, ts, uri, keys}`.
//! Checked in obshell's order: decryptable, URI, expiry, password — and,
//! beyond obshell, not replayed.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::http::StatusCode;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::Keys;
use super::header_json::HeaderJson;
use crate::envelope::ApiError;

/// Header names, in order of precedence.
pub const AGENT_HEADER: &str = "x-ocs-agent-header";
pub const OB_HEADER: &str = "x-ocs-header";

/// The decrypted header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthHeader {
    pub auth: String,
    /// Expiry, Unix seconds.
    pub ts: String,
    pub uri: String,
    /// AES-128 key (16 bytes) then IV (16 bytes).
    pub keys: Vec<u8>,
    /// Which header carried it: the agent password or root@sys's applies.
    pub agent: bool,
    /// How the header was sealed, and so how the body is.
    pub scheme: Scheme,
}

/// The authentication schemes the gateway takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// obshell's: RSA PKCS#1 v1.5 header, AES-128-CBC body.
    V2,
    /// obup's: RSA-OAEP header, AES-256-GCM body bound to the request.
    Gcm,
    /// obup's API token (`Authorization: Bearer`): plain bodies.
    Bearer,
    /// The web console's session cookie (see `session`): plain bodies.
    Session,
}

impl AuthHeader {
    /// Decrypts a whole request body sealed with this header's key.
    pub fn decrypt_body(&self, body: &[u8]) -> Result<Vec<u8>, ApiError> {
        match self.scheme {
            Scheme::V2 => super::body::decrypt(body, &self.keys),
            Scheme::Gcm => super::gcm::decrypt(body, &self.keys, &self.uri),
            Scheme::Bearer | Scheme::Session => Ok(body.to_vec()),
        }
    }
}

fn decrypt_failed(reason: impl std::fmt::Display) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Security.Authentication.Header.DecryptFailed",
        format!("Decrypt http header failed: {reason}"),
    )
    .with_code(1)
}

/// A refusal in obshell's unauthorized envelope (code 10008).
pub(crate) fn unauthorized(err_code: &str, message: &str) -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        err_code,
        format!("Unauthorized: {message}"),
    )
    .with_code(10008)
}

/// Decrypts a header value.
pub fn decrypt(
    keys: &Keys,
    value: &str,
    agent: bool,
    scheme: Scheme,
) -> Result<AuthHeader, ApiError> {
    let ciphertext = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|e| decrypt_failed(format!("invalid base64: {e}")))?;
    let plain = match scheme {
        Scheme::V2 => keys.decrypt_blocks(&ciphertext),
        Scheme::Gcm => keys.decrypt_blocks_oaep(&ciphertext),
        // Never carried in these headers (see `bearer`, `session`).
        Scheme::Bearer | Scheme::Session => Err("not a sealed-header scheme".to_owned()),
    }
    .map_err(decrypt_failed)?;
    let json = HeaderJson::decode(&plain).map_err(decrypt_failed)?;
    Ok(AuthHeader {
        auth: json.auth,
        ts: json.ts,
        uri: json.uri,
        keys: json.keys,
        agent,
        scheme,
    })
}

/// The passwords a header may carry.
#[derive(Debug, Clone)]
pub struct Passwords {
    /// root@sys; empty on a fresh cluster.
    pub root: String,
    /// The agent password, if one is set.
    pub agent: Option<String>,
}

/// Checks a decrypted header for the request `target` (raw path and query)
/// received at `now` (Unix seconds).
pub fn verify(
    h: &AuthHeader,
    raw: &str,
    target: &str,
    now: i64,
    passwords: &Passwords,
    seen: &ReplayGuard,
) -> Result<(), ApiError> {
    if h.uri != target {
        return Err(unauthorized(
            "Security.Authentication.Header.UriMismatch",
            "URI mismatch",
        ));
    }
    let ts: i64 = h.ts.trim().parse().map_err(|_| {
        unauthorized(
            "Security.Authentication.Timestamp.Invalid",
            "timestamp is invalid",
        )
    })?;
    if now > ts {
        return Err(unauthorized(
            "Security.Authentication.Expired",
            "Authentication expired",
        ));
    }
    let (expected, code, message) = if h.agent {
        match &passwords.agent {
            Some(p) => (
                p.as_str(),
                "Security.Authentication.IncorrectAgentPassword",
                "agent password is incorrect",
            ),
            None => (
                "",
                "Security.Authentication.IncorrectAgentPassword",
                "agent password is incorrect",
            ),
        }
    } else {
        (
            passwords.root.as_str(),
            "Security.Authentication.IncorrectOceanbasePassword",
            "OceanBase password is incorrect",
        )
    };
    if !constant_time_eq(h.auth.as_bytes(), expected.as_bytes()) {
        return Err(unauthorized(code, message));
    }
    seen.check(raw, ts, now)
}

/// Whether `e` says a password was wrong (what a guesser gets).
pub fn is_wrong_password(e: &ApiError) -> bool {
    matches!(
        e.err_code.as_str(),
        "Security.Authentication.IncorrectOceanbasePassword"
            | "Security.Authentication.IncorrectAgentPassword"
    )
}

pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Headers seen and not yet expired. obshell accepts a captured header
/// again until it expires; obup refuses the second use. The SDK makes a
/// fresh header (fresh AES key) for every request, including re-sends.
#[derive(Debug, Default)]
pub struct ReplayGuard {
    seen: Mutex<HashMap<[u8; 32], i64>>,
}

impl ReplayGuard {
    /// `raw` is the header as sent: its ciphertext is randomized, so only a
    /// copy of a captured header has the same one.
    fn check(&self, raw: &str, expires: i64, now: i64) -> Result<(), ApiError> {
        let id: [u8; 32] = Sha256::digest(raw.trim().as_bytes()).into();
        let mut seen = self.seen.lock().expect("the replay set is never poisoned");
        if seen.len() > 10_000 {
            seen.retain(|_, exp| *exp >= now);
        }
        if seen.insert(id, expires).is_some() {
            return Err(unauthorized(
                "Security.Authentication.Replayed",
                "this request header was already used",
            ));
        }
        Ok(())
    }
}
