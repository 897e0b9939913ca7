//! Cluster passwords at rest: sealed with AES-256-GCM under a key that
//! lives outside the database (a file, or the environment), bound to the
//! cluster's name so that a sealed password copied to another cluster's
//! row does not open.
//!
//! Stored form: base64 of `nonce (12) || ciphertext || tag (16)`.

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine;

use crate::{Error, Result};

const KEY: usize = 32;
const NONCE: usize = 12;

/// The key that seals cluster passwords.
#[derive(Clone)]
pub struct SecretKey(Aes256Gcm);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretKey(<secret>)")
    }
}

/// A password as it travels inside obup: never printed.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(String);

impl Password {
    pub fn new(p: impl Into<String>) -> Self {
        Self(p.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<secret>)")
    }
}

fn invalid(reason: impl Into<String>) -> Error {
    Error::InvalidArgument {
        field: "secret key",
        reason: reason.into(),
    }
}

impl SecretKey {
    /// A key from 32 bytes, or from their base64.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let raw = if bytes.len() == KEY {
            bytes.to_vec()
        } else {
            base64::engine::general_purpose::STANDARD
                .decode(bytes.trim_ascii())
                .map_err(|_| invalid("expected 32 bytes or their base64"))?
        };
        if raw.len() != KEY {
            return Err(invalid(format!("expected 32 bytes, got {}", raw.len())));
        }
        Ok(Self(
            Aes256Gcm::new_from_slice(&raw).map_err(|e| invalid(e.to_string()))?,
        ))
    }

    /// Reads the key file, creating it (mode 0600, 32 random bytes as
    /// base64) if it does not exist: `obup dev`'s key.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        match std::fs::read(path) {
            Ok(bytes) => Self::from_bytes(&bytes),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                let text =
                    base64::engine::general_purpose::STANDARD.encode(rand::random::<[u8; KEY]>());
                obup_kit::fs::write_private(path, text.as_bytes())?;
                Self::from_bytes(text.as_bytes())
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Seals `password` for the cluster `name`.
    pub fn seal(&self, name: &str, password: &Password) -> Result<String> {
        let nonce = Nonce::from(rand::random::<[u8; NONCE]>());
        let sealed = self
            .0
            .encrypt(
                &nonce,
                Payload {
                    msg: password.0.as_bytes(),
                    aad: name.as_bytes(),
                },
            )
            .map_err(|e| Error::Internal(format!("sealing a password failed: {e}")))?;
        let mut out = nonce.to_vec();
        out.extend(sealed);
        Ok(base64::engine::general_purpose::STANDARD.encode(out))
    }

    /// Opens what [`SecretKey::seal`] sealed for the cluster `name`.
    pub fn open(&self, name: &str, sealed: &str) -> Result<Password> {
        let wrong = || {
            Error::Internal(format!(
                "the stored password of cluster {name} does not open with this secret key \
                 (another key, or the row was altered)"
            ))
        };
        let raw = base64::engine::general_purpose::STANDARD
            .decode(sealed)
            .map_err(|_| wrong())?;
        if raw.len() < NONCE + 16 {
            return Err(wrong());
        }
        let (nonce, body) = raw.split_at(NONCE);
        let nonce = Nonce::try_from(nonce).map_err(|_| wrong())?;
        let plain = self
            .0
            .decrypt(
                &nonce,
                Payload {
                    msg: body,
                    aad: name.as_bytes(),
                },
            )
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map(Password).map_err(|_| wrong())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seals_per_cluster_and_refuses_tampering() {
        let key = SecretKey::from_bytes(&[7u8; 32]).unwrap();
        let sealed = key.seal("prod", &Password::new("Sys@1")).unwrap();
        assert!(!sealed.contains("Sys@1"));
        assert_eq!(key.open("prod", &sealed).unwrap().expose(), "Sys@1");
        assert!(
            key.open("test", &sealed).is_err(),
            "bound to the cluster name"
        );
        let other = SecretKey::from_bytes(&[8u8; 32]).unwrap();
        assert!(other.open("prod", &sealed).is_err());
        let mut bytes = base64::engine::general_purpose::STANDARD
            .decode(&sealed)
            .unwrap();
        *bytes.last_mut().unwrap() ^= 1;
        let tampered = base64::engine::general_purpose::STANDARD.encode(bytes);
        assert!(key.open("prod", &tampered).is_err());
        assert_ne!(
            key.seal("prod", &Password::new("x")).unwrap(),
            key.seal("prod", &Password::new("x")).unwrap(),
            "fresh nonce"
        );
    }

    #[test]
    fn the_key_file_is_made_once_and_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys/cluster.key");
        let a = SecretKey::load_or_create(&path).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let sealed = a.seal("c", &Password::new("p")).unwrap();
        let b = SecretKey::load_or_create(&path).unwrap();
        assert_eq!(b.open("c", &sealed).unwrap().expose(), "p");
        assert!(format!("{a:?} {:?}", Password::new("p")).contains("<secret>"));
        assert!(SecretKey::from_bytes(b"short").is_err());
    }
}
