//! A sub-task that outlives its timeout fails, and says so in its log.

mod common;

use std::time::Duration;

use obup_obsim::{FaultAction, FaultSpec};
use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;

#[tokio::test]
async fn a_slow_sub_task_times_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    // The sys tenant takes 2 s to answer STOP ZONE; sub-tasks may take 1 s.
    let cluster = common::local_cluster(dir.path(), |c| {
        c.faults.push(FaultSpec {
            pattern: "stop_zone".into(),
            action: FaultAction::Delay { ms: 2000 },
        })
    })
    .await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |c| {
        c.engine.task_timeout = Duration::from_secs(1)
    })
    .await;
    let dag = running
        .orchestrator
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .unwrap();
    let failed = common::run_out(&running.orchestrator, dag.id).await;
    assert_eq!(failed.state, State::Failed);
    let node = &failed.nodes[failed.stage as usize - 1];
    assert_eq!(node.name, "Stop zone1");
    let logs = running.orchestrator.logs(node.tasks[0].id).await.unwrap();
    assert!(
        logs.iter().any(|l| l.content == "sub task timeout"),
        "{logs:?}"
    );
    cluster.stop().await.unwrap();
}
