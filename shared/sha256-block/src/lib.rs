//! The SHA-256 block function, from aws-lc's assembly.
//!
//! obup hashes every package byte with SHA-256 where it must be able to
//! save the running state and continue later (a resumed upload, a resumed
//! download): `obup_kit::sha256::ResumableSha256` keeps that state and
//! calls [`compress`] for the blocks. The block function is the whole cost.
//! Measured on a 2-core Xeon without SHA extensions
//! (`services/package-store/benches/upload.rs` prints it on every run):
//! `sha2` 0.10's portable code 181 MB/s, its `asm` feature 210 MB/s,
//! aws-lc's `SHA256_TransformBlocks` 344 MB/s — the AVX2 code of OpenSSL's
//! `sha256-x86_64`, which also takes the SHA extensions where the CPU has
//! them, and ARMv8's on aarch64. The hashing libraries that use that code
//! (`ring`, `aws-lc-rs`) keep their state opaque, so the block function is
//! called directly. aws-lc is already in every obup binary (rustls' default
//! provider), so this adds no code to build.

/// SHA-256's initial chaining value (FIPS 180-4, 5.3.3).
pub const INITIAL: [u32; 8] = [
    0x6a09_e667,
    0xbb67_ae85,
    0x3c6e_f372,
    0xa54f_f53a,
    0x510e_527f,
    0x9b05_688c,
    0x1f83_d9ab,
    0x5be0_cd19,
];

/// Runs the SHA-256 compression function over `blocks` (whole 64-byte
/// blocks), updating the chaining value `state`.
///
/// # Panics
/// If `blocks` is not a whole number of 64-byte blocks.
pub fn compress(state: &mut [u32; 8], blocks: &[u8]) {
    assert!(
        blocks.len().is_multiple_of(64),
        "SHA-256 compresses whole 64-byte blocks, not {} bytes",
        blocks.len()
    );
    if blocks.is_empty() {
        return;
    }
    init();
    #[allow(unsafe_code)]
    // SAFETY: `SHA256_TransformBlocks(state, data, num_blocks)` reads
    // `num_blocks * 64` bytes from `data` and reads and writes the eight
    // words at `state`, and keeps neither pointer (aws-lc's `sha.h`). Both
    // are borrowed for the call: `state` is exactly eight `u32`s, and
    // `blocks` holds `blocks.len() / 64` whole blocks (asserted above).
    unsafe {
        aws_lc_sys::SHA256_TransformBlocks(state.as_mut_ptr(), blocks.as_ptr(), blocks.len() / 64);
    }
}

/// aws-lc picks its code path from the CPU's features, read once by its
/// library initialisation. A static constructor normally runs it; calling
/// it (idempotent, thread-safe) makes that independent of how it was linked.
fn init() {
    static INIT: std::sync::Once = std::sync::Once::new();
    INIT.call_once(|| {
        #[allow(unsafe_code)]
        // SAFETY: `CRYPTO_library_init` takes no arguments and may be
        // called any number of times from any thread (aws-lc's `crypto.h`).
        unsafe {
            aws_lc_sys::CRYPTO_library_init();
        }
    });
}

#[cfg(test)]
mod tests {
    use sha2::digest::generic_array::GenericArray;

    use super::*;

    #[test]
    fn agrees_with_sha2_block_by_block_and_many_at_once() {
        let data: Vec<u8> = (0..64 * 1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let initial = INITIAL;
        let mut expected = initial;
        for block in data.chunks_exact(64) {
            sha2::compress256(
                &mut expected,
                std::slice::from_ref(GenericArray::from_slice(block)),
            );
        }
        let mut all = initial;
        compress(&mut all, &data);
        assert_eq!(all, expected);
        let mut split = initial;
        compress(&mut split, &data[..64 * 7]);
        compress(&mut split, &[]);
        compress(&mut split, &data[64 * 7..]);
        assert_eq!(split, expected);
    }

    #[test]
    #[should_panic(expected = "whole 64-byte blocks")]
    fn refuses_a_partial_block() {
        compress(&mut [0; 8], &[0; 65]);
    }
}
