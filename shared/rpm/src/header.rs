//! The RPM header structure (used by both the signature and the main header)
//! and typed views of the tags obup needs.
//!
//! A header is a 16-byte intro (magic, reserved, entry count, store size), an
//! index of 16-byte entries `(tag, type, offset, count)` and a data store.
//! Values are decoded lazily from the store, so a header costs its own bytes
//! and nothing more.

use std::io::Read;

use crate::Error;
use crate::lead::read_full;

const HEADER_MAGIC: [u8; 4] = [0x8E, 0xAD, 0xE8, 0x01];
/// Intro bytes before the index.
pub(crate) const INTRO_SIZE: usize = 16;
const ENTRY_SIZE: usize = 16;
/// Most strings one array tag may hold: far above any real package's file
/// count (an OceanBase server package has under 2,000 files), and at most
/// a few MiB of `String`s to decode.
pub const MAX_STRINGS: usize = 1 << 18;

/// Tag numbers obup reads. Names follow rpm's `rpmtag.h`.
pub mod tags {
    /// Signature: header + compressed payload size (32-bit).
    pub const SIG_SIZE: u32 = 1000;
    /// Signature: MD5 of header + compressed payload.
    pub const SIG_MD5: u32 = 1004;
    /// Signature: header + compressed payload size (64-bit).
    pub const SIG_LONGSIZE: u32 = 270;
    /// Signature: hex SHA-256 of the main header.
    pub const SIG_SHA256: u32 = 273;

    pub const NAME: u32 = 1000;
    pub const VERSION: u32 = 1001;
    pub const RELEASE: u32 = 1002;
    /// Installed size of all files (32-bit): what obshell reports as `Size`.
    pub const SIZE: u32 = 1009;
    pub const ARCH: u32 = 1022;
    pub const OLDFILENAMES: u32 = 1027;
    pub const FILESIZES: u32 = 1028;
    pub const FILEMODES: u32 = 1030;
    pub const DIRINDEXES: u32 = 1116;
    pub const BASENAMES: u32 = 1117;
    pub const DIRNAMES: u32 = 1118;
    pub const PAYLOADFORMAT: u32 = 1124;
    pub const PAYLOADCOMPRESSOR: u32 = 1125;
    pub const LONGFILESIZES: u32 = 5008;
    pub const LONGSIZE: u32 = 5009;
    /// Hex digest(s) of the compressed payload.
    pub const PAYLOADDIGEST: u32 = 5092;
    /// Algorithm of PAYLOADDIGEST (8 = SHA-256).
    pub const PAYLOADDIGESTALGO: u32 = 5093;
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    tag: u32,
    kind: u32,
    offset: usize,
    count: usize,
}

/// A parsed header: its index plus its raw data store.
#[derive(Debug, Clone)]
pub struct Header {
    section: &'static str,
    entries: Vec<Entry>,
    store: Vec<u8>,
}

impl Header {
    /// Reads one header from `r`. `section` names it in errors; `limit` bounds
    /// index plus store so that a hostile intro cannot make us allocate
    /// gigabytes. Returns the header and its raw bytes (for hashing).
    pub(crate) fn read(
        r: &mut impl Read,
        section: &'static str,
        limit: u64,
    ) -> Result<(Self, Vec<u8>), Error> {
        let mut intro = [0u8; INTRO_SIZE];
        read_full(r, &mut intro, section)?;
        if intro[..4] != HEADER_MAGIC {
            return Err(Error::bad_header(section, "bad header magic"));
        }
        let count = be32(&intro[8..12]) as u64;
        let store_len = be32(&intro[12..16]) as u64;
        let body = count * ENTRY_SIZE as u64 + store_len;
        if body > limit {
            return Err(Error::HeaderTooLarge {
                section,
                size: body,
                limit,
            });
        }
        let mut raw = vec![0u8; INTRO_SIZE + body as usize];
        raw[..INTRO_SIZE].copy_from_slice(&intro);
        read_full(r, &mut raw[INTRO_SIZE..], section)?;
        let header = Self::parse(section, &raw, count as usize)?;
        Ok((header, raw))
    }

    fn parse(section: &'static str, raw: &[u8], count: usize) -> Result<Self, Error> {
        let index_end = INTRO_SIZE + count * ENTRY_SIZE;
        let store = raw[index_end..].to_vec();
        let mut entries = Vec::with_capacity(count);
        for chunk in raw[INTRO_SIZE..index_end].chunks_exact(ENTRY_SIZE) {
            let offset = be32(&chunk[8..12]) as usize;
            if offset > store.len() {
                return Err(Error::bad_header(section, "entry offset outside the store"));
            }
            entries.push(Entry {
                tag: be32(&chunk[0..4]),
                kind: be32(&chunk[4..8]),
                offset,
                count: be32(&chunk[12..16]) as usize,
            });
        }
        Ok(Self {
            section,
            entries,
            store,
        })
    }

    fn entry(&self, tag: u32) -> Option<&Entry> {
        self.entries.iter().find(|e| e.tag == tag)
    }

    /// Whether the header carries `tag`.
    pub fn has(&self, tag: u32) -> bool {
        self.entry(tag).is_some()
    }

    /// The first string of a STRING, STRING_ARRAY or I18NSTRING tag (the
    /// others are not decoded).
    pub fn string(&self, tag: u32) -> Result<Option<String>, Error> {
        Ok(self
            .decode_strings(tag, 1)?
            .and_then(|v| v.into_iter().next()))
    }

    /// All strings of a STRING, STRING_ARRAY or I18NSTRING tag.
    pub fn strings(&self, tag: u32) -> Result<Option<Vec<String>>, Error> {
        self.decode_strings(tag, usize::MAX)
    }

    /// At most `max` strings of a tag. An array of more than
    /// [`MAX_STRINGS`] is refused: every empty string costs one byte of
    /// header but a `String` (24 bytes) in memory, so a header within its
    /// byte limit could otherwise cost gigabytes.
    fn decode_strings(&self, tag: u32, max: usize) -> Result<Option<Vec<String>>, Error> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let n = match e.kind {
            6 => 1,
            8 | 9 => e.count,
            k => return Err(self.wrong_type(tag, k)),
        };
        if n > MAX_STRINGS {
            return Err(Error::bad_header(
                self.section,
                format!("tag {tag} has {n} strings; at most {MAX_STRINGS} are accepted"),
            ));
        }
        let n = n.min(max);
        let mut out = Vec::with_capacity(n.min(1 << 16));
        let mut pos = e.offset;
        for _ in 0..n {
            let rest = &self.store[pos.min(self.store.len())..];
            let end = rest.iter().position(|&b| b == 0).ok_or_else(|| {
                Error::bad_header(self.section, format!("unterminated string in tag {tag}"))
            })?;
            out.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            pos += end + 1;
        }
        Ok(Some(out))
    }

    /// Integers of an INT16, INT32 or INT64 tag, widened to u64.
    pub fn ints(&self, tag: u32) -> Result<Option<Vec<u64>>, Error> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        let width = match e.kind {
            3 => 2,
            4 => 4,
            5 => 8,
            k => return Err(self.wrong_type(tag, k)),
        };
        let bytes = self.slice(e, width)?;
        Ok(Some(
            bytes
                .chunks_exact(width)
                .map(|c| c.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
                .collect(),
        ))
    }

    /// The first integer of an integer tag.
    pub fn int(&self, tag: u32) -> Result<Option<u64>, Error> {
        Ok(self.ints(tag)?.and_then(|v| v.first().copied()))
    }

    /// Raw bytes of a BIN tag.
    pub fn bin(&self, tag: u32) -> Result<Option<&[u8]>, Error> {
        let Some(e) = self.entry(tag) else {
            return Ok(None);
        };
        match e.kind {
            7 => self.slice(e, 1).map(Some),
            k => Err(self.wrong_type(tag, k)),
        }
    }

    fn slice(&self, e: &Entry, width: usize) -> Result<&[u8], Error> {
        let len = e
            .count
            .checked_mul(width)
            .ok_or_else(|| Error::bad_header(self.section, "entry count overflows"))?;
        self.store
            .get(e.offset..e.offset.saturating_add(len))
            .ok_or_else(|| {
                Error::bad_header(self.section, format!("tag {} runs past the store", e.tag))
            })
    }

    fn wrong_type(&self, tag: u32, kind: u32) -> Error {
        Error::bad_header(
            self.section,
            format!("tag {tag} has unexpected type {kind}"),
        )
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// What the signature header says about the rest of the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signature {
    /// Header + compressed payload bytes (tag 1000, or 270 when larger).
    pub size: Option<u64>,
    /// MD5 of header + compressed payload (tag 1004).
    pub md5: Option<[u8; 16]>,
    /// Hex SHA-256 of the main header (tag 273).
    pub header_sha256: Option<String>,
}

impl Signature {
    pub(crate) fn from_header(h: &Header) -> Result<Self, Error> {
        let size = match h.int(tags::SIG_SIZE)? {
            Some(s) => Some(s),
            None => h.int(tags::SIG_LONGSIZE)?,
        };
        let md5 = match h.bin(tags::SIG_MD5)? {
            None => None,
            Some(b) => Some(
                b.try_into()
                    .map_err(|_| Error::bad_header("signature", "MD5 tag is not 16 bytes"))?,
            ),
        };
        Ok(Self {
            size,
            md5,
            header_sha256: h.string(tags::SIG_SHA256)?,
        })
    }
}

/// One file of the header's file list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileInfo {
    /// Absolute install path, e.g. `/home/admin/oceanbase/bin/observer`.
    pub path: String,
    /// `st_mode` bits (type and permissions).
    pub mode: u16,
    pub size: u64,
}

impl FileInfo {
    pub fn is_dir(&self) -> bool {
        self.mode & 0o170000 == 0o040000
    }
}

/// The main header's facts that obup uses.
#[derive(Debug, Clone, Default)]
pub struct PackageHeader {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    /// Tag 1009 (what obshell stores as `Size`).
    pub size: Option<u64>,
    /// Tag 5009, present when the installed size exceeds 4 GiB.
    pub long_size: Option<u64>,
    pub payload_format: Option<String>,
    pub payload_compressor: Option<String>,
    /// Hex digest of the compressed payload and its algorithm (8 = SHA-256).
    pub payload_digest: Option<(String, u64)>,
    pub files: Vec<FileInfo>,
}

impl PackageHeader {
    /// `limit` bounds the expanded file list as it bounds the header.
    pub(crate) fn from_header(h: &Header, limit: u64) -> Result<Self, Error> {
        let required = |tag, what| -> Result<String, Error> {
            h.string(tag)?
                .ok_or_else(|| Error::bad_header("header", format!("missing {what} tag")))
        };
        let payload_digest = match (
            h.string(tags::PAYLOADDIGEST)?,
            h.int(tags::PAYLOADDIGESTALGO)?,
        ) {
            (Some(d), Some(a)) => Some((d, a)),
            (Some(d), None) => Some((d, 8)),
            _ => None,
        };
        Ok(Self {
            name: required(tags::NAME, "name")?,
            version: required(tags::VERSION, "version")?,
            release: required(tags::RELEASE, "release")?,
            arch: h.string(tags::ARCH)?.unwrap_or_default(),
            size: h.int(tags::SIZE)?,
            long_size: h.int(tags::LONGSIZE)?,
            payload_format: h.string(tags::PAYLOADFORMAT)?,
            payload_compressor: h.string(tags::PAYLOADCOMPRESSOR)?,
            payload_digest,
            files: file_list(h, limit)?,
        })
    }

    /// Installed size, preferring the 64-bit tag.
    pub fn installed_size(&self) -> Option<u64> {
        self.long_size.or(self.size)
    }

    /// The file-list entry for `path`, if the header lists it.
    pub fn file(&self, path: &str) -> Option<&FileInfo> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Builds the file list from the compressed form (dirnames + basenames +
/// dirindexes) or, for very old packages, from OLDFILENAMES.
///
/// The compressed form shares each directory name among its files, so a
/// header of `limit` bytes could name one huge directory a million times:
/// the expanded paths are bounded by `limit` too, before any is built.
/// (Real packages expand to far less than their header, which also carries
/// digests, owners and flags for every file.)
fn file_list(h: &Header, limit: u64) -> Result<Vec<FileInfo>, Error> {
    let paths: Vec<String> = match h.strings(tags::BASENAMES)? {
        Some(base) => {
            let dirs = h.strings(tags::DIRNAMES)?.unwrap_or_default();
            let idx = h.ints(tags::DIRINDEXES)?.unwrap_or_default();
            if idx.len() != base.len() {
                return Err(Error::bad_header(
                    "header",
                    "dirindexes and basenames differ in length",
                ));
            }
            let dir_of = |i: u64| {
                dirs.get(i as usize)
                    .ok_or_else(|| Error::bad_header("header", "dir index out of range"))
            };
            let mut expanded = 0u64;
            for (b, &i) in base.iter().zip(&idx) {
                expanded += (dir_of(i)?.len() + b.len()) as u64;
            }
            if expanded > limit {
                return Err(Error::HeaderTooLarge {
                    section: "header's file list",
                    size: expanded,
                    limit,
                });
            }
            base.iter()
                .zip(&idx)
                .map(|(b, &i)| Ok(format!("{}{b}", dir_of(i)?)))
                .collect::<Result<_, Error>>()?
        }
        None => h.strings(tags::OLDFILENAMES)?.unwrap_or_default(),
    };
    let modes = h.ints(tags::FILEMODES)?.unwrap_or_default();
    let sizes = match h.ints(tags::LONGFILESIZES)? {
        Some(s) => s,
        None => h.ints(tags::FILESIZES)?.unwrap_or_default(),
    };
    Ok(paths
        .into_iter()
        .enumerate()
        .map(|(i, path)| FileInfo {
            path,
            mode: modes.get(i).copied().unwrap_or(0) as u16,
            size: sizes.get(i).copied().unwrap_or(0),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A header with one tag: `count` empty strings (one NUL each).
    fn empty_strings(tag: u32, kind: u32, count: usize) -> Vec<u8> {
        let mut raw = HEADER_MAGIC.to_vec();
        raw.extend_from_slice(&[0; 4]);
        raw.extend_from_slice(&1u32.to_be_bytes());
        raw.extend_from_slice(&(count as u32).to_be_bytes());
        for v in [tag, kind, 0, count as u32] {
            raw.extend_from_slice(&v.to_be_bytes());
        }
        raw.extend(std::iter::repeat_n(0u8, count));
        raw
    }

    #[test]
    fn a_string_array_costs_at_most_max_strings_strings() {
        const BASENAMES: u32 = 1117;
        let fits = empty_strings(BASENAMES, 8, MAX_STRINGS);
        let (h, _) = Header::read(&mut &fits[..], "header", 32 << 20).unwrap();
        assert_eq!(h.strings(BASENAMES).unwrap().unwrap().len(), MAX_STRINGS);

        // One byte of header each, 24 bytes of String each: refused.
        let bomb = empty_strings(BASENAMES, 8, MAX_STRINGS + 1);
        let (h, _) = Header::read(&mut &bomb[..], "header", 32 << 20).unwrap();
        let e = h.strings(BASENAMES).unwrap_err();
        assert!(e.to_string().contains("at most 262144"), "{e}");
    }

    #[test]
    fn string_decodes_only_the_first_of_an_array() {
        const NAME: u32 = 1000;
        let many = empty_strings(NAME, 8, 3);
        let (h, _) = Header::read(&mut &many[..], "header", 1 << 20).unwrap();
        assert_eq!(h.string(NAME).unwrap().as_deref(), Some(""));
    }
}
