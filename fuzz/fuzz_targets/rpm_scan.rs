//! Arbitrary bytes as an uploaded package: the scan, the digest and the
//! extraction the package store and the hosts run on every upload. None may
//! panic, hold more than the limits allow, or (extraction) write anywhere
//! but below its directory.

#![no_main]

use std::fs;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use obup_rpm::{
    Limits, ScanOptions, UnpackOptions, digest_package, read_preamble, scan_package, unpack_package,
};

const DEP_YAML: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";
/// Small bounds, so that a bomb fails fast and within -rss_limit_mb.
const LIMITS: Limits = Limits {
    signature_bytes: 64 << 10,
    header_bytes: 1 << 20,
};
const MAX_UNPACKED: u64 = 4 << 20;
const CAPTURE_LIMIT: u64 = 64 << 10;
/// Directories between the scratch root and the extraction directory: an
/// entry that escapes by up to this many levels lands where we look.
const NESTING: usize = 6;

fuzz_target!(|data: &[u8]| {
    let opts = ScanOptions {
        limits: LIMITS,
        capture: vec![DEP_YAML.into()],
        capture_limit: CAPTURE_LIMIT,
        note: vec!["/home/admin/oceanbase/bin/observer".into()],
        max_unpacked: MAX_UNPACKED,
    };
    if let Ok(scan) = scan_package(data, &opts) {
        assert!(scan.unpacked <= MAX_UNPACKED);
        assert!(
            scan.captured
                .iter()
                .all(|(p, body)| p == DEP_YAML && body.len() as u64 <= CAPTURE_LIMIT)
        );
    }
    if let Ok((_, digests)) = digest_package(data, &LIMITS) {
        assert_eq!(digests.file_len, data.len() as u64);
    }
    // Extraction touches the file system: only worth it past the preamble.
    if read_preamble(&mut &data[..], &LIMITS).is_ok() {
        unpack_inside_a_jail(data);
    }
});

fn unpack_inside_a_jail(data: &[u8]) {
    let scratch = tempfile::tempdir().expect("a scratch dir");
    let mut dest = scratch.path().to_path_buf();
    for level in 0..NESTING {
        dest.push(level.to_string());
    }
    dest.push("dest");
    fs::create_dir_all(&dest).expect("the jail levels");
    let opts = UnpackOptions {
        limits: LIMITS,
        max_unpacked: MAX_UNPACKED,
    };
    let _ = unpack_package(data, &dest, &opts);
    // Every level above `dest` must still hold exactly the next level. (An
    // escape of more than NESTING levels would land outside the scratch dir,
    // where we cannot tell it from other files; any escape is a chain of
    // symlinks, and NESTING levels are enough for the fuzzer to find one.)
    let mut dir = scratch.path().to_path_buf();
    for level in (0..NESTING).map(|l| l.to_string()).chain(["dest".into()]) {
        assert_only_child(&dir, &level);
        dir.push(level);
    }
}

fn assert_only_child(dir: &Path, child: &str) {
    let names: Vec<_> = fs::read_dir(dir)
        .expect("the jail levels exist")
        .map(|e| e.expect("a readable entry").file_name())
        .collect();
    assert_eq!(
        names,
        [child],
        "an entry escaped the extraction dir into {}",
        dir.display()
    );
}
