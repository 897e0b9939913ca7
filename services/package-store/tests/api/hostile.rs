//! Hand-made hostile packages: real fixtures with their bytes patched where
//! a builder would never put them (header intros, index entries, payloads).

use obup_test_support::rpm_fixture::resign;
use obup_test_support::{CpioSpec, OB_HOME, RpmSpec, cpio_newc};

pub const DEP_YAML: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
pub const OBSERVER: &str = "/home/admin/oceanbase/bin/observer";

/// Header tags the patches aim at (rpm's `rpmtag.h`).
pub const NAME: u32 = 1000;
pub const DIRINDEXES: u32 = 1116;
pub const SIG_MD5: u32 = 1004;

/// Where the parts of a package start.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    /// The signature header (right after the 96-byte lead).
    pub sig: usize,
    /// The main header (after the signature and its padding).
    pub header: usize,
    /// The compressed payload.
    pub payload: usize,
}

fn be32(bytes: &[u8], at: usize) -> usize {
    u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize
}

fn set_be32(bytes: &mut [u8], at: usize, v: u32) {
    bytes[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

/// Bytes of the header structure (intro, index, store) starting at `at`.
fn header_len(bytes: &[u8], at: usize) -> usize {
    16 + be32(bytes, at + 8) * 16 + be32(bytes, at + 12)
}

pub fn layout(bytes: &[u8]) -> Layout {
    let sig = 96;
    let sig_len = header_len(bytes, sig);
    let header = sig + sig_len + (8 - sig_len % 8) % 8;
    Layout {
        sig,
        header,
        payload: header + header_len(bytes, header),
    }
}

/// Offset of the index entry of `tag` in the header starting at `at`.
fn entry(bytes: &[u8], at: usize, tag: u32) -> usize {
    (0..be32(bytes, at + 8))
        .map(|i| at + 16 + i * 16)
        .find(|&e| be32(bytes, e) == tag as usize)
        .unwrap_or_else(|| panic!("no tag {tag} in the header at {at}"))
}

/// Which header of a package to patch.
#[derive(Debug, Clone, Copy)]
pub enum Section {
    Signature,
    Main,
}

fn start(bytes: &[u8], section: Section) -> usize {
    match section {
        Section::Signature => layout(bytes).sig,
        Section::Main => layout(bytes).header,
    }
}

/// `bytes` with the intro's index count (`field` 0) or store length
/// (`field` 1) of a header replaced.
pub fn with_intro(mut bytes: Vec<u8>, section: Section, field: usize, v: u32) -> Vec<u8> {
    let at = start(&bytes, section) + 8 + field * 4;
    set_be32(&mut bytes, at, v);
    bytes
}

/// Which field of an index entry to patch.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    Type = 1,
    Offset = 2,
    Count = 3,
}

/// `bytes` with one field of `tag`'s index entry replaced.
pub fn with_entry(mut bytes: Vec<u8>, section: Section, tag: u32, field: Field, v: u32) -> Vec<u8> {
    let at = entry(&bytes, start(&bytes, section), tag) + field as usize * 4;
    set_be32(&mut bytes, at, v);
    bytes
}

/// A package whose NAME string runs into the end of the header store
/// without a terminating NUL.
pub fn unterminated_name(bytes: Vec<u8>) -> Vec<u8> {
    let l = layout(&bytes);
    let store_len = be32(&bytes, l.header + 12);
    let mut bytes = with_entry(
        bytes,
        Section::Main,
        NAME,
        Field::Offset,
        store_len as u32 - 1,
    );
    bytes[l.payload - 1] = b'x';
    bytes
}

/// `spec`'s header with `payload` (compressed bytes) instead of its own,
/// re-signed so that size and MD5 agree with it.
pub fn with_payload(spec: &RpmSpec, payload: &[u8]) -> Vec<u8> {
    let bytes = spec.build();
    let mut out = bytes[..layout(&bytes).payload].to_vec();
    out.extend_from_slice(payload);
    resign(&out)
}

/// A package whose signature has neither MD5 nor a header digest.
pub fn no_digest(spec: RpmSpec) -> Vec<u8> {
    let bytes = spec.without_md5().build();
    let l = layout(&bytes);
    let mut out = bytes[..96].to_vec();
    // An empty signature header: 16 bytes, already 8-aligned.
    out.extend_from_slice(&[0x8E, 0xAD, 0xE8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&bytes[l.header..]);
    out
}

/// The cpio entries `spec` itself would carry, as `./path` names.
pub fn entries_of(spec: &RpmSpec) -> Vec<CpioSpec> {
    spec.files
        .iter()
        .filter(|f| !f.dir)
        .map(|f| CpioSpec::file(&format!(".{}", f.path), &f.contents))
        .collect()
}

/// A cpio entry of any kind (`mode` includes the file type bits).
pub fn cpio_entry(name: &str, mode: u32, data: &[u8]) -> CpioSpec {
    CpioSpec {
        name: name.into(),
        mode,
        data: data.to_vec(),
    }
}

/// A cpio archive of `entries` whose first entry claims a name of 4 GiB.
pub fn cpio_with_huge_name(entries: &[CpioSpec]) -> Vec<u8> {
    let mut cpio = cpio_newc(entries);
    // newc header: magic (6), then 13 eight-digit hex fields; namesize is
    // field 11.
    cpio[6 + 11 * 8..6 + 12 * 8].copy_from_slice(b"FFFFFFFF");
    cpio
}

/// A cpio archive of `entries` that stops before its trailer entry.
pub fn cpio_without_trailer(entries: &[CpioSpec]) -> Vec<u8> {
    let cpio = cpio_newc(entries);
    let trailer = cpio
        .windows(10)
        .rposition(|w| w == b"TRAILER!!!")
        .expect("cpio_newc writes a trailer");
    // The trailer's header (110 bytes) precedes its name.
    cpio[..trailer - 110].to_vec()
}

/// `data` that is not UTF-8 (a Latin-1 `é` in a YAML comment).
pub fn latin1_yaml() -> Vec<u8> {
    let mut yaml = b"# r\xe9sum\xe9\n".to_vec();
    yaml.extend_from_slice(
        obup_test_support::rpm_fixture::sample_dep_yaml("4.2.1.0", "4.3.5.0").as_bytes(),
    );
    yaml
}

/// `OB_HOME`-relative archive name.
pub fn ob(rel: &str) -> String {
    format!("./{}/{rel}", OB_HOME.trim_start_matches('/'))
}
