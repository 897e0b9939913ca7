//! The gateway's hybrid encryption on hostile input: header decryption and
//! checks (`Security::authenticate`), whole-body decryption
//! (`AuthHeader::decrypt_body`) and streamed decryption of uploads
//! (`decrypt_stream`), which must agree with the whole-body one whatever the
//! chunking.
//!
//! Input: a mode byte, then `head NUL body`.
//! - mode & 3: which header carries `head` (v2 agent, v2, gcm agent, gcm);
//! - mode & 4: `head` is the header's JSON, sealed here with the gateway's
//!   key for that scheme (random bytes never decrypt, so this reaches the
//!   JSON and the checks), else `head` is the header value as sent;
//! - mode & 8: also decrypt `body` with `head` as the key (any length);
//! - mode >> 4: the chunk size of the streamed decryption.

#![no_main]

use std::convert::Infallible;
use std::sync::OnceLock;
use std::time::Instant;

use base64::Engine;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use obup_gateway::envelope::{ApiError, RequestMeta};
use obup_gateway::security::{AuthHeader, Keys, Passwords, Scheme, Security, decrypt_stream};
use rand::SeedableRng;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// The target every header is checked against, and the clock.
const URI: &str = "/api/v1/ob/upgrade";
const NOW: i64 = 1_700_000_000;
/// `(header name, agent password?, scheme)`, in the gateway's order.
const CARRIERS: [(&str, Scheme); 4] = [
    ("x-ocs-agent-header", Scheme::V2),
    ("x-ocs-header", Scheme::V2),
    ("x-obup-agent-auth", Scheme::Gcm),
    ("x-obup-auth", Scheme::Gcm),
];
/// Longest header JSON sealed: real ones are ~200 bytes, and each 53 bytes
/// costs an RSA decryption.
const MAX_SEALED: usize = 512;

/// The gateway's key pair and its public half, for sealing.
struct Fixture {
    keys: Keys,
    public: RsaPublicKey,
}

/// One 1024-bit key for the whole run, from a fixed seed so that a crash
/// reproduces with the same key.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut rng = rand::rngs::StdRng::seed_from_u64(0x0b0b);
        let private = RsaPrivateKey::new(&mut rng, 1024).expect("a 1024-bit key");
        Fixture {
            public: RsaPublicKey::from(&private),
            keys: Keys::from_private(private),
        }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let (head, body) = match rest.iter().position(|&b| b == 0) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let (name, scheme) = CARRIERS[usize::from(mode & 3)];
    let value = if mode & 4 != 0 {
        seal(&head[..head.len().min(MAX_SEALED)], scheme)
    } else {
        head.to_vec()
    };
    if let Some(h) = authenticate(name, &value) {
        assert_eq!(h.uri, URI);
        assert_eq!(h.scheme, scheme);
        decrypt_both_ways(&h, body, mode >> 4);
    }
    if mode & 8 != 0 {
        let h = AuthHeader {
            auth: String::new(),
            ts: String::new(),
            uri: URI.into(),
            keys: head.to_vec(),
            agent: false,
            scheme,
        };
        decrypt_both_ways(&h, body, mode >> 4);
    }
});

fn authenticate(name: &'static str, value: &[u8]) -> Option<AuthHeader> {
    let value = HeaderValue::from_bytes(value).ok()?;
    let mut headers = HeaderMap::new();
    headers.insert(name, value);
    // A fresh replay guard each time, so that a run reproduces alone.
    let security = Security::new(
        fixture().keys.clone(),
        Passwords {
            root: "root-pw".into(),
            agent: Some("agent-pw".into()),
        },
    );
    let meta = RequestMeta {
        trace_id: "fuzz".into(),
        received: Instant::now(),
        received_unix: NOW,
    };
    security.authenticate(&headers, URI, &meta).ok()
}

/// `json` encrypted as a client of `scheme` would, base64.
fn seal(json: &[u8], scheme: Scheme) -> Vec<u8> {
    let f = fixture();
    let sealed = match scheme {
        Scheme::V2 => f.keys.encrypt_like_sdk(json),
        Scheme::Gcm => {
            // RSA-OAEP-SHA-256 takes at most k - 2*32 - 2 bytes a block.
            let piece = f.keys.block_size() - 2 * 32 - 2;
            let mut out = Vec::new();
            for chunk in json.chunks(piece) {
                let oaep = rsa::Oaep::new::<sha2::Sha256>();
                let block = f.public.encrypt(&mut rand::rngs::OsRng, oaep, chunk);
                out.extend(block.expect("a piece that fits the key"));
            }
            out
        }
    };
    base64::engine::general_purpose::STANDARD
        .encode(sealed)
        .into_bytes()
}

/// The whole-body decryption, and for v2 (uploads) the streamed one in
/// chunks of `chunk` + 1 bytes, which must give the same answer.
fn decrypt_both_ways(h: &AuthHeader, body: &[u8], chunk: u8) {
    let whole = h.decrypt_body(body);
    if h.scheme != Scheme::V2 {
        return;
    }
    let streamed = futures::executor::block_on(stream(body, &h.keys, usize::from(chunk) + 1));
    match (&whole, &streamed) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "streamed plaintext differs"),
        (Err(a), Err(b)) => assert_eq!(a.err_code, b.err_code, "streamed error differs"),
        _ => panic!("whole-body {whole:?} but streamed {streamed:?}"),
    }
}

async fn stream(body: &[u8], keys: &[u8], chunk: usize) -> Result<Vec<u8>, ApiError> {
    let chunks: Vec<Result<bytes::Bytes, Infallible>> = body
        .chunks(chunk)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    let mut plain = std::pin::pin!(decrypt_stream(futures::stream::iter(chunks), keys)?);
    let mut out = Vec::new();
    while let Some(piece) = plain.next().await {
        out.extend_from_slice(&piece?);
    }
    Ok(out)
}
