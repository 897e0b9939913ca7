//! Real RPM files shaped like OceanBase's, for tests, benchmarks and the
//! demo packages of `obup dev --demo`.
//!
//! Packages are built by the `rpm` crate (rpm-rs), then re-signed: rpm-rs
//! writes no legacy MD5 signature (tag 1004), which obshell requires and real
//! OceanBase packages carry, so [`resign`] writes a signature header with size
//! (1000), MD5 (1004) and header SHA-256 (273), exactly as rpmbuild 4.x does.
//! Hostile packages swap in a hand-made cpio payload ([`RpmSpec::build_with_cpio`]).

use std::io::Write;

use md5::{Digest, Md5};
use obup_types::{Edition, Release};
use sha2::Sha256;

mod observer;

pub use observer::{observer_standin, standin_version};

/// Install root of every OceanBase package file.
pub const OB_HOME: &str = "/home/admin/oceanbase";

/// Payload compression of a fixture.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
    Xz,
    Bzip2,
}

impl Compression {
    /// The four compressors rpm uses in practice.
    pub const ALL: [Compression; 4] = [Self::Xz, Self::Zstd, Self::Gzip, Self::Bzip2];

    fn to_rpm(self) -> rpm::CompressionWithLevel {
        // Fast levels: fixtures are built in every test run.
        match self {
            Self::None => rpm::CompressionWithLevel::None,
            Self::Gzip => rpm::CompressionWithLevel::Gzip(1),
            Self::Zstd => rpm::CompressionWithLevel::Zstd(1),
            Self::Xz => rpm::CompressionWithLevel::Xz(0),
            Self::Bzip2 => rpm::CompressionWithLevel::Bzip2(1),
        }
    }

    /// Compresses `data` the way the payload of a fixture is compressed.
    pub fn compress(self, data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Self::None => out.extend_from_slice(data),
            Self::Gzip => {
                let mut e = flate2::write::GzEncoder::new(&mut out, flate2::Compression::fast());
                e.write_all(data).expect("writing to a Vec cannot fail");
                e.finish().expect("writing to a Vec cannot fail");
            }
            Self::Zstd => out = zstd::encode_all(data, 1).expect("zstd of a slice cannot fail"),
            Self::Xz => {
                let mut e = liblzma::write::XzEncoder::new(&mut out, 0);
                e.write_all(data).expect("writing to a Vec cannot fail");
                e.finish().expect("writing to a Vec cannot fail");
            }
            Self::Bzip2 => {
                let mut e = bzip2::write::BzEncoder::new(&mut out, bzip2::Compression::fast());
                e.write_all(data).expect("writing to a Vec cannot fail");
                e.finish().expect("writing to a Vec cannot fail");
            }
        }
        out
    }
}

/// One file of a fixture.
#[derive(Debug, Clone)]
pub struct FileSpec {
    pub path: String,
    pub contents: Vec<u8>,
    pub mode: u16,
    pub dir: bool,
}

/// A package to build.
#[derive(Debug, Clone)]
pub struct RpmSpec {
    pub name: String,
    pub version: String,
    pub release: String,
    pub arch: String,
    pub compression: Compression,
    pub files: Vec<FileSpec>,
    /// Write the legacy MD5 + size signature (true for real OceanBase RPMs).
    pub md5: bool,
}

/// Dep YAML with the structure of `tools/upgrade/oceanbase_upgrade_dep.yml`.
pub fn sample_dep_yaml(from: &str, to: &str) -> String {
    format!(
        "- version: {from}\n  can_be_upgraded_to:\n    - {to}\n- version: {to}\n  can_be_upgraded_to: []\n"
    )
}

/// The project's own upgrade scripts (never copies of OceanBase's): each is
/// `scripts/common.py` (upstream's command line and connection, the shared
/// waits) followed by the script's own steps. See `scripts/common.py`.
mod scripts {
    pub const COMMON: &str = include_str!("../scripts/common.py");
    pub const CHECKER: &str = include_str!("../scripts/upgrade_checker.py");
    pub const PRE: &str = include_str!("../scripts/upgrade_pre.py");
    pub const HEALTH_CHECKER: &str = include_str!("../scripts/upgrade_health_checker.py");
    pub const POST: &str = include_str!("../scripts/upgrade_post.py");
}

/// A package's upgrade script: its version first, as upstream's generated
/// scripts carry theirs, then the shared part and the script's steps.
fn upgrade_script(version: &str, body: &str) -> Vec<u8> {
    format!("VERSION = '{version}'\n{}{body}", scripts::COMMON).into_bytes()
}

/// Upgrade scripts an OceanBase server package carries in `etc/`.
pub const UPGRADE_SCRIPTS: [&str; 5] = [
    "upgrade_checker.py",
    "upgrade_pre.py",
    "upgrade_health_checker.py",
    "upgrade_post.py",
    "oceanbase_upgrade_dep.yml",
];

impl RpmSpec {
    /// An empty package (no files), xz-compressed, x86_64, MD5-signed.
    pub fn new(name: &str, version: &str, release: &str) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            release: release.into(),
            arch: "x86_64".into(),
            compression: Compression::Xz,
            files: Vec::new(),
            md5: true,
        }
    }

    /// An `oceanbase-ce` server package with observer, obshell, the upgrade
    /// scripts and a dep YAML, like the real one.
    pub fn oceanbase_ce(version: &str, release: &str) -> Self {
        Self::oceanbase_server(Edition::Ce, version, release)
    }

    /// The server package of `edition` (`oceanbase-ce`, `oceanbase`,
    /// `oceanbase-standalone`), laid out like the real one: a stand-in
    /// `bin/observer` that prints that edition's version block, obshell
    /// (Business packages carry none), the upgrade scripts and a dep YAML.
    pub fn oceanbase_server(edition: Edition, version: &str, release: &str) -> Self {
        let build = Release::parse(release).map_or_else(|| release.to_owned(), |r| r.build);
        let observer = observer_standin(&standin_version(edition, version, &build));
        let mut spec = Self::new(edition.package(), version, release)
            .file(&format!("{OB_HOME}/bin/observer"), observer);
        if edition.upgrades_agent() {
            spec = spec.file(
                &format!("{OB_HOME}/bin/obshell"),
                b"#!/bin/sh\necho obshell\n".to_vec(),
            );
        }
        spec.file(
            &format!("{OB_HOME}/etc/oceanbase_upgrade_dep.yml"),
            sample_dep_yaml("4.2.1.0", version).into_bytes(),
        )
        .file(
            &format!("{OB_HOME}/etc/upgrade_checker.py"),
            upgrade_script(version, scripts::CHECKER),
        )
        .file(
            &format!("{OB_HOME}/etc/upgrade_pre.py"),
            upgrade_script(version, scripts::PRE),
        )
        .file(
            &format!("{OB_HOME}/etc/upgrade_health_checker.py"),
            upgrade_script(version, scripts::HEALTH_CHECKER),
        )
        .file(
            &format!("{OB_HOME}/etc/upgrade_post.py"),
            upgrade_script(version, scripts::POST),
        )
    }

    /// The matching `oceanbase-ce-libs` package.
    pub fn oceanbase_ce_libs(version: &str, release: &str) -> Self {
        Self::new("oceanbase-ce-libs", version, release)
            .dir(&format!("{OB_HOME}/lib"))
            .file(&format!("{OB_HOME}/lib/libaio.so.1"), vec![0x7f; 4096])
    }

    pub fn file(mut self, path: &str, contents: Vec<u8>) -> Self {
        self.files.push(FileSpec {
            path: path.into(),
            contents,
            mode: 0o755,
            dir: false,
        });
        self
    }

    pub fn dir(mut self, path: &str) -> Self {
        self.files.push(FileSpec {
            path: path.into(),
            contents: Vec::new(),
            mode: 0o755,
            dir: true,
        });
        self
    }

    /// Removes the file at `path` (to make a package with a missing file).
    pub fn without(mut self, path: &str) -> Self {
        self.files.retain(|f| f.path != path);
        self
    }

    pub fn compression(mut self, c: Compression) -> Self {
        self.compression = c;
        self
    }

    pub fn arch(mut self, arch: &str) -> Self {
        self.arch = arch.into();
        self
    }

    pub fn without_md5(mut self) -> Self {
        self.md5 = false;
        self
    }

    /// The conventional file name, `name-version-release.arch.rpm`.
    pub fn file_name(&self) -> String {
        format!(
            "{}-{}-{}.{}.rpm",
            self.name, self.version, self.release, self.arch
        )
    }

    /// Builds the package.
    pub fn build(&self) -> Vec<u8> {
        let pkg = self.rpm_package();
        let mut out = Vec::new();
        pkg.write(&mut out).expect("writing to a Vec cannot fail");
        if self.md5 { resign(&out) } else { out }
    }

    /// Builds the package's header as usual but with `cpio` (an uncompressed
    /// cpio archive, e.g. from [`cpio_newc`]) as its payload, compressed with
    /// this spec's compressor. For hostile payloads.
    pub fn build_with_cpio(&self, cpio: &[u8]) -> Vec<u8> {
        let pkg = self.rpm_package();
        let mut out = Vec::new();
        pkg.metadata
            .write(&mut out)
            .expect("writing to a Vec cannot fail");
        out.extend_from_slice(&self.compression.compress(cpio));
        resign(&out)
    }

    fn rpm_package(&self) -> rpm::Package {
        let config = rpm::BuildConfig::v4()
            .compression(self.compression.to_rpm())
            .source_date(1_700_000_000u32);
        let mut b = rpm::PackageBuilder::new(
            &self.name,
            &self.version,
            "Apache-2.0",
            &self.arch,
            "obup test fixture",
        );
        b.using_config(config).release(self.release.clone());
        for f in &self.files {
            if f.dir {
                b.with_dir_entry(rpm::FileOptions::dir(f.path.clone()).permissions(f.mode))
                    .expect("fixture directory options are valid");
            } else {
                b.with_file_contents(
                    f.contents.clone(),
                    rpm::FileOptions::new(f.path.clone()).permissions(f.mode),
                )
                .expect("fixture file options are valid");
            }
        }
        b.build().expect("fixture packages are valid")
    }
}

/// Replaces the signature of a whole package with one that carries size
/// (1000), MD5 (1004) and header SHA-256 (273) over the existing header and
/// payload.
pub fn resign(package: &[u8]) -> Vec<u8> {
    let header_start = 96 + signature_len(&package[96..]);
    let rest = &package[header_start..];
    let header_len = header_len(rest);
    let md5: [u8; 16] = Md5::digest(rest).into();
    let header_sha = hex::encode(Sha256::digest(&rest[..header_len]));
    let size = u32::try_from(rest.len()).expect("fixtures stay under 4 GiB");
    let sig = signature_header(size, &md5, &header_sha);
    let mut out = Vec::with_capacity(package.len() + 64);
    out.extend_from_slice(&package[..96]);
    out.extend_from_slice(&sig);
    out.extend_from_slice(rest);
    out
}

/// Bytes of a signature header (with its padding) at the start of `b`.
fn signature_len(b: &[u8]) -> usize {
    let len = header_len(b);
    len + (8 - len % 8) % 8
}

/// Bytes of a header structure at the start of `b`.
fn header_len(b: &[u8]) -> usize {
    let be = |i: usize| u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]]) as usize;
    16 + be(8) * 16 + be(12)
}

/// A signature header with a region tag, as rpm expects, padded to 8 bytes.
fn signature_header(size: u32, md5: &[u8; 16], header_sha256: &str) -> Vec<u8> {
    // (tag, type, data) in ascending tag order after the region tag.
    let mut entries: Vec<(u32, u32, u32, Vec<u8>)> = vec![
        (273, 6, 1, [header_sha256.as_bytes(), &[0]].concat()),
        (1000, 4, 1, size.to_be_bytes().to_vec()),
        (1004, 7, 16, md5.to_vec()),
    ];
    let mut store = Vec::new();
    let mut index = Vec::new();
    for (tag, kind, count, data) in entries.drain(..) {
        if kind == 4 {
            while store.len() % 4 != 0 {
                store.push(0);
            }
        }
        index.push((tag, kind, store.len() as u32, count));
        store.extend_from_slice(&data);
    }
    // Region tag 62 (HEADERSIGNATURES) points at a trailer at the end of the
    // store that claims the whole index.
    let il = index.len() as i32 + 1;
    let trailer_offset = store.len() as u32;
    store.extend_from_slice(&62u32.to_be_bytes());
    store.extend_from_slice(&7u32.to_be_bytes());
    store.extend_from_slice(&(-(il * 16)).to_be_bytes());
    store.extend_from_slice(&16u32.to_be_bytes());
    index.insert(0, (62, 7, trailer_offset, 16));

    let mut out = vec![0x8E, 0xAD, 0xE8, 0x01, 0, 0, 0, 0];
    out.extend_from_slice(&(index.len() as u32).to_be_bytes());
    out.extend_from_slice(&(store.len() as u32).to_be_bytes());
    for (tag, kind, offset, count) in index {
        for v in [tag, kind, offset, count] {
            out.extend_from_slice(&v.to_be_bytes());
        }
    }
    out.extend_from_slice(&store);
    while out.len() % 8 != 0 {
        out.push(0);
    }
    out
}

/// One entry of a hand-made cpio archive.
#[derive(Debug, Clone)]
pub struct CpioSpec {
    /// Name as written, e.g. `./home/admin/x` or a hostile `../../etc/x`.
    pub name: String,
    pub mode: u32,
    pub data: Vec<u8>,
}

impl CpioSpec {
    pub fn file(name: &str, data: &[u8]) -> Self {
        Self {
            name: name.into(),
            mode: 0o100644,
            data: data.to_vec(),
        }
    }
}

/// A "newc" cpio archive of `entries` plus the trailer.
pub fn cpio_newc(entries: &[CpioSpec]) -> Vec<u8> {
    let mut out = Vec::new();
    let trailer = CpioSpec {
        name: "TRAILER!!!".into(),
        mode: 0,
        data: Vec::new(),
    };
    for (ino, e) in entries.iter().chain(std::iter::once(&trailer)).enumerate() {
        let name_len = e.name.len() + 1;
        write!(
            out,
            "070701{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}{:08x}",
            ino + 1,
            e.mode,
            0,
            0,
            1,
            0,
            e.data.len(),
            0,
            0,
            0,
            0,
            name_len,
            0
        )
        .expect("writing to a Vec cannot fail");
        out.extend_from_slice(e.name.as_bytes());
        out.push(0);
        while out.len() % 4 != 0 {
            out.push(0);
        }
        out.extend_from_slice(&e.data);
        while out.len() % 4 != 0 {
            out.push(0);
        }
    }
    out
}
