//! Listing, finding, deleting and downloading.

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::RpmSpec;
use pb::find_package_request::Build;
use tonic::Code;

use crate::helpers::{TestApp, code};

async fn seeded() -> (TestApp, Vec<pb::Package>) {
    let mut app = TestApp::spawn().await;
    let specs = [
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"),
        RpmSpec::oceanbase_ce("4.3.5.0", "100000302025010101.el7"),
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el8"),
        RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7").arch("aarch64"),
        RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7"),
        RpmSpec::oceanbase_ce("4.2.1.0", "100000102023092807.el7"),
    ];
    let mut stored = Vec::new();
    for s in specs {
        stored.push(app.upload(&s.build()).await.unwrap());
    }
    (app, stored)
}

#[tokio::test]
async fn lists_newest_first_with_filters() {
    let (mut app, stored) = seeded().await;
    let all = app.list(Default::default()).await;
    let ids: Vec<i64> = all.iter().map(|p| p.id).collect();
    let mut expected: Vec<i64> = stored.iter().map(|p| p.id).collect();
    expected.reverse();
    assert_eq!(ids, expected);

    let count = |f: pb::ListPackagesRequest| {
        let mut app_client = app.client.clone();
        async move {
            app_client
                .list_packages(f)
                .await
                .unwrap()
                .into_inner()
                .packages
                .len()
        }
    };
    let req = |name: &str, version: &str, release: &str, dist: &str, arch: &str| {
        pb::ListPackagesRequest {
            name: name.into(),
            version: version.into(),
            release: release.into(),
            distribution: dist.into(),
            architecture: arch.into(),
            ..Default::default()
        }
    };
    assert_eq!(count(req("oceanbase-ce", "", "", "", "")).await, 5);
    assert_eq!(
        count(req("oceanbase-ce", "4.3.5.0", "", "el7", "x86_64")).await,
        2
    );
    assert_eq!(count(req("", "", "100000202024123117", "", "")).await, 4);
    assert_eq!(
        count(req("", "", "100000202024123117.el8", "", "")).await,
        1
    );
    assert_eq!(count(req("", "", "", "", "aarch64")).await, 1);
    assert_eq!(count(req("nothing", "", "", "", "")).await, 0);
}

#[tokio::test]
async fn finds_exact_and_latest_builds() {
    let (mut app, stored) = seeded().await;
    let find = |build: Build, dist: &str| pb::FindPackageRequest {
        name: "oceanbase-ce".into(),
        version: "4.3.5.0".into(),
        architecture: "x86_64".into(),
        distribution: dist.into(),
        build: Some(build),
    };
    let exact = app
        .client
        .find_package(find(Build::Release("100000202024123117".into()), "el8"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(exact.id, stored[2].id);

    let latest = app
        .client
        .find_package(find(Build::AnyBuild(pb::AnyBuild::default()), "el7"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        latest.release, "100000302025010101",
        "the highest build wins"
    );

    let not_deprecated = app
        .client
        .find_package(find(
            Build::AnyBuild(pb::AnyBuild {
                excluded_releases: vec!["100000302025010101".into()],
            }),
            "el7",
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        not_deprecated.release, "100000202024123117",
        "deprecated builds are skipped"
    );

    let missing = app
        .client
        .find_package(find(Build::Release("999".into()), "el7"))
        .await
        .unwrap_err();
    assert_eq!(code(&missing), "OB.Package.NotExist");
    assert!(
        missing
            .message()
            .contains("oceanbase-ce-4.3.5.0-999.el7.x86_64.rpm"),
        "{}",
        missing.message()
    );

    let incomplete = app
        .client
        .find_package(pb::FindPackageRequest::default())
        .await
        .unwrap_err();
    assert_eq!(incomplete.code(), Code::InvalidArgument);
}

#[tokio::test]
async fn deletes_row_and_bytes() {
    let (mut app, stored) = seeded().await;
    let before = app.objects().await.len();
    let id = stored[0].id;
    let r = app
        .client
        .delete_package(pb::DeletePackageRequest { id })
        .await
        .unwrap()
        .into_inner();
    assert!(r.deleted);
    assert_eq!(app.objects().await.len(), before - 1);
    let again = app
        .client
        .delete_package(pb::DeletePackageRequest { id })
        .await
        .unwrap()
        .into_inner();
    assert!(!again.deleted);
    let gone = app
        .client
        .get_package(pb::GetPackageRequest { id })
        .await
        .unwrap_err();
    assert_eq!(
        (gone.code(), code(&gone).as_str()),
        (Code::NotFound, "Package.NotFound")
    );
    let e = app.download(id, 0).await.unwrap_err();
    assert_eq!(e.code(), Code::NotFound);
}

#[tokio::test]
async fn download_checks_its_offset() {
    let (mut app, stored) = seeded().await;
    let p = &stored[0];
    assert!(app.download(p.id, p.file_size).await.unwrap().is_empty());
    let e = app.download(p.id, p.file_size + 1).await.unwrap_err();
    assert_eq!(e.code(), Code::OutOfRange);
}

#[tokio::test]
async fn serves_health_and_reflection() {
    use tonic_health::pb::health_check_response::ServingStatus;
    use tonic_health::pb::health_client::HealthClient;
    use tonic_reflection::pb::v1alpha::ServerReflectionRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1alpha::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1alpha::server_reflection_response::MessageResponse;

    let app = TestApp::spawn().await;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", app.addr))
        .unwrap()
        .connect()
        .await
        .unwrap();
    let health = HealthClient::new(channel.clone())
        .check(tonic_health::pb::HealthCheckRequest {
            service: obup_package_store::startup::SERVICE_NAME.into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(health.status, ServingStatus::Serving as i32);

    // v1alpha, the protocol grpcurl 1.8 speaks.
    let request = ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut responses = ServerReflectionClient::new(channel)
        .server_reflection_info(futures::stream::iter([request]))
        .await
        .unwrap()
        .into_inner();
    let Some(MessageResponse::ListServicesResponse(list)) =
        responses.message().await.unwrap().unwrap().message_response
    else {
        panic!("expected a service list");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&obup_package_store::startup::SERVICE_NAME.to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
}
