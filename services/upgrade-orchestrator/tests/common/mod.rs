//! Helpers shared by the orchestrator's integration tests.

use obup_package_store::PackageStore;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::{Compression, RpmSpec};

/// A package store on a free port, with the target packages uploaded.
pub async fn package_store(dir: &std::path::Path) -> String {
    let config = obup_package_store::Config::embedded(dir).unwrap();
    let store = PackageStore::open(&config).await.unwrap();
    let router = obup_kit::grpc::router(obup_package_store::startup::routes(store), &[], &[]).await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(obup_kit::grpc::serve(
        listener,
        router,
        std::future::pending(),
    ));
    let mut client = ppb::package_store_client::PackageStoreClient::connect(url.clone())
        .await
        .unwrap();
    for spec in [
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"),
        RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7")
            .compression(Compression::Zstd),
    ] {
        let messages = vec![
            ppb::UploadRequest {
                kind: Some(ppb::upload_request::Kind::Start(ppb::UploadStart::default())),
            },
            ppb::UploadRequest {
                kind: Some(ppb::upload_request::Kind::Data(ppb::UploadData {
                    offset: 0,
                    data: spec.build().into(),
                })),
            },
        ];
        client
            .upload(futures::stream::iter(messages))
            .await
            .unwrap();
    }
    url
}
