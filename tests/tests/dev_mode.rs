//! `obup dev` end to end: upload through the CLI code, read back over gRPC,
//! restart on the same data dir, and find everything still there.

use obup_cli::dev::{Dev, DevArgs};
use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::{Compression, RpmSpec};
use pb::package_store_client::PackageStoreClient;
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;

async fn start(
    data_dir: &std::path::Path,
) -> (String, oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let args = DevArgs::for_data_dir(data_dir.to_owned());
    let dev = Dev::bind(&args).await.unwrap();
    let url = format!("http://{}", dev.local_addr());
    obup_cli::use_token_for(&url, dev.admin_token().clone());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        dev.serve(async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    (url, stop, task)
}

#[tokio::test]
async fn packages_survive_a_restart() {
    let data = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    let mut digests = Vec::new();
    for (i, c) in [
        Compression::Xz,
        Compression::Zstd,
        Compression::Gzip,
        Compression::Bzip2,
    ]
    .into_iter()
    .enumerate()
    {
        let bytes = RpmSpec::oceanbase_ce("4.3.5.0", &format!("10000020202412311{i}.el7"))
            .compression(c)
            .build();
        let path = files.path().join(format!("p{i}.rpm"));
        std::fs::write(&path, &bytes).unwrap();
        digests.push(hex::encode(Sha256::digest(&bytes)));
        paths.push(path);
    }

    let (url, stop, task) = start(data.path()).await;
    obup_cli::upload::run(&url, &paths, false, 0).await.unwrap();
    stop.send(()).unwrap();
    task.await.unwrap();

    let (url, _stop, _task) = start(data.path()).await;
    let token = obup_kit::auth::read_token_file(&data.path().join("tokens/admin.token"))
        .unwrap()
        .unwrap();
    let channel = tonic::transport::Channel::from_shared(url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = PackageStoreClient::with_interceptor(
        channel,
        obup_kit::auth::BearerInterceptor::new(Some(&token)),
    );
    let listed = client
        .list_packages(pb::ListPackagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .packages;
    let mut stored: Vec<String> = listed.iter().map(|p| p.sha256.clone()).collect();
    stored.sort();
    digests.sort();
    assert_eq!(stored, digests);
    for p in &listed {
        let mut stream = client
            .download(pb::DownloadRequest {
                id: p.id,
                offset: 0,
            })
            .await
            .unwrap()
            .into_inner();
        let mut sha = Sha256::new();
        while let Some(m) = stream.message().await.unwrap() {
            sha.update(&m.data);
        }
        assert_eq!(
            hex::encode(sha.finalize()),
            p.sha256,
            "bytes intact after restart"
        );
    }
}
