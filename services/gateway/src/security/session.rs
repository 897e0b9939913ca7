//! The web console's sessions: an HttpOnly cookie the gateway seals, so
//! that a browser signs in once with a token or the root password and
//! never holds either in script-readable storage.
//!
//! # Why a sealed cookie, and what it holds
//! The cookie is the session: AES-256-GCM over a small JSON record, with a
//! key kept 0600 in the data dir. No session table: a restart of obup (the
//! console reconnects by itself) keeps everyone signed in, and there is
//! nothing to clean up. The record names *how* the caller proved itself,
//! never the secret: a token's SHA-256 (checked again on every request, so
//! revoking the token ends its sessions within the verifier's cache time),
//! or a keyed hash of the root password (so changing it ends them).
//!
//! # CSRF
//! The cookie is `SameSite=Strict`, and every request that changes
//! something must also carry `X-Obup-Csrf` equal to the session's random
//! `csrf`, which only a page of this origin can read (from the sign-in
//! answer or `GET /api/v1/console/session`). Sign-in itself takes JSON only:
//! a cross-site form cannot send that content type without a preflight.
//!
//! # Sign-out
//! Clears the cookie, and remembers the session id until it would have
//! expired, so a copy of the cookie stops working too. That list is in
//! memory: after a restart a copied cookie of a signed-out session works
//! again until it expires ([`TTL`]); revoking the token ends it for good.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use base64::Engine;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::header::constant_time_eq;
pub(crate) use super::header::unauthorized;
use crate::Error;
use crate::envelope::ApiError;

/// The cookie's name.
pub const COOKIE: &str = "obup_session";
/// The header a changing request repeats the session's `csrf` in.
pub const CSRF_HEADER: &str = "x-obup-csrf";
/// How long a session lasts: a working day, then sign in again.
pub const TTL: Duration = Duration::from_secs(12 * 3600);
/// Bound on a cookie we try to open (a real one is ~250 bytes).
const MAX_COOKIE: usize = 2048;
/// Binds sealed records to this use of the key.
const AAD: &[u8] = b"obup-console-session-v1";
const NONCE: usize = 12;

/// How a session's caller proved itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Proof {
    /// An API token: its SHA-256, base64.
    Token { hash: String },
    /// The cluster's root password: its hash keyed with the session key.
    RootPassword { fingerprint: String },
}

/// What the cookie seals.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Random; what sign-out remembers.
    pub id: String,
    pub proof: Proof,
    /// Random; repeated in [`CSRF_HEADER`] by changing requests.
    pub csrf: String,
    pub expires_at_ms: i64,
}

impl Session {
    /// A new session for `proof`, from `now_ms`.
    pub fn new(proof: Proof, now_ms: i64) -> Self {
        Self {
            id: random_b64(16),
            proof,
            csrf: random_b64(18),
            expires_at_ms: now_ms + TTL.as_millis() as i64,
        }
    }

    /// Whether `headers` repeat this session's CSRF value.
    pub fn csrf_matches(&self, headers: &HeaderMap) -> bool {
        headers
            .get(CSRF_HEADER)
            .is_some_and(|v| constant_time_eq(v.as_bytes(), self.csrf.as_bytes()))
    }

    /// The refusal of a change whose `headers` do not repeat this session's
    /// CSRF value.
    pub fn check_csrf(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        if self.csrf_matches(headers) {
            return Ok(());
        }
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "Security.Session.CsrfMismatch",
            format!(
                "Forbidden: a console request that changes something must repeat the session's CSRF value in {CSRF_HEADER}"
            ),
        ))
    }
}

/// Seals and opens sessions; remembers signed-out ones.
pub struct Sessions {
    cipher: Aes256Gcm,
    /// Keys the root password's fingerprint (not the cipher key itself).
    fingerprint_key: [u8; 32],
    signed_out: Mutex<HashMap<String, i64>>,
    /// Served over TLS: cookies are marked `Secure`.
    secure: bool,
}

impl std::fmt::Debug for Sessions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sessions")
            .field("secure", &self.secure)
            .finish_non_exhaustive()
    }
}

impl Sessions {
    /// Sessions sealed with `key` (32 bytes).
    pub fn new(key: [u8; 32]) -> Self {
        let fingerprint_key: [u8; 32] = Sha256::new()
            .chain_update(b"obup-console-root-password")
            .chain_update(key)
            .finalize()
            .into();
        Self {
            cipher: Aes256Gcm::new(&key.into()),
            fingerprint_key,
            signed_out: Mutex::new(HashMap::new()),
            secure: false,
        }
    }

    /// Sessions with a key that lasts as long as this process (tests).
    pub fn ephemeral() -> Self {
        Self::new(rand::random())
    }

    /// The key kept at `path` (made, 0600, on first start): sessions
    /// outlive restarts.
    pub fn load_or_create(path: &std::path::Path) -> Result<Self, Error> {
        let key = match std::fs::read(path) {
            Ok(bytes) => <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
                Error::Config(format!(
                    "{} is not a 32-byte session key (delete it to make a new one; everyone signs in again)",
                    path.display()
                ))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key: [u8; 32] = rand::random();
                obup_kit::fs::replace_private(path, &key)?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self::new(key))
    }

    /// Cookies marked `Secure` (the gateway serves TLS) or not.
    pub fn set_secure(&mut self, secure: bool) {
        self.secure = secure;
    }

    /// The root password's fingerprint under this key.
    pub fn fingerprint(&self, password: &str) -> String {
        let digest = Sha256::new()
            .chain_update(self.fingerprint_key)
            .chain_update(password.as_bytes())
            .finalize();
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    }

    /// The `Set-Cookie` value that starts `session`.
    pub fn cookie(&self, session: &Session) -> HeaderValue {
        let json = serde_json::to_vec(session).expect("a session serializes");
        let nonce = Nonce::from(rand::random::<[u8; NONCE]>());
        let sealed = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: &json,
                    aad: AAD,
                },
            )
            .expect("AES-GCM seals any length we make");
        let mut raw = nonce.to_vec();
        raw.extend(sealed);
        let value = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        self.set_cookie(&value, TTL.as_secs())
    }

    /// The `Set-Cookie` value that ends the session in the browser.
    pub fn clearing_cookie(&self) -> HeaderValue {
        self.set_cookie("", 0)
    }

    fn set_cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        HeaderValue::from_str(&format!(
            "{COOKIE}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Strict{secure}"
        ))
        .expect("base64url and ASCII attributes")
    }

    /// The session in `headers`' cookie: `None` without one; an error for
    /// one that is forged, altered, expired or signed out.
    pub fn open(&self, headers: &HeaderMap, now_ms: i64) -> Result<Option<Session>, ApiError> {
        let Some(value) = cookie_value(headers) else {
            return Ok(None);
        };
        let invalid = || {
            unauthorized(
                "Security.Session.Invalid",
                "the console session is not valid here; sign in again",
            )
        };
        if value.len() > MAX_COOKIE {
            return Err(invalid());
        }
        let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(value)
            .map_err(|_| invalid())?;
        if raw.len() < NONCE + 16 {
            return Err(invalid());
        }
        let (nonce, sealed) = raw.split_at(NONCE);
        let nonce = Nonce::try_from(nonce).expect("split at the nonce size");
        let json = self
            .cipher
            .decrypt(
                &nonce,
                Payload {
                    msg: sealed,
                    aad: AAD,
                },
            )
            .map_err(|_| invalid())?;
        let session: Session = serde_json::from_slice(&json).map_err(|_| invalid())?;
        if session.expires_at_ms <= now_ms {
            return Err(unauthorized(
                "Security.Session.Expired",
                "the console session has expired; sign in again",
            ));
        }
        if self.lock().contains_key(&session.id) {
            return Err(unauthorized(
                "Security.Session.SignedOut",
                "this console session was signed out; sign in again",
            ));
        }
        Ok(Some(session))
    }

    /// Remembers that `session` signed out (until it would have expired).
    pub fn sign_out(&self, session: &Session, now_ms: i64) {
        let mut map = self.lock();
        map.retain(|_, expires| *expires > now_ms);
        map.insert(session.id.clone(), session.expires_at_ms);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, i64>> {
        // Ids and times only: a panic elsewhere leaves nothing half-written.
        self.signed_out.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The session cookie's value among the request's cookies.
fn cookie_value(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| {
            let (name, value) = pair.trim().split_once('=')?;
            (name == COOKIE && !value.is_empty()).then_some(value)
        })
}

fn random_b64(bytes: usize) -> String {
    use rand::RngCore;
    let mut raw = vec![0u8; bytes];
    rand::rngs::OsRng.fill_bytes(&mut raw);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(set_cookie: &HeaderValue) -> HeaderMap {
        let pair = set_cookie.to_str().unwrap().split(';').next().unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_str(&format!("theme=dark; {pair}")).unwrap(),
        );
        h
    }

    fn token_session(now: i64) -> Session {
        Session::new(
            Proof::Token {
                hash: "aGFzaA".into(),
            },
            now,
        )
    }

    #[test]
    fn a_sealed_session_opens_with_the_same_key_only() {
        let sessions = Sessions::ephemeral();
        let session = token_session(1_000);
        let cookie = sessions.cookie(&session);
        let text = cookie.to_str().unwrap();
        assert!(text.contains("HttpOnly") && text.contains("SameSite=Strict"));
        assert!(!text.contains("Secure"), "plain HTTP: not Secure");
        assert!(!text.contains("aGFzaA"), "sealed, not encoded: {text}");
        let opened = sessions.open(&with_cookie(&cookie), 2_000).unwrap();
        assert_eq!(opened, Some(session));

        let other = Sessions::ephemeral();
        let e = other.open(&with_cookie(&cookie), 2_000).unwrap_err();
        assert_eq!(e.err_code, "Security.Session.Invalid");
    }

    #[test]
    fn altered_expired_and_signed_out_sessions_are_refused() {
        let mut sessions = Sessions::ephemeral();
        sessions.set_secure(true);
        let session = token_session(1_000);
        let cookie = sessions.cookie(&session);
        assert!(cookie.to_str().unwrap().ends_with("; Secure"));
        let headers = with_cookie(&cookie);

        let mut altered = headers.clone();
        let text = headers.get("cookie").unwrap().to_str().unwrap();
        let flipped = format!(
            "{}{}",
            &text[..text.len() - 1],
            if text.ends_with('A') { 'B' } else { 'A' }
        );
        altered.insert("cookie", HeaderValue::from_str(&flipped).unwrap());
        let e = sessions.open(&altered, 2_000).unwrap_err();
        assert_eq!(e.err_code, "Security.Session.Invalid");

        let e = sessions.open(&headers, session.expires_at_ms).unwrap_err();
        assert_eq!(e.err_code, "Security.Session.Expired");

        sessions.sign_out(&session, 2_000);
        let e = sessions.open(&headers, 3_000).unwrap_err();
        assert_eq!(e.err_code, "Security.Session.SignedOut");
        assert_eq!(sessions.open(&HeaderMap::new(), 3_000).unwrap(), None);
    }

    #[test]
    fn the_csrf_value_must_be_repeated_exactly() {
        let session = token_session(0);
        let mut h = HeaderMap::new();
        assert!(!session.csrf_matches(&h));
        h.insert(CSRF_HEADER, HeaderValue::from_static("nope"));
        assert!(!session.csrf_matches(&h));
        h.insert(CSRF_HEADER, HeaderValue::from_str(&session.csrf).unwrap());
        assert!(session.csrf_matches(&h));
    }

    #[test]
    fn the_password_fingerprint_depends_on_the_key_and_the_password() {
        let (a, b) = (Sessions::ephemeral(), Sessions::ephemeral());
        assert_eq!(a.fingerprint("x"), a.fingerprint("x"));
        assert_ne!(a.fingerprint("x"), a.fingerprint("y"));
        assert_ne!(a.fingerprint("x"), b.fingerprint("x"));
    }

    #[test]
    fn the_key_is_kept_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway/session.key");
        let first = Sessions::load_or_create(&path).unwrap();
        let cookie = first.cookie(&token_session(0));
        let again = Sessions::load_or_create(&path).unwrap();
        assert!(again.open(&with_cookie(&cookie), 1).unwrap().is_some());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{mode:o}");
        std::fs::write(&path, b"short").unwrap();
        assert!(Sessions::load_or_create(&path).is_err());
    }
}
