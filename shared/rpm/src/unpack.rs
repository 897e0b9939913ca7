//! Extracting a package's payload into a directory, with the scan's checks:
//! no entry lands outside the directory (absolute paths, `..`, symlinks that
//! point out), no device files, and a bound on the bytes written.

use std::fs;
use std::io::{self, BufRead, Read, Write};
use std::path::Path;

use crate::Error;
use crate::cpio::{CpioReader, EntryKind, corrupt, read_link};
use crate::payload::decoder;
use crate::preamble::{Limits, read_preamble};
use crate::scan::Bounded;

/// Bounds of an extraction.
#[derive(Debug, Clone, Copy)]
pub struct UnpackOptions {
    pub limits: Limits,
    /// Most decompressed bytes (archive headers included) to process.
    pub max_unpacked: u64,
}

impl Default for UnpackOptions {
    fn default() -> Self {
        Self {
            limits: Limits::default(),
            max_unpacked: 16 << 30,
        }
    }
}

/// What an extraction wrote.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Unpacked {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Extracts the package read from `r` under `dest` (created if missing).
/// Entry `/home/admin/x` lands at `dest/home/admin/x`.
pub fn unpack_package(
    mut r: impl BufRead,
    dest: &Path,
    opts: &UnpackOptions,
) -> Result<Unpacked, Error> {
    let preamble = read_preamble(&mut r, &opts.limits)?;
    let (_, decoded) = decoder(r)?;
    let mut counted = Bounded {
        inner: decoded,
        read: 0,
        limit: opts.max_unpacked,
    };
    let mut archive = CpioReader::new(&mut counted, preamble.header.files);
    fs::create_dir_all(dest)?;
    let mut out = Unpacked::default();
    let mut buf = vec![0u8; 256 << 10];
    while let Some(entry) = archive.next_entry()? {
        // `entry.path` is normalised (absolute, no `.`/`..`), so joining its
        // components can only go below `dest`, unless one of them is a
        // symlink: `read_link` judges a link by its entry's path, not by
        // where earlier links really put it (`d/l -> ..` then
        // `d/l/m -> ../..` lands two levels above `dest`), so nothing is
        // ever created through a symlink. A directory entry must not be one
        // either: creating it would succeed and chmod what it points at.
        let rel = Path::new(entry.path.trim_start_matches('/'));
        let walked = match entry.kind {
            EntryKind::Dir => Some(rel),
            _ => rel.parent(),
        };
        if let Some(walked) = walked
            && passes_a_symlink(dest, walked)?
        {
            return Err(Error::UnsafePath(format!(
                "{} (through a symlink)",
                entry.path
            )));
        }
        let target = dest.join(rel);
        match entry.kind {
            EntryKind::Special => return Err(Error::SpecialFile(entry.path)),
            EntryKind::Dir => {
                fs::create_dir_all(&target)?;
                set_mode(&target, entry.mode | 0o700)?;
                out.dirs += 1;
            }
            EntryKind::Symlink => {
                // Bounded and checked as the scan does at upload.
                let link = read_link(&mut archive, &entry)?;
                make_parent(&target)?;
                let _ = fs::remove_file(&target);
                #[cfg(unix)]
                std::os::unix::fs::symlink(&link, &target)?;
                out.symlinks += 1;
            }
            EntryKind::File => {
                make_parent(&target)?;
                // Replace rather than write through: an existing symlink at
                // this path must not redirect the write.
                let _ = fs::remove_file(&target);
                let mut file = fs::File::create(&target)?;
                loop {
                    let n = archive.read(&mut buf).map_err(corrupt)?;
                    if n == 0 {
                        break;
                    }
                    file.write_all(&buf[..n])?;
                    out.bytes += n as u64;
                }
                set_mode(&target, entry.mode & 0o7777)?;
                out.files += 1;
            }
        }
    }
    Ok(out)
}

fn make_parent(path: &Path) -> io::Result<()> {
    match path.parent() {
        Some(p) => fs::create_dir_all(p),
        None => Ok(()),
    }
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(mode & 0o7777))
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) -> io::Result<()> {
    Ok(())
}

/// Whether `rel`, or any directory on the way to it, is a symlink under
/// `root`. Stops at the first that does not exist: the rest will be made.
fn passes_a_symlink(root: &Path, rel: &Path) -> io::Result<bool> {
    let mut at = root.to_path_buf();
    for c in rel.components() {
        at.push(c);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
            Err(e) => return Err(e),
        }
    }
    Ok(false)
}
