//! One-pass, bounded-memory reading of RPM packages.
//!
//! An upload is read exactly once, as it arrives. Two independent readers run
//! over the same bytes on separate threads, so that hashing and decompression
//! use both cores:
//!
//! - [`digest_package`] hashes the file (SHA-256 of everything; MD5 of header
//!   plus payload, as signature tag 1004 covers; SHA-256 of the header alone;
//!   SHA-256 of the payload when no MD5 protects it); [`digest_signed`] does
//!   the same but the whole file's SHA-256, which a caller that has a core
//!   to spare computes on another thread.
//! - [`scan_package`] parses lead, signature and header, decompresses the
//!   payload (xz, zstd, gzip, bzip2 or none, detected from its magic bytes),
//!   walks the cpio archive, refuses unsafe entry paths, captures small files
//!   asked for (the upgrade dep YAML) and bounds the bytes it will unpack.
//!
//! Neither function decides whether a package is acceptable: they report
//! facts, and the caller compares them (see the package store's validator).
//!
//! # Layout
//! - `header`: the RPM header structure shared by signature and main header.
//! - `lead`: the 96-byte lead.
//! - `preamble`: lead + signature + main header, read in order.
//! - `digest`: the hashing reader.
//! - `payload`: compressor detection and decoders.
//! - `cpio`: the newc and stripped cpio archive readers with path checks.
//! - `scan`: the scanning reader that ties payload and cpio together.
//! - `unpack`: extraction of a payload into a directory, with the same checks.

mod cpio;
mod digest;
mod error;
mod header;
mod lead;
mod payload;
mod preamble;
mod scan;
mod unpack;

pub use cpio::{CpioEntry, CpioReader, EntryKind};
pub use digest::{Digests, PayloadDigests, SignedDigests, digest_package, digest_signed};
pub use error::Error;
pub use header::{FileInfo, Header, PackageHeader, Signature, tags};
pub use lead::Lead;
pub use payload::Compressor;
pub use preamble::{Limits, Preamble, read_preamble};
pub use scan::{Scan, ScanOptions, scan_package};
pub use unpack::{UnpackOptions, Unpacked, unpack_package};
