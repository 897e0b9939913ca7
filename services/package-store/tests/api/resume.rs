//! Interrupted uploads keep their bytes, resume from the reported offset, and
//! expire when abandoned.

use std::io::Write;
use std::time::Duration;

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::{Compression, RpmSpec};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::helpers::{
    Db, Objects, TestApp, code, data_messages, eventually, sha256_hex, start, start_message,
};

/// A package of several MiB (incompressible content, so the file is large).
fn big_package() -> Vec<u8> {
    let mut noise = vec![0u8; 6 << 20];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    for b in noise.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = x as u8;
    }
    RpmSpec::oceanbase_ce("4.3.5.0", "1.el7")
        .compression(Compression::Zstd)
        .file("/home/admin/oceanbase/lib/big.so", noise)
        .build()
}

async fn status(app: &mut TestApp, id: &str) -> Result<pb::UploadStatus, tonic::Status> {
    app.client
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: id.into(),
        })
        .await
        .map(|r| r.into_inner())
}

/// Sends `start` and the first `n` chunks of `bytes`, then drops the
/// connection as a killed client would.
async fn interrupted_upload(app: &TestApp, start: pb::UploadStart, bytes: &[u8], n: usize) {
    let (tx, rx) = mpsc::channel(64);
    tx.send(start_message(start)).await.unwrap();
    for m in data_messages(bytes, 0).into_iter().take(n) {
        tx.send(m).await.unwrap();
    }
    let mut client = app.client.clone();
    let call = tokio::spawn(async move { client.upload(ReceiverStream::new(rx)).await });
    // Once the client has taken every message, give the transport a moment
    // to deliver them, then kill the call mid-stream (the sender stays open,
    // so the stream never ends cleanly).
    let probe = tx.clone();
    eventually("the client to send every chunk", || {
        let drained = probe.capacity() == probe.max_capacity();
        async move { drained }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    call.abort();
    let _ = call.await;
    drop(tx);
}

async fn resumes_after_interruption(db: Db, objects: Objects) {
    let mut app = TestApp::spawn_with(db, objects, |_| {}).await;
    let bytes = big_package();
    let mut s = start("big.rpm");
    s.upload_id = "resume-1".into();
    s.total_size = Some(bytes.len() as u64);
    s.sha256 = sha256_hex(&bytes);
    interrupted_upload(&app, s.clone(), &bytes, 3).await;

    let client = app.client.clone();
    eventually("the interrupted bytes to be kept", || {
        let mut client = client.clone();
        async move {
            client
                .get_upload_status(pb::GetUploadStatusRequest {
                    upload_id: "resume-1".into(),
                })
                .await
                .is_ok_and(|r| r.into_inner().received > 0)
        }
    })
    .await;
    let st = status(&mut app, "resume-1").await.unwrap();
    let received = st.received;
    assert!(received > 0 && received <= 3 << 20, "kept {received} bytes");
    assert_eq!(st.total_size, Some(bytes.len() as u64));
    assert!(
        app.list(Default::default()).await.is_empty(),
        "nothing visible before completion"
    );
    // The digests' states are kept at the end of the last part, so the
    // resume hashes only what follows.
    let id = obup_package_store::domain::UploadId::parse("resume-1").unwrap();
    let parts = app.repo.parts(&id).await.unwrap();
    let last = parts.last().expect("a part was kept");
    let states = last.digest_states.as_ref().expect("states kept");
    assert_eq!(states.at, received, "states at the end of what was kept");

    // Resuming from anywhere but the reported offset is refused.
    let e = app
        .upload_with(s.clone(), &bytes[1..], 1)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Package.Upload.OffsetMismatch");

    let p = app
        .upload_with(s.clone(), &bytes[received as usize..], received)
        .await
        .unwrap();
    assert_eq!(p.sha256, sha256_hex(&bytes));
    assert_eq!(app.download(p.id, 0).await.unwrap(), bytes);
    let e = status(&mut app, "resume-1").await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound, "the session is gone after commit");
    let objects = app.objects().await;
    assert_eq!(
        objects.len(),
        1,
        "staged parts were merged and removed: {objects:?}"
    );
}

#[tokio::test]
async fn resumes_after_interruption_on_sqlite_and_local_files() {
    resumes_after_interruption(Db::Sqlite, Objects::Local).await;
}

#[tokio::test]
async fn resumes_after_interruption_on_postgres_and_s3() {
    resumes_after_interruption(Db::Postgres, Objects::S3).await;
}

#[tokio::test]
async fn a_declared_size_not_reached_keeps_the_upload_open() {
    let mut app = TestApp::spawn().await;
    let bytes = big_package();
    let mut s = start("big.rpm");
    s.upload_id = "partial".into();
    s.total_size = Some(bytes.len() as u64);
    let half = bytes.len() / 2;
    let e = app
        .upload_with(s.clone(), &bytes[..half], 0)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Package.Upload.Incomplete");
    assert_eq!(
        status(&mut app, "partial").await.unwrap().received,
        half as u64
    );
    let p = app
        .upload_with(s, &bytes[half..], half as u64)
        .await
        .unwrap();
    assert_eq!(p.file_size, bytes.len() as u64);
}

#[tokio::test]
async fn abandoned_uploads_expire_and_leave_nothing() {
    let mut app = TestApp::spawn_with(Db::Sqlite, Objects::Local, |c| {
        c.upload.ttl = Duration::ZERO
    })
    .await;
    let bytes = big_package();
    let mut s = start("big.rpm");
    s.upload_id = "abandoned".into();
    s.total_size = Some(bytes.len() as u64);
    let e = app.upload_with(s, &bytes[..2 << 20], 0).await.unwrap_err();
    assert_eq!(code(&e), "Package.Upload.Incomplete");
    assert!(
        !app.objects().await.is_empty(),
        "the staged part exists before the sweep"
    );
    // Swept until gone: the stream's session may still count as busy for a
    // moment after the client has its answer.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let swept = loop {
        let uploader = app.store.uploader();
        let report = uploader.sweep_with_grace(Duration::ZERO).await.unwrap();
        if report.sessions > 0 {
            break report.sessions;
        }
        assert!(tokio::time::Instant::now() < deadline, "never swept");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert_eq!(swept, 1);
    assert!(app.objects().await.is_empty(), "{:?}", app.objects().await);
    assert_eq!(
        status(&mut app, "abandoned").await.unwrap_err().code(),
        Code::NotFound
    );
}

#[tokio::test]
async fn orphaned_package_objects_are_swept() {
    let mut app = TestApp::spawn().await;
    let p = app
        .upload(&RpmSpec::oceanbase_ce("4.3.5.0", "1.el7").build())
        .await
        .unwrap();
    // A crash between publishing bytes and recording the row leaves exactly
    // this: an object no row references.
    app.repo.delete_package(p.id, None).await.unwrap();
    assert_eq!(app.objects().await.len(), 1);
    let recent = app.store.uploader().sweep().await.unwrap();
    assert_eq!(
        recent.objects, 0,
        "young objects are left alone: their row may be on its way"
    );
    let report = app
        .store
        .uploader()
        .sweep_with_grace(Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(report.objects, 1);
    assert!(app.objects().await.is_empty());
}

#[tokio::test]
async fn a_second_stream_for_a_busy_upload_is_refused() {
    let app = TestApp::spawn().await;
    let bytes = big_package();
    let mut s = start("big.rpm");
    s.upload_id = "busy".into();
    // First stream: start and one chunk, then held open.
    let (tx, rx) = mpsc::channel(8);
    tx.send(start_message(s.clone())).await.unwrap();
    tx.send(data_messages(&bytes, 0).remove(0)).await.unwrap();
    let mut first = app.client.clone();
    let held = tokio::spawn(async move { first.upload(ReceiverStream::new(rx)).await });
    let client = app.client.clone();
    eventually("the first stream to open its session", || {
        let mut client = client.clone();
        async move {
            client
                .get_upload_status(pb::GetUploadStatusRequest {
                    upload_id: "busy".into(),
                })
                .await
                .is_ok()
        }
    })
    .await;
    let mut app = app;
    let e = app.upload_with(s, &bytes, 0).await.unwrap_err();
    assert_eq!(code(&e), "Package.Upload.Busy");
    assert_eq!(e.code(), Code::Aborted);
    drop(tx);
    held.abort();
}

#[tokio::test]
async fn half_written_parts_left_by_a_crash_are_swept() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    let app = TestApp::spawn_with(Db::Sqlite, Objects::Local, |c| {
        c.object_store =
            obup_package_store::storage::ObjectStoreConfig::Local { root: root.clone() };
    })
    .await;
    // What object_store leaves when the process dies mid-write.
    let staged = root.join("staging/u-crashed");
    std::fs::create_dir_all(&staged).unwrap();
    let temp = staged.join("000000#3");
    std::fs::write(&temp, vec![1u8; 4096]).unwrap();
    let report = app.store.uploader().sweep().await.unwrap();
    assert_eq!(report.objects, 0, "a fresh write may still be in progress");
    assert!(temp.exists());
    let old = std::time::SystemTime::now() - Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_modified(old)
        .unwrap();
    let report = app.store.uploader().sweep().await.unwrap();
    assert_eq!(report.objects, 1);
    assert!(!temp.exists());
}

/// On a filesystem every part of an upload continues one staging file, so
/// a resumed upload is published by a rename, copying nothing; what a
/// killed stream wrote past its last recorded part is cut off before the
/// next part is written.
#[tokio::test]
async fn resumed_parts_continue_one_staging_file() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("objects");
    let mut app = TestApp::spawn_with(Db::Sqlite, Objects::Local, |c| {
        c.object_store =
            obup_package_store::storage::ObjectStoreConfig::Local { root: root.clone() };
    })
    .await;
    let bytes = big_package();
    let mut s = start("big.rpm");
    s.upload_id = "one-file".into();
    s.total_size = Some(bytes.len() as u64);
    let (a, b) = (bytes.len() / 3, 2 * bytes.len() / 3);
    let e = app
        .upload_with(s.clone(), &bytes[..a], 0)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Package.Upload.Incomplete");
    let staged = root.join("staging/one-file");
    let files = || -> Vec<std::path::PathBuf> {
        let mut f: Vec<_> = std::fs::read_dir(&staged)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        f.sort();
        f
    };
    let [file] = files().try_into().expect("one staging file");
    // What a stream killed between writing and recording leaves behind.
    std::fs::OpenOptions::new()
        .append(true)
        .open(&file)
        .unwrap()
        .write_all(&[0xEE; 4096])
        .unwrap();

    let e = app
        .upload_with(s.clone(), &bytes[a..b], a as u64)
        .await
        .unwrap_err();
    assert_eq!(code(&e), "Package.Upload.Incomplete");
    assert_eq!(
        files(),
        std::slice::from_ref(&file),
        "the second part went into the same file"
    );
    assert_eq!(std::fs::read(&file).unwrap(), &bytes[..b], "junk cut off");
    let id = obup_package_store::domain::UploadId::parse("one-file").unwrap();
    let parts = app.repo.parts(&id).await.unwrap();
    assert_eq!(parts.len(), 2);
    assert!(parts.iter().all(|p| p.object_key == parts[0].object_key));

    let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&file).unwrap());
    let p = app.upload_with(s, &bytes[b..], b as u64).await.unwrap();
    assert_eq!(app.download(p.id, 0).await.unwrap(), bytes);
    let key = obup_package_store::storage::Blobs::package_key(
        &obup_package_store::domain::Sha256Hex::parse(&p.sha256).unwrap(),
    );
    let published = std::fs::metadata(root.join(key)).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::ino(&published),
        inode,
        "the staging file was renamed, not copied"
    );
    assert!(!staged.exists(), "nothing is left of the session");
}
