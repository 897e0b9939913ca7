//! A sub-task that outlives its timeout fails, and says so in its log.

mod common;

use std::sync::Arc;
use std::time::Duration;

use obup_upgrade_orchestrator::cluster::{Cluster, SimCluster, SimConfig};
use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;
use obup_upgrade_orchestrator::engine::EngineConfig;
use obup_upgrade_orchestrator::packages::{GrpcPackages, PackageSource};
use obup_upgrade_orchestrator::plan::UpgradeRequest;
use obup_upgrade_orchestrator::startup;
use obup_upgrade_orchestrator::storage::{DagRepository, SqlDagRepository};
use tokio::sync::watch;

#[tokio::test]
async fn a_slow_sub_task_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let store_url = common::package_store(&dir.path().join("store")).await;
    let packages: Arc<dyn PackageSource> = Arc::new(GrpcPackages::lazy(&store_url).unwrap());
    // Each cluster operation takes 2 s; sub-tasks may take 200 ms.
    let sim = SimConfig {
        step: Duration::from_secs(2),
        ..SimConfig::default()
    };
    let cluster: Arc<dyn Cluster> =
        Arc::new(SimCluster::open(&dir.path().join("sim"), &sim).unwrap());
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("dags.db").display());
    let repo: Arc<dyn DagRepository> = Arc::new(SqlDagRepository::connect(&url).await.unwrap());
    let engine = EngineConfig {
        task_timeout: Duration::from_millis(200),
        ..EngineConfig::default()
    };
    let (_stop, stopped) = watch::channel(false);
    let running = startup::start_with(repo.clone(), cluster, packages, engine, stopped)
        .await
        .unwrap();
    let request = UpgradeRequest {
        version: "4.3.5.0".into(),
        release: "100000202024123117.el7".into(),
        mode: Some(Mode::Rolling),
        upgrade_dir: String::new(),
        freeze_server: false,
        package_ids: vec![],
    };
    let dag = running.orchestrator.start(&request).await.unwrap();
    let mut events = running.orchestrator.watch(dag.id, 0, false).await.unwrap();
    while events.recv().await.is_some() {}
    let failed = repo.get(dag.id).await.unwrap().unwrap();
    assert_eq!(failed.state, State::Failed);
    let node = &failed.nodes[failed.stage as usize - 1];
    // The first stage that talks to the (slow) cluster: the checker script.
    assert_eq!(node.name, "Execute upgrade checker script");
    let logs = repo.logs(node.tasks[0].id).await.unwrap();
    assert!(
        logs.iter().any(|l| l.content == "sub task timeout"),
        "{logs:?}"
    );
}
