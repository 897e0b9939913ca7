//! Everything that can go wrong while reading an RPM.

use std::io;

/// Why a byte stream could not be read as an RPM package.
///
/// Variants describe the input, not the decision: the package store maps them
/// to its own stable error codes.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The stream does not start with an RPM lead.
    #[error("not an RPM package: {0}")]
    NotRpm(String),
    /// The stream ended before the named part was complete.
    #[error("the package is truncated: it ends inside the {0}")]
    Truncated(&'static str),
    /// The signature or main header is malformed.
    #[error("malformed RPM {section}: {reason}")]
    BadHeader {
        section: &'static str,
        reason: String,
    },
    /// A header is larger than the configured bound.
    #[error("RPM {section} of {size} bytes exceeds the limit of {limit} bytes")]
    HeaderTooLarge {
        section: &'static str,
        size: u64,
        limit: u64,
    },
    /// The payload uses a compressor we cannot decode.
    #[error("unsupported payload compression: {0}")]
    UnsupportedCompressor(String),
    /// The payload could not be decoded: corrupt compressed data or a broken
    /// cpio archive.
    #[error("the payload is corrupted: {0}")]
    CorruptPayload(String),
    /// A cpio entry would land outside the extraction root.
    #[error("unsafe path in payload: {0:?}")]
    UnsafePath(String),
    /// A cpio entry the header's file list does not name: rpm would refuse
    /// to install it ("Archive file not in header").
    #[error("payload entry {0:?} is not in the header's file list")]
    NotInHeader(String),
    /// A cpio entry is a device, fifo or socket.
    #[error("payload entry {0:?} is a special file, which packages must not install")]
    SpecialFile(String),
    /// Unpacking would exceed the bound on decompressed bytes (a
    /// decompression bomb, or a package far larger than configured).
    #[error("the payload unpacks to more than {limit} bytes")]
    PayloadTooLarge { limit: u64 },
    /// The payload unpacks to more than the header says its files hold.
    #[error("the payload unpacks to more than the {declared} bytes its header declares")]
    PayloadLargerThanDeclared { declared: u64 },
    /// A file asked to be captured is larger than allowed.
    #[error("{path} is {size} bytes, more than the {limit} bytes allowed")]
    CapturedFileTooLarge { path: String, size: u64, limit: u64 },
    /// Reading the source (or writing an unpacked file) failed.
    #[error("I/O error: {0}")]
    Io(#[from] io::Error),
}

impl Error {
    pub(crate) fn bad_header(section: &'static str, reason: impl Into<String>) -> Self {
        Self::BadHeader {
            section,
            reason: reason.into(),
        }
    }

    /// Turns an I/O error met while reading `what` into `Truncated` when it is
    /// an early end of stream, which is how a short upload shows itself.
    pub(crate) fn reading(what: &'static str) -> impl FnOnce(io::Error) -> Self {
        move |e| {
            if e.kind() == io::ErrorKind::UnexpectedEof {
                Self::Truncated(what)
            } else {
                Self::Io(e)
            }
        }
    }
}
