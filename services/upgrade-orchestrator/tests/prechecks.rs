//! obshell's request-time pre-checks against a cluster in a state that
//! forbids an upgrade (obsim's start scenarios): the start is refused with
//! obshell's code and message, no DAG is created, and nothing is asked of
//! the cluster beyond reads.

mod common;

use obup_upgrade_orchestrator::Error;
use obup_upgrade_orchestrator::domain::template::Mode;
use obup_upgrade_orchestrator::storage::DagFilter;

/// Starts an upgrade against a cluster set up by `tweak` (its second
/// observer killed first, if `kill`) and returns the pre-check's code and
/// message.
async fn refused(
    tweak: impl FnOnce(&mut obup_obsim::Config),
    kill: bool,
) -> (&'static str, String) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), tweak).await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    if kill {
        let home = &cluster.sim().server_homes()[1];
        obup_obsim::hosts::kill_observer(home).expect("the observer ran");
        // Until the cluster has noticed (obsim's poll; no lease in tests).
        let noticed = cluster
            .sim()
            .wait_for(std::time::Duration::from_secs(10), |c| {
                c.servers[1].status == obup_obsim::state::ServerStatus::Inactive
            })
            .await;
        assert!(noticed, "the server never turned INACTIVE");
    }
    let o = &running.orchestrator;
    let e = o
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .expect_err("the pre-checks refuse the upgrade");
    let Error::Precheck { code, message } = e else {
        panic!("not a pre-check's refusal: {e:?}");
    };
    assert!(
        o.list(DagFilter::All, "").await.unwrap().is_empty(),
        "no DAG was created"
    );
    let writes: Vec<String> = cluster
        .sim()
        .transcript(0)
        .into_iter()
        .filter(|e| {
            e.text
                .trim_start()
                .to_ascii_lowercase()
                .starts_with("alter")
        })
        .map(|e| e.text)
        .collect();
    assert!(writes.is_empty(), "the cluster was changed: {writes:?}");
    cluster.stop().await.unwrap();
    (code, message)
}

#[tokio::test]
async fn a_major_compaction_refuses_the_upgrade() {
    let (code, message) = refused(|c| c.scenario.major_compaction = true, false).await;
    assert_eq!(code, "OB.Upgrade.TenantInMajorCompaction", "{message}");
}

#[tokio::test]
async fn a_running_backup_refuses_the_upgrade() {
    let (code, message) = refused(|c| c.scenario.backup_jobs = 1, false).await;
    assert_eq!(code, "OB.Upgrade.HasRunningBackupTask");
    assert_eq!(
        message,
        "There are 1 running backup tasks, upgrade is not allowed temporarily"
    );
}

#[tokio::test]
async fn a_dead_observer_refuses_the_upgrade() {
    let (code, message) = refused(|_| {}, true).await;
    assert_eq!(code, "OB.Server.Unavailable");
    assert!(
        message.starts_with("Observer '") && message.ends_with("' is not available"),
        "{message}"
    );
}
