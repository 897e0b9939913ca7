//! Helpers shared by the orchestrator's integration tests.

#![allow(dead_code)] // each test binary uses a different part

use obup_package_store::PackageStore;
use obup_proto::pb::packagestore::v1 as ppb;
use obup_test_support::{Compression, RpmSpec};

/// A package store on a free port, with the target packages uploaded.
pub async fn package_store(dir: &std::path::Path) -> String {
    package_store_holding(
        dir,
        vec![
            RpmSpec::oceanbase_ce("4.3.5.0", "100000202024123117.el7"),
            RpmSpec::oceanbase_ce_libs("4.3.5.0", "100000202024123117.el7")
                .compression(Compression::Zstd),
        ],
    )
    .await
}

/// A package store on a free port holding `packages`.
pub async fn package_store_holding(dir: &std::path::Path, packages: Vec<RpmSpec>) -> String {
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
    for spec in packages {
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

/// The Python the agents run the upgrade scripts with: a virtualenv with
/// mysql-connector-python, made once per target dir.
pub fn python() -> std::path::PathBuf {
    obup_local_cluster::python::for_tests()
        .unwrap_or_else(|e| panic!("a Python with mysql-connector-python (pip from PyPI): {e:#}"))
}

/// A 3-zone simulated cluster under `dir` (obsim on a random `127.A.B`, an
/// agent per host on a free port), reacting at once unless `tweak` says
/// otherwise.
pub async fn local_cluster(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut obup_obsim::Config),
) -> obup_local_cluster::LocalCluster {
    local_cluster_with(dir, tweak, 0).await
}

/// [`local_cluster`] whose agents download at most `fetch_bytes_per_sec`
/// (0: no limit), to catch a download in flight.
pub async fn local_cluster_with(
    dir: &std::path::Path,
    tweak: impl FnOnce(&mut obup_obsim::Config),
    fetch_bytes_per_sec: u64,
) -> obup_local_cluster::LocalCluster {
    // The agents' and obsim's warnings go to stderr, uncaptured: when a
    // test fails they are what explains it.
    obup_kit::telemetry::init("warn");
    let mut obsim = obup_obsim::Config::for_tests(dir.join("obsim"));
    tweak(&mut obsim);
    obup_local_cluster::LocalCluster::start(obup_local_cluster::LocalConfig {
        obsim,
        agents_dir: dir.join("agents"),
        agent_port: 0,
        python: Some(python()),
        fetch_bytes_per_sec,
        tls_dir: None,
        store_token_file: None,
        store_ca: None,
    })
    .await
    .unwrap()
}

/// Registers `cluster` as `lab` through an orchestrator's gRPC API.
pub async fn register(url: &str, cluster: &obup_local_cluster::LocalCluster) {
    use obup_proto::pb::orchestrator::v1 as opb;
    let mut client =
        opb::upgrade_orchestrator_client::UpgradeOrchestratorClient::connect(url.to_owned())
            .await
            .unwrap();
    client
        .register_cluster(opb::RegisterClusterRequest {
            name: "lab".into(),
            sql_endpoints: cluster.sql_endpoints(),
            agents: cluster.agents(),
            ssl_mode: opb::SslMode::Disabled as i32,
            replace: true,
            ..Default::default()
        })
        .await
        .unwrap();
}

/// Registers `cluster` as `lab` directly with an orchestrator.
pub async fn register_with(
    o: &obup_upgrade_orchestrator::Orchestrator,
    cluster: &obup_local_cluster::LocalCluster,
) {
    use obup_upgrade_orchestrator::clusters::{Password, Registration, SslMode};
    o.clusters()
        .register(
            Registration {
                name: "lab".into(),
                sql_endpoints: cluster.sql_endpoints(),
                sys_user: "root".into(),
                password: Password::default(),
                agents: cluster.agents(),
                ssl_mode: SslMode::Disabled,
            },
            true,
            1,
            None,
        )
        .await
        .unwrap();
}

/// An orchestrator `Config` on `database`, in `data`, fronting `store`,
/// polling the cluster every 50 ms.
pub fn config(
    data: &std::path::Path,
    database: &str,
    store: &str,
    owner: &str,
) -> obup_upgrade_orchestrator::Config {
    let mut c = obup_upgrade_orchestrator::Config::embedded(data, store).unwrap();
    c.database_url = database.into();
    c.engine.owner = owner.into();
    c.driver = obup_upgrade_orchestrator::driver::DriverConfig::polling_every(50);
    c
}

/// The upgrade the tests ask for: to the 4.3.5.0 that [`package_store`]
/// holds; `mode: None` for a check DAG.
pub fn target(
    mode: Option<obup_upgrade_orchestrator::domain::template::Mode>,
) -> obup_upgrade_orchestrator::plan::UpgradeRequest {
    obup_upgrade_orchestrator::plan::UpgradeRequest {
        version: "4.3.5.0".into(),
        release: "100000202024123117.el7".into(),
        mode,
        upgrade_dir: String::new(),
        freeze_server: false,
        package_ids: vec![],
        cluster: String::new(),
    }
}

/// An orchestrator in this process on a SQLite file under `dir` and the
/// package store at `store`, its config changed by `tweak`, with `cluster`
/// registered. It runs until the returned sender sends or is dropped.
pub async fn in_process(
    dir: &std::path::Path,
    store: &str,
    cluster: &obup_local_cluster::LocalCluster,
    tweak: impl FnOnce(&mut obup_upgrade_orchestrator::Config),
) -> (
    obup_upgrade_orchestrator::startup::Running,
    tokio::sync::watch::Sender<bool>,
) {
    let url = format!("sqlite://{}?mode=rwc", dir.join("dags.db").display());
    let mut config = config(&dir.join("data"), &url, store, "engine");
    tweak(&mut config);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let running = obup_upgrade_orchestrator::startup::start(&config, stopped)
        .await
        .unwrap();
    register_with(&running.orchestrator, cluster).await;
    (running, stop)
}

/// The log lines of sub-task `task`, in order.
pub async fn log_lines(o: &obup_upgrade_orchestrator::Orchestrator, task: i64) -> Vec<String> {
    o.logs(task)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.content)
        .collect()
}

/// Follows DAG `id` until it is over (its event stream ends); the DAG
/// then.
pub async fn run_out(
    o: &obup_upgrade_orchestrator::Orchestrator,
    id: i64,
) -> obup_upgrade_orchestrator::domain::dag::Dag {
    let mut events = o.watch(id, 0, false).await.unwrap();
    while events.recv().await.is_some() {}
    o.get(id).await.unwrap()
}

/// Starts a rolling upgrade to [`target`] and follows it to its end (two
/// minutes at most); asserts it FAILED at the stage named `stage` with
/// every later stage PENDING. Returns the DAG and the log of the failed
/// sub-task.
pub async fn failed_at(
    o: &obup_upgrade_orchestrator::Orchestrator,
    stage: &str,
) -> (obup_upgrade_orchestrator::domain::dag::Dag, Vec<String>) {
    use obup_upgrade_orchestrator::domain::state::State;
    use obup_upgrade_orchestrator::domain::template::Mode;
    let dag = o.start(&target(Some(Mode::Rolling)), None).await.unwrap();
    let failed = tokio::time::timeout(std::time::Duration::from_secs(120), run_out(o, dag.id))
        .await
        .unwrap_or_else(|_| panic!("{stage}: the DAG never ended"));
    assert_eq!(failed.state, State::Failed, "{stage}: {failed:?}");
    let node = &failed.nodes[failed.stage as usize - 1];
    assert_eq!(node.name, stage);
    assert!(
        failed.nodes[failed.stage as usize..]
            .iter()
            .all(|n| n.state == State::Pending),
        "{stage}: stages after the failed one ran"
    );
    let task = node
        .tasks
        .iter()
        .find(|t| t.state == State::Failed)
        .unwrap_or_else(|| panic!("{stage}: no failed sub-task in {node:?}"));
    let logs = log_lines(o, task.id).await;
    (failed, logs)
}
