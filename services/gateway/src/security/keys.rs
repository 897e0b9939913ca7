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
            Ok(der) => RsaPrivateKey::from_pkcs1_der(&der).map_err(|e| {
                Error::Config(format!("{} is not a PKCS#1 RSA key: {e}", path.display()))
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let key = RsaPrivateKey::new(&mut rand::rngs::OsRng, bits)
                    .map_err(|e| Error::Config(format!("cannot generate an RSA key: {e}")))?;
                let der = key
                    .to_pkcs1_der()
                    .map_err(|e| Error::Config(e.to_string()))?;
                if let Some(dir) = path.parent() {
                    std::fs::create_dir_all(dir)?;
                }
                // Written then renamed: a crash never leaves half a key.
                let tmp = path.with_extension("tmp");
                std::fs::write(&tmp, der.as_bytes())?;
                restrict(&tmp)?;
                std::fs::rename(&tmp, path)?;
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

#[cfg(unix)]
fn restrict(path: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
}

#[cfg(not(unix))]
fn restrict(_: &Path) -> std::io::Result<()> {
    Ok(())
}
