//! Inputs that broke the readers, found while writing the `rpm_scan` fuzz
//! target's checks (`scripts/fuzz`; fuzz inputs that crash it land here
//! too), kept so they stay fixed; and the generator of its seed corpus.

use std::fs;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use obup_rpm::{
    Error, Limits, ScanOptions, UnpackOptions, read_preamble, scan_package, unpack_package,
};
use obup_test_support::rpm_fixture::{CpioSpec, sample_dep_yaml};
use obup_test_support::{Compression, OB_HOME, RpmSpec, cpio_newc};

fn entry(name: &str, mode: u32, data: &[u8]) -> CpioSpec {
    CpioSpec {
        name: name.into(),
        mode,
        data: data.to_vec(),
    }
}

/// A package whose payload is `entries`, with a header that lists them
/// (as plain files and directories: the archive's modes are what count).
fn package_of(entries: &[CpioSpec]) -> Vec<u8> {
    let mut spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7").compression(Compression::None);
    for e in entries {
        let path = e.name.trim_start_matches('.');
        if spec.files.iter().any(|f| f.path == path) {
            continue;
        }
        spec = match e.mode & 0o170000 {
            0o040000 => spec.dir(path),
            _ => spec.file(path, e.data.clone()),
        };
    }
    spec.build_with_cpio(&cpio_newc(entries))
}

/// The symlink check judged each link by its own entry path, so a second
/// link placed *through* the first resolved further up than it seemed:
/// `d/l -> ..` is `dest`, so `d/l/m -> ../..` is two levels above `dest`,
/// and `d/l/m/evil` was written there.
#[test]
fn symlink_chains_cannot_carry_writes_out_of_the_dest() {
    let package = package_of(&[
        entry("./d", 0o040755, b""),
        entry("./d/l", 0o120777, b".."),
        entry("./d/l/m", 0o120777, b"../.."),
        entry("./d/l/m/evil", 0o100644, b"escaped"),
    ]);
    let scratch = tempfile::tempdir().unwrap();
    let dest = scratch.path().join("a/b/dest");
    let e = unpack_package(Cursor::new(package), &dest, &UnpackOptions::default()).unwrap_err();
    assert!(
        matches!(e, Error::UnsafePath(ref p) if p.contains("/d/l/m")),
        "{e}"
    );
    for above in ["a/b/evil", "a/evil", "evil"] {
        assert!(!scratch.path().join(above).exists(), "wrote {above}");
    }
}

/// A directory entry over an existing symlink was "created" through it and
/// chmodded what the link pointed at.
#[test]
fn a_directory_entry_never_goes_through_a_symlink() {
    let package = package_of(&[entry("./l", 0o120777, b"."), entry("./l", 0o040700, b"")]);
    let scratch = tempfile::tempdir().unwrap();
    let e = unpack_package(
        Cursor::new(package),
        scratch.path(),
        &UnpackOptions::default(),
    )
    .unwrap_err();
    assert!(matches!(e, Error::UnsafePath(_)), "{e}");
}

/// The header names each directory once and points files at it by index,
/// so a small header could expand into a file list of gigabytes (one long
/// directory name times many files). The expansion is bounded by the
/// header limit now, and checked before anything is built.
#[test]
fn the_expanded_file_list_is_bounded_by_the_header_limit() {
    let dir = format!("/home/{}", "d".repeat(4000));
    let mut spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7").compression(Compression::None);
    for i in 0..500 {
        spec = spec.file(&format!("{dir}/{i}"), Vec::new());
    }
    let package = spec.build();
    let opts = ScanOptions {
        limits: Limits {
            header_bytes: 1 << 20,
            ..Limits::default()
        },
        ..ScanOptions::default()
    };
    // The header fits the limit; 500 copies of the directory do not.
    let header = read_preamble(&mut &package[..], &Limits::default()).unwrap();
    let len = header.header_raw.len();
    assert!(len < 1 << 20, "{len}");
    let e = scan_package(Cursor::new(package), &opts).unwrap_err();
    assert!(
        matches!(e, Error::HeaderTooLarge { section: "header's file list", size, .. } if size > 2_000_000),
        "{e}"
    );
}

fn seeds_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/rpm_scan")
}

/// Writes the `rpm_scan` seed corpus: small real packages in every
/// compression, one without MD5 and one with a hand-made payload holding
/// directories and symlinks. Run by `fuzz/make-seeds`.
#[test]
#[ignore = "writes fuzz/seeds; run by fuzz/make-seeds"]
fn write_fuzz_seeds() {
    let dep_yaml = format!("{OB_HOME}/etc/oceanbase_upgrade_dep.yml");
    let small = |c: Compression| {
        RpmSpec::new("oceanbase-ce", "4.3.5.0", "1.el7")
            .compression(c)
            .dir(&format!("{OB_HOME}/bin"))
            .file(&format!("{OB_HOME}/bin/observer"), b"#!/bin/sh\n".to_vec())
            .file(
                &dep_yaml,
                sample_dep_yaml("4.2.1.0", "4.3.5.0").into_bytes(),
            )
    };
    let mut seeds = vec![(
        "none-md5less",
        small(Compression::None).without_md5().build(),
    )];
    for (name, c) in [
        ("none", Compression::None),
        ("gzip", Compression::Gzip),
        ("zstd", Compression::Zstd),
        ("xz", Compression::Xz),
        ("bzip2", Compression::Bzip2),
    ] {
        seeds.push((name, small(c).build()));
    }
    seeds.push((
        "links",
        package_of(&[
            entry("./home/admin/lib", 0o040755, b""),
            entry("./home/admin/lib/libx.so.1", 0o100755, b"\x7fELF"),
            entry("./home/admin/lib/libx.so", 0o120777, b"libx.so.1"),
            entry("./home/admin/bin", 0o120777, b"../admin/lib"),
        ]),
    ));
    let dir = seeds_dir();
    fs::create_dir_all(&dir).unwrap();
    for (name, bytes) in seeds {
        assert!(bytes.len() < 8 << 10, "{name} is {} bytes", bytes.len());
        fs::write(dir.join(format!("{name}.rpm")), bytes).unwrap();
    }
}
