//! An agent that goes away mid-operation (its host's agent restarted, a
//! network cut): the orchestrator re-attaches once it is back, the
//! operation continues where it was, the sub-task completes and nothing
//! runs twice.

mod common;

use std::time::Duration;

use obup_upgrade_orchestrator::domain::state::State;

#[tokio::test]
async fn an_agent_gone_for_ten_seconds_mid_download_costs_no_rerun() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    // 1 KB/s: the server package (~4 KB) takes seconds to download.
    let mut cluster = common::local_cluster_with(dir.path(), |_| {}, 1024).await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let dag = running
        .orchestrator
        .check(&common::target(None), None)
        .await
        .unwrap();
    let agent = cluster.agents()[1].clone();

    // The download on the second host is running: its agent goes away.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let task = loop {
        let d = running.orchestrator.get(dag.id).await.unwrap();
        let found = d.nodes.iter().flat_map(|n| &n.tasks).find(|t| {
            t.name == "Download all required packages"
                && t.agent.as_deref() == Some(agent.as_str())
                && t.state == State::Running
        });
        if let Some(t) = found {
            break t.id;
        }
        assert!(tokio::time::Instant::now() < deadline, "{d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    cluster.stop_agent(1).await.unwrap();
    tokio::time::sleep(Duration::from_secs(10)).await;
    cluster.start_agent(1).await.unwrap();

    let mut events = running.orchestrator.watch(dag.id, 0, false).await.unwrap();
    while events.recv().await.is_some() {}
    let done = running.orchestrator.get(dag.id).await.unwrap();
    assert_eq!(done.state, State::Succeed, "{done:?}");
    let download = done
        .nodes
        .iter()
        .flat_map(|n| &n.tasks)
        .find(|t| t.id == task)
        .unwrap();
    assert_eq!(
        download.execute_times, 1,
        "one execution, resumed on the agent"
    );
    let logs: Vec<String> = running
        .orchestrator
        .logs(task)
        .await
        .unwrap()
        .into_iter()
        .map(|l| l.content)
        .collect();
    let has = |s: &str| logs.iter().any(|l| l.contains(s));
    assert!(has("lost agent"), "{logs:#?}");
    assert!(has("continuing after an interruption"), "{logs:#?}");
    // The package was fetched in full and checked: the next stage verified
    // it on that host.
    assert!(
        done.nodes
            .iter()
            .filter(|n| n.name == "Check all required packages")
            .flat_map(|n| &n.tasks)
            .all(|t| t.state == State::Succeed)
    );
    cluster.stop().await.unwrap();
}
