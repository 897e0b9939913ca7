//! The client side of the hybrid encryption, for obup's own clients and
//! tests: what obshell's SDK does to authenticate a request (v2), and the
//! same for obup's `obup-gcm1`.

use base64::Engine;
use rsa::pkcs1::DecodeRsaPublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};

/// The SDK cuts the header JSON into 53-byte pieces (it fits a 512-bit key;
/// the server accepts any piece size).
const PIECE: usize = 53;
/// How long a header made here stays valid.
const LIFETIME_SECS: i64 = 60;

/// An `X-OCS-Header` for `uri` (raw path and query): `{auth, ts, uri, keys}`
/// encrypted with the gateway's published key (`GET /api/v1/secret`,
/// base64 PKCS#1 DER), base64. `keys` is the AES key and IV of the body.
pub fn sdk_header(
    public_b64: &str,
    password: &str,
    uri: &str,
    keys: &[u8],
) -> Result<String, String> {
    seal(
        public_b64,
        &header_json(password, uri, keys),
        |_| PIECE,
        |key, piece| key.encrypt(&mut rand::rngs::OsRng, Pkcs1v15Encrypt, piece),
    )
}

/// An `X-OBUP-Auth` header of the `obup-gcm1` scheme: the same JSON with a
/// 32-byte AES-256-GCM key, sealed with RSA-OAEP (SHA-256).
pub fn gcm_header(
    public_b64: &str,
    password: &str,
    uri: &str,
    key: &[u8; 32],
) -> Result<String, String> {
    seal(
        public_b64,
        &header_json(password, uri, key),
        super::gcm::oaep_piece,
        |k, piece| {
            k.encrypt(
                &mut rand::rngs::OsRng,
                rsa::Oaep::new::<sha2::Sha256>(),
                piece,
            )
        },
    )
}

fn header_json(password: &str, uri: &str, keys: &[u8]) -> String {
    let ts = chrono::Utc::now().timestamp() + LIFETIME_SECS;
    serde_json::json!({
        "auth": password,
        "ts": ts.to_string(),
        "uri": uri,
        "keys": base64::engine::general_purpose::STANDARD.encode(keys),
    })
    .to_string()
}

/// `json` cut into pieces of `piece_for(key size)` bytes, each encrypted
/// into one block, base64.
fn seal(
    public_b64: &str,
    json: &str,
    piece_for: impl Fn(usize) -> usize,
    encrypt: impl Fn(&RsaPublicKey, &[u8]) -> rsa::Result<Vec<u8>>,
) -> Result<String, String> {
    let der = base64::engine::general_purpose::STANDARD
        .decode(public_b64)
        .map_err(|e| format!("the public key is not base64: {e}"))?;
    let key =
        RsaPublicKey::from_pkcs1_der(&der).map_err(|e| format!("not a PKCS#1 public key: {e}"))?;
    let piece = piece_for(rsa::traits::PublicKeyParts::size(&key));
    let mut sealed = Vec::new();
    for piece in json.as_bytes().chunks(piece) {
        let block = encrypt(&key, piece).map_err(|e| format!("RSA encryption failed: {e}"))?;
        sealed.extend(block);
    }
    Ok(base64::engine::general_purpose::STANDARD.encode(sealed))
}
