//! An S3 server (s3s-fs) on a loopback port, inside the test process.

use std::net::SocketAddr;

use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::auth::SimpleAuth;
use s3s::service::S3ServiceBuilder;
use tokio::net::TcpListener;

pub const ACCESS_KEY: &str = "obup-test-ak";
pub const SECRET_KEY: &str = "obup-test-sk";

/// A running S3 server whose data lives in a temporary directory. The server
/// stops when the test's runtime ends.
#[derive(Debug)]
pub struct TestS3 {
    pub addr: SocketAddr,
    pub bucket: String,
    pub root: tempfile::TempDir,
}

impl TestS3 {
    /// Starts a server with one bucket.
    pub async fn start(bucket: &str) -> anyhow::Result<Self> {
        let root = tempfile::tempdir()?;
        // s3s-fs maps a bucket to a directory under its root.
        std::fs::create_dir_all(root.path().join(bucket))?;
        let fs =
            s3s_fs::FileSystem::new(root.path()).map_err(|e| anyhow::anyhow!("s3s-fs: {e:?}"))?;
        let mut builder = S3ServiceBuilder::new(fs);
        builder.set_auth(SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let http = ConnBuilder::new(TokioExecutor::new());
            while let Ok((socket, _)) = listener.accept().await {
                let conn = http
                    .serve_connection(TokioIo::new(socket), service.clone())
                    .into_owned();
                tokio::spawn(conn);
            }
        });
        Ok(Self {
            addr,
            bucket: bucket.into(),
            root,
        })
    }

    /// `http://127.0.0.1:PORT`
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Files the server holds for the bucket (for orphan checks).
    pub fn stored_files(&self) -> Vec<std::path::PathBuf> {
        fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
            for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let p = e.path();
                if p.is_dir() {
                    walk(&p, out)
                } else {
                    out.push(p)
                }
            }
        }
        let mut out = Vec::new();
        walk(&self.root.path().join(&self.bucket), &mut out);
        out
    }
}
