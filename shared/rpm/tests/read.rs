//! The RPM readers against real packages (built by the `rpm` crate) and
//! hand-made hostile ones.

use std::io::Cursor;

use md5::{Digest, Md5};
use obup_rpm::{
    Compressor, Error, PayloadDigests, ScanOptions, digest_package, scan_package, unpack_package,
};
use obup_test_support::rpm_fixture::{CpioSpec, resign};
use obup_test_support::{Compression, OB_HOME, RpmSpec, cpio_newc};

const DEP_YAML: &str = "/home/admin/oceanbase/etc/oceanbase_upgrade_dep.yml";

fn options() -> ScanOptions {
    ScanOptions {
        capture: vec![DEP_YAML.into()],
        note: vec![
            format!("{OB_HOME}/etc/upgrade_pre.py"),
            format!("{OB_HOME}/etc/missing.py"),
        ],
        ..ScanOptions::default()
    }
}

fn scan(bytes: &[u8]) -> Result<obup_rpm::Scan, Error> {
    scan_package(Cursor::new(bytes.to_vec()), &options())
}

#[test]
fn reads_every_compressor_in_one_pass() {
    for c in Compression::ALL.into_iter().chain([Compression::None]) {
        let spec = RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").compression(c);
        let bytes = spec.build();
        let s = scan(&bytes).unwrap_or_else(|e| panic!("{c:?}: {e}"));
        let expected = match c {
            Compression::None => Compressor::None,
            Compression::Gzip => Compressor::Gzip,
            Compression::Zstd => Compressor::Zstd,
            Compression::Xz => Compressor::Xz,
            Compression::Bzip2 => Compressor::Bzip2,
        };
        assert_eq!(s.compressor, expected);
        let h = &s.preamble.header;
        assert_eq!(
            (h.name.as_str(), h.version.as_str()),
            ("oceanbase-ce", "4.3.5.0")
        );
        assert_eq!(h.release, "100000202024123117.el7");
        assert_eq!(h.arch, "x86_64");
        let yaml = &s
            .captured
            .iter()
            .find(|(p, _)| p == DEP_YAML)
            .expect("dep yaml captured")
            .1;
        assert!(String::from_utf8_lossy(yaml).contains("can_be_upgraded_to"));
        assert_eq!(s.noted, [format!("{OB_HOME}/etc/upgrade_pre.py")]);
        assert!(h.file(&format!("{OB_HOME}/bin/observer")).is_some());
        let total: u64 = spec.files.iter().map(|f| f.contents.len() as u64).sum();
        assert_eq!(h.size, Some(total), "tag 1009 is the sum of file sizes");

        let (pre, d) = digest_package(Cursor::new(bytes.clone()), &Default::default()).unwrap();
        assert_eq!(d.file_len, bytes.len() as u64);
        let header_start = pre.header_offset as usize;
        assert_eq!(d.header_payload_len, (bytes.len() - header_start) as u64);
        assert_eq!(pre.signature.size, Some(d.header_payload_len));
        let md5: [u8; 16] = Md5::digest(&bytes[header_start..]).into();
        assert_eq!(d.md5, md5);
        assert_eq!(pre.signature.md5, Some(md5));
        assert!(d.payload_sha256.is_none(), "MD5 present: no third hash");
    }
}

#[test]
fn digests_payload_when_md5_is_absent() {
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
        .without_md5()
        .build();
    let (pre, d) = digest_package(Cursor::new(bytes), &Default::default()).unwrap();
    assert!(pre.signature.md5.is_none());
    let (expected, algo) = pre
        .header
        .payload_digest
        .clone()
        .expect("rpm-rs writes a payload digest");
    assert_eq!(algo, 8);
    assert_eq!(hex::encode(d.payload_sha256.unwrap()), expected);
}

/// A resumed upload continues the signed digests from a state saved at any
/// byte of the payload (the end of a staged part), not from the start.
#[test]
fn payload_digests_continue_from_a_state_saved_at_any_byte() {
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build();
    let (pre, whole) = digest_package(Cursor::new(bytes.clone()), &Default::default()).unwrap();
    let start = (pre.header_offset as usize) + pre.header_raw.len();
    for cut in [
        start,
        start + 1,
        start + 63,
        start + 64,
        (start + bytes.len()) / 2,
        bytes.len(),
    ] {
        let mut d = PayloadDigests::after(&pre);
        d.update(&bytes[start..cut]);
        let saved = d.save().expect("MD5 signed: the state can be saved");
        let mut r = PayloadDigests::restore(&pre, &saved).expect("restores");
        assert_eq!(r.file_len(), cut as u64);
        r.update(&bytes[cut..]);
        let signed = r.finish();
        assert_eq!(signed.md5, whole.md5, "cut at {cut}");
        assert_eq!(signed.header_payload_len, whole.header_payload_len);
        assert_eq!(signed.file_len, whole.file_len);
        assert_eq!(signed.header_sha256, whole.header_sha256);
    }
    let saved = PayloadDigests::after(&pre).save().unwrap();
    assert!(
        PayloadDigests::restore(&pre, &saved[1..]).is_none(),
        "a short state"
    );

    // Without MD5 the payload has a SHA-256 of its own: nothing to save.
    let unsigned = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
        .without_md5()
        .build();
    let (pre, _) = digest_package(Cursor::new(unsigned), &Default::default()).unwrap();
    assert!(PayloadDigests::after(&pre).save().is_none());
    assert!(PayloadDigests::restore(&pre, &saved).is_none());
}

#[test]
fn refuses_what_is_not_an_rpm() {
    assert!(matches!(scan(b""), Err(Error::NotRpm(_))));
    assert!(matches!(scan(&[0u8; 200]), Err(Error::NotRpm(_))));
    let text = "this is a text file, not a package".repeat(10);
    assert!(matches!(scan(text.as_bytes()), Err(Error::NotRpm(_))));
}

#[test]
fn truncation_is_reported_where_it_happens() {
    let bytes = RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build();
    assert!(matches!(scan(&bytes[..50]), Err(Error::Truncated("lead"))));
    assert!(matches!(
        scan(&bytes[..120]),
        Err(Error::Truncated("signature"))
    ));
    let (pre, _) = digest_package(Cursor::new(bytes.clone()), &Default::default()).unwrap();
    let cut = pre.header_offset as usize + 40;
    assert!(matches!(
        scan(&bytes[..cut]),
        Err(Error::Truncated("header"))
    ));
    // Cut inside the payload: the scan may even succeed (the cpio trailer
    // can precede the cut), but the digest reader counts fewer bytes than
    // the signature promises, which is how the store tells truncation.
    let short = &bytes[..bytes.len() - 20];
    let (pre, d) = digest_package(Cursor::new(short.to_vec()), &Default::default()).unwrap();
    assert_eq!(pre.signature.size, Some(d.header_payload_len + 20));
}

#[test]
fn corrupt_payload_is_detected() {
    for c in Compression::ALL {
        let body = [7u8; 100_000];
        let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7")
            .compression(c)
            .file("/home/admin/oceanbase/bin/obshell", body.to_vec());
        let mut payload = c.compress(&cpio_newc(&[CpioSpec::file(
            "./home/admin/oceanbase/bin/obshell",
            &body,
        )]));
        let mid = payload.len() / 2;
        for b in &mut payload[mid..mid + 16] {
            *b ^= 0x5a;
        }
        // A package that is consistent (its MD5 covers the damage) but whose
        // payload does not decode.
        let bytes = spec_with_raw_payload(&spec, &payload);
        let e = scan(&bytes).unwrap_err();
        assert!(matches!(e, Error::CorruptPayload(_)), "{c:?}: {e}");
    }
}

#[test]
fn unsafe_paths_and_special_files_are_refused() {
    let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7");
    for name in [
        "/etc/passwd",
        "./../../etc/cron.d/x",
        "./home/../../root/.ssh/authorized_keys",
    ] {
        let bytes = spec.build_with_cpio(&cpio_newc(&[CpioSpec::file(name, b"x")]));
        assert!(
            matches!(scan(&bytes), Err(Error::UnsafePath(_))),
            "{name} accepted"
        );
    }
    let device = CpioSpec {
        name: "./dev/sda".into(),
        mode: 0o060600,
        data: vec![],
    };
    let bytes = spec.build_with_cpio(&cpio_newc(&[device]));
    assert!(matches!(scan(&bytes), Err(Error::SpecialFile(_))));
}

#[test]
fn symlink_targets_are_bounded_and_must_stay_inside() {
    // The header declares 2 MiB, so a 1 MiB target passes the size bound.
    let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/bin/obshell", vec![0; 2 << 20]);
    // (case, target, whether the error is a corrupt payload or an unsafe path)
    let cases = [
        ("1 MiB target", b"a/".repeat(1 << 19), true),
        ("escaping target", b"../../../../../etc".to_vec(), false),
        ("absolute target", b"/etc".to_vec(), false),
    ];
    let expected = |corrupt: bool, e: &Error| match e {
        Error::CorruptPayload(_) => corrupt,
        Error::UnsafePath(_) => !corrupt,
        _ => false,
    };
    for (case, target, corrupt) in cases {
        let bytes = spec.build_with_cpio(&cpio_newc(&[CpioSpec {
            name: "./home/admin/oceanbase/bin/obshell".into(),
            mode: 0o120777,
            data: target,
        }]));
        // Refused at upload, and by the unpacker alike.
        let e = scan(&bytes).unwrap_err();
        assert!(expected(corrupt, &e), "scan, {case}: {e}");
        let dest = tempfile::tempdir().unwrap();
        let e = unpack_package(Cursor::new(bytes), dest.path(), &Default::default()).unwrap_err();
        assert!(expected(corrupt, &e), "unpack, {case}: {e}");
    }
}

#[test]
fn decompression_bombs_are_bounded() {
    // 64 MiB of zeros compress to a few KiB; the header declares none of it.
    let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7").compression(Compression::Zstd);
    let bomb = cpio_newc(&[CpioSpec::file(
        "./home/admin/oceanbase/bin/obshell",
        &vec![0u8; 64 << 20],
    )]);
    let bytes = spec.build_with_cpio(&bomb);
    assert!(bytes.len() < 1 << 20, "the bomb is small: {}", bytes.len());
    let e = scan(&bytes).unwrap_err();
    assert!(
        matches!(e, Error::PayloadLargerThanDeclared { declared: 0 }),
        "{e}"
    );

    // With a header that declares it, the absolute bound still holds.
    let declared = RpmSpec::new("obshell", "4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/bin/obshell", vec![0u8; 64 << 20]);
    let opts = ScanOptions {
        max_unpacked: 16 << 20,
        ..options()
    };
    let e = scan_package(Cursor::new(declared.build()), &opts).unwrap_err();
    assert!(
        matches!(e, Error::PayloadTooLarge { limit } if limit == 16 << 20),
        "{e}"
    );
}

#[test]
fn oversized_headers_are_refused_before_allocation() {
    let mut bytes = RpmSpec::new("obshell", "4.3.5.0", "1.el7").build();
    // Signature intro: claim 2^31 bytes of store.
    bytes[96 + 12..96 + 16].copy_from_slice(&0x8000_0000u32.to_be_bytes());
    assert!(matches!(
        scan(&bytes),
        Err(Error::HeaderTooLarge {
            section: "signature",
            ..
        })
    ));
}

#[test]
fn captured_files_have_a_size_bound() {
    let spec = RpmSpec::new("oceanbase-ce", "4.3.5.0", "1.el7").file(DEP_YAML, vec![b'#'; 2 << 20]);
    assert!(matches!(
        scan(&spec.build()),
        Err(Error::CapturedFileTooLarge { .. })
    ));
}

/// `spec`'s header with `payload` (already compressed) as its payload.
fn spec_with_raw_payload(spec: &RpmSpec, payload: &[u8]) -> Vec<u8> {
    let full = spec.build();
    let (pre, _) = digest_package(Cursor::new(full.clone()), &Default::default()).unwrap();
    let header_end = pre.header_offset as usize + pre.header_raw.len();
    let mut out = full[..header_end].to_vec();
    out.extend_from_slice(payload);
    resign(&out)
}
