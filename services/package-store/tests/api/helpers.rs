//! `TestApp`: a package store on an ephemeral port, with typed client calls.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use obup_package_store::storage::{Blobs, ObjectStoreConfig, Repository, SqlRepository};
use obup_package_store::{Config, PackageStore};
use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::{TestDb, TestS3};
use pb::package_store_client::PackageStoreClient;
use pb::upload_request::Kind;
use tokio::net::TcpListener;
use tonic::Status;
use tonic::transport::Channel;

pub const CHUNK: usize = 1 << 20;

/// Which metadata database a test app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// Which object store a test app uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Objects {
    Local,
    S3,
}

pub struct TestApp {
    pub addr: std::net::SocketAddr,
    pub client: PackageStoreClient<Channel>,
    pub store: PackageStore,
    pub blobs: Blobs,
    pub repo: Arc<dyn Repository>,
    _dir: tempfile::TempDir,
    _db: Option<TestDb>,
    _s3: Option<TestS3>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(Db::Sqlite, Objects::Local, |_| {}).await
    }

    pub async fn spawn_with(db: Db, objects: Objects, tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::embedded(dir.path()).unwrap();
        let test_db = match db {
            Db::Sqlite => None,
            Db::Postgres => {
                let d = TestDb::create()
                    .await
                    .expect("PostgreSQL must be running (see README)");
                config.database_url = d.url.clone();
                Some(d)
            }
        };
        let s3 = match objects {
            Objects::Local => None,
            Objects::S3 => {
                let s3 = TestS3::start("packages").await.unwrap();
                config.object_store = ObjectStoreConfig::S3 {
                    bucket: s3.bucket.clone(),
                    endpoint: Some(s3.endpoint()),
                    region: "us-east-1".into(),
                    access_key_id: Some(obup_test_support::s3::ACCESS_KEY.into()),
                    secret_access_key: Some(obup_test_support::s3::SECRET_KEY.into()),
                };
                Some(s3)
            }
        };
        tweak(&mut config);
        let repo: Arc<dyn Repository> =
            Arc::new(SqlRepository::connect(&config.database_url).await.unwrap());
        let blobs = Blobs::open(&config.object_store).unwrap();
        let store = PackageStore::new(repo.clone(), blobs.clone(), &config);
        let router = obup_kit::grpc::router(
            obup_package_store::startup::routes(store.clone()),
            &[obup_package_store::startup::SERVICE_NAME],
            &[obup_proto::FILE_DESCRIPTOR_SET],
        )
        .await;
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(obup_kit::grpc::serve(
            listener,
            router,
            std::future::pending(),
        ));
        let channel = Channel::from_shared(format!("http://{addr}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        Self {
            addr,
            client: PackageStoreClient::new(channel),
            store,
            blobs,
            repo,
            _dir: dir,
            _db: test_db,
            _s3: s3,
        }
    }

    /// Uploads `bytes` in 1 MiB chunks.
    pub async fn upload(&mut self, bytes: &[u8]) -> Result<pb::Package, Status> {
        self.upload_with(start("test.rpm"), bytes, 0).await
    }

    /// Uploads `bytes` from `offset` after the given start message.
    pub async fn upload_with(
        &mut self,
        start: pb::UploadStart,
        bytes: &[u8],
        offset: u64,
    ) -> Result<pb::Package, Status> {
        let mut messages = vec![start_message(start)];
        messages.extend(data_messages(bytes, offset));
        self.upload_messages(messages).await
    }

    pub async fn upload_messages(
        &mut self,
        messages: Vec<pb::UploadRequest>,
    ) -> Result<pb::Package, Status> {
        self.client
            .upload(futures::stream::iter(messages))
            .await
            .map(|r| r.into_inner())
    }

    pub async fn download(&mut self, id: i64, offset: u64) -> Result<Vec<u8>, Status> {
        let mut stream = self
            .client
            .download(pb::DownloadRequest { id, offset })
            .await?
            .into_inner();
        let mut out = Vec::new();
        let mut expected = offset;
        while let Some(m) = stream.message().await? {
            assert_eq!(m.offset, expected, "download offsets are contiguous");
            expected += m.data.len() as u64;
            out.extend_from_slice(&m.data);
        }
        Ok(out)
    }

    pub async fn list(&mut self, req: pb::ListPackagesRequest) -> Vec<pb::Package> {
        self.client
            .list_packages(req)
            .await
            .unwrap()
            .into_inner()
            .packages
    }

    /// Every object in the store (staged parts and packages).
    pub async fn objects(&self) -> Vec<String> {
        self.blobs
            .list("")
            .await
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect()
    }
}

/// Waits until `cond` holds, polling; fails after 10 s. For conditions that
/// another task brings about (a broken stream being noticed by the server).
pub async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while !cond().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

pub fn start(file_name: &str) -> pb::UploadStart {
    pb::UploadStart {
        file_name: file_name.into(),
        ..Default::default()
    }
}

pub fn start_message(start: pb::UploadStart) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(Kind::Start(start)),
    }
}

pub fn data_message(offset: u64, data: &[u8]) -> pb::UploadRequest {
    pb::UploadRequest {
        kind: Some(Kind::Data(pb::UploadData {
            offset,
            data: Bytes::copy_from_slice(data),
        })),
    }
}

pub fn data_messages(bytes: &[u8], offset: u64) -> Vec<pb::UploadRequest> {
    bytes
        .chunks(CHUNK)
        .scan(offset, |pos, c| {
            let m = data_message(*pos, c);
            *pos += c.len() as u64;
            Some(m)
        })
        .collect()
}

/// The stable error code on a status.
pub fn code(s: &Status) -> String {
    obup_kit::status::error_code(s).unwrap_or_else(|| format!("<no code: {s:?}>"))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}
