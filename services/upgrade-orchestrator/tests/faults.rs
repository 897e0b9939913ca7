//! The fault table of a rolling upgrade, beyond statements refused with an
//! error code (those are in the e2e `upgrade` tests): a cluster that never
//! reaches the state a wait expects, or whose root-service job fails
//! (obsim's frozen transitions). Each row fails the sub-task that depends
//! on it, with a specific error in its log; later stages do not run; once
//! the fault is cleared, RETRY finishes the upgrade.

mod common;

use std::time::Duration;

use obup_obsim::Transition;
use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;
use obup_upgrade_orchestrator::driver::waits::WaitPolicy;

struct Row {
    /// The transition the cluster never makes.
    fault: Transition,
    /// The stage whose sub-task must fail.
    stage: &'static str,
    /// What its log must say.
    says: &'static str,
}

/// Runs one row: the fault in force from the start, the DAG failed where
/// the row says, the fault cleared, RETRY to SUCCEED.
async fn fails_then_retries(row: Row) {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |c| {
        // Waits give up after 2 s rather than obshell's 5 minutes.
        c.driver.zone_wait = WaitPolicy::new(50, 40);
        c.driver.restart_wait = WaitPolicy::new(50, 40);
    })
    .await;
    let sim = cluster.sim();
    sim.freeze(row.fault);
    let o = &running.orchestrator;
    let (dag, logs) = common::failed_at(o, row.stage).await;
    assert!(
        logs.iter().any(|l| l.contains(row.says)),
        "{:?}: {:?} not in the log {logs:#?}",
        row.fault,
        row.says
    );

    // Cleared, the upgrade finishes from where it stopped.
    sim.thaw(row.fault);
    o.operate(dag.id, "retry", None).await.unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), common::run_out(o, dag.id))
        .await
        .unwrap_or_else(|_| panic!("{:?}: the retried DAG never ended", row.fault));
    assert_eq!(done.state, State::Succeed, "{:?}: RETRY", row.fault);
    cluster.stop().await.unwrap();
}

#[tokio::test]
async fn a_zone_that_never_stops_fails_stop_zone() {
    fails_then_retries(Row {
        fault: Transition::ZoneInactive,
        stage: "Stop zone1",
        says: "timed out waiting for zone1 to be INACTIVE",
    })
    .await;
}

#[tokio::test]
async fn a_zone_that_never_starts_fails_start_zone() {
    fails_then_retries(Row {
        fault: Transition::ZoneActive,
        stage: "Start zone1",
        says: "timed out waiting for zone1 to be ACTIVE",
    })
    .await;
}

#[tokio::test]
async fn an_observer_that_never_serves_fails_the_restart() {
    fails_then_retries(Row {
        fault: Transition::StartService,
        stage: "Reinstall and restart observer",
        says: "timed out waiting for the restarted observers to serve the new build",
    })
    .await;
}

#[tokio::test]
async fn logs_that_never_sync_fail_the_restart() {
    fails_then_retries(Row {
        fault: Transition::LogSync,
        stage: "Reinstall and restart observer",
        says: "timed out waiting for every log stream to be in sync",
    })
    .await;
}

#[tokio::test]
async fn a_failed_upgrade_job_fails_the_post_script() {
    // The script exits non-zero, and its output names the job.
    fails_then_retries(Row {
        fault: Transition::JobFailed,
        stage: "Execute upgrade post script",
        says: "UPGRADE_ALL",
    })
    .await;
}

/// A connection cut in the middle of a result (obsim's `drop` fault, after
/// the first row) is a failed read, never a shorter answer: a cut list of
/// three zones read as one would stop the wrong zone, or none. Every read
/// the upgrade makes of zones and servers is cut once, in turn: each is
/// asked again on another endpoint and the upgrade runs to the end, with
/// no sub-task failed and every zone stopped once.
#[tokio::test]
async fn results_cut_mid_row_are_read_again_elsewhere() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let sim = cluster.sim();
    // Cut every other read of each, counted from the start of the DAG:
    // the pre-checks', the stop and start waits', the restart waits'.
    let mut ids = Vec::new();
    for pattern in ["zones", "servers"] {
        for nth in (1..=11).step_by(2) {
            let spec = obup_obsim::FaultSpec {
                pattern: pattern.into(),
                action: obup_obsim::FaultAction::Drop { nth, after_rows: 1 },
            };
            ids.push(sim.add_fault(spec).unwrap());
        }
    }
    let o = &running.orchestrator;
    let dag = o
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .unwrap();
    let done = tokio::time::timeout(Duration::from_secs(120), common::run_out(o, dag.id))
        .await
        .expect("the DAG ends");
    assert_eq!(done.state, State::Succeed, "{done:#?}");
    for node in &done.nodes {
        for task in &node.tasks {
            assert_eq!(task.state, State::Succeed, "{}: {task:?}", node.name);
        }
    }
    let status = sim.status();
    for id in ids {
        let fault = status.faults.iter().find(|f| f.id == id).unwrap();
        assert_eq!(fault.fired, 1, "every cut happened: {fault:?}");
    }
    let stops = sim
        .transcript(0)
        .iter()
        .filter(|e| e.id.as_deref() == Some("stop_zone"))
        .count();
    assert_eq!(stops, 3, "each zone stopped once");
    cluster.stop().await.unwrap();
}
