//! Load: 200 clients upload 200 different small packages at once to the
//! `obup-package-store` binary on PostgreSQL. Every upload lands, nothing is
//! stored twice, and the service stays within its 64 MiB memory bound.
//! `scripts/bench` runs this in release mode and puts its figures in the
//! project's benchmark table.

use std::ffi::OsString;
use std::path::Path;
use std::time::Instant;

use obup_proto::pb::packagestore::v1 as pb;
use obup_test_support::bench::{Figure, MIB, report};
use obup_test_support::{RpmSpec, ServiceProcess, TestDb};
use pb::package_store_client::PackageStoreClient;
use pb::upload_request::Kind;

const BIN: &str = env!("CARGO_BIN_EXE_obup-package-store");
const CLIENTS: usize = 200;

fn messages(bytes: Vec<u8>) -> Vec<pb::UploadRequest> {
    vec![
        pb::UploadRequest {
            kind: Some(Kind::Start(pb::UploadStart {
                file_name: "oceanbase-ce.rpm".into(),
                total_size: Some(bytes.len() as u64),
                ..Default::default()
            })),
        },
        pb::UploadRequest {
            kind: Some(Kind::Data(pb::UploadData {
                offset: 0,
                data: bytes.into(),
            })),
        },
    ]
}

#[tokio::test]
async fn two_hundred_concurrent_uploads_all_land_within_the_memory_bound() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let env: [(&str, OsString); 2] = [
        ("OBUP_DATA_DIR", dir.path().into()),
        ("DATABASE_URL", db.url.clone().into()),
    ];
    let store = ServiceProcess::start(Path::new(BIN), &env).unwrap();

    // Distinct builds, so 200 distinct packages.
    let packages: Vec<Vec<u8>> = (0..CLIENTS)
        .map(|i| {
            RpmSpec::oceanbase_ce(
                "4.3.5.0",
                &format!("{}.el7", 100_000_202_024_123_000u64 + i as u64),
            )
            .build()
        })
        .collect();
    let bytes: usize = packages.iter().map(Vec::len).sum();

    // One connection per client, all connected before the first byte.
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        clients.push(
            PackageStoreClient::connect(store.url.clone())
                .await
                .unwrap(),
        );
    }
    let started = Instant::now();
    let uploads: Vec<_> = clients
        .into_iter()
        .zip(packages)
        .map(|(mut c, p)| {
            tokio::spawn(async move {
                c.upload(futures::stream::iter(messages(p)))
                    .await
                    .map(|r| r.into_inner())
            })
        })
        .collect();
    let mut errors = Vec::new();
    for u in uploads {
        if let Err(e) = u.await.unwrap() {
            errors.push(e);
        }
    }
    let wall = started.elapsed().as_secs_f64();
    assert!(
        errors.is_empty(),
        "{} uploads failed: {errors:?}",
        errors.len()
    );

    let listed = PackageStoreClient::connect(store.url.clone())
        .await
        .unwrap()
        .list_packages(pb::ListPackagesRequest::default())
        .await
        .unwrap()
        .into_inner()
        .packages;
    assert_eq!(listed.len(), CLIENTS);
    let peak = store.peak_rss().unwrap();
    report(&[
        Figure::new(
            format!("{CLIENTS} concurrent uploads: failed"),
            errors.len().to_string(),
        )
        .target("0", errors.is_empty()),
        Figure::new(
            format!("{CLIENTS} concurrent uploads: packages per second"),
            format!("{:.0}/s", CLIENTS as f64 / wall),
        )
        .note(format!("{:.1} MiB in all", bytes as f64 / MIB as f64)),
        Figure::peak_rss(
            format!("{CLIENTS} concurrent uploads: package store peak RSS"),
            peak,
            format!("{CLIENTS} uploads"),
        ),
    ])
    .unwrap();
    assert!(peak <= 64 * MIB, "peak RSS {} MiB", peak / MIB);
}
