//! The gateway's RSA key pair: generated once and kept in the data dir, so
//! that clients holding the public key keep working across restarts (the
//! SDK caches it, and re-sends everything three times on a key change).

use std::path::Path;

use base64::Engine;
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey, EncodeRsaPublicKey};
use rsa::{Pkcs1v15Encrypt, RsaPrivateKey, RsaPublicKey};

use crate::Error;

/// The key pair and its published form.
#[derive(Debug, Clone)]
pub struct Keys {
    private: RsaPrivateKey,
    /// Standard base64 of the PKCS#1 DER public key, as obshell publishes it.
    public_b64: String,
}

impl Keys {
    /// Loads the key at `path` (PKCS#1 DER) or creates one of `bits` bits.
    pub fn load_or_create(path: &Path, bits: usize) -> Result<Self, Error> {
        let private = match std::fs::read(path) {
            Ok(der) if !private_to_owner(path)? => {
                // Made by an older obup or by hand: tighten, and say so.
                tracing::warn!(path = %path.display(), "the RSA key was readable by others; made it 0600");
                restrict(path)?;
                RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
                    Error::Config(format!("{} is not a PKCS#1 RSA key: {e}", path.display()))
                })?
            }
            Ok(der) => RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
                Error::Config(format!("{} is not a PKCS#1 RSA key: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
                    .map_err(|e| Error::Config(format!("cannot generate an RSA key: {e}")))?;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|e| Error::Config(e.to_string()))?;
                // Written then renamed: a crash never leaves half a key;
                // 0600 from the start: never readable by others.
                obup_kit::fs::replace_private(path, der.as_bytes())?;
                key
            }
            Err(e) => return Err(e.into()),
        };
        Ok(Self::from_private(private))
    }

    pub fn from_private(private: RsaPrivateKey) -> Self {
        let public = RsaPublicKey::from(&private);
        let der = public
            .to_pkcs1_der()
            .expect("an RSA public key always encodes");
        Self {
            public_b64: base64::engine::general_purpose::STANDARD.encode(der.as_bytes()),
            private,
        }
    }

    pub fn public_b64(&self) -> &str {
        &self.public_b64
    }

    /// Modulus size in bytes: the size of every ciphertext block.
    pub fn block_size(&self) -> usize {
        rsa::traits::PublicKeyParts::size(&self.private)
    }

    /// Decrypts concatenated PKCS#1 v1.5 blocks of `block_size` bytes each
    /// (clients may cut the plaintext into any chunk size).
    pub fn decrypt_blocks(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        self.decrypt_each(ciphertext, |key, block| key.decrypt(Pkcs1v15Encrypt, block))
    }

    /// The same with RSA-OAEP (SHA-256) blocks, for `obup-gcm1`.
    pub fn decrypt_blocks_oaep(&self, ciphertext: &[u8]) -> Result<Vec<u8>, String> {
        self.decrypt_each(ciphertext, |key, block| {
            key.decrypt(rsa::Oaep::new::<sha2::Sha256>(), block)
        })
    }

    fn decrypt_each(
        &self,
        ciphertext: &[u8],
        decrypt: impl Fn(&RsaPrivateKey, &[u8]) -> rsa::Result<Vec<u8>>,
    ) -> Result<Vec<u8>, String> {
        let k = self.block_size();
        if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(k) {
            return Err(format!(
                "ciphertext of {} bytes is not a multiple of {k}",
                ciphertext.len()
            ));
        }
        let mut out = Vec::with_capacity(ciphertext.len());
        for block in ciphertext.chunks(k) {
            let plain = decrypt(&self.private, block).map_err(|e| e.to_string())?;
            out.extend_from_slice(&plain);
        }
        Ok(out)
    }

    /// For tests and obup's own clients: encrypts like the obshell SDK.
    pub fn encrypt_like_sdk(&self, plaintext: &[u8]) -> Vec<u8> {
        let public = RsaPublicKey::from(&self.private);
        let mut out = Vec::new();
        for chunk in plaintext.chunks(53) {
            out.extend(
                public
                    .encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, chunk)
                    .expect("53-byte chunks fit any key of 512 bits or more"),
            );
        }
        out
    }
}

fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

/// Whether only the owner may read or write `path`.
fn private_to_owner(path: &Path) -> std::io::Result<bool> {
    use std::os::unix::fs::PermissionsExt;
    Ok(std::fs::metadata(path)?.permissions().mode() & 0o077 == 0)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn the_key_file_is_made_0600_and_a_looser_one_is_tightened() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("gateway/rsa_key.der");
        let made = Keys::load_or_create(&path, 1024).unwrap();
        assert_eq!(mode(&path), 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let again = Keys::load_or_create(&path, 1024).unwrap();
        assert_eq!(mode(&path), 0o600);
        assert_eq!(again.public_b64(), made.public_b64());
    }
}
