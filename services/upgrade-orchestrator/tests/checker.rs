//! Clusters that obshell's request-time pre-checks let through and the
//! upgrade checker script refuses (obsim's start scenarios): a tenant that
//! is not NORMAL, servers on different builds. The DAG fails at the
//! checker's stage with the script's reasons in its log, nothing after it
//! runs, and once the cluster is put right RETRY finishes the upgrade.

mod common;

use std::time::Duration;

use obup_upgrade_orchestrator::domain::state::State;

const CHECKER: &str = "Execute upgrade checker script";

#[tokio::test]
async fn a_tenant_not_normal_fails_the_checker_until_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |c| {
        c.scenario.tenant_status = Some("RESTORE".into());
    })
    .await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let o = &running.orchestrator;
    let (failed, logs) = common::failed_at(o, CHECKER).await;
    assert!(
        logs.iter()
            .any(|l| l.contains("upgrade checker failed with 1 reasons: tenants not NORMAL (1)")),
        "{logs:#?}"
    );
    let status = cluster.sim().status();
    assert!(
        status.tenants.iter().any(|t| t.status == "RESTORE"),
        "the scenario shows in status: {:?}",
        status.tenants
    );

    cluster
        .sim()
        .apply(obup_obsim::state::Op::SetTenantStatus {
            tenant: "tenant1".into(),
            status: "NORMAL".into(),
        })
        .unwrap();
    o.operate(failed.id, "retry", None).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), common::run_out(o, failed.id))
        .await
        .expect("the retried DAG ends");
    assert_eq!(done.state, State::Succeed, "{done:?}");
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn servers_on_different_builds_fail_the_checker() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |c| {
        c.mixed_version = Some("4.2.2.0-100000102023111713".into());
    })
    .await;
    let status = cluster.sim().status();
    let builds: std::collections::BTreeSet<_> =
        status.servers.iter().map(|s| s.build.clone()).collect();
    assert_eq!(builds.len(), 2, "the scenario shows in status: {builds:?}");
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let (_, logs) = common::failed_at(&running.orchestrator, CHECKER).await;
    assert!(
        logs.iter()
            .any(|l| l
                .contains("upgrade checker failed with 1 reasons: servers run different versions")),
        "{logs:#?}"
    );
    cluster.stop().await.unwrap();
}
