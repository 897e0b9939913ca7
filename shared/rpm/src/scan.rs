//! The scanning reader: preamble, then the whole payload, decompressed and
//! walked entry by entry, within a bound on unpacked bytes. Every entry must
//! be in the header's file list, and a symlink must point inside the
//! package, as [`unpack_package`](crate::unpack_package) would require.

use std::collections::HashSet;
use std::io::{self, BufRead, Read};

use crate::Error;
use crate::cpio::{CpioReader, EntryKind, corrupt, read_link};
use crate::payload::{Compressor, decoder};
use crate::preamble::{Limits, Preamble, read_preamble};

/// What to look for in the payload, and how much work to allow.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    pub limits: Limits,
    /// Absolute paths whose contents to capture (e.g. the dep YAML).
    pub capture: Vec<String>,
    /// Largest file that may be captured.
    pub capture_limit: u64,
    /// Absolute paths whose presence as files (regular or symlinks) to note.
    pub note: Vec<String>,
    /// Upper bound on decompressed bytes (archive headers included), so that
    /// a decompression bomb costs at most this much work.
    pub max_unpacked: u64,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            capture: Vec::new(),
            capture_limit: 1 << 20,
            note: Vec::new(),
            max_unpacked: 16 << 30,
        }
    }
}

/// What a scan found.
#[derive(Debug, Clone)]
pub struct Scan {
    pub preamble: Preamble,
    pub compressor: Compressor,
    /// Decompressed bytes read, archive headers included.
    pub unpacked: u64,
    /// Entries in the archive.
    pub entries: u64,
    /// `(path, contents)` of each captured file found, in archive order.
    pub captured: Vec<(String, Vec<u8>)>,
    /// Noted paths that are present as files (regular or symlinks), in
    /// archive order.
    pub noted: Vec<String>,
}

/// Reads a whole package from `r` and scans its payload.
pub fn scan_package(mut r: impl BufRead, opts: &ScanOptions) -> Result<Scan, Error> {
    let preamble = read_preamble(&mut r, &opts.limits)?;
    let (compressor, decoded) = decoder(r)?;
    // Installed size is what the files hold; their data can never exceed it.
    let declared = preamble.header.installed_size();
    let mut counted = Bounded {
        inner: decoded,
        read: 0,
        limit: opts.max_unpacked,
    };
    let mut archive = CpioReader::new(&mut counted, preamble.header.files.clone());
    // rpm installs only what its header lists, and refuses an archive entry
    // the header does not name ("Archive file not in header").
    let listed: HashSet<&str> = preamble
        .header
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    let mut scan = ScanState::default();
    while let Some(entry) = archive.next_entry()? {
        scan.entries += 1;
        if entry.kind == EntryKind::Special {
            return Err(Error::SpecialFile(entry.path));
        }
        scan.data += entry.size;
        if let Some(declared) = declared.filter(|&d| scan.data > d) {
            return Err(Error::PayloadLargerThanDeclared { declared });
        }
        if !listed.contains(entry.path.as_str()) {
            return Err(Error::NotInHeader(entry.path));
        }
        if entry.kind != EntryKind::Dir && opts.note.contains(&entry.path) {
            scan.noted.push(entry.path.clone());
        }
        if entry.kind == EntryKind::Symlink {
            // Refused here, at upload, rather than when an upgrade unpacks
            // the package on a host.
            read_link(&mut archive, &entry)?;
            continue;
        }
        if entry.kind != EntryKind::File {
            continue;
        }
        if opts.capture.contains(&entry.path) {
            if entry.size > opts.capture_limit {
                return Err(Error::CapturedFileTooLarge {
                    path: entry.path,
                    size: entry.size,
                    limit: opts.capture_limit,
                });
            }
            let mut body = Vec::with_capacity(entry.size as usize);
            archive.read_to_end(&mut body).map_err(corrupt)?;
            scan.captured.push((entry.path, body));
        }
    }
    drop(archive);
    Ok(Scan {
        preamble,
        compressor,
        unpacked: counted.read,
        entries: scan.entries,
        captured: scan.captured,
        noted: scan.noted,
    })
}

#[derive(Default)]
struct ScanState {
    entries: u64,
    data: u64,
    captured: Vec<(String, Vec<u8>)>,
    noted: Vec<String>,
}

/// Counts decompressed bytes and fails once more than `limit` are read.
pub(crate) struct Bounded<R> {
    pub(crate) inner: R,
    pub(crate) read: u64,
    pub(crate) limit: u64,
}

impl<R: Read> Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read += n as u64;
        if self.read > self.limit {
            return Err(io::Error::other(Error::PayloadTooLarge {
                limit: self.limit,
            }));
        }
        Ok(n)
    }
}
