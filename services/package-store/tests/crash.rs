//! Crash safety of uploads with real processes: the `obup-package-store`
//! binary killed with SIGKILL mid-upload, and its PostgreSQL server stopped
//! hard mid-upload. Nothing the service acknowledged is lost, a client can
//! resume, and what nobody resumes is deleted once it expires.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use bytes::Bytes;
use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::{Compression, PrivatePostgres, RpmSpec, ServiceProcess, TestDb};
use pb::package_store_client::PackageStoreClient;
use pb::upload_request::Kind;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Status;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_obup-package-store");
const CHUNK: usize = 256 << 10;

/// A ~12 MiB oceanbase-ce package whose payload does not compress.
fn package() -> Vec<u8> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let observer: Vec<u8> = (0..12 << 20)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect();
    RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7")
        .compression(Compression::Zstd)
        .without("/home/admin/oceanbase/bin/observer")
        .file("/home/admin/oceanbase/bin/observer", observer)
        .build()
}

fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

/// The service on `data` and `database`, checkpointing every 100 ms and
/// expiring abandoned uploads after 2 s.
fn service(data: &Path, database: &str) -> ServiceProcess {
    let env: [(&str, OsString); 6] = [
        ("OBUP_DATA_DIR", data.into()),
        ("DATABASE_URL", database.into()),
        ("OBUP_UPLOAD_CHECKPOINT_SECS", "0.1".into()),
        ("OBUP_UPLOAD_TTL_SECS", "2".into()),
        ("OBUP_SWEEP_INTERVAL_SECS", "0.3".into()),
        ("OBUP_ORPHAN_GRACE_SECS", "2".into()),
    ];
    ServiceProcess::start(Path::new(BIN), &env).unwrap()
}

async fn client(url: &str) -> PackageStoreClient<Channel> {
    PackageStoreClient::connect(url.to_owned()).await.unwrap()
}

/// An upload whose messages the test feeds by hand.
struct OpenUpload {
    tx: mpsc::Sender<pb::UploadRequest>,
    result: tokio::task::JoinHandle<Result<pb::Package, Status>>,
    sent: u64,
}

impl OpenUpload {
    async fn start(url: &str, id: &str, bytes: &[u8]) -> Self {
        let (tx, rx) = mpsc::channel(4);
        let mut c = client(url).await;
        let result = tokio::spawn(async move {
            c.upload(ReceiverStream::new(rx))
                .await
                .map(|r| r.into_inner())
        });
        tx.send(pb::UploadRequest {
            kind: Some(Kind::Start(pb::UploadStart {
                file_name: "oceanbase-ce.rpm".into(),
                total_size: Some(bytes.len() as u64),
                sha256: sha256_hex(bytes),
                upload_id: id.into(),
            })),
        })
        .await
        .unwrap();
        Self {
            tx,
            result,
            sent: 0,
        }
    }

    /// Sends `bytes[from..to]`, where `from` is what the server has.
    async fn send(&mut self, bytes: &[u8], from: u64, to: u64) {
        let mut pos = from;
        for chunk in bytes[from as usize..to as usize].chunks(CHUNK) {
            let msg = pb::UploadRequest {
                kind: Some(Kind::Data(pb::UploadData {
                    offset: pos,
                    data: Bytes::copy_from_slice(chunk),
                })),
            };
            if self.tx.send(msg).await.is_err() {
                return; // the server is gone
            }
            pos += chunk.len() as u64;
        }
        self.sent = pos;
    }

    async fn finish(self) -> Result<pb::Package, Status> {
        drop(self.tx);
        self.result.await.unwrap()
    }
}

/// Bytes the server has durably staged for `id` (0 if it knows nothing).
async fn received(url: &str, id: &str) -> Result<u64, Status> {
    client(url)
        .await
        .get_upload_status(pb::GetUploadStatusRequest {
            upload_id: id.into(),
        })
        .await
        .map(|s| s.into_inner().received)
}

async fn wait_for(what: &str, mut cond: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !cond().await {
        assert!(tokio::time::Instant::now() < deadline, "timed out: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every file under the local object store, relative to its root.
fn objects(data: &Path) -> Vec<String> {
    obup_test_support::files_under(&data.join("objects"))
}

async fn downloaded_sha256(url: &str, id: i64) -> String {
    let mut stream = client(url)
        .await
        .download(pb::DownloadRequest { id, offset: 0 })
        .await
        .unwrap()
        .into_inner();
    let mut sha = Sha256::new();
    while let Some(m) = stream.message().await.unwrap() {
        sha.update(&m.data);
    }
    hex::encode(sha.finalize())
}

#[tokio::test]
async fn a_killed_store_keeps_what_it_acknowledged_and_sweeps_what_nobody_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let bytes = package();
    let half = bytes.len() as u64 / 2;

    let store = service(dir.path(), &db.url);
    let mut resumed = OpenUpload::start(&store.url, "crash-resumed", &bytes).await;
    let mut abandoned = OpenUpload::start(&store.url, "crash-abandoned", &bytes).await;
    resumed.send(&bytes, 0, half).await;
    abandoned.send(&bytes, 0, half / 2).await;
    // Kill only once both have a checkpoint behind them.
    wait_for("checkpoints of both uploads", async || {
        received(&store.url, "crash-resumed").await.unwrap_or(0) > 0
            && received(&store.url, "crash-abandoned").await.unwrap_or(0) > 0
    })
    .await;
    store.kill();
    assert!(resumed.finish().await.is_err());
    assert!(abandoned.finish().await.is_err());

    let store = service(dir.path(), &db.url);
    let offset = received(&store.url, "crash-resumed").await.unwrap();
    assert!(offset > 0 && offset <= half, "resume offset {offset}");
    let mut upload = OpenUpload::start(&store.url, "crash-resumed", &bytes).await;
    upload.send(&bytes, offset, bytes.len() as u64).await;
    let package = upload.finish().await.unwrap();
    assert_eq!(package.sha256, sha256_hex(&bytes));
    assert_eq!(package.file_size, bytes.len() as u64);
    assert_eq!(
        downloaded_sha256(&store.url, package.id).await,
        package.sha256
    );

    // The abandoned session, its parts and the half-written part the kill
    // left behind all go once they expire; the package's object stays.
    let kept = format!(
        "packages/sha256/{}/{}",
        &package.sha256[..2],
        package.sha256
    );
    // The sweeper deletes a session's objects, then its row: wait for both.
    wait_for("the sweeper to remove the abandoned upload", async || {
        objects(dir.path()) == [kept.clone()]
            && received(&store.url, "crash-abandoned")
                .await
                .is_err_and(|e| e.code() == tonic::Code::NotFound)
    })
    .await;
    let gone = received(&store.url, "crash-abandoned").await.unwrap_err();
    assert_eq!(gone.code(), tonic::Code::NotFound, "{gone:?}");
}

#[tokio::test]
async fn an_upload_survives_a_database_restart_or_fails_clearly_and_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let pg = PrivatePostgres::start().unwrap();
    let bytes = package();
    let store = service(dir.path(), &pg.url());

    let mut upload = OpenUpload::start(&store.url, "pg-restart", &bytes).await;
    upload.send(&bytes, 0, bytes.len() as u64 / 3).await;
    wait_for("a checkpoint", async || {
        received(&store.url, "pg-restart").await.unwrap_or(0) > 0
    })
    .await;
    pg.stop().unwrap();
    // The stream goes on while the database is down: checkpoints fail.
    upload
        .send(&bytes, upload.sent, 2 * bytes.len() as u64 / 3)
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    pg.start_server().unwrap();
    upload.send(&bytes, upload.sent, bytes.len() as u64).await;
    let package = match upload.finish().await {
        Ok(p) => p,
        Err(e) => {
            // A clear, retryable failure: resume from what was recorded.
            eprintln!("failed across the restart, resuming: {e:?}");
            assert_eq!(e.code(), tonic::Code::Unavailable, "{e:?}");
            assert!(e.message().contains("database"), "{e:?}");
            let offset = received(&store.url, "pg-restart").await.unwrap();
            let mut retry = OpenUpload::start(&store.url, "pg-restart", &bytes).await;
            retry.send(&bytes, offset, bytes.len() as u64).await;
            retry.finish().await.unwrap()
        }
    };
    assert_eq!(package.sha256, sha256_hex(&bytes));
    assert_eq!(
        downloaded_sha256(&store.url, package.id).await,
        package.sha256
    );
    let listed = client(&store.url)
        .await
        .list_packages(pb::ListPackagesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.packages.len(), 1);
}
