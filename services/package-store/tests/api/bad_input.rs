//! Every bad input gets its own error code, and nothing is stored.

use obup_test_support::{Compression, CpioSpec, OB_HOME, RpmSpec, cpio_newc};
use tonic::Code;

use crate::helpers::{Db, Objects, TestApp, code, data_message, sha256_hex, start, start_message};
use crate::hostile::{
    DEP_YAML, DIRINDEXES, Field, NAME, OBSERVER, SIG_MD5, Section, cpio_entry, cpio_with_huge_name,
    cpio_without_trailer, entries_of, latin1_yaml, no_digest, ob, unterminated_name, with_entry,
    with_intro, with_payload,
};

fn ce() -> RpmSpec {
    RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
}

/// The bound on decompressed bytes the table runs with, so that a real
/// decompression bomb is cheap to build.
const MAX_UNPACKED: u64 = 8 << 20;

/// (case, bytes, expected code)
fn bad_packages() -> Vec<(&'static str, Vec<u8>, &'static str)> {
    let good = ce().build();
    let mut cases = vec![
        (
            "not an RPM",
            b"#!/bin/sh\necho hello\n".repeat(20),
            "Package.NotRpm",
        ),
        (
            "RPM format 2 lead",
            lead_version(&good, 2),
            "Package.NotRpm",
        ),
        (
            "truncated in the payload",
            good[..good.len() - 100].to_vec(),
            "Package.Truncated",
        ),
        (
            "truncated in the header",
            good[..400].to_vec(),
            "Package.Truncated",
        ),
        (
            "no payload at all",
            with_payload(&ce(), &[]),
            "Package.Truncated",
        ),
        (
            "unknown name",
            RpmSpec::new("mysql-server", "8.0.1", "1.el7").build(),
            "OB.Package.Name.NotSupport",
        ),
        (
            "release without a dot",
            RpmSpec::new("obshell", "4.3.5.0", "100000202024123117")
                .file(&format!("{OB_HOME}/bin/obshell"), b"x".to_vec())
                .build(),
            "Package.ReleaseFormat.Invalid",
        ),
        (
            "too old",
            RpmSpec::oceanbase_ce("4.1.0.0", "1.el7").build(),
            "Agent.OBVersionNotSupported",
        ),
        (
            "missing observer",
            ce().without(OBSERVER).build(),
            "OB.Package.MissingFile",
        ),
        (
            "libs without lib dir",
            RpmSpec::new("oceanbase-ce-libs", "4.3.5.0", "1.el7").build(),
            "OB.Package.MissingFile",
        ),
        // ---- hostile headers: refused by the limits, before allocating ----
        (
            "header index of 2^31 entries",
            with_intro(good.clone(), Section::Main, 0, 1 << 31),
            "Package.Header.TooLarge",
        ),
        (
            "header store of 4 GiB",
            with_intro(good.clone(), Section::Main, 1, u32::MAX),
            "Package.Header.TooLarge",
        ),
        (
            "signature index of 2^31 entries",
            with_intro(good.clone(), Section::Signature, 0, 1 << 31),
            "Package.Header.TooLarge",
        ),
        // ---- malformed headers ----
        (
            "tag offset outside the data store",
            with_entry(
                good.clone(),
                Section::Main,
                NAME,
                Field::Offset,
                0x7fff_ffff,
            ),
            "Package.Header.Invalid",
        ),
        (
            "tag count running past the data store",
            with_entry(
                good.clone(),
                Section::Main,
                DIRINDEXES,
                Field::Count,
                0x7fff_ffff,
            ),
            "Package.Header.Invalid",
        ),
        (
            "string tag without its NUL",
            unterminated_name(good.clone()),
            "Package.Header.Invalid",
        ),
        (
            "name tag of integer type",
            with_entry(good.clone(), Section::Main, NAME, Field::Type, 4),
            "Package.Header.Invalid",
        ),
        (
            "MD5 tag of 15 bytes",
            with_entry(good.clone(), Section::Signature, SIG_MD5, Field::Count, 15),
            "Package.Header.Invalid",
        ),
        // ---- hostile payloads ----
        (
            "absolute path in payload",
            ce().build_with_cpio(&cpio_newc(&[CpioSpec::file(
                "/etc/cron.d/evil",
                b"* * * * * root sh",
            )])),
            "Package.Payload.UnsafePath",
        ),
        (
            "dot-dot path in payload",
            ce().build_with_cpio(&cpio_newc(&[CpioSpec::file(
                "./home/../../etc/passwd",
                b"x",
            )])),
            "Package.Payload.UnsafePath",
        ),
        (
            "symlink pointing out of the package",
            ce().build_with_cpio(&cpio_newc(&[cpio_entry(
                &ob("bin/observer"),
                0o120777,
                b"../../../../../etc/passwd",
            )])),
            "Package.Payload.UnsafePath",
        ),
        (
            "symlink to an absolute path",
            ce().build_with_cpio(&cpio_newc(&[cpio_entry(
                &ob("bin/observer"),
                0o120777,
                b"/etc/cron.d",
            )])),
            "Package.Payload.UnsafePath",
        ),
        (
            "symlink target of 1 MiB",
            ce().without(OBSERVER)
                .file(OBSERVER, vec![0; 2 << 20])
                .build_with_cpio(&cpio_newc(&[cpio_entry(
                    &ob("bin/observer"),
                    0o120777,
                    &b"a/".repeat(1 << 19),
                )])),
            "Package.Payload.Corrupted",
        ),
        (
            "device file in payload",
            ce().build_with_cpio(&cpio_newc(&[cpio_entry(
                &ob("bin/observer"),
                0o020644,
                b"",
            )])),
            "Package.Payload.SpecialFile",
        ),
        (
            "cpio name length of 4 GiB",
            ce().build_with_cpio(&cpio_with_huge_name(&entries_of(&ce()))),
            "Package.Payload.Corrupted",
        ),
        (
            "payload ends before the cpio trailer",
            ce().build_with_cpio(&cpio_without_trailer(&entries_of(&ce()))),
            "Package.Payload.Corrupted",
        ),
        (
            "payload that is not a cpio archive",
            ce().build_with_cpio(&b"PK\x03\x04 a zip file, not a cpio archive".repeat(8)),
            "Package.Payload.Corrupted",
        ),
        (
            "entry larger than the header declares",
            ce().compression(Compression::Zstd)
                .build_with_cpio(&cpio_newc(&[CpioSpec::file(
                    "./home/admin/oceanbase/bin/x",
                    &vec![0; 48 << 20],
                )])),
            "Package.Payload.TooLarge",
        ),
        (
            "bzip2 bomb past the unpack bound",
            ce().compression(Compression::Bzip2)
                .without(OBSERVER)
                .file(OBSERVER, vec![0; MAX_UNPACKED as usize + (1 << 20)])
                .build(),
            "Package.Payload.TooLarge",
        ),
        (
            "dep YAML over the capture limit",
            ce().without(DEP_YAML)
                .file(DEP_YAML, vec![b'#'; (1 << 20) + 1])
                .build(),
            "Package.DepYaml.TooLarge",
        ),
        (
            "dep YAML not UTF-8",
            ce().without(DEP_YAML).file(DEP_YAML, latin1_yaml()).build(),
            "Package.DepYaml.NotUtf8",
        ),
        (
            "payload file the header does not list",
            ce().build_with_cpio(&cpio_newc(&[CpioSpec::file(&ob("bin/evil"), b"x")])),
            "Package.FileList.Mismatch",
        ),
        (
            "header file the payload does not hold",
            ce().build_with_cpio(&cpio_newc(&entries_of(&ce().without(OBSERVER)))),
            "Package.FileList.Mismatch",
        ),
        // ---- integrity ----
        (
            "no MD5 and no payload digest",
            no_digest(ce()),
            "Package.Digest.Missing",
        ),
    ];
    // MD5 mismatch: one payload byte flipped after signing.
    let mut tampered = good.clone();
    let last = tampered.len() - 10;
    tampered[last] ^= 0xff;
    cases.push(("MD5 mismatch", tampered, "Package.Md5.Mismatch"));
    // Trailing garbage: more bytes than the signature accounts for.
    let mut longer = good.clone();
    longer.extend_from_slice(&[0; 64]);
    cases.push(("size mismatch", longer, "Package.Size.Mismatch"));
    // A consistent package (MD5 covers it) whose payload does not decompress.
    cases.push((
        "corrupted payload",
        corrupt_payload(),
        "Package.Payload.Corrupted",
    ));
    // Legacy lzma payloads.
    cases.push((
        "lzma payload",
        with_payload(
            &RpmSpec::new("obshell", "4.3.5.0", "1.el7"),
            &[0x5D, 0, 0, 0x80, 0, 1, 2, 3],
        ),
        "Package.Compression.NotSupported",
    ));
    cases
}

fn lead_version(package: &[u8], major: u8) -> Vec<u8> {
    let mut bytes = package.to_vec();
    bytes[4] = major;
    bytes
}

fn corrupt_payload() -> Vec<u8> {
    let body = [7u8; 200_000];
    let spec = RpmSpec::new("obshell", "4.3.5.0", "1.el7")
        .compression(Compression::Xz)
        .file("/home/admin/oceanbase/bin/obshell", body.to_vec());
    let mut payload = Compression::Xz.compress(&cpio_newc(&[CpioSpec::file(
        "./home/admin/oceanbase/bin/obshell",
        &body,
    )]));
    let mid = payload.len() / 2;
    payload[mid..mid + 8].fill(0xAA);
    with_payload(&spec, &payload)
}

#[tokio::test]
async fn each_bad_package_gets_its_code_and_nothing_is_stored() {
    let mut app = TestApp::spawn_with(Db::Sqlite, Objects::Local, |c| {
        c.upload.max_unpacked = MAX_UNPACKED;
    })
    .await;
    let cases = bad_packages();
    assert!(cases.len() >= 20, "{} cases", cases.len());
    for (case, bytes, expected) in cases {
        let status = app.upload(&bytes).await.expect_err(case);
        assert_eq!(code(&status), expected, "{case}: {}", status.message());
        assert_eq!(status.code(), Code::InvalidArgument, "{case}");
        assert!(!status.message().is_empty(), "{case}");
        assert!(
            app.list(Default::default()).await.is_empty(),
            "{case}: a package became visible"
        );
        assert!(
            app.objects().await.is_empty(),
            "{case}: objects left behind: {:?}",
            app.objects().await
        );
    }
}

#[tokio::test]
async fn protocol_errors_are_specific() {
    let mut app = TestApp::spawn().await;
    let bytes = ce().build();

    let empty = app.upload_messages(vec![]).await.unwrap_err();
    assert_eq!(code(&empty), "Package.Upload.Empty");

    let only_start = app
        .upload_messages(vec![start_message(start("x.rpm"))])
        .await
        .unwrap_err();
    assert_eq!(code(&only_start), "Package.Upload.Empty");

    let data_first = app
        .upload_messages(vec![data_message(0, &bytes)])
        .await
        .unwrap_err();
    assert_eq!(code(&data_first), "Package.Upload.MisplacedStart");

    let wrong_offset = app
        .upload_messages(vec![start_message(start("x.rpm")), data_message(7, &bytes)])
        .await
        .unwrap_err();
    assert_eq!(code(&wrong_offset), "Package.Upload.OffsetMismatch");
    assert_eq!(wrong_offset.code(), Code::FailedPrecondition);
    assert!(
        wrong_offset.message().contains("received 0 bytes"),
        "{}",
        wrong_offset.message()
    );

    let mut declared = start("x.rpm");
    declared.sha256 = sha256_hex(b"something else");
    let mismatch = app.upload_with(declared, &bytes, 0).await.unwrap_err();
    assert_eq!(code(&mismatch), "Package.Sha256.Mismatch");

    let mut bad_id = start("x.rpm");
    bad_id.upload_id = "../etc".into();
    let e = app.upload_with(bad_id, &bytes, 0).await.unwrap_err();
    assert_eq!(code(&e), "Common.IllegalArgument");

    let mut small = start("x.rpm");
    small.total_size = Some(100);
    let e = app.upload_with(small, &bytes, 0).await.unwrap_err();
    assert_eq!(code(&e), "Package.Upload.TooLarge");

    assert!(app.list(Default::default()).await.is_empty());
}

#[tokio::test]
async fn a_package_larger_than_the_limit_is_refused() {
    let mut app = TestApp::spawn_with(Db::Sqlite, Objects::Local, |c| {
        c.upload.max_file_size = 1024;
    })
    .await;
    let e = app.upload(&ce().build()).await.unwrap_err();
    assert_eq!(code(&e), "Package.Upload.TooLarge");
    assert!(app.objects().await.is_empty());
}
