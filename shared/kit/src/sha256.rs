//! SHA-256 whose state can be saved and restored, so that an interrupted
//! upload resumes hashing where it stopped without reading the file's
//! prefix again: the CLI at the server's offset, the package store at the
//! end of each staged part.
//!
//! aws-lc's block function (`obup_sha256_block`: its SHA extensions, AVX2
//! or ARMv8 code, picked at run time) under a few lines of the standard's
//! padding: the libraries built on that code (`ring`, `aws-lc-rs`) keep
//! their state opaque, and `sha2`'s own block function runs at half its
//! speed on CPUs without SHA extensions.

use obup_sha256_block::INITIAL;

/// A running SHA-256.
#[derive(Debug, Clone)]
pub struct ResumableSha256 {
    state: [u32; 8],
    /// Bytes hashed so far, including those in `pending`.
    len: u64,
    /// The start of an incomplete block.
    pending: Vec<u8>,
}

impl Default for ResumableSha256 {
    fn default() -> Self {
        Self {
            state: INITIAL,
            len: 0,
            pending: Vec::with_capacity(64),
        }
    }
}

impl ResumableSha256 {
    /// Continues from a state saved with [`ResumableSha256::saved`].
    pub fn restore(len: u64, state_hex: &str) -> Option<Self> {
        let bytes = hex::decode(state_hex).ok()?;
        if bytes.len() != 32 || !len.is_multiple_of(64) {
            return None;
        }
        let mut state = [0u32; 8];
        for (word, b) in state.iter_mut().zip(bytes.chunks_exact(4)) {
            *word = u32::from_be_bytes(b.try_into().expect("chunks of 4"));
        }
        Some(Self {
            state,
            len,
            pending: Vec::with_capacity(64),
        })
    }

    /// Bytes hashed so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Nothing hashed yet.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The whole state at any byte: the chaining value, the length and the
    /// start of an incomplete block (40 to 103 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(40 + self.pending.len());
        out.extend(self.state.iter().flat_map(|w| w.to_be_bytes()));
        out.extend_from_slice(&self.len.to_be_bytes());
        out.extend_from_slice(&self.pending);
        out
    }

    /// Continues from [`ResumableSha256::to_bytes`]; `None` if they are not
    /// such a state.
    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        if !(40..40 + 64).contains(&bytes.len()) {
            return None;
        }
        let mut state = [0u32; 8];
        for (word, b) in state.iter_mut().zip(bytes[..32].chunks_exact(4)) {
            *word = u32::from_be_bytes(b.try_into().expect("chunks of 4"));
        }
        let len = u64::from_be_bytes(bytes[32..40].try_into().expect("8 bytes"));
        let pending = bytes[40..].to_vec();
        if len % 64 != pending.len() as u64 {
            return None;
        }
        Some(Self {
            state,
            len,
            pending,
        })
    }

    /// The state as hex, when the bytes hashed fill whole blocks (the only
    /// points at which it can be restored).
    pub fn saved(&self) -> Option<String> {
        self.pending.is_empty().then(|| {
            hex::encode(
                self.state
                    .iter()
                    .flat_map(|w| w.to_be_bytes())
                    .collect::<Vec<u8>>(),
            )
        })
    }

    pub fn update(&mut self, mut data: &[u8]) {
        self.len += data.len() as u64;
        if !self.pending.is_empty() {
            let take = (64 - self.pending.len()).min(data.len());
            self.pending.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.pending.len() < 64 {
                return;
            }
            let block = std::mem::take(&mut self.pending);
            self.compress(&block);
            self.pending = block;
            self.pending.clear();
        }
        let whole = data.len() / 64 * 64;
        self.compress(&data[..whole]);
        self.pending.extend_from_slice(&data[whole..]);
    }

    fn compress(&mut self, blocks: &[u8]) {
        obup_sha256_block::compress(&mut self.state, blocks);
    }

    /// The digest, as lower-case hex.
    pub fn finish(self) -> String {
        hex::encode(self.digest())
    }

    /// The digest.
    pub fn digest(mut self) -> [u8; 32] {
        let bits = self.len.wrapping_mul(8);
        let mut tail = std::mem::take(&mut self.pending);
        tail.push(0x80);
        while tail.len() % 64 != 56 {
            tail.push(0);
        }
        tail.extend_from_slice(&bits.to_be_bytes());
        self.compress(&tail);
        let mut out = [0u8; 32];
        for (bytes, word) in out.chunks_exact_mut(4).zip(self.state) {
            bytes.copy_from_slice(&word.to_be_bytes());
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use sha2::{Digest, Sha256};

    use super::*;

    #[test]
    fn matches_sha2_for_any_split_and_after_a_restore() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        let expected = hex::encode(Sha256::digest(&data));
        for split in [0, 1, 63, 64, 65, 127, 128, 1000, 4999, 5000] {
            let mut h = ResumableSha256::default();
            h.update(&data[..split]);
            h.update(&data[split..]);
            assert_eq!(h.finish(), expected, "split at {split}");
        }
        for len in [0usize, 55, 56, 63, 64, 119, 120] {
            let mut h = ResumableSha256::default();
            h.update(&data[..len]);
            assert_eq!(h.finish(), hex::encode(Sha256::digest(&data[..len])));
        }
        let mut h = ResumableSha256::default();
        h.update(&data[..1024]);
        let saved = h.saved().expect("1024 bytes are whole blocks");
        let mut r = ResumableSha256::restore(1024, &saved).unwrap();
        r.update(&data[1024..]);
        assert_eq!(r.finish(), expected);
        let mut h = ResumableSha256::default();
        h.update(&data[..100]);
        assert!(h.saved().is_none(), "no state mid-block");
        assert!(ResumableSha256::restore(100, &saved).is_none());
    }

    #[test]
    fn the_whole_state_restores_at_any_byte() {
        let data: Vec<u8> = (0..5000u32).map(|i| (i * 31 % 251) as u8).collect();
        let expected = hex::encode(Sha256::digest(&data));
        for split in [0, 1, 63, 64, 65, 100, 4999, 5000] {
            let mut h = ResumableSha256::default();
            h.update(&data[..split]);
            let mut r = ResumableSha256::from_bytes(&h.to_bytes()).unwrap();
            assert_eq!(r.len(), split as u64);
            r.update(&data[split..]);
            assert_eq!(r.finish(), expected, "split at {split}");
        }
        let mut h = ResumableSha256::default();
        h.update(&data[..100]);
        let mut bytes = h.to_bytes();
        bytes.pop();
        assert!(
            ResumableSha256::from_bytes(&bytes).is_none(),
            "a length that disagrees"
        );
        assert!(ResumableSha256::from_bytes(&[0; 39]).is_none());
    }
}
