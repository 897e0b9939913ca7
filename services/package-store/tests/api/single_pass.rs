//! Uploads whose client computes the SHA-256 while sending and declares it
//! last (`finish`): checked before anything is committed, also after a
//! resume; identical bytes found at commit; packages looked up by SHA-256.

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::{Compression, RpmSpec};
use pb::upload_request::Kind;
use tonic::Code;

use crate::helpers::{TestApp, code, data_messages, sha256_hex, start, start_message};

fn finish_message(sha256: &str) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(Kind::Finish(pb::UploadFinish {
            sha256: sha256.into(),
        })),
    }
}

/// `start`, the bytes from `offset`, then `finish` with `sha256`.
fn messages(s: pb::UploadStart, bytes: &[u8], offset: u64, sha256: &str) -> Vec<pb::UploadRequest> {
    let mut m = vec![start_message(s)];
    m.extend(data_messages(bytes, offset));
    m.push(finish_message(sha256));
    m
}

fn package(release: &str) -> Vec<u8> {
    RpmSpec::oceanbase_ce("4.3.5.0", release)
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/lib/filler.so", vec![7u8; 3 << 20])
        .build()
}

#[tokio::test]
async fn a_wrong_final_sha256_is_refused_and_stores_nothing() {
    let mut app = TestApp::spawn().await;
    let kept = package("1.el7");
    let stored = app
        .upload_messages(messages(start("a.rpm"), &kept, 0, &sha256_hex(&kept)))
        .await
        .unwrap();
    assert_eq!(stored.sha256, sha256_hex(&kept));
    let objects_before = app.objects().await;

    let other = package("2.el7");
    let mut s = start("b.rpm");
    s.upload_id = "wrong-final".into();
    s.total_size = Some(other.len() as u64);
    // The SHA-256 of other bytes, as a client whose file changed under it
    // would send.
    let e = app
        .upload_messages(messages(s, &other, 0, &sha256_hex(&kept)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert_eq!(code(&e), "Package.Sha256.Mismatch");
    assert!(e.message().contains(&sha256_hex(&other)), "{}", e.message());

    let listed = app.list(Default::default()).await;
    assert_eq!(listed.len(), 1, "only the first package: {listed:?}");
    assert_eq!(listed[0].id, stored.id);
    assert_eq!(app.objects().await, objects_before, "nothing new kept");
    assert_eq!(app.download(stored.id, 0).await.unwrap(), kept);
    let e = app
        .client
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: "wrong-final".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "the refused session is gone");
}

#[tokio::test]
async fn a_final_sha256_that_is_not_hex_is_refused() {
    let mut app = TestApp::spawn().await;
    let bytes = package("1.el7");
    let e = app
        .upload_messages(messages(start("a.rpm"), &bytes, 0, "not-a-digest"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(app.list(Default::default()).await.is_empty());
}

#[tokio::test]
async fn a_resumed_upload_is_checked_against_its_final_sha256() {
    let mut app = TestApp::spawn().await;
    let bytes = package("1.el7");
    let half = bytes.len() / 2;
    for (id, sha256, ok) in [
        ("resume-wrong", sha256_hex(&bytes[half..]), false),
        ("resume-right", sha256_hex(&bytes), true),
    ] {
        let mut s = start("big.rpm");
        s.upload_id = id.into();
        s.total_size = Some(bytes.len() as u64);
        // No SHA-256 at start: the client has not read the file yet.
        let e = app
            .upload_with(s.clone(), &bytes[..half], 0)
            .await
            .unwrap_err();
        assert_eq!(code(&e), "Package.Upload.Incomplete");
        let received = app
            .client
            .get_upload_status(pb::GetUploadStatusRequest {
                upload_id: id.into(),
            })
            .await
            .unwrap()
            .into_inner()
            .received;
        assert_eq!(received, half as u64);
        let result = app
            .upload_messages(messages(s, &bytes[half..], received, &sha256))
            .await;
        match (ok, result) {
            (true, Ok(p)) => {
                assert_eq!(p.sha256, sha256_hex(&bytes));
                assert_eq!(app.download(p.id, 0).await.unwrap(), bytes);
            }
            (false, Err(e)) => {
                assert_eq!(code(&e), "Package.Sha256.Mismatch");
                assert!(app.list(Default::default()).await.is_empty());
                assert!(app.objects().await.is_empty(), "{:?}", app.objects().await);
            }
            (ok, r) => panic!("expected ok={ok}, got {r:?}"),
        }
    }
    assert_eq!(app.objects().await.len(), 1);
}

#[tokio::test]
async fn identical_bytes_sent_without_a_declared_sha256_dedup_at_commit() {
    let mut app = TestApp::spawn().await;
    let bytes = package("1.el7");
    let sha = sha256_hex(&bytes);
    let mut first = start("a.rpm");
    first.upload_id = "first".into();
    let p1 = app
        .upload_messages(messages(first, &bytes, 0, &sha))
        .await
        .unwrap();
    // Another file name and id, nothing declared up front: the server only
    // learns that it has these bytes when it has hashed them.
    let mut second = start("copy-of-a.rpm");
    second.upload_id = "second".into();
    let p2 = app
        .upload_messages(messages(second, &bytes, 0, &sha))
        .await
        .unwrap();
    assert_eq!(p2.id, p1.id);
    assert_eq!(p2.file_name, "a.rpm", "the stored package, not a new one");
    assert_eq!(app.list(Default::default()).await.len(), 1);
    assert_eq!(app.objects().await.len(), 1, "{:?}", app.objects().await);
    let e = app
        .client
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: "second".into(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "the duplicate's session is gone");
}

#[tokio::test]
async fn packages_are_found_by_sha256() {
    let mut app = TestApp::spawn().await;
    let a = package("1.el7");
    let b = package("2.el7");
    let pa = app.upload(&a).await.unwrap();
    app.upload(&b).await.unwrap();
    let by = |sha: String| pb::ListPackagesRequest {
        sha256: sha,
        ..Default::default()
    };
    let found = app.list(by(sha256_hex(&a))).await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id, pa.id);
    let found = app.list(by(sha256_hex(&a).to_uppercase())).await;
    assert_eq!(found.len(), 1, "hex in either case");
    assert!(app.list(by(sha256_hex(b"nothing"))).await.is_empty());
    let e = app
        .client
        .list_packages(by("xyz".into()))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
}
