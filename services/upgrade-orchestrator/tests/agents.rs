//! An agent that goes away mid-operation (its host's agent restarted, a
//! network cut): the orchestrator re-attaches once it is back. A download
//! continues where it was, the sub-task completes and nothing runs twice;
//! a script cannot continue (obshell's flag), so its stage fails, the
//! interrupted script sends nothing more, and RETRY runs it again, which
//! re-runs safely.

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

    let done = common::run_out(&running.orchestrator, dag.id).await;
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
    let logs = common::log_lines(&running.orchestrator, task).await;
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

/// How many statements of catalogue entry `id` the sys tenant executed.
fn executed(cluster: &obup_local_cluster::LocalCluster, id: &str) -> usize {
    cluster
        .sim()
        .transcript(0)
        .iter()
        .filter(|e| e.id.as_deref() == Some(id))
        .count()
}

#[tokio::test]
async fn an_agent_lost_mid_script_fails_the_script_and_retry_runs_it_once_more() {
    let dir = tempfile::tempdir().unwrap();
    let store = common::package_store(&dir.path().join("store")).await;
    // The pre script's BEGIN UPGRADE takes 3 s: time to lose its agent.
    let mut cluster = common::local_cluster(dir.path(), |c| {
        c.faults.push(obup_obsim::FaultSpec {
            pattern: "begin_upgrade".into(),
            action: obup_obsim::FaultAction::Delay { ms: 3000 },
        })
    })
    .await;
    let (running, _stop) = common::in_process(dir.path(), &store, &cluster, |_| {}).await;
    let o = &running.orchestrator;
    let dag = o
        .start(
            &common::target(Some(
                obup_upgrade_orchestrator::domain::template::Mode::Rolling,
            )),
            None,
        )
        .await
        .unwrap();

    // The pre script is running on its agent: that agent goes away, as a
    // host's agent does when it is restarted, and comes back.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
    let (task, agent) = loop {
        let d = o.get(dag.id).await.unwrap();
        let found = d
            .nodes
            .iter()
            .flat_map(|n| &n.tasks)
            .find(|t| t.name == "Execute upgrade pre script" && t.state == State::Running);
        // The script's host is chosen when it starts (a serving one); its
        // log says which: "running <file> on <agent> against <ip:port>".
        if let Some(t) = found {
            let on = o.logs(t.id).await.unwrap().into_iter().find_map(|l| {
                let rest = l.content.split_once(" on ")?.1;
                Some(rest.split_once(" against ")?.0.to_owned())
            });
            if let Some(agent) = on {
                break (t.id, agent);
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{d:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let i = cluster.agents().iter().position(|a| *a == agent).unwrap();
    cluster.stop_agent(i).await.unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    cluster.start_agent(i).await.unwrap();

    // A script cannot continue: its stage fails, saying so, and nothing
    // after it runs.
    let failed = common::run_out(o, dag.id).await;
    assert_eq!(failed.state, State::Failed, "{failed:?}");
    let node = &failed.nodes[failed.stage as usize - 1];
    assert_eq!(node.name, "Execute upgrade pre script");
    let logs = common::log_lines(o, task).await;
    assert!(
        logs.iter().any(|l| l.contains("cannot continue")),
        "{logs:#?}"
    );
    // The interrupted script is gone: after its held statement would have
    // ended, nothing more of it reaches the sys tenant (it never got to
    // BEGIN ROLLING UPGRADE).
    tokio::time::sleep(Duration::from_secs(4)).await;
    let seen = cluster.sim().transcript(0).len();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let late: Vec<_> = cluster
        .sim()
        .transcript(0)
        .into_iter()
        .skip(seen)
        .filter(|e| e.user == "root")
        .map(|e| e.text)
        .collect();
    assert!(late.is_empty(), "statements after the failure: {late:?}");
    assert_eq!(executed(&cluster, "begin_rolling_upgrade"), 0);

    cluster.sim().clear_faults(None);
    o.operate(dag.id, "retry", None).await.unwrap();
    let done = common::run_out(o, dag.id).await;
    assert_eq!(done.state, State::Succeed, "{done:?}");
    let script = done
        .nodes
        .iter()
        .flat_map(|n| &n.tasks)
        .find(|t| t.id == task)
        .unwrap();
    assert_eq!(script.execute_times, 2, "the retry is the second execution");
    // Once in all: the interrupted run's BEGIN UPGRADE took effect, and the
    // retried script, finding upgrade mode on, did not send it again; it
    // went on from there.
    assert_eq!(executed(&cluster, "begin_upgrade"), 1);
    assert_eq!(executed(&cluster, "begin_rolling_upgrade"), 1);
    cluster.stop().await.unwrap();
}
