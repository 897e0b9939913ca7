//! What checking tokens costs under the load runs' load: 1,000 `WatchDag`
//! subscribers of one orchestrator, and 200 concurrent uploads to a package
//! store, each against a service that checks every call's token and one
//! that checks none, measured in the same run and interleaved so that the
//! machine's speed swings hit both; the watchers also against a second
//! process that checks none, whose ratio to the first is the noise floor
//! of comparing two processes. The figure is the
//! ratio of the medians (target <= 1.05). CI runs it in debug with one
//! repetition, for the correctness of both paths; `scripts/bench` runs it
//! in release with `OBUP_BENCH_REPS` (default 5) for the figure.
//!
//! The checking side is the real one: an `obup-orchestrator` process with
//! `OBUP_AUTH=tokens` (its tokens in PostgreSQL), and a package store whose
//! gate asks that orchestrator (`RemoteLookup`) behind the verifier cache.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use obup_kit::auth::{BearerInterceptor, Gate, Policy, RemoteLookup, Token, Verifier};
use obup_proto::pb::auth::v1 as apb;
use obup_proto::pb::orchestrator::v1 as opb;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::bench::{Figure, env_or, median, report};
use obup_test_support::{RpmSpec, ServiceProcess, TestDb};
use opb::upgrade_orchestrator_client::UpgradeOrchestratorClient;
use ppb::package_store_client::PackageStoreClient;
use tonic::transport::Channel;

const BIN: &str = env!("CARGO_BIN_EXE_obup-orchestrator");
/// The secret key both orchestrators share (32 zero bytes): one registers
/// the cluster, the other runs its upgrade.
const SHARED_KEY: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
const WATCHERS: usize = 1000;
const CONNECTIONS: usize = 20;
const UPLOADS: usize = 200;

fn orchestrator(
    id: &str,
    data: &Path,
    db: &str,
    store: &str,
    extra: &[(&str, OsString)],
) -> ServiceProcess {
    let mut env: Vec<(&str, OsString)> = vec![
        ("OBUP_DATA_DIR", data.into()),
        ("DATABASE_URL", db.into()),
        ("OBUP_PACKAGE_STORE_URL", store.into()),
        ("OBUP_ENGINE_ID", id.into()),
        ("OBUP_DRIVER_POLL_MS", "50".into()),
        ("OBUP_SECRET_KEY", SHARED_KEY.into()),
    ];
    env.extend(extra.iter().cloned());
    ServiceProcess::start(Path::new(BIN), &env).unwrap()
}

fn conn(
    url: &str,
    token: Option<&Token>,
) -> tonic::service::interceptor::InterceptedService<Channel, BearerInterceptor> {
    tonic::service::interceptor::InterceptedService::new(
        Channel::from_shared(url.to_owned()).unwrap().connect_lazy(),
        BearerInterceptor::new(token),
    )
}

/// One side's run: wall seconds, and the CPU seconds the serving process
/// spent (what the check costs it, whatever else the machine does).
#[derive(Debug, Clone, Copy)]
struct Run {
    wall: f64,
    cpu: f64,
}

/// `WATCHERS` replays of DAG `id` from `server` over `CONNECTIONS`
/// connections; every stream must end at `last_seq`.
async fn watch_all(server: &ServiceProcess, token: Option<&Token>, id: i64, last_seq: i64) -> Run {
    let url = server.url.as_str();
    let clients: Vec<_> = (0..CONNECTIONS)
        .map(|_| UpgradeOrchestratorClient::new(conn(url, token)))
        .collect();
    let cpu = server.cpu_seconds().unwrap();
    let started = Instant::now();
    let streams: Vec<_> = (0..WATCHERS)
        .map(|i| {
            let mut c = clients[i % CONNECTIONS].clone();
            tokio::spawn(async move {
                let mut s = c
                    .watch_dag(opb::WatchDagRequest {
                        dag_id: id,
                        after_seq: 0,
                        follow: false,
                    })
                    .await?
                    .into_inner();
                let mut last = 0;
                while let Some(e) = s.message().await? {
                    last = e.seq;
                }
                Ok::<_, tonic::Status>(last)
            })
        })
        .collect();
    for s in streams {
        assert_eq!(s.await.unwrap().unwrap(), last_seq);
    }
    Run {
        wall: started.elapsed().as_secs_f64(),
        cpu: server.cpu_seconds().unwrap() - cpu,
    }
}

/// A package store in this process, checking callers with `gate`.
async fn store(dir: &Path, gate: Option<Arc<Gate>>) -> String {
    let config = obup_package_store::Config::embedded(dir).unwrap();
    let store = obup_package_store::PackageStore::open(&config)
        .await
        .unwrap();
    let router =
        obup_kit::grpc::guarded_router(obup_package_store::startup::routes(store), &[], &[], gate)
            .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(obup_kit::grpc::serve(
        listener,
        router,
        std::future::pending(),
    ));
    url
}

/// Seconds for `UPLOADS` concurrent uploads of distinct packages (builds
/// numbered from `first`), one connection each.
async fn upload_all(url: &str, token: Option<&Token>, first: u64) -> f64 {
    let packages: Vec<Vec<u8>> = (0..UPLOADS as u64)
        .map(|i| RpmSpec::oceanbase_ce("4.3.5.0", &format!("{}.el7", first + i)).build())
        .collect();
    let clients: Vec<_> = (0..UPLOADS)
        .map(|_| PackageStoreClient::new(conn(url, token)))
        .collect();
    let started = Instant::now();
    let uploads: Vec<_> = clients
        .into_iter()
        .zip(packages)
        .map(|(mut c, bytes)| {
            tokio::spawn(async move {
                let messages = vec![
                    ppb::UploadRequest {
                        kind: Some(ppb::upload_request::Kind::Start(ppb::UploadStart {
                            file_name: "oceanbase-ce.rpm".into(),
                            total_size: Some(bytes.len() as u64),
                            ..Default::default()
                        })),
                    },
                    ppb::UploadRequest {
                        kind: Some(ppb::upload_request::Kind::Data(ppb::UploadData {
                            offset: 0,
                            data: bytes.into(),
                        })),
                    },
                ];
                c.upload(futures::stream::iter(messages)).await.map(drop)
            })
        })
        .collect();
    for u in uploads {
        u.await.unwrap().unwrap();
    }
    started.elapsed().as_secs_f64()
}

/// The ratio of the medians, as a figure with its target.
fn figure(what: &str, on: &[f64], off: &[f64]) -> Figure {
    let (on_m, off_m) = (median(on), median(off));
    let secs = |v: &[f64]| {
        v.iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    println!("{what}: checked [{}] unchecked [{}]", secs(on), secs(off));
    let ratio = on_m / off_m;
    Figure::new(format!("{what}: tokens checked"), format!("{on_m:.2} s"))
        .baseline(
            format!("unchecked {off_m:.2} s (median of {})", off.len()),
            ratio,
        )
        .target("<= 1.05", ratio <= 1.05)
}

#[tokio::test]
async fn checking_tokens_costs_little_under_load() {
    let reps: usize = env_or("OBUP_BENCH_REPS", 1);
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let packages = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let services = dir.path().join("service-tokens");
    // `on` checks tokens, `off` checks nothing; both only serve the API, so
    // that they differ in nothing else. `engine` (same database) runs the
    // upgrade whose events they replay.
    let on = orchestrator(
        "on",
        &dir.path().join("on"),
        &db.url,
        &packages,
        &[
            ("OBUP_AUTH", "tokens".into()),
            ("OBUP_SERVICE_TOKENS_DIR", services.clone().into()),
            ("OBUP_ENGINE_CONCURRENCY", "0".into()),
        ],
    );
    let off = orchestrator(
        "off",
        &dir.path().join("off"),
        &db.url,
        &packages,
        &[
            ("OBUP_AUTH", "off".into()),
            ("OBUP_ENGINE_CONCURRENCY", "0".into()),
        ],
    );
    // A second unchecked one: the control. Two identical processes differ
    // by noise alone (where each lands, what else runs); their ratio says
    // how much of the checked/unchecked ratio that noise can explain.
    let control = orchestrator(
        "control",
        &dir.path().join("control"),
        &db.url,
        &packages,
        &[
            ("OBUP_AUTH", "off".into()),
            ("OBUP_ENGINE_CONCURRENCY", "0".into()),
        ],
    );
    let _engine = orchestrator(
        "engine",
        &dir.path().join("engine"),
        &db.url,
        &packages,
        &[("OBUP_AUTH", "off".into())],
    );
    let admin = obup_kit::auth::read_token_file(&dir.path().join("on/tokens/admin.token"))
        .unwrap()
        .unwrap();
    common::register(&off.url, &cluster).await;
    let id = UpgradeOrchestratorClient::new(conn(&off.url, None))
        .start_upgrade(opb::UpgradeRequest {
            version: "4.3.5.0".into(),
            release: "100000202024123117.el7".into(),
            mode: opb::Mode::Rolling as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .id;
    let deadline = Instant::now() + Duration::from_secs(180);
    let last_seq = loop {
        let d = UpgradeOrchestratorClient::new(conn(&off.url, None))
            .get_dag(opb::GetDagRequest { id, details: false })
            .await
            .unwrap()
            .into_inner();
        if d.state == "SUCCEED" {
            break d.seq;
        }
        assert!(
            d.state != "FAILED" && Instant::now() < deadline,
            "DAG {id}: {}",
            d.state
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    // Without a token the checking side refuses, so the path is really on.
    let refused = UpgradeOrchestratorClient::new(conn(&on.url, None))
        .get_dag(opb::GetDagRequest { id, details: false })
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);

    // Watchers: the finished DAG replayed by each side, `reps` times. The
    // order rotates (on, off, control; off, control, on; ...), so that
    // whatever the first run of a round pays falls on every side.
    let (mut w_on, mut w_off, mut w_control) = (Vec::new(), Vec::new(), Vec::new());
    for rep in 0..reps {
        for side in 0..3 {
            match (side + rep) % 3 {
                0 => w_on.push(watch_all(&on, Some(&admin), id, last_seq).await),
                1 => w_off.push(watch_all(&off, None, id, last_seq).await),
                _ => w_control.push(watch_all(&control, None, id, last_seq).await),
            }
        }
    }

    // Uploads: an operator token, checked by a store that asks `on`.
    let operator = apb::tokens_client::TokensClient::new(conn(&on.url, Some(&admin)))
        .create_token(apb::CreateTokenRequest {
            name: "uploader".into(),
            role: "operator".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .secret;
    let operator = Token::parse(&operator).unwrap();
    let store_token = obup_kit::auth::read_token_file(&services.join("package-store.token"))
        .unwrap()
        .unwrap();
    let lookup = RemoteLookup::new(&on.url, &store_token, &Default::default()).unwrap();
    let gate = Arc::new(Gate {
        verifier: Some(Arc::new(Verifier::new(Arc::new(lookup)))),
        policy: Policy::of(&[obup_package_store::grpc::access::ACCESS])
            .mutating(&[obup_package_store::grpc::access::MUTATING]),
        // Refusals only (none in the timed part); uploads journal their
        // events in their own commit either way.
        audit: None,
    });
    let checked = store(&dir.path().join("checked"), Some(gate)).await;
    let unchecked = store(&dir.path().join("unchecked"), None).await;
    let refused = PackageStoreClient::new(conn(&checked, None))
        .list_packages(ppb::ListPackagesRequest::default())
        .await
        .unwrap_err();
    assert_eq!(refused.code(), tonic::Code::Unauthenticated);
    let (mut u_on, mut u_off) = (Vec::new(), Vec::new());
    for rep in 0..reps as u64 {
        let first = 100_000_202_024_000_000 + rep * 1_000;
        if rep % 2 == 0 {
            u_on.push(upload_all(&checked, Some(&operator), first).await);
            u_off.push(upload_all(&unchecked, None, first).await);
        } else {
            u_off.push(upload_all(&unchecked, None, first).await);
            u_on.push(upload_all(&checked, Some(&operator), first).await);
        }
    }
    let wall = |runs: &[Run]| runs.iter().map(|r| r.wall).collect::<Vec<_>>();
    let cpu = |runs: &[Run]| runs.iter().map(|r| r.cpu).collect::<Vec<_>>();
    let (control_m, off_m) = (median(&wall(&w_control)), median(&wall(&w_off)));
    println!(
        "control: unchecked' [{}]",
        wall(&w_control)
            .iter()
            .map(|x| format!("{x:.2}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    report(&[
        figure(
            &format!("{WATCHERS} WatchDag replays"),
            &wall(&w_on),
            &wall(&w_off),
        ),
        figure(
            &format!("{WATCHERS} WatchDag replays, the server's CPU seconds"),
            &cpu(&w_on),
            &cpu(&w_off),
        ),
        Figure::new(
            format!("{WATCHERS} WatchDag replays: a second unchecked process (noise floor)"),
            format!("{control_m:.2} s"),
        )
        .baseline(format!("unchecked {off_m:.2} s"), control_m / off_m),
        figure(&format!("{UPLOADS} concurrent uploads"), &u_on, &u_off),
    ])
    .unwrap();
}
