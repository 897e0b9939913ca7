//! cpio archives as rpm writes them: "newc" (`070701`, `070702`) and rpm's
//! "stripped" form (`07070X`), whose names and sizes live in the header.
//!
//! Every entry path is checked before anyone sees it: an absolute path, a `..`
//! component or an empty name is an error, never an entry.

use std::io::{self, Read};

use crate::Error;
use crate::header::FileInfo;

const NEWC_HEADER: usize = 110;
const STRIPPED_HEADER: usize = 14;
const TRAILER: &str = "TRAILER!!!";
/// Longest entry name we accept (PATH_MAX).
const MAX_NAME: usize = 4096;
/// Buffer for reading past entry data we do not keep.
const SKIP_BUFFER: usize = 256 << 10;

/// What kind of file an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    /// Character or block device, fifo or socket.
    Special,
}

impl EntryKind {
    fn from_mode(mode: u32) -> Self {
        match mode & 0o170000 {
            0o100000 => Self::File,
            0o040000 => Self::Dir,
            0o120000 => Self::Symlink,
            _ => Self::Special,
        }
    }
}

/// One archive entry; its data is read from the [`CpioReader`] itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpioEntry {
    /// Normalised absolute path, e.g. `/home/admin/oceanbase/bin/observer`.
    pub path: String,
    pub mode: u32,
    pub kind: EntryKind,
    /// Bytes of data that follow (for a symlink: its target).
    pub size: u64,
}

/// Reads entries one after the other. Implements [`Read`] for the data of the
/// current entry.
#[derive(Debug)]
pub struct CpioReader<R> {
    inner: R,
    /// The header file list, needed to read stripped entries.
    files: Vec<FileInfo>,
    /// Data bytes of the current entry not yet read.
    remaining: u64,
    /// Padding after the current entry's data.
    pad: u64,
    done: bool,
}

impl<R: Read> CpioReader<R> {
    /// `files` is the header's file list (only stripped archives use it).
    pub fn new(inner: R, files: Vec<FileInfo>) -> Self {
        Self {
            inner,
            files,
            remaining: 0,
            pad: 0,
            done: false,
        }
    }

    /// Skips whatever is left of the current entry and reads the next header.
    /// `None` after the trailer.
    pub fn next_entry(&mut self) -> Result<Option<CpioEntry>, Error> {
        if self.done {
            return Ok(None);
        }
        self.skip_rest()?;
        self.remaining = 0;
        self.pad = 0;

        let mut magic = [0u8; 6];
        self.fill(&mut magic, "entry header")?;
        match &magic {
            b"070701" | b"070702" => self.newc_entry(),
            b"07070X" => self.stripped_entry(),
            _ => Err(Error::CorruptPayload(format!(
                "bad cpio magic {:?}",
                String::from_utf8_lossy(&magic)
            ))),
        }
    }

    fn newc_entry(&mut self) -> Result<Option<CpioEntry>, Error> {
        let mut fields = [0u8; NEWC_HEADER - 6];
        self.fill(&mut fields, "entry header")?;
        let field = |i: usize| hex_field(&fields[i * 8..i * 8 + 8]);
        let mode = field(1)? as u32;
        let size = field(6)?;
        let name_len = field(11)? as usize;
        if name_len == 0 || name_len > MAX_NAME {
            return Err(Error::CorruptPayload(format!(
                "entry name of {name_len} bytes"
            )));
        }
        let mut name = vec![0u8; name_len];
        self.fill(&mut name, "entry name")?;
        // Header and name are padded together to a multiple of four.
        let head_pad = pad4((NEWC_HEADER + name_len) as u64);
        self.skip(head_pad)?;
        if name.pop() != Some(0) {
            return Err(Error::CorruptPayload(
                "entry name is not NUL-terminated".into(),
            ));
        }
        let raw = String::from_utf8(name).map_err(|_| Error::UnsafePath("<not UTF-8>".into()))?;
        if raw == TRAILER {
            self.done = true;
            return Ok(None);
        }
        let path = normalise(&raw)?;
        self.remaining = size;
        self.pad = pad4(size);
        Ok(Some(CpioEntry {
            path,
            mode,
            kind: EntryKind::from_mode(mode),
            size,
        }))
    }

    fn stripped_entry(&mut self) -> Result<Option<CpioEntry>, Error> {
        let mut index = [0u8; STRIPPED_HEADER - 6];
        self.fill(&mut index, "entry header")?;
        self.skip(pad4(STRIPPED_HEADER as u64))?;
        let i = hex_field(&index)? as usize;
        let file = self.files.get(i).ok_or_else(|| {
            Error::CorruptPayload(format!("stripped entry {i} is not in the header"))
        })?;
        let path = header_path(&file.path)?;
        let mode = u32::from(file.mode);
        let kind = EntryKind::from_mode(mode);
        // Directories carry no data even though the header lists a size.
        let size = if kind == EntryKind::Dir { 0 } else { file.size };
        self.remaining = size;
        self.pad = pad4(size);
        Ok(Some(CpioEntry {
            path,
            mode,
            kind,
            size,
        }))
    }

    /// Reads past the rest of the current entry. Decompressors produce
    /// output fastest into large buffers, so this does not use `io::copy`'s
    /// 8 KiB one.
    fn skip_rest(&mut self) -> Result<(), Error> {
        let mut left = self.remaining + self.pad;
        if left == 0 {
            return Ok(());
        }
        let mut buf = vec![0u8; left.min(SKIP_BUFFER as u64) as usize];
        while left > 0 {
            let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            match self.inner.read(&mut buf[..want]) {
                Ok(0) => return Err(Error::CorruptPayload("archive ends inside an entry".into())),
                Ok(n) => left -= n as u64,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(corrupt(e)),
            }
        }
        Ok(())
    }

    fn fill(&mut self, buf: &mut [u8], what: &str) -> Result<(), Error> {
        self.inner.read_exact(buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => {
                Error::CorruptPayload(format!("archive ends inside an {what}"))
            }
            _ => corrupt(e),
        })
    }

    fn skip(&mut self, n: u64) -> Result<(), Error> {
        let mut pad = [0u8; 4];
        self.fill(&mut pad[..n as usize], "entry header")
    }
}

impl<R: Read> Read for CpioReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "archive ends inside an entry's data",
            ));
        }
        self.remaining -= n as u64;
        Ok(n)
    }
}

/// Reads the target of the symlink `entry` (the current entry of `archive`)
/// and checks that it resolves inside the extraction root. A target longer
/// than PATH_MAX is refused before it is read.
pub(crate) fn read_link<R: Read>(
    archive: &mut CpioReader<R>,
    entry: &CpioEntry,
) -> Result<String, Error> {
    if entry.size > MAX_NAME as u64 {
        return Err(Error::CorruptPayload(format!(
            "symlink {} has a target of {} bytes, more than {MAX_NAME}",
            entry.path, entry.size
        )));
    }
    let mut raw = Vec::with_capacity(entry.size as usize);
    archive.read_to_end(&mut raw).map_err(corrupt)?;
    let link = String::from_utf8(raw)
        .map_err(|_| Error::UnsafePath(format!("{} -> <not UTF-8>", entry.path)))?;
    if !link_stays_inside(&entry.path, &link) {
        return Err(Error::UnsafePath(format!("{} -> {link}", entry.path)));
    }
    Ok(link)
}

/// Whether a symlink at `entry` (normalised absolute path) pointing at
/// `target` resolves inside the extraction root.
pub(crate) fn link_stays_inside(entry: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') {
        return false;
    }
    // Directories below the root that the link sits in.
    let mut depth = entry.trim_start_matches('/').split('/').count() - 1;
    for part in target.split('/') {
        match part {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return false,
            },
            _ => depth += 1,
        }
    }
    true
}

/// Turns an I/O error from the decompressor into a payload error, keeping
/// errors we raised ourselves (the size bound) intact.
pub(crate) fn corrupt(e: io::Error) -> Error {
    match e.into_inner() {
        Some(inner) => match inner.downcast::<Error>() {
            Ok(ours) => *ours,
            Err(other) => Error::CorruptPayload(other.to_string()),
        },
        None => Error::CorruptPayload("unreadable compressed data".into()),
    }
}

fn hex_field(b: &[u8]) -> Result<u64, Error> {
    std::str::from_utf8(b)
        .ok()
        .and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| Error::CorruptPayload("non-hex cpio header field".into()))
}

fn pad4(n: u64) -> u64 {
    (4 - n % 4) % 4
}

/// Maps an archive name (`./home/admin/x`) to `/home/admin/x`, refusing
/// anything that could escape the extraction root.
fn normalise(raw: &str) -> Result<String, Error> {
    match raw.strip_prefix("./") {
        Some(rel) => components(rel, raw),
        None if raw.starts_with('/') => Err(Error::UnsafePath(raw.into())),
        None => components(raw, raw),
    }
}

/// The same for a header path (`/home/admin/x`), which stripped entries use.
fn header_path(raw: &str) -> Result<String, Error> {
    let rel = raw
        .strip_prefix('/')
        .ok_or_else(|| Error::UnsafePath(raw.into()))?;
    components(rel, raw)
}

fn components(rel: &str, raw: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(rel.len() + 1);
    for part in rel.split('/') {
        match part {
            "" | "." => continue,
            ".." => return Err(Error::UnsafePath(raw.into())),
            p => {
                out.push('/');
                out.push_str(p);
            }
        }
    }
    if out.is_empty() {
        return Err(Error::UnsafePath(raw.into()));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_rpm_names() {
        assert_eq!(normalise("./home/admin/a").unwrap(), "/home/admin/a");
        assert_eq!(normalise("home//admin/./a").unwrap(), "/home/admin/a");
        assert_eq!(header_path("/home/admin/a").unwrap(), "/home/admin/a");
    }

    #[test]
    fn symlinks_must_stay_inside() {
        assert!(link_stays_inside("/home/admin/lib/libx.so", "libx.so.1"));
        assert!(link_stays_inside("/home/admin/lib/libx.so", "../bin/x"));
        assert!(link_stays_inside("/home/admin/lib/libx.so", "./../../.."));
        assert!(!link_stays_inside("/home/admin/lib/libx.so", "/etc/passwd"));
        assert!(!link_stays_inside("/home/admin/lib/libx.so", "../../../.."));
        assert!(!link_stays_inside("/lib/x", "../../etc/passwd"));
        assert!(!link_stays_inside("/lib/x", ""));
    }

    #[test]
    fn refuses_escaping_names() {
        for bad in [
            "/etc/passwd",
            "./../etc/passwd",
            "a/../../b",
            "",
            "./",
            "..",
        ] {
            assert!(
                matches!(normalise(bad), Err(Error::UnsafePath(_))),
                "{bad:?} accepted"
            );
        }
        for bad in ["home/a", "/home/../../etc", "/"] {
            assert!(
                matches!(header_path(bad), Err(Error::UnsafePath(_))),
                "{bad:?} accepted"
            );
        }
    }
}
