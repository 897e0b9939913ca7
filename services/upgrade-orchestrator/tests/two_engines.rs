//! Two engines on one PostgreSQL: they share the work without running any
//! sub-task twice, and when one dies mid-DAG the other finishes it.

mod common;

use std::time::Duration;

use obup_test_support::TestDb;
use obup_upgrade_orchestrator::domain::state::State;
use obup_upgrade_orchestrator::domain::template::Mode;
use obup_upgrade_orchestrator::startup;
use tokio::sync::watch;

#[tokio::test]
async fn the_survivor_finishes_the_dag_of_a_dead_engine() {
    let dir = tempfile::tempdir().unwrap();
    let db = TestDb::create()
        .await
        .expect("PostgreSQL must be running (see README)");
    let store_url = common::package_store(&dir.path().join("store")).await;
    let cluster = common::local_cluster(dir.path(), |_| {}).await;
    // One data dir: both engines share the secret key of cluster passwords.
    let config = |owner: &str| {
        let mut c = common::config(&dir.path().join("data"), &db.url, &store_url, owner);
        c.engine.lease = Duration::from_millis(600);
        c
    };
    let (stop_a, stopped_a) = watch::channel(false);
    let (_stop_b, stopped_b) = watch::channel(false);
    let a = startup::start(&config("engine-a"), stopped_a)
        .await
        .unwrap();
    let b = startup::start(&config("engine-b"), stopped_b)
        .await
        .unwrap();
    common::register_with(&a.orchestrator, &cluster).await;

    let dag = a
        .orchestrator
        .start(&common::target(Some(Mode::Rolling)), None)
        .await
        .unwrap();
    let repo_b = b.orchestrator.engine().repo().clone();

    // Both engines work; kill engine A once the DAG is in the per-zone
    // stages, whose tasks can resume. (Killed during the pre script, which
    // cannot continue, the DAG fails as obshell's does.)
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let d = repo_b.get(dag.id).await.unwrap().unwrap();
        if d.stage >= 13 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no progress: stage {}",
            d.stage
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_a.send(true).unwrap();
    a.engine.await.unwrap();
    let at_death = repo_b.get(dag.id).await.unwrap().unwrap();

    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let done = loop {
        let d = repo_b.get(dag.id).await.unwrap().unwrap();
        if d.state.is_done() {
            break d;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "engine B did not finish: stage {}",
            d.stage
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        done.state,
        State::Succeed,
        "{:?}",
        done.nodes[done.stage as usize - 1]
    );
    let tasks = |d: &obup_upgrade_orchestrator::domain::dag::Dag| {
        d.nodes
            .iter()
            .flat_map(|n| n.tasks.clone())
            .collect::<Vec<_>>()
    };
    let final_tasks = tasks(&done);
    for t in tasks(&at_death) {
        let now = final_tasks.iter().find(|x| x.id == t.id).unwrap();
        if t.state == State::Succeed {
            assert_eq!(now.execute_times, t.execute_times, "{} ran again", t.name);
        }
    }
    assert!(
        final_tasks
            .iter()
            .all(|t| t.state == State::Succeed && t.execute_times >= 1)
    );
    let lab = b.orchestrator.clusters().get("lab").await.unwrap();
    assert_eq!(
        lab.driver.view().await.unwrap().build_version().as_deref(),
        Some("4.3.5.0-100000202024123117")
    );
    drop(b);
    cluster.stop().await.unwrap();
}
