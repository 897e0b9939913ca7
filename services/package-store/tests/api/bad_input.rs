//! Every bad input gets its own error code, and nothing is stored.

use obup_test_support::rpm_fixture::resign;
use obup_test_support::{Compression, CpioSpec, OB_HOME, RpmSpec, cpio_newc};
use tonic::Code;

use crate::helpers::{TestApp, code, data_message, sha256_hex, start, start_message};

fn ce() -> RpmSpec {
    RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
}

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
            ce().without(&format!("{OB_HOME}/bin/observer")).build(),
            "OB.Package.MissingFile",
        ),
        (
            "libs without lib dir",
            RpmSpec::new("oceanbase-ce-libs", "4.3.5.0", "1.el7").build(),
            "OB.Package.MissingFile",
        ),
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
            "decompression bomb",
            ce().compression(Compression::Zstd)
                .build_with_cpio(&cpio_newc(&[CpioSpec::file(
                    "./home/admin/oceanbase/bin/x",
                    &vec![0; 48 << 20],
                )])),
            "Package.Payload.TooLarge",
        ),
        (
            "no MD5 and no payload digest",
            no_digest(),
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
        lzma_payload(),
        "Package.Compression.NotSupported",
    ));
    cases
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

fn lzma_payload() -> Vec<u8> {
    with_payload(
        &RpmSpec::new("obshell", "4.3.5.0", "1.el7"),
        &[0x5D, 0, 0, 0x80, 0, 1, 2, 3],
    )
}

/// A package whose signature has neither MD5 nor a header digest.
fn no_digest() -> Vec<u8> {
    let bytes = ce().without_md5().build();
    // Drop the signature entirely: an empty signature header.
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let sig = 16 + be(96 + 8) * 16 + be(96 + 12);
    let rest = 96 + sig + (8 - sig % 8) % 8;
    let mut out = bytes[..96].to_vec();
    out.extend_from_slice(&[0x8E, 0xAD, 0xE8, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&bytes[rest..]);
    out
}

/// `spec`'s header with `payload` (compressed bytes) instead of its own.
fn with_payload(spec: &RpmSpec, payload: &[u8]) -> Vec<u8> {
    let bytes = spec.build();
    let be = |i: usize| u32::from_be_bytes(bytes[i..i + 4].try_into().unwrap()) as usize;
    let sig = 16 + be(96 + 8) * 16 + be(96 + 12);
    let h = 96 + sig + (8 - sig % 8) % 8;
    let header_end = h + 16 + be(h + 8) * 16 + be(h + 12);
    let mut out = bytes[..header_end].to_vec();
    out.extend_from_slice(payload);
    resign(&out)
}

#[tokio::test]
async fn each_bad_package_gets_its_code_and_nothing_is_stored() {
    let mut app = TestApp::spawn().await;
    for (case, bytes, expected) in bad_packages() {
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
    let mut app = TestApp::spawn_with(
        crate::helpers::Db::Sqlite,
        crate::helpers::Objects::Local,
        |c| {
            c.upload.max_file_size = 1024;
        },
    )
    .await;
    let e = app.upload(&ce().build()).await.unwrap_err();
    assert_eq!(code(&e), "Package.Upload.TooLarge");
    assert!(app.objects().await.is_empty());
}
